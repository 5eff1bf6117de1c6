//! The decoder under every strconfig, with the default limits and with tight ones.
//!
//! Properties: no panic, no hang, bounded memory (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb`); a decoded value prints; and re-encoding it is stable: with the
//! identity strconfig, `encode(decode(encode(v))) == encode(v)`.
#![no_main]

use execdeck_engine::codec::{self, Limits, StrConfig};
use libfuzzer_sys::fuzz_target;

const CONFIGS: [StrConfig; 4] = [
    StrConfig {
        py2str_as_py3str: true,
        py3str_as_py2str: false,
    },
    StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    },
    StrConfig {
        py2str_as_py3str: true,
        py3str_as_py2str: true,
    },
    StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: true,
    },
];

const IDENTITY: StrConfig = StrConfig {
    py2str_as_py3str: false,
    py3str_as_py2str: false,
};

fn tight() -> Limits {
    Limits {
        max_frame: 1 << 16,
        max_depth: 4,
        max_container_len: 8,
        max_int_digits: 12,
        max_channel_refs: 2,
        max_unread: 1 << 16,
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = [Limits::default(), tight()];
    for lim in &limits {
        for cfg in CONFIGS {
            let Ok(v) = codec::decode(data, cfg, lim) else {
                continue;
            };
            let _ = v.to_string();
            let Ok(once) = codec::encode(&v) else {
                continue;
            };
            let back = codec::decode(&once, IDENTITY, &Limits::default())
                .unwrap_or_else(|e| panic!("own encoding does not decode: {e}; value {v}"));
            let twice = codec::encode(&back).expect("a decoded value encodes again");
            assert_eq!(once, twice, "re-encoding is not stable for {v}");
        }
    }
});

//! `decode_with_channels`: every channel reference left in the value was reported, no
//! more are reported than the limit allows, and the value is the one `decode` gives.
#![no_main]

use execdeck_engine::codec::{self, Limits, StrConfig};
use execdeck_engine::value::Value;
use libfuzzer_sys::fuzz_target;

fn channels_in(v: &Value, out: &mut Vec<i32>) {
    match v {
        Value::Channel(id) => out.push(*id),
        Value::Tuple(xs) | Value::List(xs) | Value::Set(xs) | Value::FrozenSet(xs) => {
            xs.iter().for_each(|x| channels_in(x, out))
        }
        Value::Dict(kv) => kv.iter().for_each(|(k, x)| {
            channels_in(k, out);
            channels_in(x, out)
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // the first byte picks the strconfig and the channel-reference limit
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let cfg = StrConfig {
        py2str_as_py3str: sel & 1 != 0,
        py3str_as_py2str: sel & 2 != 0,
    };
    let limits = Limits {
        max_channel_refs: usize::from(sel >> 2),
        ..Limits::default()
    };
    let mut reported = Vec::new();
    let with = codec::decode_with_channels(payload, cfg, &limits, &mut reported);
    assert!(
        reported.len() <= limits.max_channel_refs,
        "{} channel refs reported over a limit of {}",
        reported.len(),
        limits.max_channel_refs
    );
    let without = codec::decode(payload, cfg, &limits);
    let Ok(v) = with else {
        return;
    };
    let plain = without
        .unwrap_or_else(|e| panic!("decode fails ({e}) where decode_with_channels gives {v}"));
    assert_eq!(
        codec::encode(&v).ok(),
        codec::encode(&plain).ok(),
        "the two decoders differ"
    );
    let mut found = Vec::new();
    channels_in(&v, &mut found);
    let mut left = reported.clone();
    for id in found {
        let i = left
            .iter()
            .position(|&r| r == id)
            .unwrap_or_else(|| panic!("channel {id} in the value was not reported: {reported:?}"));
        left.swap_remove(i);
    }
});

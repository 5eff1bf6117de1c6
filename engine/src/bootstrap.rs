//! Bootstrap, on top of a [`transport`]: the worker source and the one
//! line that carries it (a Python string literal the interpreter started with execnet's
//! one-liner reads and runs), the retry when a cached compiled stub is refused, and the
//! compiled-stub cache itself. The transport sends the line and waits for the `1`
//! byte; nothing else is sent before that byte arrives.

use crate::error::{Error, Result};
use crate::spec::{ExecModel, Spec, Transport};
use crate::transport::{self, Link, Start};
use crate::value::{bytes_repr, source_literal};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

pub use crate::transport::popen::popen_argv;
pub use crate::transport::socket::{SOCKETSERVER_SOURCE, random_token};
pub use crate::transport::via::PROXY_SOURCE;
pub use crate::transport::{ONE_LINER, expand_home};

/// The worker program shipped at bootstrap (embedded in the binary).
pub const STUB_SOURCE: &str = include_str!("../remote_stub/gateway.py");

/// Which worker program to send.
#[derive(Clone, Debug, Default)]
pub enum Bootstrap {
    /// execdeck's own stub (`remote_stub/gateway.py`).
    #[default]
    Stub,
    /// execnet's `gateway_base.py` text (the "exec variant"), for interop.
    ExecnetSource(String),
}

/// The full source sent for a worker. With our stub this is a small loader: it runs the
/// interpreter's cached compiled stub when `cached` holds one with a matching magic
/// number, else compiles the stub source (and then offers its bytecode for the cache).
pub fn source(
    b: &Bootstrap,
    worker_id: &str,
    execmodel: ExecModel,
    cached: Option<&StubCode>,
) -> String {
    let id = source_literal(worker_id);
    let model = source_literal(execmodel.as_str());
    match b {
        Bootstrap::Stub => match cached {
            // The compiled stub: one base64 literal, no source. On a magic mismatch (the
            // interpreter changed) answer "2" so the master retries with the source.
            Some(c) => format!(
                "try:\n    from _frozen_importlib_external import MAGIC_NUMBER as _m\nexcept ImportError:\n    import imp\n    _m = imp.get_magic()\n_execdeck_code = None\nif _m == {magic}:\n    try:\n        import marshal, binascii\n        _execdeck_code = marshal.loads(binascii.a2b_base64({code}))\n    except Exception:\n        pass\nif _execdeck_code is None:\n    import sys\n    sys.stdout.write('2')\n    sys.stdout.flush()\n    raise SystemExit(0)\nexec(_execdeck_code)\n_execdeck_serve({id}, {model}, False)\n",
                magic = bytes_repr(&c.magic),
                code = bytes_repr(
                    base64::engine::general_purpose::STANDARD
                        .encode(&c.code)
                        .as_bytes()
                ),
            ),
            None => format!(
                "_execdeck_code = compile({stub}, '<execdeck-stub>', 'exec')\nexec(_execdeck_code)\n_execdeck_serve({id}, {model}, True)\n",
                stub = source_literal(STUB_SOURCE),
            ),
        },
        Bootstrap::ExecnetSource(text) => format!(
            "{text}\nexecmodel = get_execmodel({model})\nio = init_popen_io(execmodel)\nio.write('1'.encode('ascii'))\nserve(io, id={id})\n"
        ),
    }
}

/// A compiled stub for one interpreter: its bytecode magic and `marshal` data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StubCode {
    pub magic: Vec<u8>,
    pub code: Vec<u8>,
}

/// Where compiled stubs are kept between runs: the user's cache directory
/// (`$XDG_CACHE_HOME/execdeck`, else `~/.cache/execdeck`, as the `directories` crate
/// finds it). `EXECDECK_NO_STUB_CACHE=1` turns the cache off.
fn cache_dir() -> Option<std::path::PathBuf> {
    if std::env::var_os("EXECDECK_NO_STUB_CACHE").is_some_and(|v| v == "1") {
        return None;
    }
    let dirs = directories::BaseDirs::new()?;
    Some(dirs.cache_dir().join("execdeck"))
}

static MEMORY: Mutex<Option<std::collections::HashMap<String, StubCode>>> = Mutex::new(None);

/// Cache file of a key: named after the interpreter part only, so a new stub version
/// replaces the old file instead of adding one.
fn cache_file(dir: &std::path::Path, key: &str) -> std::path::PathBuf {
    let interp = key.rsplit_once('\0').map_or(key, |(a, _)| a);
    dir.join(format!("{}.stubcode", digest16(interp)))
}

const MAX_CACHE_FILES: usize = 64;

/// The first 16 hex digits of a SHA-256: short, stable names for keys and files.
fn digest16(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// The cache key of an interpreter command for the current stub source.
pub fn stub_cache_key(spec: &Spec) -> String {
    let argv = popen_argv(spec);
    format!(
        "popen\0{}\0{}",
        crate::spec::shell_join(&argv),
        digest16(STUB_SOURCE)
    )
}

/// Looks up a compiled stub (memory, then disk).
pub fn cached_stub(key: &str) -> Option<StubCode> {
    let dir = cache_dir()?;
    if let Ok(g) = MEMORY.lock()
        && let Some(c) = g.as_ref().and_then(|m| m.get(key))
    {
        return Some(c.clone());
    }
    let path = cache_file(&dir, key);
    let data = std::fs::read(&path).ok()?;
    let Some(c) = parse_cache_file(key, &data) else {
        // our entry, but corrupt (or of an older format): gone, so that the next start
        // compiles and stores it afresh; another build's entry is left alone
        if data.get(4..4 + key.len()) == Some(key.as_bytes()) {
            let _ = std::fs::remove_file(&path);
        }
        return None;
    };
    if let Ok(mut g) = MEMORY.lock() {
        g.get_or_insert_with(Default::default)
            .insert(key.to_string(), c.clone());
    }
    Some(c)
}

fn parse_cache_file(key: &str, data: &[u8]) -> Option<StubCode> {
    let mut pos = 0;
    let mut field = || -> Option<&[u8]> {
        let len = u32::from_be_bytes(data.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let f = data.get(pos + 4..pos + 4 + len)?;
        pos += 4 + len;
        Some(f)
    };
    if field()? != key.as_bytes() {
        return None;
    }
    let magic = field()?.to_vec();
    let code = field()?.to_vec();
    // the checksum: a flipped bit is a cache miss, never code run by the interpreter
    if field()? != &entry_checksum(key, &magic, &code)[..] {
        return None;
    }
    Some(StubCode { magic, code })
}

/// A cache file: key, magic, code and their checksum, each with its length.
fn encode_entry(key: &str, c: &StubCode) -> Vec<u8> {
    let mut data = Vec::with_capacity(c.code.len() + key.len() + 96);
    let sum = entry_checksum(key, &c.magic, &c.code);
    for f in [key.as_bytes(), &c.magic, &c.code, &sum] {
        data.extend_from_slice(&(f.len() as u32).to_be_bytes());
        data.extend_from_slice(f);
    }
    data
}

/// SHA-256 over a cache entry's key, magic number and code.
fn entry_checksum(key: &str, magic: &[u8], code: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    for f in [key.as_bytes(), magic, code] {
        h.update((f.len() as u32).to_be_bytes());
        h.update(f);
    }
    h.finalize().to_vec()
}

/// Keeps the cache small: removes the oldest files beyond [`MAX_CACHE_FILES`].
fn prune_cache(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "stubcode"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() < MAX_CACHE_FILES {
        return;
    }
    files.sort();
    for (_, p) in files.iter().take(files.len() + 1 - MAX_CACHE_FILES) {
        let _ = std::fs::remove_file(p);
    }
}

/// Stores a compiled stub offered by a worker (memory and disk; errors are ignored:
/// the cache only saves time).
pub fn store_stub(key: &str, c: StubCode) {
    let Some(dir) = cache_dir() else { return };
    if c.magic.len() > 64 || c.code.len() > (8 << 20) {
        return;
    }
    let data = encode_entry(key, &c);
    if let Ok(mut g) = MEMORY.lock() {
        g.get_or_insert_with(Default::default)
            .insert(key.to_string(), c);
    }
    if std::fs::create_dir_all(&dir).is_ok() {
        prune_cache(&dir);
        let name = cache_file(&dir, key);
        let tmp = dir.join(format!("{}.{}.tmp", digest16(key), std::process::id()));
        if std::fs::write(&tmp, &data).is_ok() && std::fs::rename(&tmp, &name).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Forgets a cached stub that the interpreter refused (memory and disk).
pub fn evict_stub(key: &str) {
    if let Ok(mut g) = MEMORY.lock()
        && let Some(m) = g.as_mut()
    {
        m.remove(key);
    }
    if let Some(dir) = cache_dir() {
        let _ = std::fs::remove_file(cache_file(&dir, key));
    }
}

/// The bootstrap line for a source: one ASCII Python string literal and a newline,
/// what execnet's one-liner reads with `sys.stdin.readline()` and `eval`s.
pub fn line(source: &str) -> String {
    format!("{}\n", source_literal(source))
}

/// Whether a spec's interpreter may use the compiled-stub cache: our stub, started
/// locally (the cache is for local interpreters only).
pub fn uses_stub_cache(b: &Bootstrap, spec: &Spec) -> bool {
    matches!(b, Bootstrap::Stub) && spec.transport == Transport::Popen && spec.via.is_none()
}

/// A bootstrapped worker: its link, and the cache key under which it may offer its
/// compiled stub (set only when it compiled the source, i.e. no cached stub was used).
pub struct Bootstrapped {
    pub link: Link,
    pub offer_key: Option<String>,
}

/// Starts the worker through its transport with the source for `which`; a cached
/// compiled stub the interpreter refuses (a new interpreter version) is evicted and the
/// source sent instead. `req.line` is filled in here.
pub async fn start(
    which: &Bootstrap,
    worker_id: &str,
    execmodel: ExecModel,
    req: Start<'_>,
) -> Result<Bootstrapped> {
    let cache_key = uses_stub_cache(which, req.spec).then(|| stub_cache_key(req.spec));
    let mut cached = cache_key.as_deref().and_then(cached_stub);
    loop {
        let text = line(&source(which, worker_id, execmodel, cached.as_ref()));
        let attempt = transport::start(&Start {
            line: text.as_bytes(),
            ..req.clone()
        })
        .await;
        match attempt {
            Err(Error::StaleStubCache) if cached.is_some() => {
                if let Some(k) = &cache_key {
                    evict_stub(k);
                }
                cached = None;
            }
            // the interpreter died on the cached code (e.g. a corrupt entry that passed
            // its checksum): evict it, so that the next start compiles afresh
            Err(e @ (Error::BootstrapDied { .. } | Error::BootstrapBadAck { .. }))
                if cached.is_some() =>
            {
                if let Some(k) = &cache_key {
                    evict_stub(k);
                }
                return Err(e);
            }
            other => {
                let link = other?;
                let offer_key = if cached.is_some() { None } else { cache_key };
                return Ok(Bootstrapped { link, offer_key });
            }
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    /// Every single-bit flip anywhere in a copy of an entry is detected.
    #[test]
    fn a_flipped_bit_in_a_cache_entry_is_detected() {
        let key = "python3.13|stub-0123456789abcdef";
        let c = StubCode {
            magic: vec![0xf3, 0x0d, 0x0d, 0x0a],
            code: (0..300u32).map(|i| (i * 7 % 251) as u8).collect(),
        };
        let data = encode_entry(key, &c);
        let good = parse_cache_file(key, &data).expect("an intact entry parses");
        assert_eq!((good.magic, good.code), (c.magic.clone(), c.code.clone()));
        let mut flips = 0;
        for bit in 0..data.len() * 8 {
            let mut copy = data.clone();
            copy[bit / 8] ^= 1 << (bit % 8);
            assert!(
                parse_cache_file(key, &copy).is_none(),
                "a flip of bit {bit} went unnoticed"
            );
            flips += 1;
        }
        assert_eq!(flips, data.len() * 8);
    }
}

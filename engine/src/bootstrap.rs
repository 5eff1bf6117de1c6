//! Bootstrap: start the interpreter with execnet's one-liner, send the source as one
//! line, wait for the `1` byte. Nothing else is sent before that byte arrives.

use super::error::{Error, Result};
use super::events::{Event, Stream};
use super::process::{ProcessHandle, become_subreaper};
use super::spec::{ExecModel, Spec};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The worker program shipped at bootstrap (embedded in the binary).
pub const STUB_SOURCE: &str = include_str!("../remote_stub/gateway.py");

/// The via= forwarder program (execnet's proxy protocol shape).
pub const PROXY_SOURCE: &str = include_str!("../remote_stub/proxy.py");

/// The socket server program (`execdeck socketserver`).
pub const SOCKETSERVER_SOURCE: &str = include_str!("../remote_stub/socketserver.py");

/// execnet's bootstrap one-liner, run with `-c`.
pub const ONE_LINER: &str = "import sys;exec(eval(sys.stdin.readline()))";

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
    let id = py_str(worker_id);
    let model = py_str(execmodel.as_str());
    match b {
        Bootstrap::Stub => match cached {
            // The compiled stub: one base64 literal, no source. On a magic mismatch (the
            // interpreter changed) answer "2" so the master retries with the source.
            Some(c) => format!(
                "try:\n    from _frozen_importlib_external import MAGIC_NUMBER as _m\nexcept ImportError:\n    import imp\n    _m = imp.get_magic()\n_execdeck_code = None\nif _m == {magic}:\n    try:\n        import marshal, binascii\n        _execdeck_code = marshal.loads(binascii.a2b_base64({code}))\n    except Exception:\n        pass\nif _execdeck_code is None:\n    import sys\n    sys.stdout.write('2')\n    sys.stdout.flush()\n    raise SystemExit(0)\nexec(_execdeck_code)\n_execdeck_serve({id}, {model}, False)\n",
                magic = py_bytes(&c.magic),
                code = py_bytes(base64(&c.code).as_bytes()),
            ),
            None => format!(
                "_execdeck_code = compile({stub}, '<execdeck-stub>', 'exec')\nexec(_execdeck_code)\n_execdeck_serve({id}, {model}, True)\n",
                stub = py_str(STUB_SOURCE),
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

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn py_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 3);
    out.push_str("b'");
    for &c in b {
        match c {
            b' '..=b'~' if c != b'\\' && c != b'\'' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('\'');
    out
}

/// Where compiled stubs are kept between runs: `$XDG_CACHE_HOME/execdeck` or
/// `~/.cache/execdeck`. `EXECDECK_NO_STUB_CACHE=1` turns the cache off.
fn cache_dir() -> Option<std::path::PathBuf> {
    if std::env::var_os("EXECDECK_NO_STUB_CACHE").is_some_and(|v| v == "1") {
        return None;
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("execdeck"))
}

static MEMORY: Mutex<Option<std::collections::HashMap<String, StubCode>>> = Mutex::new(None);

/// Cache file of a key: named after the interpreter part only, so a new stub version
/// replaces the old file instead of adding one.
fn cache_file(dir: &std::path::Path, key: &str) -> std::path::PathBuf {
    let interp = key.rsplit_once('\0').map_or(key, |(a, _)| a);
    dir.join(format!("{:016x}.stubcode", fnv64(interp)))
}

const MAX_CACHE_FILES: usize = 64;

fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The cache key of an interpreter command for the current stub source.
pub fn stub_cache_key(spec: &Spec) -> String {
    let argv = popen_argv(spec);
    format!(
        "popen\0{}\0{:016x}",
        super::spec::shell_join(&argv),
        fnv64(STUB_SOURCE)
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
    let data = std::fs::read(cache_file(&dir, key)).ok()?;
    let c = parse_cache_file(key, &data)?;
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
    Some(StubCode { magic, code })
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
    let mut data = Vec::with_capacity(c.code.len() + key.len() + 64);
    for f in [key.as_bytes(), &c.magic, &c.code] {
        data.extend_from_slice(&(f.len() as u32).to_be_bytes());
        data.extend_from_slice(f);
    }
    if let Ok(mut g) = MEMORY.lock() {
        g.get_or_insert_with(Default::default)
            .insert(key.to_string(), c);
    }
    if std::fs::create_dir_all(&dir).is_ok() {
        prune_cache(&dir);
        let name = cache_file(&dir, key);
        let tmp = dir.join(format!("{:016x}.{}.tmp", fnv64(key), std::process::id()));
        if std::fs::write(&tmp, &data).is_ok() && std::fs::rename(&tmp, &name).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str("u'");
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('\'');
    out
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

pub struct Started {
    pub writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    pub process: Option<ProcessHandle>,
    /// Why the transport ended, when it knows better than "connection closed".
    pub close_reason: Arc<Mutex<Option<String>>>,
}

/// The argv for a popen worker: `python -u [-B] -c ONE_LINER`.
pub fn popen_argv(spec: &Spec) -> Vec<String> {
    let mut argv = spec
        .python
        .clone()
        .unwrap_or_else(|| vec!["python3".to_string()]);
    // `python=~/.pyenv/...`: the home directory, as a shell would expand it
    if let Some(first) = argv.first_mut()
        && let Some(rest) = first.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        *first = std::path::Path::new(&home)
            .join(rest)
            .to_string_lossy()
            .into_owned();
    }
    argv.push("-u".into());
    if spec.dont_write_bytecode {
        argv.push("-B".into());
    }
    argv.push("-c".into());
    argv.push(ONE_LINER.into());
    argv
}

const STDERR_TAIL: usize = 8192;

pub(crate) async fn popen(
    spec: &Spec,
    id: &str,
    line: &[u8],
    timeout: Duration,
    events: Option<mpsc::Sender<Event>>,
    tail: Arc<Mutex<String>>,
) -> Result<Started> {
    become_subreaper();
    let argv = popen_argv(spec);
    let command = spec
        .python
        .as_ref()
        .map(|p| super::spec::shell_join(p))
        .unwrap_or_else(|| "python3".into());
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    // SAFETY: setsid() is async-signal-safe; the child leads a new session and process
    // group so that terminate can signal everything it starts.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InterpreterNotFound {
                path: argv[0].clone(),
            });
        }
        Err(e) => return Err(Error::Spawn { command, error: e }),
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::Protocol("child pipes missing".into()));
    };
    enlarge_pipes(&stdin, &stdout);
    let process = ProcessHandle::watch(child);
    // If this future is dropped half-way (e.g. Ctrl+C while starting), kill the worker.
    let mut guard = KillOnDrop(Some(process.clone()));
    tokio::spawn(stderr_task(stderr, id.to_string(), events, tail.clone()));

    let fail_stderr =
        |tail: &Arc<Mutex<String>>| tail.lock().map(|s| s.clone()).unwrap_or_default();
    let handshake = async {
        stdin.write_all(line).await?;
        stdin.flush().await?;
        let mut ack = [0u8; 1];
        let n = stdout.read(&mut ack).await?;
        Ok::<_, std::io::Error>((n, ack[0]))
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok((1, b'1'))) => {
            guard.0 = None;
            Ok(Started {
                writer: Box::new(stdin),
                reader: Box::new(stdout),
                process: Some(process),
                close_reason: Arc::default(),
            })
        }
        Ok(Ok((1, b'2'))) => {
            process.wait(Some(Duration::from_secs(2))).await;
            process.signal_group(libc::SIGKILL);
            Err(Error::StaleStubCache)
        }
        Ok(Ok((1, other))) => {
            process.signal_group(libc::SIGKILL);
            let mut rest = vec![other];
            let mut more = [0u8; 200];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), stdout.read(&mut more)).await
            {
                rest.extend_from_slice(&more[..n]);
            }
            process.wait(Some(Duration::from_secs(2))).await;
            Err(Error::BootstrapBadAck {
                gateway: id.to_string(),
                got: rest,
                stderr: fail_stderr(&tail),
            })
        }
        Ok(_) => {
            // EOF or a broken pipe: the interpreter died.
            let exit = process.wait(Some(Duration::from_secs(2))).await;
            // give the stderr reader a moment to collect the last words
            tokio::time::sleep(Duration::from_millis(20)).await;
            process.signal_group(libc::SIGKILL);
            process.clear_group(Duration::from_secs(1)).await;
            Err(Error::BootstrapDied {
                gateway: id.to_string(),
                command,
                exit,
                stderr: fail_stderr(&tail),
            })
        }
        Err(_) => {
            process.signal_group(libc::SIGKILL);
            process.wait(Some(Duration::from_secs(2))).await;
            process.clear_group(Duration::from_secs(1)).await;
            Err(Error::BootstrapTimeout {
                gateway: id.to_string(),
                command,
                timeout,
                stderr: fail_stderr(&tail),
            })
        }
    }
}

/// Larger pipe buffers (Linux) mean fewer wake-ups per megabyte moved.
fn enlarge_pipes(stdin: &tokio::process::ChildStdin, stdout: &tokio::process::ChildStdout) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        for fd in [stdin.as_raw_fd(), stdout.as_raw_fd()] {
            // SAFETY: fcntl on a pipe we own; failure (e.g. a low pipe-max-size) is harmless.
            unsafe {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
            }
        }
    }
}

/// Kills a half-started worker's process group when dropped while armed.
struct KillOnDrop(Option<ProcessHandle>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = &self.0
            && p.exit_info().is_none()
        {
            p.signal_group(libc::SIGKILL);
        }
    }
}

/// Forwards the worker's fd 2 as `Fd2` output and keeps the last few KiB.
async fn stderr_task(
    mut stderr: tokio::process::ChildStderr,
    id: String,
    events: Option<mpsc::Sender<Event>>,
    tail: Arc<Mutex<String>>,
) {
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        let eof = n == 0;
        if eof && pending.is_empty() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        // keep incomplete UTF-8 sequences for the next read
        let valid = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            // at EOF an incomplete sequence is shown (replaced), not dropped
            Err(e) if e.error_len().is_none() && !eof => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
        pending.drain(..valid);
        if text.is_empty() {
            continue;
        }
        if let Ok(mut t) = tail.lock() {
            t.push_str(&text);
            if t.len() > STDERR_TAIL {
                let mut cut = t.len() - STDERR_TAIL;
                while !t.is_char_boundary(cut) {
                    cut += 1;
                }
                t.drain(..cut);
            }
        }
        if let Some(tx) = &events {
            let _ = tx
                .send(Event::Output {
                    gateway: id.clone(),
                    channel: None,
                    stream: Stream::Fd2,
                    text,
                })
                .await;
        }
    }
}

/// The shared secret for socket servers: `token_file=` of the spec, else the
/// `EXECDECK_TOKEN` environment variable.
/// A fresh random token (hex) for a server installed through a gateway.
pub fn random_token() -> Result<String> {
    let mut b = [0u8; 24];
    let mut f = std::fs::File::open("/dev/urandom").map_err(Error::Io)?;
    std::io::Read::read_exact(&mut f, &mut b).map_err(Error::Io)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn socket_token(spec: &Spec) -> Result<Vec<u8>> {
    let token = match &spec.token_file {
        Some(path) => std::fs::read(expand_home(path))
            .map_err(|e| Error::Unsupported(format!("cannot read token_file {path}: {e}")))?,
        None => std::env::var("EXECDECK_TOKEN")
            .unwrap_or_default()
            .into_bytes(),
    };
    let token = token.trim_ascii().to_vec();
    if token.len() < 8 {
        return Err(Error::Unsupported(
            "socket gateways need the server's token: token_file=PATH in the spec or EXECDECK_TOKEN (8 bytes or more)".into(),
        ));
    }
    Ok(token)
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

fn hmac_hex(token: &[u8], nonce: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(token) {
        Ok(m) => m,
        // HMAC takes keys of any length; this branch cannot be reached
        Err(_) => return String::new(),
    };
    mac.update(nonce);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn read_line<R: AsyncRead + Unpin>(r: &mut R, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if r.read(&mut b).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if b[0] == b'\n' {
            return Ok(out);
        }
        out.push(b[0]);
        if out.len() > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
    }
}

/// Connects to an execdeck socket server, proves the token (challenge-response), sends
/// the bootstrap line and waits for the `1`.
pub(crate) async fn socket(
    spec: &Spec,
    addr: &str,
    id: &str,
    line: &[u8],
    timeout: Duration,
    token: Option<Vec<u8>>,
) -> Result<Started> {
    let token = match token {
        Some(t) => t,
        None => socket_token(spec)?,
    };
    let fail = |what: String| Error::Unsupported(format!("gateway {id}: socket={addr}: {what}"));
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| fail("expected socket=HOST:PORT".into()))?;
    let steps = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| fail(format!("cannot resolve host '{host}': {e}")))?
            .collect();
        let first = addrs
            .first()
            .ok_or_else(|| fail(format!("host '{host}' has no address")))?;
        let mut stream = tokio::net::TcpStream::connect(first).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                fail(format!(
                    "connection refused by {first} (is the socket server running?)"
                ))
            } else {
                fail(format!("cannot connect to {first}: {e}"))
            }
        })?;
        let _ = stream.set_nodelay(true);
        let greeting = read_line(&mut stream, 200)
            .await
            .map_err(|e| fail(format!("no greeting from the server: {e}")))?;
        let nonce = greeting
            .strip_prefix(b"EXECDECK-AUTH1 ")
            .ok_or_else(|| fail("the peer is not an execdeck socket server".into()))?;
        let answer = format!("{}\n", hmac_hex(&token, nonce));
        stream
            .write_all(answer.as_bytes())
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        let verdict = read_line(&mut stream, 20)
            .await
            .map_err(|e| fail(format!("no answer to the token: {e}")))?;
        if verdict != b"OK" {
            return Err(fail(
                "the server refused our token (authentication failed)".into(),
            ));
        }
        stream
            .write_all(line)
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        let mut ack = [0u8; 1];
        let n = stream
            .read(&mut ack)
            .await
            .map_err(|e| fail(format!("bootstrap failed: {e}")))?;
        match (n, ack[0]) {
            (1, b'1') => Ok(stream),
            (0, _) => Err(fail(
                "the worker closed the connection during bootstrap".into(),
            )),
            (_, other) => Err(fail(format!(
                "bootstrap answered {:?} instead of \"1\"",
                other as char
            ))),
        }
    };
    let stream = match tokio::time::timeout(timeout, steps).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(fail(format!(
                "no answer within {:.1} s (raise it with timeout=SECONDS)",
                timeout.as_secs_f64()
            )));
        }
    };
    let (r, w) = stream.into_split();
    Ok(Started {
        writer: Box::new(w),
        reader: Box::new(r),
        process: None,
        close_reason: Arc::default(),
    })
}

/// Bootstraps a sub-gateway through `via`: a forwarder task there starts the
/// interpreter and carries its bytes as items of one channel; a control channel takes
/// kill / wait / close-write requests.
pub(crate) async fn via(
    spec: &Spec,
    via: &super::gateway::Gateway,
    id: &str,
    line: &[u8],
    timeout: Duration,
) -> Result<Started> {
    use super::codec::StrConfig;
    use super::value::Value;
    let hop = |e: Error| Error::Unsupported(format!("gateway {id}: via {} failed: {e}", via.id()));
    let p = via.remote_exec(PROXY_SOURCE).await.map_err(hop)?;
    // bytes stay bytes, also from a Python 2 forwarder
    p.reconfigure(StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    })
    .await
    .map_err(hop)?;
    let python = spec
        .python
        .clone()
        .unwrap_or_else(|| vec!["python3".to_string()]);
    p.send(&Value::Dict(vec![
        (
            Value::Str("python".into()),
            Value::List(python.into_iter().map(Value::Str).collect()),
        ),
        (Value::Str("id".into()), Value::Str(id.to_string())),
    ]))
    .await
    .map_err(hop)?;
    let control = via.new_channel();
    p.send(&Value::Channel(control.id())).await.map_err(hop)?;
    p.send(&Value::Bytes(line.to_vec())).await.map_err(hop)?;
    let ack = match tokio::time::timeout(timeout, p.receive()).await {
        Ok(Ok(Value::Bytes(b))) if b == b"1" => b,
        Ok(Ok(other)) => {
            return Err(hop(Error::Protocol(format!(
                "the forwarder answered {other} instead of b'1'"
            ))));
        }
        Ok(Err(e)) => return Err(hop(e)),
        Err(_) => {
            let _ = control.send(&Value::Int(1)).await;
            return Err(Error::BootstrapTimeout {
                gateway: id.to_string(),
                command: format!("{} (via {})", python_label(spec), via.id()),
                timeout,
                stderr: String::new(),
            });
        }
    };
    drop(ack);
    let (ours, theirs) = tokio::net::UnixStream::pair().map_err(Error::Io)?;
    let (mut our_r, mut our_w) = ours.into_split();
    // gateway -> forwarder
    let (p_out, c_out) = (p.clone(), control.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match our_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if p_out.send(&Value::Bytes(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        // our side closed its input: close the sub's stdin (RIO_CLOSE_WRITE)
        let _ = c_out.send(&Value::Int(4)).await;
    });
    // forwarder -> gateway
    tokio::spawn(async move {
        while let Ok(Some(v)) = p.next().await {
            if let Value::Bytes(b) = v
                && our_w.write_all(&b).await.is_err()
            {
                break;
            }
        }
        let _ = our_w.shutdown().await;
    });
    let (r, w) = theirs.into_split();
    Ok(Started {
        writer: Box::new(w),
        reader: Box::new(r),
        process: None,
        close_reason: Arc::default(),
    })
}

fn python_label(spec: &Spec) -> String {
    spec.python
        .as_ref()
        .map(|p| super::spec::shell_join(p))
        .unwrap_or_else(|| "python3".into())
}

/// installvia=: starts a one-connection socket server through `via` and returns the
/// address to connect to and the fresh token it expects.
pub(crate) async fn install_socketserver(
    via: &super::gateway::Gateway,
    id: &str,
) -> Result<(String, Vec<u8>)> {
    use super::value::Value;
    let hop =
        |e: Error| Error::Unsupported(format!("gateway {id}: installvia {} failed: {e}", via.id()));
    let token = random_token()?;
    let ch = via.remote_exec(SOCKETSERVER_SOURCE).await.map_err(hop)?;
    ch.send(&Value::Tuple(vec![
        Value::Str("127.0.0.1".into()),
        Value::Str(token.clone()),
        Value::Str(SOCKETSERVER_SOURCE.into()),
    ]))
    .await
    .map_err(hop)?;
    let reply = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .map_err(hop)?;
    let port = match &reply {
        Value::Tuple(t) if t.len() == 2 => t[1].as_i64(),
        _ => None,
    }
    .ok_or_else(|| hop(Error::Protocol(format!("unexpected reply {reply}"))))?;
    // the server listens on the via gateway's host
    let host = match &via.spec().transport {
        super::spec::Transport::Ssh(t) => super::ssh::Target::parse(t)
            .map(|t| t.host)
            .unwrap_or_else(|_| "127.0.0.1".into()),
        _ => "127.0.0.1".into(),
    };
    Ok((format!("{host}:{port}"), token.into_bytes()))
}

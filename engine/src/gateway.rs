//! One gateway: a bootstrapped interpreter, its channel table, a reader task and a
//! writer shared by every sender.

use super::bootstrap::{self, Bootstrap};
use super::channel::{ChanState, Channel, Ending};
use super::codec::{self, Limits, StrConfig};
use super::error::{Error, RemoteError, Result};
use super::events::{Event, Stream};
use super::frame::{self, FrameError, Message, MsgCode};
use super::process::{ExitInfo, ProcessHandle};
use super::spec::{ExecModel, Spec, Transport};
use super::value::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

type Writer = Box<dyn AsyncWrite + Send + Unpin>;
type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// Options for opening a gateway.
#[derive(Clone)]
pub struct GatewayOptions {
    /// Gateway id when the spec has no `id=` (a group assigns gw0, gw1...).
    pub id: Option<String>,
    /// Bootstrap timeout when the spec has no `timeout=`.
    pub bootstrap_timeout: Duration,
    /// What to send at bootstrap: our stub, or execnet's own `gateway_base.py` text.
    pub bootstrap: Bootstrap,
    /// Where output and state events go. Sending waits when the receiver is full, so
    /// output is never dropped: the remote slows down instead.
    pub events: Option<mpsc::Sender<Event>>,
    /// Decoding limits for everything the worker sends.
    pub limits: Limits,
    /// SSH: record unknown host keys (after the user saw the fingerprint).
    pub accept_new_host_keys: bool,
    /// SSH: asks for passwords and key passphrases (the CLI's terminal, a cockpit dialog).
    pub prompter: Option<super::ssh::Prompter>,
    /// The gateway named by the spec's `via=` (a Group fills this in).
    pub via: Option<Gateway>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            id: None,
            bootstrap_timeout: Duration::from_secs(10),
            bootstrap: Bootstrap::Stub,
            events: None,
            limits: Limits::default(),
            accept_new_host_keys: false,
            prompter: None,
            via: None,
        }
    }
}

/// Where a gateway is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayState {
    Ready,
    /// The connection ended without us asking; the reason says how.
    Dead(String),
    /// We terminated it.
    Terminated,
}

/// What `terminate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminateOutcome {
    /// The worker exited by itself after GATEWAY_TERMINATE.
    Exited(ExitInfo),
    /// It did not exit within the timeout and was killed.
    Killed,
    /// It was already gone.
    AlreadyDead(Option<ExitInfo>),
    /// A remote worker (socket) closed its connection after GATEWAY_TERMINATE.
    Disconnected,
    /// A remote worker kept its connection open past the timeout; we dropped it.
    TimedOut,
}

impl std::fmt::Display for TerminateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TerminateOutcome::Exited(e) => write!(f, "exited ({e})"),
            TerminateOutcome::Killed => f.write_str("killed after timeout"),
            TerminateOutcome::AlreadyDead(Some(e)) => write!(f, "already dead ({e})"),
            TerminateOutcome::AlreadyDead(None) => f.write_str("already dead"),
            TerminateOutcome::Disconnected => f.write_str("closed its connection"),
            TerminateOutcome::TimedOut => {
                f.write_str("no answer within the timeout; connection dropped")
            }
        }
    }
}

/// Interpreter facts (execnet's `rinfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub executable: String,
    /// `sys.version_info[:5]`
    pub version_info: Vec<Value>,
    pub platform: String,
    pub cwd: String,
    pub pid: i64,
    /// "CPython", "PyPy", "Jython"...
    pub implementation: String,
    /// The implementation's own version (PyPy's 7.3.11; else the Python version).
    pub implementation_version: String,
}

impl Facts {
    /// E.g. "CPython 3.12.1", "PyPy 7.3.11", "Jython 2.7.3".
    pub fn interpreter(&self) -> String {
        format!("{} {}", self.implementation, self.implementation_version)
    }

    /// E.g. "3.12.1".
    pub fn python_version(&self) -> String {
        self.version_info
            .iter()
            .take(3)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }
}

const FACTS_SOURCE: &str = r#"import sys, os, platform
impl = platform.python_implementation()
if hasattr(sys, "pypy_version_info"):
    iv = ".".join(str(x) for x in sys.pypy_version_info[:3])
else:
    iv = ".".join(str(x) for x in sys.version_info[:3])
channel.send((u"" + str(sys.executable), tuple(sys.version_info[:5]), u"" + sys.platform,
              u"" + os.getcwd(), os.getpid(), u"" + impl, u"" + iv))
"#;

const OPTIONS_SOURCE: &str = r#"import os
chdir, nice, env = channel.receive()
if chdir:
    if not os.path.exists(chdir):
        os.mkdir(chdir)
    os.chdir(chdir)
if nice and hasattr(os, "nice"):
    os.nice(nice)
    # on Linux niceness is per thread: give every thread of the worker the new value
    if hasattr(os, "setpriority") and os.path.isdir("/proc/self/task"):
        prio = os.getpriority(os.PRIO_PROCESS, 0)
        for tid in os.listdir("/proc/self/task"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(tid), prio)
            except OSError:
                pass
for name, value in env.items():
    os.environ[str(name)] = str(value)
"#;

pub(crate) struct Inner {
    id: String,
    spec: Spec,
    writer: tokio::sync::Mutex<Option<Writer>>,
    table: Mutex<Table>,
    process: Option<ProcessHandle>,
    events: Option<mpsc::Sender<Event>>,
    limits: Limits,
    facts: tokio::sync::OnceCell<Facts>,
    started: Instant,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    stderr_tail: Arc<Mutex<String>>,
    /// Set while the worker may offer its compiled stub for the cache.
    stub_cache_key: Option<String>,
    /// Becomes true when the reader task has ended (the worker closed its output).
    reader_done: tokio::sync::watch::Receiver<bool>,
    reader_abort: Mutex<Option<tokio::task::AbortHandle>>,
    /// Set by a transport that knows why the connection ended (e.g. a silent link).
    close_reason: Arc<Mutex<Option<String>>>,
}

struct Table {
    channels: HashMap<i32, Arc<ChanState>>,
    next_id: i32,
    strconfig: StrConfig,
    state: GatewayState,
}

/// A handle to one gateway. Cheap to clone.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use execdeck_engine::{Gateway, Value};
/// let gw = Gateway::open("popen//python=python3//id=demo").await.unwrap();
/// let ch = gw.remote_exec("channel.send(6 * 7)").await.unwrap();
/// assert_eq!(ch.receive().await.unwrap(), Value::Int(42));
/// let facts = gw.facts().await.unwrap();
/// assert_eq!(facts.implementation, "CPython");
/// gw.terminate(std::time::Duration::from_secs(5)).await;
/// # });
/// ```
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Gateway id={} spec={}>", self.inner.id, self.inner.spec)
    }
}

fn python_source_literal(s: &str) -> String {
    // An ASCII-only Python literal: eval() gives back `s` on Python 2 and 3.
    let mut out = String::with_capacity(s.len() + 16);
    let non_ascii = !s.is_ascii();
    if non_ascii {
        out.push('u');
    }
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('\'');
    out
}

/// Removes the common leading whitespace of all non-blank lines, as Python's
/// `textwrap.dedent` does: the margin is a common prefix string (tabs and spaces are
/// not interchangeable), and whitespace-only lines become empty.
pub fn dedent(src: &str) -> String {
    let mut margin: Option<&str> = None;
    for line in src.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let common = m
                    .char_indices()
                    .zip(indent.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(m.len().min(indent.len()), |((i, _), _)| i);
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    src.split_inclusive('\n')
        .map(|l| {
            let body = l.strip_suffix('\n').unwrap_or(l);
            if body.trim().is_empty() {
                if l.ends_with('\n') { "\n" } else { "" }
            } else {
                l.strip_prefix(margin).unwrap_or(l)
            }
        })
        .collect()
}

impl Gateway {
    /// Opens a gateway from a spec string with default options.
    pub async fn open(spec: &str) -> Result<Gateway> {
        let spec: Spec = spec.parse()?;
        Gateway::open_spec(spec, GatewayOptions::default()).await
    }

    /// Opens a gateway from a parsed spec.
    pub async fn open_spec(spec: Spec, opts: GatewayOptions) -> Result<Gateway> {
        let id = spec
            .id
            .clone()
            .or_else(|| opts.id.clone())
            .unwrap_or_else(|| "gw0".to_string());
        if let Some(via) = &spec.via {
            if opts.via.as_ref().is_none_or(|g| g.id() != via) {
                return Err(Error::Unsupported(format!(
                    "gateway {id}: via={via} needs gateway {via} of the same group (open it through a Group)"
                )));
            }
            if spec.transport != Transport::Popen {
                return Err(Error::Unsupported(format!(
                    "gateway {id}: via= works with popen only (spec '{spec}')"
                )));
            }
        }
        if let Some(iv) = &spec.installvia
            && opts.via.as_ref().is_none_or(|g| g.id() != iv)
        {
            return Err(Error::Unsupported(format!(
                "gateway {id}: installvia={iv} needs gateway {iv} of the same group"
            )));
        }
        match spec.transport {
            Transport::Popen | Transport::Socket(_) | Transport::Ssh(_) => {}
            ref t => {
                return Err(Error::Unsupported(format!(
                    "gateway {id}: the {} transport is not supported yet (spec '{spec}')",
                    t.name()
                )));
            }
        }
        let timeout = spec.timeout.unwrap_or(opts.bootstrap_timeout);
        let execmodel = spec.execmodel.unwrap_or(ExecModel::Thread);
        // the compiled-stub cache is for local interpreters only
        let cache_key = (matches!(opts.bootstrap, Bootstrap::Stub)
            && spec.transport == Transport::Popen
            && spec.via.is_none())
        .then(|| bootstrap::stub_cache_key(&spec));
        let mut cached = cache_key.as_deref().and_then(bootstrap::cached_stub);
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let started = loop {
            let source = bootstrap::source(
                &opts.bootstrap,
                &format!("{id}-worker"),
                execmodel,
                cached.as_ref(),
            );
            let line = format!("{}\n", python_source_literal(&source));
            drop(source);
            let attempt = match (&spec.transport, &opts.via) {
                (Transport::Popen, Some(via)) => {
                    bootstrap::via(&spec, via, &id, line.as_bytes(), timeout).await
                }
                (Transport::Socket(addr), via) => match (&spec.installvia, via) {
                    (Some(_), Some(via)) => match bootstrap::install_socketserver(via, &id).await {
                        Ok((addr, token)) => {
                            bootstrap::socket(
                                &spec,
                                &addr,
                                &id,
                                line.as_bytes(),
                                timeout,
                                Some(token),
                            )
                            .await
                        }
                        Err(e) => Err(e),
                    },
                    _ => bootstrap::socket(&spec, addr, &id, line.as_bytes(), timeout, None).await,
                },
                (Transport::Ssh(target), _) => {
                    super::ssh::ssh(
                        &spec,
                        target,
                        &id,
                        line.clone().into_bytes(),
                        timeout,
                        opts.accept_new_host_keys,
                        opts.prompter.clone(),
                        opts.events.clone(),
                        stderr_tail.clone(),
                    )
                    .await
                }
                (_, _) => {
                    bootstrap::popen(
                        &spec,
                        &id,
                        line.as_bytes(),
                        timeout,
                        opts.events.clone(),
                        stderr_tail.clone(),
                    )
                    .await
                }
            };
            match attempt {
                Err(Error::StaleStubCache) if cached.is_some() => {
                    if let Some(k) = &cache_key {
                        bootstrap::evict_stub(k);
                    }
                    cached = None;
                }
                other => break other?,
            }
        };
        let cache_key = if cached.is_some() { None } else { cache_key };
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            id: id.clone(),
            spec: spec.clone(),
            writer: tokio::sync::Mutex::new(Some(started.writer)),
            table: Mutex::new(Table {
                channels: HashMap::new(),
                next_id: 1,
                strconfig: StrConfig::default(),
                state: GatewayState::Ready,
            }),
            process: started.process,
            events: opts.events.clone(),
            limits: opts.limits.clone(),
            facts: tokio::sync::OnceCell::new(),
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            stderr_tail,
            stub_cache_key: cache_key,
            reader_done: done_rx,
            reader_abort: Mutex::new(None),
            close_reason: started.close_reason.clone(),
        });
        let gw = Gateway { inner };
        let reader_gw = Arc::downgrade(&gw.inner);
        let max_frame = opts.limits.max_frame;
        let task = tokio::spawn(async move {
            reader_task(reader_gw, started.reader, max_frame).await;
            let _ = done_tx.send(true);
        });
        if let Ok(mut a) = gw.inner.reader_abort.lock() {
            *a = Some(task.abort_handle());
        }
        if let Some(tx) = &gw.inner.events {
            let _ = tx
                .send(Event::GatewayReady {
                    gateway: id.clone(),
                    pid: gw.pid(),
                })
                .await;
        }
        if (spec.chdir.is_some() || spec.nice.is_some() || !spec.env.is_empty())
            && let Err(e) = gw.apply_options(&spec).await
        {
            gw.kill();
            return Err(e);
        }
        Ok(gw)
    }

    async fn apply_options(&self, spec: &Spec) -> Result<()> {
        let ch = self.remote_exec(OPTIONS_SOURCE).await?;
        let env = Value::Dict(
            spec.env
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                .collect(),
        );
        let chdir = spec.chdir.clone().map(Value::Str).unwrap_or(Value::None);
        ch.send(&Value::Tuple(vec![
            chdir,
            Value::Int(i64::from(spec.nice.unwrap_or(0))),
            env,
        ]))
        .await?;
        ch.wait_closed(Some(Duration::from_secs(30))).await
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn spec(&self) -> &Spec {
        &self.inner.spec
    }

    /// The local pid of the worker (popen).
    pub fn pid(&self) -> Option<u32> {
        self.inner.process.as_ref().map(|p| p.pid)
    }

    pub fn state(&self) -> GatewayState {
        self.table().state.clone()
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Bytes received from / sent to the worker so far.
    pub fn byte_counts(&self) -> (u64, u64) {
        (
            self.inner.bytes_in.load(Ordering::Relaxed),
            self.inner.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// Frames received from / sent to the worker so far.
    pub fn message_counts(&self) -> (u64, u64) {
        (
            self.inner.msgs_in.load(Ordering::Relaxed),
            self.inner.msgs_out.load(Ordering::Relaxed),
        )
    }

    /// The last few KiB the worker wrote to its stderr.
    pub fn stderr_tail(&self) -> String {
        self.inner
            .stderr_tail
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed_error(&self) -> Option<Error> {
        match &self.table().state {
            GatewayState::Ready => None,
            GatewayState::Dead(r) => Some(Error::GatewayClosed {
                gateway: self.inner.id.clone(),
                reason: r.clone(),
            }),
            GatewayState::Terminated => Some(Error::GatewayClosed {
                gateway: self.inner.id.clone(),
                reason: "terminated".into(),
            }),
        }
    }

    /// Allocates a new channel (odd ids) without telling the worker yet; pass it inside
    /// data as [`Value::Channel`] to connect it.
    pub fn new_channel(&self) -> Channel {
        let mut t = self.table();
        let id = t.next_id;
        t.next_id += 2;
        let st = Arc::new(ChanState::new(id, t.strconfig));
        match gone_reason(&t.state) {
            // a dead gateway's channels are born ended, never waited on forever
            Some(reason) => st.end(Ending::GatewayGone(reason)),
            None => {
                t.channels.insert(id, st.clone());
            }
        }
        Channel {
            gw: self.clone(),
            state: st,
        }
    }

    /// The channel for an id received inside data ([`Value::Channel`]).
    pub fn channel(&self, id: i32) -> Channel {
        let mut t = self.table();
        let strconfig = t.strconfig;
        let st = match gone_reason(&t.state) {
            Some(reason) => {
                let st = Arc::new(ChanState::new(id, strconfig));
                st.end(Ending::GatewayGone(reason));
                st
            }
            None => t
                .channels
                .entry(id)
                .or_insert_with(|| Arc::new(ChanState::new(id, strconfig)))
                .clone(),
        };
        Channel {
            gw: self.clone(),
            state: st,
        }
    }

    /// Ids of the channels currently known.
    pub fn channel_ids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.table().channels.keys().copied().collect();
        v.sort_unstable();
        v
    }

    async fn write_frame(&self, code: MsgCode, channel: i32, payload: &[u8]) -> Result<()> {
        if payload.len() > i32::MAX as usize {
            return Err(Error::Encode(codec::EncodeError(
                "payload exceeds 2 GiB".into(),
            )));
        }
        let mut buf = Vec::with_capacity(frame::HEADER_LEN + payload.len());
        frame::write_frame(&mut buf, code, channel, payload);
        let mut w = self.inner.writer.lock().await;
        let Some(writer) = w.as_mut() else {
            return Err(self.closed_error().unwrap_or(Error::GatewayClosed {
                gateway: self.inner.id.clone(),
                reason: "input closed".into(),
            }));
        };
        let r = async {
            writer.write_all(&buf).await?;
            writer.flush().await
        }
        .await;
        match r {
            Ok(()) => {
                self.inner.msgs_out.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .bytes_out
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(self.closed_error().unwrap_or(Error::GatewayClosed {
                gateway: self.inner.id.clone(),
                reason: format!("write failed: {e}"),
            })),
        }
    }

    pub(crate) async fn send_data(&self, channel: i32, v: &Value) -> Result<()> {
        let payload = codec::encode(v)?;
        self.write_frame(MsgCode::ChannelData, channel, &payload)
            .await
    }

    pub(crate) async fn send_close(&self, channel: i32, error: Option<&str>) -> Result<()> {
        let r = match error {
            None => self.write_frame(MsgCode::ChannelClose, channel, b"").await,
            Some(text) => {
                let payload = codec::encode(&Value::Str(text.to_string()))?;
                self.write_frame(MsgCode::ChannelCloseError, channel, &payload)
                    .await
            }
        };
        self.forget_if_done(channel);
        r
    }

    pub(crate) async fn send_reconfigure(&self, channel: i32, cfg: StrConfig) -> Result<()> {
        let payload = codec::encode(&Value::Tuple(vec![
            Value::Bool(cfg.py2str_as_py3str),
            Value::Bool(cfg.py3str_as_py2str),
        ]))?;
        self.write_frame(MsgCode::Reconfigure, channel, &payload)
            .await
    }

    fn forget_if_done(&self, channel: i32) {
        let mut t = self.table();
        if let Some(st) = t.channels.get(&channel) {
            let g = st.lock();
            let done = g.send_closed && matches!(g.ending, Some(Ending::Closed | Ending::Error(_)));
            drop(g);
            if done {
                t.channels.remove(&channel);
            }
        }
    }

    /// Runs `source` in the worker (dedented, as execnet does); the code sees the
    /// returned channel as `channel`.
    pub async fn remote_exec(&self, source: &str) -> Result<Channel> {
        self.remote_exec_call(&dedent(source), None, None, Vec::new())
            .await
    }

    /// Like [`remote_exec`](Self::remote_exec), with the channel's items decoded by
    /// `cfg` from the very first one (here only; the worker keeps its defaults). A
    /// bridge source uses this so that no Python 2 `str` arrives decoded too early.
    pub async fn remote_exec_with_strconfig(
        &self,
        source: &str,
        cfg: StrConfig,
    ) -> Result<Channel> {
        self.exec_on(&dedent(source), None, None, Vec::new(), Some(cfg))
            .await
    }

    /// The general form: source, a file name for tracebacks, and a function to call
    /// as `name(channel, **kwargs)` after executing the source.
    pub async fn remote_exec_call(
        &self,
        source: &str,
        file_name: Option<&str>,
        call_name: Option<&str>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Channel> {
        self.exec_on(source, file_name, call_name, kwargs, None)
            .await
    }

    async fn exec_on(
        &self,
        source: &str,
        file_name: Option<&str>,
        call_name: Option<&str>,
        kwargs: Vec<(String, Value)>,
        strconfig: Option<StrConfig>,
    ) -> Result<Channel> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let ch = self.new_channel();
        if let Some(cfg) = strconfig {
            ch.state.lock().strconfig = Some(cfg);
        }
        let opt = |s: Option<&str>| s.map(|s| Value::Str(s.to_string())).unwrap_or(Value::None);
        let payload = codec::encode(&Value::Tuple(vec![
            Value::Str(source.to_string()),
            opt(file_name),
            opt(call_name),
            Value::Dict(
                kwargs
                    .into_iter()
                    .map(|(k, v)| (Value::Str(k), v))
                    .collect(),
            ),
        ]))?;
        self.write_frame(MsgCode::ChannelExec, ch.id(), &payload)
            .await?;
        Ok(ch)
    }

    /// STATUS: `{'numchannels': .., 'numexecuting': .., 'execmodel': ..}` from the worker,
    /// answered by its receiver even while code runs.
    pub async fn status(&self) -> Result<Value> {
        let ch = self.new_channel();
        let v = match self.write_frame(MsgCode::Status, ch.id(), b"").await {
            Ok(()) => ch.receive().await,
            Err(e) => Err(e),
        };
        self.table().channels.remove(&ch.id());
        v
    }

    /// Interpreter facts, fetched once and cached.
    pub async fn facts(&self) -> Result<Facts> {
        self.inner
            .facts
            .get_or_try_init(|| async {
                let ch = self.remote_exec(FACTS_SOURCE).await?;
                let v = ch.receive_timeout(Duration::from_secs(60)).await?;
                // wait for the task's end too: the main thread is free again after it
                ch.wait_closed(Some(Duration::from_secs(60))).await?;
                let bad = || Error::Protocol(format!("unexpected facts reply: {v}"));
                let Value::Tuple(t) = &v else {
                    return Err(bad());
                };
                let s = |i: usize| t.get(i).and_then(|x| x.as_str()).map(str::to_string);
                Ok(Facts {
                    executable: s(0).ok_or_else(bad)?,
                    version_info: match t.get(1) {
                        Some(Value::Tuple(vi)) => vi.clone(),
                        _ => return Err(bad()),
                    },
                    platform: s(2).ok_or_else(bad)?,
                    cwd: s(3).ok_or_else(bad)?,
                    pid: t.get(4).and_then(Value::as_i64).ok_or_else(bad)?,
                    implementation: s(5).ok_or_else(bad)?,
                    implementation_version: s(6).ok_or_else(bad)?,
                })
            })
            .await
            .cloned()
    }

    /// Sets the string config for channels created from now on, here and in the worker
    /// (RECONFIGURE on channel 0).
    pub async fn reconfigure(&self, cfg: StrConfig) -> Result<()> {
        self.table().strconfig = cfg;
        self.send_reconfigure(0, cfg).await
    }

    /// Sends a signal to the worker's process group (e.g. SIGINT to interrupt).
    pub fn signal(&self, sig: i32) {
        if let Some(p) = &self.inner.process {
            p.signal_group(sig);
        }
    }

    /// Kills the worker and everything it started, without waiting.
    pub fn kill(&self) {
        self.mark(GatewayState::Terminated);
        if let Some(p) = &self.inner.process {
            p.signal_group(libc::SIGKILL);
        }
    }

    fn mark(&self, st: GatewayState) -> bool {
        self.mark_channels(st).is_some()
    }

    /// Sets a final state; returns the channels that were still open (None if the
    /// gateway was not ready any more).
    fn mark_channels(&self, st: GatewayState) -> Option<Vec<Arc<ChanState>>> {
        let chans: Vec<Arc<ChanState>> = {
            let mut t = self.table();
            if t.state != GatewayState::Ready {
                return None;
            }
            t.state = st.clone();
            t.channels.drain().map(|(_, c)| c).collect()
        };
        let reason = gone_reason(&st).unwrap_or_default();
        for c in &chans {
            c.end(Ending::GatewayGone(reason.clone()));
        }
        Some(chans)
    }

    /// Like [`remote_exec`](Self::remote_exec), but the channel's items and its end
    /// arrive as [`Event::Item`] / [`Event::ChannelEnded`] on the event sink, in wire
    /// order with the output of the same gateway (needs `GatewayOptions::events`).
    pub async fn remote_exec_forwarded(&self, source: &str) -> Result<Channel> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let ch = self.new_channel();
        ch.state.forward.store(true, Ordering::Relaxed);
        let payload = codec::encode(&Value::Tuple(vec![
            Value::Str(dedent(source)),
            Value::None,
            Value::None,
            Value::Dict(vec![]),
        ]))?;
        self.write_frame(MsgCode::ChannelExec, ch.id(), &payload)
            .await?;
        Ok(ch)
    }

    /// Polite then firm: GATEWAY_TERMINATE, close the worker's input, wait up to
    /// `timeout`, then kill. When this returns, the worker and every process it started
    /// are gone and reaped.
    pub async fn terminate(&self, timeout: Duration) -> TerminateOutcome {
        let was_ready = self.state() == GatewayState::Ready;
        let before = self
            .inner
            .process
            .as_ref()
            .and_then(ProcessHandle::exit_info);
        let started = std::time::Instant::now();
        // The polite part is bounded too: a sender stuck on a full pipe (the worker
        // not reading) holds the writer, and then only the kill helps.
        let polite = async {
            if was_ready {
                let _ = self.write_frame(MsgCode::GatewayTerminate, 0, b"").await;
            }
            if let Some(mut w) = self.inner.writer.lock().await.take() {
                let _ = w.shutdown().await;
            }
        };
        let polite_done = tokio::time::timeout(timeout, polite).await.is_ok();
        self.mark(GatewayState::Terminated);
        let left = if polite_done {
            timeout.saturating_sub(started.elapsed())
        } else {
            Duration::ZERO
        };
        let outcome = match &self.inner.process {
            Some(p) => {
                let outcome = match p.wait(Some(left)).await {
                    Some(st) if !was_ready || before.is_some() => {
                        TerminateOutcome::AlreadyDead(Some(st))
                    }
                    Some(st) => TerminateOutcome::Exited(st),
                    None => {
                        p.signal_group(libc::SIGKILL);
                        p.wait(None).await;
                        TerminateOutcome::Killed
                    }
                };
                p.signal_group(libc::SIGKILL);
                p.clear_group(Duration::from_secs(5)).await;
                outcome
            }
            // a remote worker exits by itself; we can only see its connection close
            None => {
                let mut done = self.inner.reader_done.clone();
                let closed = tokio::time::timeout(left, done.wait_for(|d| *d))
                    .await
                    .is_ok();
                if !was_ready {
                    TerminateOutcome::AlreadyDead(None)
                } else if closed {
                    TerminateOutcome::Disconnected
                } else {
                    if let Ok(mut a) = self.inner.reader_abort.lock()
                        && let Some(a) = a.take()
                    {
                        a.abort();
                    }
                    TerminateOutcome::TimedOut
                }
            }
        };
        if let Some(tx) = &self.inner.events {
            let _ = tx
                .send(Event::GatewayTerminated {
                    gateway: self.inner.id.clone(),
                    outcome: outcome.clone(),
                })
                .await;
        }
        outcome
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: make sure nothing outlives it.
        if let Some(p) = &self.process {
            // also after the worker exited: what it started may still run
            p.signal_group(libc::SIGKILL);
        }
    }
}

fn gone_reason(state: &GatewayState) -> Option<String> {
    match state {
        GatewayState::Ready => None,
        GatewayState::Dead(r) => Some(r.clone()),
        GatewayState::Terminated => Some("gateway terminated".into()),
    }
}

async fn emit(inner: &Inner, ev: Event) {
    if let Some(tx) = &inner.events {
        let _ = tx.send(ev).await;
    }
}

async fn reader_task(weak: std::sync::Weak<Inner>, reader: Reader, max_frame: usize) {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let reason = loop {
        let msg = match frame::read_message(&mut reader, max_frame).await {
            Ok(m) => m,
            Err(FrameError::Eof) => break None,
            Err(e) => break Some(e.to_string()),
        };
        let Some(inner) = weak.upgrade() else { return };
        let gw = Gateway { inner };
        gw.inner.msgs_in.fetch_add(1, Ordering::Relaxed);
        gw.inner.bytes_in.fetch_add(
            (frame::HEADER_LEN + msg.payload.len()) as u64,
            Ordering::Relaxed,
        );
        if let Err(e) = handle(&gw, msg).await {
            break Some(e);
        }
    };
    let Some(inner) = weak.upgrade() else { return };
    let gw = Gateway { inner };
    let protocol_fault = reason.is_some();
    let transport_reason = gw.inner.close_reason.lock().ok().and_then(|r| r.clone());
    let mut reason = reason.or(transport_reason).unwrap_or_else(|| {
        // a remote worker's link that ends without us asking was lost
        if gw.inner.process.is_none() {
            "connection lost".to_string()
        } else {
            "connection closed".to_string()
        }
    });
    if protocol_fault {
        // A peer that sends garbage cannot be trusted with more work.
        if let Some(p) = &gw.inner.process {
            p.signal_group(libc::SIGKILL);
        }
    }
    if let Some(p) = &gw.inner.process
        && let Some(st) = p.wait(Some(Duration::from_millis(300))).await
    {
        reason = format!("{reason} (worker {st})");
        // the worker is gone: nothing it started may outlive it
        p.signal_group(libc::SIGKILL);
        p.clear_group(Duration::from_secs(2)).await;
    }
    if let Some(chans) = gw.mark_channels(GatewayState::Dead(reason.clone())) {
        for c in chans.iter().filter(|c| c.forward.load(Ordering::Relaxed)) {
            emit(
                &gw.inner,
                Event::ChannelEnded {
                    gateway: gw.inner.id.clone(),
                    channel: c.id,
                    error: Some(format!("gateway {} died: {reason}", gw.inner.id)),
                },
            )
            .await;
        }
        emit(
            &gw.inner,
            Event::GatewayDied {
                gateway: gw.inner.id.clone(),
                reason,
            },
        )
        .await;
    }
}

/// Handles one message; an `Err` is a protocol fault that closes the gateway.
async fn handle(gw: &Gateway, msg: Message) -> std::result::Result<(), String> {
    let limits = &gw.inner.limits;
    let id = msg.channel;
    match msg.code {
        MsgCode::ChannelData if id == 0 => {
            // our stub's records: output text is unicode; the stub-code record carries
            // Python 2 `str` bytes that must stay bytes
            let raw = StrConfig {
                py2str_as_py3str: false,
                py3str_as_py2str: false,
            };
            let v = codec::decode(&msg.payload, raw, limits)
                .map_err(|e| format!("bad output record: {e}"))?;
            if let Value::Tuple(t) = &v
                && let [Value::Str(tag), Value::Bytes(magic), Value::Bytes(code)] = t.as_slice()
                && tag == "stubcode"
            {
                if let Some(key) = &gw.inner.stub_cache_key {
                    bootstrap::store_stub(
                        key,
                        bootstrap::StubCode {
                            magic: magic.clone(),
                            code: code.clone(),
                        },
                    );
                }
            } else if let Value::Tuple(t) = &v
                && let [chan, Value::Str(stream), Value::Str(text)] = t.as_slice()
            {
                let channel = match chan {
                    Value::Int(c) => i32::try_from(*c).ok(),
                    _ => None,
                };
                emit(
                    &gw.inner,
                    Event::Output {
                        gateway: gw.inner.id.clone(),
                        channel,
                        stream: Stream::from_name(stream),
                        text: text.clone(),
                    },
                )
                .await;
            }
        }
        MsgCode::ChannelData => {
            let st = gw.table().channels.get(&id).cloned();
            let Some(st) = st else { return Ok(()) };
            let cfg = st.lock().strconfig.unwrap_or_default();
            let mut refs = Vec::new();
            let v = codec::decode_with_channels(&msg.payload, cfg, limits, &mut refs)
                .map_err(|e| format!("bad data on channel {id}: {e}"))?;
            for r in refs {
                gw.channel(r);
            }
            if st.forward.load(Ordering::Relaxed) {
                st.items_in.fetch_add(1, Ordering::Relaxed);
                emit(
                    &gw.inner,
                    Event::Item {
                        gateway: gw.inner.id.clone(),
                        channel: id,
                        value: v,
                    },
                )
                .await;
            } else {
                st.push(v);
            }
        }
        MsgCode::ChannelClose | MsgCode::ChannelCloseError | MsgCode::ChannelLastMessage => {
            let ending = match msg.code {
                MsgCode::ChannelClose => Ending::Closed,
                MsgCode::ChannelLastMessage => Ending::LastMessage,
                _ => {
                    let v = codec::decode(&msg.payload, StrConfig::default(), limits)
                        .map_err(|e| format!("bad error text on channel {id}: {e}"))?;
                    let text = match v {
                        Value::Str(s) => s,
                        other => other.to_string(),
                    };
                    Ending::Error(RemoteError { formatted: text })
                }
            };
            let st = gw.table().channels.get(&id).cloned();
            if let Some(st) = st {
                if st.forward.load(Ordering::Relaxed) && !matches!(ending, Ending::LastMessage) {
                    let error = match &ending {
                        Ending::Error(e) => Some(e.formatted.clone()),
                        _ => None,
                    };
                    emit(
                        &gw.inner,
                        Event::ChannelEnded {
                            gateway: gw.inner.id.clone(),
                            channel: id,
                            error,
                        },
                    )
                    .await;
                }
                st.end(ending);
                gw.forget_if_done(id);
            }
        }
        MsgCode::ChannelExec => {
            // A master never executes code sent by its worker.
            let payload = codec::encode(&Value::Str("execution disallowed".into()))
                .map_err(|e| e.to_string())?;
            let _ = gw
                .write_frame(MsgCode::ChannelCloseError, id, &payload)
                .await;
        }
        MsgCode::Status | MsgCode::Reconfigure => {}
        MsgCode::GatewayTerminate => return Err("worker sent GATEWAY_TERMINATE".into()),
    }
    Ok(())
}

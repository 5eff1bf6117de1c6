//! The gateway handle and the state it shares with its IO tasks: the channel table,
//! the writer every sender goes through, counters, and the gateway's life state.

use crate::channel::state::{ChanState, Ending};
use crate::codec::{self, Limits, StrConfig};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::frame::{self, MsgCode};
use crate::gateway::facts::Facts;
use crate::process::ProcessHandle;
use crate::spec::Spec;
use crate::transport::link::{CloseReason, StderrTail, Writer};
use crate::value::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How many things (bytes, frames, items) went each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub sent: u64,
}

impl Counts {
    pub(crate) fn load(received: &AtomicU64, sent: &AtomicU64) -> Counts {
        Counts {
            received: received.load(Ordering::Relaxed),
            sent: sent.load(Ordering::Relaxed),
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

/// What the gateway's tasks and handles share.
pub(crate) struct Inner {
    pub(crate) id: String,
    pub(crate) spec: Spec,
    /// The worker's input; `None` once closed (terminate).
    pub(crate) writer: tokio::sync::Mutex<Option<Writer>>,
    pub(crate) table: Mutex<Table>,
    pub(crate) process: Option<ProcessHandle>,
    pub(crate) events: Option<mpsc::Sender<Event>>,
    pub(crate) limits: Limits,
    pub(crate) facts: tokio::sync::OnceCell<Facts>,
    pub(crate) started: Instant,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) msgs_in: AtomicU64,
    pub(crate) msgs_out: AtomicU64,
    pub(crate) stderr_tail: StderrTail,
    /// Set while the worker may offer its compiled stub for the cache.
    pub(crate) stub_cache_key: Option<String>,
    /// Becomes true when the reader task has ended (the worker closed its output).
    pub(crate) reader_done: tokio::sync::watch::Receiver<bool>,
    pub(crate) reader_abort: Mutex<Option<tokio::task::AbortHandle>>,
    /// Set by a transport that knows why the connection ended (e.g. a silent link).
    pub(crate) close_reason: CloseReason,
}

/// What a new gateway starts with (see [`Inner::new`]).
pub(crate) struct Setup {
    pub id: String,
    pub spec: Spec,
    pub writer: Writer,
    pub process: Option<ProcessHandle>,
    pub close_reason: CloseReason,
    pub events: Option<mpsc::Sender<Event>>,
    pub limits: Limits,
    pub stderr_tail: StderrTail,
    pub stub_cache_key: Option<String>,
    pub reader_done: tokio::sync::watch::Receiver<bool>,
}

impl Inner {
    pub(crate) fn new(s: Setup) -> Inner {
        Inner {
            id: s.id,
            spec: s.spec,
            writer: tokio::sync::Mutex::new(Some(s.writer)),
            table: Mutex::new(Table {
                channels: HashMap::new(),
                next_id: 1,
                strconfig: StrConfig::default(),
                state: GatewayState::Ready,
            }),
            process: s.process,
            events: s.events,
            limits: s.limits,
            facts: tokio::sync::OnceCell::new(),
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            stderr_tail: s.stderr_tail,
            stub_cache_key: s.stub_cache_key,
            reader_done: s.reader_done,
            reader_abort: Mutex::new(None),
            close_reason: s.close_reason,
        }
    }
}

/// The channel table and the gateway's life state, under one lock.
pub(crate) struct Table {
    pub(crate) channels: HashMap<i32, Arc<ChanState>>,
    /// Our channels have odd ids (the worker's are even).
    pub(crate) next_id: i32,
    pub(crate) strconfig: StrConfig,
    pub(crate) state: GatewayState,
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

impl Gateway {
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
    pub fn byte_counts(&self) -> Counts {
        Counts::load(&self.inner.bytes_in, &self.inner.bytes_out)
    }

    /// Frames received from / sent to the worker so far.
    pub fn message_counts(&self) -> Counts {
        Counts::load(&self.inner.msgs_in, &self.inner.msgs_out)
    }

    /// The last few KiB the worker wrote to its stderr.
    pub fn stderr_tail(&self) -> String {
        self.inner.stderr_tail.text()
    }

    pub(crate) fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn closed_error(&self) -> Option<Error> {
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

    pub(crate) async fn write_frame(
        &self,
        code: MsgCode,
        channel: i32,
        payload: &[u8],
    ) -> Result<()> {
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

    pub(crate) fn forget_if_done(&self, channel: i32) {
        let mut t = self.table();
        if let Some(st) = t.channels.get(&channel) {
            let g = st.lock();
            let done = g.send_closed
                && matches!(
                    g.ending,
                    Some(Ending::Closed | Ending::Error(_) | Ending::Refused(_))
                );
            drop(g);
            if done {
                t.channels.remove(&channel);
            }
        }
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

    pub(crate) fn mark(&self, st: GatewayState) -> bool {
        self.mark_channels(st).is_some()
    }

    /// Sets a final state; returns the channels that were still open (None if the
    /// gateway was not ready any more).
    pub(crate) fn mark_channels(&self, st: GatewayState) -> Option<Vec<Arc<ChanState>>> {
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

pub(crate) fn gone_reason(state: &GatewayState) -> Option<String> {
    match state {
        GatewayState::Ready => None,
        GatewayState::Dead(r) => Some(r.clone()),
        GatewayState::Terminated => Some("gateway terminated".into()),
    }
}

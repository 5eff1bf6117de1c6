//! `RChannel`, the engine channel under `execdeck.Channel`, and `RCallbacks`, the queue
//! a gateway's callback dispatcher thread reads.
//!
//! Every blocking call releases the GIL and waits in slices, checking for signals
//! between them, so Ctrl+C interrupts a `receive()` that waits forever.

use crate::convert::{to_py, to_value};
use crate::errors;
use crate::runtime;
use execdeck_engine::{Channel, Ending, StrConfig, Value};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long one uninterruptible wait may last before signals are checked.
pub const SLICE: Duration = Duration::from_millis(200);

/// The callable that turns a channel id received inside data into a Python channel
/// (the gateway's `_channel_for_id`), shared by all channels of one gateway.
pub type Factory = Arc<OnceLock<Py<PyAny>>>;

/// Set by `_shutdown()` (an atexit hook that runs after every group's cleanup), with
/// the id of the thread that ran it (the main thread).
static SHUTDOWN: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Marks the interpreter as finalizing: from now on a thread other than the one
/// calling this never takes the GIL back after a blocking call (it would be killed
/// by the interpreter's thread exit, which aborts the process inside Rust frames);
/// it sleeps until the process exits instead.
pub fn shutdown() {
    let _ = SHUTDOWN.set(std::thread::current().id());
}

/// Runs `f` with the GIL released; see [`shutdown`].
pub fn unblocked<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.allow_threads(|| {
        let v = f();
        if let Some(main) = SHUTDOWN.get()
            && *main != std::thread::current().id()
        {
            loop {
                std::thread::park();
            }
        }
        v
    })
}

/// Runs `step(slice)` until it yields `Some`, or the deadline passes (`Ok(None)`), with
/// the GIL released while waiting; between slices pending signals are raised.
pub fn wait_sliced<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    mut step: impl FnMut(Duration) -> Option<T> + Send,
) -> PyResult<Option<T>> {
    let deadline = match timeout {
        Some(t) if t.is_finite() => Some(Instant::now() + Duration::from_secs_f64(t.max(0.0))),
        _ => None,
    };
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        if let Some(v) = unblocked(py, || step(slice)) {
            return Ok(Some(v));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}

/// One engine channel. Python's `execdeck.Channel` wraps it (as `_rc`).
#[pyclass(frozen, module = "execdeck._execdeck")]
pub struct RChannel {
    pub(crate) ch: Channel,
    pub(crate) factory: Factory,
}

impl RChannel {
    pub fn id(&self) -> i32 {
        self.ch.id()
    }

    fn factory<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.factory.get().map(|f| f.bind(py).clone())
    }
}

#[pymethods]
impl RChannel {
    #[getter(id)]
    fn py_id(&self) -> i32 {
        self.ch.id()
    }

    /// Sends one item (converted under the GIL, written without it).
    fn send(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = to_value(item)?;
        let ch = self.ch.clone();
        let rt = runtime()?;
        unblocked(py, || rt.block_on(ch.send(&v))).map_err(|e| errors::send_error(py, e))
    }

    /// The next item; `timeout` in seconds (None: wait for ever, interruptibly).
    #[pyo3(signature = (timeout=None))]
    fn receive(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyObject> {
        let rt = runtime()?;
        let ch = self.ch.clone();
        let got = wait_sliced(py, timeout, |slice| {
            rt.block_on(async {
                if timeout.is_none() {
                    // no timer of its own: the process-wide tick ends the slice
                    let tick = crate::TICK.notified();
                    tokio::select! {
                        v = ch.next() => Some(v),
                        _ = tick => None,
                    }
                } else {
                    tokio::time::timeout(slice, ch.next()).await.ok()
                }
            })
        })?;
        match got {
            Some(Ok(Some(v))) => to_py(py, v, self.factory(py).as_ref()),
            Some(Ok(None)) => Err(pyo3::exceptions::PyEOFError::new_err(())),
            Some(Err(e)) => Err(errors::receive_error(py, e)),
            None => Err(errors::timeout_error(
                py,
                &format!("no item after {} seconds", timeout.unwrap_or(0.0)),
            )),
        }
    }

    /// Waits until the peer closed the channel; raises the remote error if it closed
    /// with one, `EOFError` if the gateway went away, `TimeoutError` after `timeout`.
    #[pyo3(signature = (timeout=None))]
    fn waitclose(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let rt = runtime()?;
        let ch = self.ch.clone();
        let got = wait_sliced(py, timeout, |slice| {
            match rt.block_on(ch.wait_closed(Some(slice))) {
                Err(execdeck_engine::Error::Timeout(_)) => None,
                other => Some(other),
            }
        })?;
        match got {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(errors::receive_error(py, e)),
            None => Err(errors::timeout_error(
                py,
                &format!("Timeout after {} seconds", timeout.unwrap_or(0.0)),
            )),
        }
    }

    /// Closes our side (with an error text the peer's `receive` raises).
    #[pyo3(signature = (error=None))]
    fn close(&self, py: Python<'_>, error: Option<String>) -> PyResult<()> {
        let ch = self.ch.clone();
        let rt = runtime()?;
        let r = unblocked(py, || {
            rt.block_on(async {
                match &error {
                    Some(t) => ch.close_with_error(t).await,
                    None => ch.close().await,
                }
            })
        });
        match r {
            // closing a channel of a gateway that is gone is not an error
            Err(execdeck_engine::Error::GatewayClosed { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(errors::send_error(py, e)),
        }
    }

    /// How the channel ended: None while open, else (kind, text) with kind one of
    /// "closed", "error", "sendonly" (the peer sends no more), "gone", "refused".
    fn ending(&self) -> Option<(&'static str, Option<String>)> {
        Some(match self.ch.ending()? {
            Ending::Closed => ("closed", None),
            Ending::Error(e) => ("error", Some(e.formatted)),
            Ending::LastMessage => ("sendonly", None),
            Ending::GatewayGone(r) => ("gone", Some(r)),
            Ending::Refused(r) => ("refused", Some(r)),
        })
    }

    fn reconfigure(
        &self,
        py: Python<'_>,
        py2str_as_py3str: bool,
        py3str_as_py2str: bool,
    ) -> PyResult<()> {
        let ch = self.ch.clone();
        let rt = runtime()?;
        let cfg = StrConfig {
            py2str_as_py3str,
            py3str_as_py2str,
        };
        unblocked(py, || rt.block_on(ch.reconfigure(cfg))).map_err(|e| errors::send_error(py, e))
    }
}

/// One event for a gateway's callback dispatcher.
enum CallbackEvent {
    Item(i32, Value),
    End(i32, Option<String>),
}

/// The queue of items for channels with a callback, in arrival order, read by one
/// dispatcher thread per gateway (callbacks run there, one at a time, as in execnet's
/// receiver thread).
#[pyclass(frozen, module = "execdeck._execdeck")]
pub struct RCallbacks {
    tx: mpsc::UnboundedSender<CallbackEvent>,
    rx: Mutex<mpsc::UnboundedReceiver<CallbackEvent>>,
    factory: Factory,
}

impl RCallbacks {
    pub fn new(factory: Factory) -> RCallbacks {
        let (tx, rx) = mpsc::unbounded_channel();
        RCallbacks {
            tx,
            rx: Mutex::new(rx),
            factory,
        }
    }
}

#[pymethods]
impl RCallbacks {
    /// From now on the channel's items (and then its end) go to this queue.
    fn watch(&self, rc: &RChannel) -> PyResult<()> {
        let ch = rc.ch.clone();
        let tx = self.tx.clone();
        runtime()?.spawn(async move {
            let id = ch.id();
            loop {
                let ev = match ch.next().await {
                    Ok(Some(v)) => CallbackEvent::Item(id, v),
                    Ok(None) => CallbackEvent::End(id, None),
                    Err(execdeck_engine::Error::Remote(r)) => {
                        CallbackEvent::End(id, Some(r.formatted))
                    }
                    Err(_) => CallbackEvent::End(id, None),
                };
                let end = matches!(ev, CallbackEvent::End(..));
                if tx.send(ev).is_err() || end {
                    return;
                }
            }
        });
        Ok(())
    }

    /// The next event, or None after `timeout` seconds: `(channel id, True, item)` or
    /// `(channel id, False, remote error text or None)` for the end.
    fn next(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<(i32, bool, PyObject)>> {
        let rt = runtime()?;
        let got = unblocked(py, || {
            let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs_f64(timeout.max(0.0)), rx.recv())
                    .await
                    .ok()
                    .flatten()
            })
        });
        let factory = self.factory.get().map(|f| f.bind(py).clone());
        match got {
            None => Ok(None),
            Some(CallbackEvent::Item(id, v)) => {
                Ok(Some((id, true, to_py(py, v, factory.as_ref())?)))
            }
            Some(CallbackEvent::End(id, err)) => Ok(Some((
                id,
                false,
                err.into_pyobject(py)?.into_any().unbind(),
            ))),
        }
    }
}

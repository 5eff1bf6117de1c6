//! `RGroup` and `RGateway`: engine groups and gateways for `execdeck.Group` and
//! `execdeck.Gateway`. Remote stderr is written to this process's stderr as it arrives
//! (execnet's workers inherit it); remote stdout goes nowhere, as in execnet, whose
//! popen workers point it at /dev/null.

use crate::channel::{Factory, RCallbacks, RChannel, unblocked, wait_sliced};
use crate::convert::{to_py, to_value};
use crate::errors;
use crate::runtime;
use execdeck_engine::{Event, Gateway, GatewayOptions, GatewayState, Group, Spec, StrConfig};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// Writes remote stderr to ours, until every gateway of the group is gone.
async fn drain_output(mut rx: mpsc::Receiver<Event>) {
    while let Some(ev) = rx.recv().await {
        if let Event::Output { stream, text, .. } = ev
            && stream.is_err()
        {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        }
    }
}

/// An engine group: ids, `via=`/`installvia=` carriers, remote stderr forwarding.
#[pyclass(frozen, module = "execdeck._execdeck")]
pub struct RGroup {
    group: Arc<tokio::sync::Mutex<Group>>,
}

#[pymethods]
impl RGroup {
    #[new]
    fn new() -> PyResult<RGroup> {
        let (tx, rx) = mpsc::channel(256);
        runtime()?.spawn(drain_output(rx));
        let opts = GatewayOptions {
            events: Some(tx),
            ..GatewayOptions::default()
        };
        Ok(RGroup {
            group: Arc::new(tokio::sync::Mutex::new(Group::with_options(opts))),
        })
    }

    /// Starts a gateway (the spec must carry its `id=`); blocks until it is up, with the
    /// GIL released.
    fn makegateway(&self, py: Python<'_>, spec: &str) -> PyResult<RGateway> {
        let parsed: Spec = spec
            .parse()
            .map_err(|e: execdeck_engine::SpecError| errors::open_error(py, e.into()))?;
        let group = self.group.clone();
        let rt = runtime()?;
        let opened = unblocked(py, || {
            rt.block_on(async {
                let start = group.lock().await.start_gateway(parsed)?;
                let gw = start.open().await;
                group.lock().await.settle();
                gw
            })
        });
        let gw = opened.map_err(|e| errors::open_error(py, e))?;
        Ok(RGateway::wrap(gw))
    }

    /// Terminates these gateways at once, each politely then firmly within `timeout`
    /// seconds; returns each one's outcome.
    fn terminate_all(
        &self,
        py: Python<'_>,
        gateways: Vec<PyRef<'_, RGateway>>,
        timeout: f64,
    ) -> PyResult<Vec<(String, String)>> {
        let gws: Vec<Gateway> = gateways.iter().map(|g| g.gw.clone()).collect();
        let rt = runtime()?;
        let t = Duration::from_secs_f64(timeout.max(0.0));
        Ok(unblocked(py, || {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for gw in gws {
                    set.spawn(async move {
                        let outcome = gw.terminate(t).await;
                        (gw.id().to_string(), outcome.to_string())
                    });
                }
                let mut out = Vec::new();
                while let Some(r) = set.join_next().await {
                    if let Ok(x) = r {
                        out.push(x);
                    }
                }
                out
            })
        }))
    }
}

/// One engine gateway.
#[pyclass(frozen, module = "execdeck._execdeck")]
pub struct RGateway {
    gw: Gateway,
    factory: Factory,
}

impl RGateway {
    fn wrap(gw: Gateway) -> RGateway {
        RGateway {
            gw,
            factory: Arc::new(OnceLock::new()),
        }
    }

    fn rchannel(&self, ch: execdeck_engine::Channel) -> RChannel {
        RChannel {
            ch,
            factory: self.factory.clone(),
        }
    }
}

#[pymethods]
impl RGateway {
    #[getter]
    fn id(&self) -> String {
        self.gw.id().to_string()
    }

    /// The local pid of the worker (popen gateways).
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.gw.pid()
    }

    /// Sets the callable that makes a Python channel from an id (once).
    fn set_channel_factory(&self, f: Py<PyAny>) {
        let _ = self.factory.set(f);
    }

    /// True while the connection is up and not terminated.
    fn alive(&self) -> bool {
        self.gw.state() == GatewayState::Ready
    }

    /// Why the gateway is not alive any more (None while it is).
    fn dead_reason(&self) -> Option<String> {
        match self.gw.state() {
            GatewayState::Ready => None,
            GatewayState::Dead(r) => Some(r),
            GatewayState::Terminated => Some("terminated".into()),
        }
    }

    fn new_channel(&self) -> RChannel {
        self.rchannel(self.gw.new_channel())
    }

    fn channel(&self, id: i32) -> RChannel {
        self.rchannel(self.gw.channel(id))
    }

    fn callbacks(&self) -> RCallbacks {
        RCallbacks::new(self.factory.clone())
    }

    /// CHANNEL_EXEC: runs `source` (already in its final form), then calls `callname`
    /// with the channel and `kwargs` if given.
    #[pyo3(signature = (source, filename=None, callname=None, kwargs=None))]
    fn remote_exec(
        &self,
        py: Python<'_>,
        source: String,
        filename: Option<String>,
        callname: Option<String>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<RChannel> {
        let mut kw = Vec::new();
        if let Some(d) = kwargs {
            for (k, v) in d.iter() {
                kw.push((k.extract::<String>()?, to_value(&v)?));
            }
        }
        let gw = self.gw.clone();
        let rt = runtime()?;
        let ch = unblocked(py, || {
            rt.block_on(gw.remote_exec_call(&source, filename.as_deref(), callname.as_deref(), kw))
        })
        .map_err(|e| errors::send_error(py, e))?;
        Ok(self.rchannel(ch))
    }

    /// STATUS: the worker's status dict.
    fn status(&self, py: Python<'_>) -> PyResult<PyObject> {
        let gw = self.gw.clone();
        let rt = runtime()?;
        let got = wait_sliced(py, None, |slice| {
            rt.block_on(async { tokio::time::timeout(slice * 50, gw.status()).await.ok() })
        })?;
        match got {
            Some(Ok(v)) => to_py(py, v, None),
            Some(Err(e)) => Err(errors::receive_error(py, e)),
            None => Err(errors::timeout_error(py, "no status")),
        }
    }

    fn reconfigure(
        &self,
        py: Python<'_>,
        py2str_as_py3str: bool,
        py3str_as_py2str: bool,
    ) -> PyResult<()> {
        let gw = self.gw.clone();
        let rt = runtime()?;
        let cfg = StrConfig {
            py2str_as_py3str,
            py3str_as_py2str,
        };
        unblocked(py, || rt.block_on(gw.reconfigure(cfg))).map_err(|e| errors::send_error(py, e))
    }

    /// Starts a polite termination in the background (execnet's `exit()`): the worker
    /// is asked to stop; if it has not within `grace` seconds it is killed.
    fn exit(&self, grace: f64) -> PyResult<()> {
        let gw = self.gw.clone();
        let t = Duration::from_secs_f64(grace.max(0.0));
        runtime()?.spawn(async move {
            gw.terminate(t).await;
        });
        Ok(())
    }

    /// Terminates now (polite, then kill after `timeout` seconds); the outcome's text.
    fn terminate(&self, py: Python<'_>, timeout: f64) -> PyResult<String> {
        let gw = self.gw.clone();
        let rt = runtime()?;
        let t = Duration::from_secs_f64(timeout.max(0.0));
        Ok(unblocked(py, || rt.block_on(gw.terminate(t)).to_string()))
    }
}

//! A gateway's life: open (bootstrap through its transport, start the reader, apply
//! `chdir=`/`nice=`/`env:`) and terminate (polite, then firm).

use crate::bootstrap::{self, Bootstrap};
use crate::codec::Limits;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::frame::MsgCode;
use crate::gateway::handle::{Gateway, GatewayState, Inner, Setup};
use crate::gateway::reader::reader_task;
use crate::process::{ProcessHandle, TerminateOutcome};
use crate::spec::{ExecModel, Spec, Transport};
use crate::transport::{Link, Prompter, Start, StderrTail};
use crate::value::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

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
    pub prompter: Option<Prompter>,
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
        let timeout = spec.timeout.unwrap_or(opts.bootstrap_timeout);
        let execmodel = spec.execmodel.unwrap_or(ExecModel::Thread);
        let stderr_tail = StderrTail::default();
        // wait for a start slot first: the bootstrap timeout counts from here
        let slot = crate::pacer::acquire(&spec, async {
            if let Some(tx) = &opts.events {
                let _ = tx
                    .send(Event::GatewayQueued {
                        gateway: id.clone(),
                    })
                    .await;
            }
        })
        .await;
        let started = bootstrap::start(
            &opts.bootstrap,
            &format!("{id}-worker"),
            execmodel,
            Start {
                spec: &spec,
                id: &id,
                line: b"",
                timeout,
                events: opts.events.clone(),
                stderr_tail: stderr_tail.clone(),
                accept_new_host_keys: opts.accept_new_host_keys,
                prompter: opts.prompter.clone(),
                via: opts.via.as_ref(),
            },
        )
        .await?;
        drop(slot);
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let Link {
            reader,
            writer,
            process,
            close_reason,
        } = started.link;
        let inner = Arc::new(Inner::new(Setup {
            id: id.clone(),
            spec: spec.clone(),
            writer,
            process,
            close_reason,
            events: opts.events.clone(),
            limits: spec.limits.apply(&opts.limits),
            stderr_tail,
            stub_cache_key: started.offer_key,
            reader_done: done_rx,
        }));
        let gw = Gateway { inner };
        let reader_gw = Arc::downgrade(&gw.inner);
        let max_frame = gw.inner.limits.max_frame;
        let task = tokio::spawn(async move {
            reader_task(reader_gw, reader, max_frame).await;
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
        if !spec.setup.is_empty()
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
            spec.setup
                .env
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                .collect(),
        );
        let chdir = spec
            .setup
            .chdir
            .clone()
            .map(Value::Str)
            .unwrap_or(Value::None);
        ch.send(&Value::Tuple(vec![
            chdir,
            Value::Int(i64::from(spec.setup.nice.unwrap_or(0))),
            env,
        ]))
        .await?;
        ch.wait_closed(Some(Duration::from_secs(30))).await
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

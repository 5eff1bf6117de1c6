//! REPL sessions: the `remote_stub/console.py` program over a channel, with an
//! interrupt ladder (in-band KeyboardInterrupt, then SIGINT to the worker).

use super::channel::Channel;
use super::error::{Error, Result};
use super::gateway::Gateway;
use super::value::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The console program sent with `remote_exec`.
pub const CONSOLE_SOURCE: &str = include_str!("../remote_stub/console.py");

/// How a running snippet can be interrupted on this interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptMode {
    /// KeyboardInterrupt raised inside the snippet (`_thread.interrupt_main`).
    InBand,
    /// Only a SIGINT to the worker process interrupts it.
    Signal,
    /// Neither (e.g. Jython): terminate the gateway instead.
    None,
}

/// What a console reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEvent {
    Hello {
        interrupt: InterruptMode,
    },
    Output {
        snippet: u64,
        stderr: bool,
        text: String,
    },
    Result {
        snippet: u64,
        repr: String,
    },
    Error {
        snippet: u64,
        traceback: String,
    },
    Done {
        snippet: u64,
        seconds: f64,
    },
    /// The console's channel ended (gateway gone, or the console program failed).
    Closed {
        reason: String,
    },
    /// Candidates for a `complete` request (see `Console::complete`).
    Completions {
        request: u64,
        items: Vec<String>,
    },
    /// Signature and first doc lines for an `inspect` request.
    Inspected {
        request: u64,
        text: String,
    },
}

/// A REPL on one gateway. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    gw: Gateway,
    channel: Channel,
    control: Channel,
    next: Arc<AtomicU64>,
}

impl Console {
    /// Starts the console program; events arrive on the returned receiver.
    pub async fn start(gw: &Gateway) -> Result<(Console, mpsc::Receiver<ConsoleEvent>)> {
        let channel = gw.remote_exec(CONSOLE_SOURCE).await?;
        let control = gw.new_channel();
        channel.send(&Value::Channel(control.id())).await?;
        let (tx, rx) = mpsc::channel(1024);
        let ch = channel.clone();
        tokio::spawn(async move {
            loop {
                match ch.next().await {
                    Ok(Some(v)) => {
                        if let Some(ev) = parse_event(&v)
                            && tx.send(ev).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx
                            .send(ConsoleEvent::Closed {
                                reason: "console closed".into(),
                            })
                            .await;
                        return;
                    }
                    Err(e) => {
                        let reason = match e {
                            Error::Remote(r) => r.formatted,
                            other => other.to_string(),
                        };
                        let _ = tx.send(ConsoleEvent::Closed { reason }).await;
                        return;
                    }
                }
            }
        });
        Ok((
            Console {
                gw: gw.clone(),
                channel,
                control,
                next: Arc::new(AtomicU64::new(1)),
            },
            rx,
        ))
    }

    /// Sends a snippet; returns its id (used in the events it produces).
    pub async fn run(&self, code: &str) -> Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.channel
            .send(&Value::Tuple(vec![
                Value::Str("run".into()),
                Value::Int(id as i64),
                Value::Str(code.to_string()),
            ]))
            .await?;
        Ok(id)
    }

    /// Step 1 of the ladder: ask the console to raise KeyboardInterrupt in the latest
    /// snippet (only that one: a late request never hits the next snippet).
    pub async fn interrupt(&self) -> Result<()> {
        let last = self.next.load(Ordering::Relaxed).saturating_sub(1);
        self.control
            .send(&Value::Tuple(vec![
                Value::Str("interrupt".into()),
                Value::Int(last as i64),
            ]))
            .await
    }

    /// Asks for completion candidates of the end of `text` (the line before the
    /// cursor), computed in the worker from the console's namespace by name and
    /// attribute lookup only; answered by `ConsoleEvent::Completions` with `request`,
    /// also while a snippet runs.
    pub async fn complete(&self, request: u64, text: &str) -> Result<()> {
        self.ask("complete", request, text).await
    }

    /// Asks for the signature and first doc lines of the name at the end of `text`;
    /// answered by `ConsoleEvent::Inspected` with `request`.
    pub async fn inspect(&self, request: u64, text: &str) -> Result<()> {
        self.ask("inspect", request, text).await
    }

    async fn ask(&self, what: &str, request: u64, text: &str) -> Result<()> {
        self.control
            .send(&Value::Tuple(vec![
                Value::Str(what.into()),
                Value::Int(request as i64),
                Value::Str(text.to_string()),
            ]))
            .await
    }

    /// Step 2: SIGINT to the worker process (wakes blocking calls such as sleep).
    pub fn signal_interrupt(&self) {
        if let Some(pid) = self.gw.pid() {
            // SAFETY: kill(2) of our own worker process.
            unsafe {
                libc::kill(pid as i32, libc::SIGINT);
            }
        }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    /// Ends the console program.
    pub async fn close(&self) {
        let _ = self.channel.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.control.close()).await;
    }
}

fn parse_event(v: &Value) -> Option<ConsoleEvent> {
    let Value::Tuple(t) = v else { return None };
    let tag = t.first()?.as_str()?;
    let sid = || t.get(1).and_then(Value::as_i64).map(|i| i as u64);
    let text = || t.get(2).and_then(Value::as_str).map(str::to_string);
    Some(match tag {
        "hello" => {
            let mode = t
                .get(1)
                .and_then(|d| d.get("interrupt"))
                .and_then(Value::as_str)
                .unwrap_or("none");
            ConsoleEvent::Hello {
                interrupt: match mode {
                    "in-band" => InterruptMode::InBand,
                    "signal" => InterruptMode::Signal,
                    _ => InterruptMode::None,
                },
            }
        }
        "out" | "err" => ConsoleEvent::Output {
            snippet: sid()?,
            stderr: tag == "err",
            text: text()?,
        },
        "result" => ConsoleEvent::Result {
            snippet: sid()?,
            repr: text()?,
        },
        "error" => ConsoleEvent::Error {
            snippet: sid()?,
            traceback: text()?,
        },
        "done" => ConsoleEvent::Done {
            snippet: sid()?,
            seconds: match t.get(2) {
                Some(Value::Float(f)) => *f,
                Some(Value::Int(i)) => *i as f64,
                _ => 0.0,
            },
        },
        "completions" => ConsoleEvent::Completions {
            request: sid()?,
            items: match t.get(2)? {
                Value::List(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => return None,
            },
        },
        "inspected" => ConsoleEvent::Inspected {
            request: sid()?,
            text: text()?,
        },
        _ => return None,
    })
}

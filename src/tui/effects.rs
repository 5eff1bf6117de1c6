//! The effect runner: carries each `Effect` of the app to the engine or the disk on a
//! task of its own (the loop never waits), and the outcome back as an `EngineMsg`.

use super::app::{Effect, EngineMsg};
use super::runtime::Runtime;
use super::{channels, gateways};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn execute(eff: Effect, rt: &Arc<Runtime>) {
    match eff {
        Effect::Open {
            key,
            id,
            spec,
            group,
        } => gateways::open(rt, key, id, &group, *spec),
        Effect::Run { key, code } => {
            let console = rt.console(key);
            reply(rt, async move {
                Some(match console {
                    Some(c) => match c.run(&code).await {
                        Ok(snippet) => EngineMsg::Started { key, snippet },
                        Err(e) => EngineMsg::Died {
                            key,
                            reason: e.to_string(),
                        },
                    },
                    None => EngineMsg::Failed {
                        key,
                        error: "the console is not ready yet".into(),
                    },
                })
            });
        }
        Effect::Complete {
            key,
            request,
            text,
            inspect,
        } => {
            if let Some(c) = rt.console(key) {
                tokio::spawn(async move {
                    let _ = if inspect {
                        c.inspect(request, &text).await
                    } else {
                        c.complete(request, &text).await
                    };
                });
            }
        }
        Effect::Interrupt { key } => {
            if let Some(c) = rt.console(key) {
                tokio::spawn(async move {
                    let _ = c.interrupt().await;
                });
            }
        }
        Effect::Signal { key } => {
            if let Some(c) = rt.console(key) {
                c.signal_interrupt();
            }
        }
        Effect::Terminate { keys } => {
            for key in keys {
                let gw = rt.gateway(key);
                reply(rt, async move {
                    let outcome = match gw {
                        Some(gw) => gw.terminate(Duration::from_secs(2)).await,
                        None => crate::engine::TerminateOutcome::AlreadyDead(None),
                    };
                    Some(EngineMsg::Terminated { key, outcome })
                });
            }
        }
        Effect::SaveHistory { spec, entry } => blocking(rt, move || {
            let e = crate::config::append_history(&spec, &entry).err()?;
            Some(EngineMsg::Notice(format!("history not saved: {e}")))
        }),
        Effect::SaveSession { name, session } => blocking(rt, move || {
            Some(EngineMsg::Notice(match session.save(&name) {
                Ok(p) => format!("session '{name}' saved to {}", p.display()),
                Err(e) => e,
            }))
        }),
        Effect::OpenSession { name } => blocking(rt, move || {
            Some(match crate::config::Session::open(&name) {
                Ok(s) => EngineMsg::Session(s),
                Err(e) => EngineMsg::Notice(e),
            })
        }),
        Effect::SaveOutput { path, text } => blocking(rt, move || {
            Some(EngineMsg::Notice(
                match crate::config::write_private(std::path::Path::new(&path), text.as_bytes()) {
                    Ok(()) => format!("output saved to {path}"),
                    Err(e) => e,
                },
            ))
        }),
        Effect::OpenChannel {
            key,
            code,
            name,
            hold,
        } => channels::open(rt, key, code, name, hold),
        Effect::ChannelSend {
            key,
            channel,
            value,
        } => {
            let ch = rt.channel((key, channel));
            reply(rt, async move {
                Some(match ch {
                    Some(ch) => match ch.send(&value).await {
                        Ok(()) => EngineMsg::ChannelSent {
                            key,
                            channel,
                            repr: value.to_string(),
                        },
                        Err(e) => EngineMsg::Notice(format!("send failed: {e}")),
                    },
                    None => EngineMsg::Notice(format!("channel {channel} is gone")),
                })
            });
        }
        Effect::ChannelClose { key, channel } => {
            if let Some(ch) = rt.channel((key, channel)) {
                tokio::spawn(async move {
                    let _ = ch.close().await;
                });
            }
        }
        Effect::ReleaseChannel { key, channel } => {
            if let Some(hold) = rt.hold((key, channel)) {
                hold.send_replace(false);
            }
        }
        Effect::Bridge { src, dst } => channels::bridge(rt, src, dst),
        Effect::Rosetta { run, keys, code } => {
            use crate::engine::rosetta::{DEFAULT_TIMEOUT, Run};
            let gws: Vec<_> = keys.iter().filter_map(|&k| rt.gateway(k)).collect();
            let to = rt.clone();
            reply(rt, async move {
                // each cell goes to the grid as its gateway answers
                let mut cells = Run::start(&gws, &code, Some(DEFAULT_TIMEOUT));
                while let Some((index, cell)) = cells.next().await {
                    to.send(EngineMsg::RosettaCell { run, index, cell }).await;
                }
                let cells = cells.cells().await;
                Some(EngineMsg::RosettaDone { run, cells })
            });
        }
        Effect::MonitorInterval(secs) => {
            rt.interval.send_replace(secs);
        }
        Effect::SecretReply(answer) => rt.answer_secret(answer),
        Effect::Quit => {}
    }
}

/// Runs `work` on a task and sends its message, if any, to the loop.
fn reply(rt: &Arc<Runtime>, work: impl Future<Output = Option<EngineMsg>> + Send + 'static) {
    let rt = rt.clone();
    tokio::spawn(async move {
        if let Some(msg) = work.await {
            rt.send(msg).await;
        }
    });
}

/// Runs blocking `work` (files) off the runtime's workers and sends its message, if any.
pub(super) fn blocking(
    rt: &Arc<Runtime>,
    work: impl FnOnce() -> Option<EngineMsg> + Send + 'static,
) {
    let tx = rt.tx.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(msg) = work() {
            let _ = tx.blocking_send(msg);
        }
    });
}

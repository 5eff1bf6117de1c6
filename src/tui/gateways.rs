//! Background tasks for gateways: open one through its group (`via=`/`installvia=`
//! carriers found by the engine's `Group`, waited for if still starting), forward its
//! output and death, start its console, sample its metrics.

use super::app::EngineMsg;
use super::effects;
use super::runtime::{Handle, Runtime};
use crate::engine::group::Starting;
use crate::engine::{Console, Event, Gateway, GatewayState, Spec, Stream};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Opens gateway `key` (`id` in `group`): reserves it in the group now, so gateways
/// after it may start through it, and bootstraps it on a task of its own.
pub(super) fn open(rt: &Arc<Runtime>, key: usize, id: String, group: &str, spec: Spec) {
    rt.handles().insert(key, Handle::default());
    let raw = spec.raw.clone();
    effects::blocking(rt, move || {
        let entries = crate::config::load_history(&raw);
        (!entries.is_empty()).then_some(EngineMsg::History { key, entries })
    });
    let (etx, erx) = mpsc::channel::<Event>(4096);
    let start = rt.start_gateway(group, id, spec, etx);
    tokio::spawn(run(key, start, erx, rt.clone()));
}

/// Forwards output and deaths while the gateway lives.
async fn forward_events(key: usize, mut erx: mpsc::Receiver<Event>, rt: Arc<Runtime>) {
    while let Some(ev) = erx.recv().await {
        let msg = match ev {
            Event::Output { stream, text, .. } => EngineMsg::Output { key, stream, text },
            Event::GatewayDied { reason, .. } => EngineMsg::Died { key, reason },
            _ => continue,
        };
        if !rt.send(msg).await {
            return;
        }
    }
}

/// Bootstraps the gateway, reports it ready with its interpreter, then runs its console
/// and forwards the console's events until the console ends.
async fn run(
    key: usize,
    start: crate::engine::Result<Starting>,
    erx: mpsc::Receiver<Event>,
    rt: Arc<Runtime>,
) {
    tokio::spawn(forward_events(key, erx, rt.clone()));
    let opened = match start {
        Ok(start) => start.open().await,
        Err(e) => Err(e),
    };
    let gw = match opened {
        Ok(gw) => gw,
        Err(e) => {
            let error = e.to_string();
            rt.send(EngineMsg::Failed { key, error }).await;
            return;
        }
    };
    rt.with_handle(key, |h| h.gw = Some(gw.clone()));
    let facts = gw.facts().await;
    let interpreter = match &facts {
        Ok(f) => f.interpreter(),
        Err(e) => format!("unknown interpreter ({e})"),
    };
    rt.send(EngineMsg::Ready {
        key,
        id: gw.id().to_string(),
        // remote workers (ssh, socket, via) report their pid in the facts
        pid: gw
            .pid()
            .or_else(|| facts.as_ref().ok().and_then(|f| u32::try_from(f.pid).ok())),
        interpreter,
    })
    .await;
    tokio::spawn(sample_metrics(key, gw.clone(), rt.clone()));
    match Console::start(&gw).await {
        Ok((console, mut crx)) => {
            rt.with_handle(key, |h| h.console = Some(console));
            while let Some(event) = crx.recv().await {
                if !rt.send(EngineMsg::Console { key, event }).await {
                    return;
                }
            }
        }
        Err(e) => {
            let text = format!("cannot start the console: {e}\n");
            let stream = Stream::Fd2;
            rt.send(EngineMsg::Output { key, stream, text }).await;
            // a snippet waiting for the console will not run
            let event = crate::engine::ConsoleEvent::Closed {
                reason: e.to_string(),
            };
            rt.send(EngineMsg::Console { key, event }).await;
        }
    }
}

/// Samples a gateway's metrics at the runtime's interval until it goes away.
async fn sample_metrics(key: usize, gw: Gateway, rt: Arc<Runtime>) {
    let mut rx = rt.interval.subscribe();
    let mut sampler = crate::engine::monitor::Sampler::new(gw.clone());
    let mut first = true;
    loop {
        let secs = *rx.borrow_and_update();
        if secs <= 0.0 {
            // sampling is off: wake for a change, and now and then to let a dead
            // gateway go
            tokio::select! {
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    if gw.state() != GatewayState::Ready {
                        return;
                    }
                }
            }
            continue;
        }
        if !first {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        first = false;
        if gw.state() != GatewayState::Ready {
            return;
        }
        if let Ok(Ok(metrics)) =
            tokio::time::timeout(Duration::from_secs(30), sampler.sample()).await
            && !rt.send(EngineMsg::Metrics { key, metrics }).await
        {
            return;
        }
    }
}

//! Background tasks for channels and bridges: open a channel and follow it (its items,
//! the channels they carry, its end), forward a bridge's counters.

use super::app::EngineMsg;
use super::runtime::Runtime;
use crate::engine::{Channel, Error, StrConfig, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Opens a channel with `code` on gateway `key` and follows it.
pub(super) fn open(rt: &Arc<Runtime>, key: usize, code: String, name: Option<String>, hold: bool) {
    let Some(gw) = rt.gateway(key) else { return };
    let rt = rt.clone();
    tokio::spawn(async move {
        // a bridge source gets Python 2 `str` as bytes from its first item on
        let opened = if hold {
            let raw = StrConfig {
                py2str_as_py3str: false,
                py3str_as_py2str: false,
            };
            gw.remote_exec_with_strconfig(&code, raw).await
        } else {
            gw.remote_exec(&code).await
        };
        match opened {
            Ok(ch) => {
                let w = Watch {
                    key,
                    opener: "here",
                    name,
                    hold,
                };
                follow(w, ch, rt).await
            }
            Err(e) => {
                let error = e.to_string();
                rt.send(EngineMsg::ChannelOpenFailed { key, name, error })
                    .await;
            }
        }
    });
}

/// Starts forwarding the items of channel `src` into channel `dst`.
pub(super) fn bridge(rt: &Arc<Runtime>, src: (usize, i32), dst: (usize, i32)) {
    let (Some(a), Some(b)) = (rt.channel(src), rt.channel(dst)) else {
        let _ = rt.tx.try_send(EngineMsg::BridgeFailed {
            src,
            dst,
            error: "the channel is gone".into(),
        });
        return;
    };
    // the source's watcher stops reading: its items are the bridge's now (and its own
    // again if the bridge cannot start)
    let hold = rt.hold(src);
    if let Some(hold) = &hold {
        hold.send_replace(true);
    }
    tokio::spawn(run_bridge(src, dst, a, b, hold, rt.clone()));
}

/// Forwards a bridge's counters to the app a few times a second, and its end.
async fn run_bridge(
    src: (usize, i32),
    dst: (usize, i32),
    a: Channel,
    b: Channel,
    hold: Option<watch::Sender<bool>>,
    rt: Arc<Runtime>,
) {
    let bridge = match crate::engine::bridge::Bridge::start(a, b).await {
        Ok(b) => b,
        Err(e) => {
            if let Some(hold) = hold {
                hold.send_replace(false);
            }
            let error = e.to_string();
            rt.send(EngineMsg::BridgeFailed { src, dst, error }).await;
            return;
        }
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        let ended = tokio::select! {
            reason = bridge.wait() => Some(reason),
            _ = tokio::time::sleep(Duration::from_millis(500)) => None,
        };
        let st = bridge.stats();
        let dt = last.0.elapsed().as_secs_f64();
        let per_s = if dt > 0.0 {
            st.items.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        last = (Instant::now(), st.items);
        let done = ended.is_some();
        let msg = EngineMsg::Bridge {
            src,
            dst,
            items: st.items,
            conversions: st.conversions,
            merged: st.merged,
            per_s: if done { 0.0 } else { per_s },
            ended,
        };
        if !rt.send(msg).await || done {
            return;
        }
    }
}

/// How a channel is followed.
struct Watch {
    key: usize,
    /// "here" or "remote".
    opener: &'static str,
    name: Option<String>,
    /// Do not read items (a bridge will): only announce the channel and its end.
    hold: bool,
}

/// Follows one channel: announces it, forwards its items (and follows the channels
/// they carry) and its end.
fn follow(w: Watch, ch: Channel, rt: Arc<Runtime>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let key = w.key;
        let channel = ch.id();
        let (hold_tx, mut hold) = watch::channel(w.hold);
        rt.with_handle(key, |h| {
            h.channels.insert(channel, ch.clone());
            h.holds.insert(channel, hold_tx);
        });
        rt.send(EngineMsg::ChannelOpened {
            key,
            channel,
            opener: w.opener.into(),
            name: w.name,
        })
        .await;
        // false once nobody can change the hold any more
        let mut watching = true;
        let error = loop {
            let held = *hold.borrow_and_update();
            let next = tokio::select! {
                // a bridge reads the items: only the end is ours to report
                r = ch.wait_closed(None), if held => r.map(|()| None),
                r = ch.next(), if !held => r,
                changed = hold.changed(), if watching => {
                    watching = changed.is_ok();
                    continue;
                }
            };
            match next {
                Ok(Some(v)) => {
                    if let Value::Channel(id) = v {
                        // a channel made by the remote side: follow it too
                        let sub = ch.gateway().channel(id);
                        let opener = if id % 2 == 0 { "remote" } else { "here" };
                        let w = Watch {
                            key,
                            opener,
                            name: None,
                            hold: false,
                        };
                        tokio::spawn(follow(w, sub, rt.clone()));
                    }
                    let repr = v.to_string();
                    if !rt.send(EngineMsg::ChannelItem { key, channel, repr }).await {
                        return;
                    }
                }
                Ok(None) => break None,
                Err(Error::Remote(r)) => break Some(r.formatted),
                Err(other) => break Some(other.to_string()),
            }
        };
        rt.send(EngineMsg::ChannelEnded {
            key,
            channel,
            error,
        })
        .await;
    })
}

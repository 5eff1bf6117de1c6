//! The gateway's reading side: one task per gateway reads frames from the worker and
//! dispatches them (channel items and ends, output records, the offered stub code);
//! when the stream ends it marks the gateway dead and says why.

use crate::bootstrap;
use crate::channel::state::{ChanState, Ending};
use crate::codec::{self, StrConfig};
use crate::error::RemoteError;
use crate::events::{Event, Stream};
use crate::frame::{self, FrameError, Message, MsgCode};
use crate::gateway::handle::{Gateway, GatewayState, Inner};
use crate::transport::link::Reader;
use crate::value::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::BufReader;

async fn emit(inner: &Inner, ev: Event) {
    if let Some(tx) = &inner.events {
        let _ = tx.send(ev).await;
    }
}

pub(crate) async fn reader_task(weak: std::sync::Weak<Inner>, reader: Reader, max_frame: usize) {
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
    let transport_reason = gw.inner.close_reason.get();
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

/// Ends one channel on our side (an item broke a limit): its receivers see `why`, the
/// worker's side of the channel is closed with that text, the gateway lives on.
async fn refuse(gw: &Gateway, st: &ChanState, why: String) {
    let id = st.id;
    if st.forward.load(Ordering::Relaxed) {
        emit(
            &gw.inner,
            Event::ChannelEnded {
                gateway: gw.inner.id.clone(),
                channel: id,
                error: Some(why.clone()),
            },
        )
        .await;
    }
    st.end(Ending::Refused(why.clone()));
    if let Ok(payload) = codec::encode(&Value::Str(why)) {
        let _ = gw
            .write_frame(MsgCode::ChannelCloseError, id, &payload)
            .await;
    }
    gw.forget_if_done(id);
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
            let v = match codec::decode_with_channels(&msg.payload, cfg, limits, &mut refs) {
                Ok(v) => v,
                // the frame is skipped; only its channel ends
                Err(e) if e.limit => {
                    refuse(gw, &st, format!("an item was refused: {}", e.message)).await;
                    return Ok(());
                }
                Err(e) => return Err(format!("bad data on channel {id}: {e}")),
            };
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
                let size = msg.payload.len();
                if let Err(unread) = st.push(v, size, limits.max_unread) {
                    let why = format!(
                        "{unread} bytes of unread items and one of {size} more exceeds the limit of {} bytes; raise it with {}=BYTES (or read the channel)",
                        limits.max_unread,
                        codec::limit_key::UNREAD
                    );
                    refuse(gw, &st, why).await;
                }
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

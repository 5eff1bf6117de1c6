//! Bridges: forward the items of a channel on one gateway to a channel on another,
//! whatever the two interpreters are, converting strings between Python 2 and 3.
//!
//! A Python 2 `str` is bytes and a Python 3 `str` is text, so an item that crosses
//! from one major version to the other is converted by [`convert`]: from a Python 2
//! source, a py2 `str` (which the bridge receives as bytes) becomes text for a
//! Python 3 destination; from a Python 3 source, text becomes bytes for a Python 2
//! destination, where it arrives as a native `str`. Between interpreters of the
//! same major version items pass unchanged.
//!
//! How a bridge ends (see [`Bridge::ended`]):
//! - the source closes normally: the destination is closed normally too, so the
//!   consumer's `for x in channel` loop ends;
//! - the source fails (remote exception) or its gateway dies: the destination is
//!   closed with an error carrying the reason (the consumer's `receive()` raises
//!   `channel.RemoteError`);
//! - the destination closes, fails, or its gateway dies: the source is closed with
//!   an error carrying the reason (the producer's `send()` raises, its `receive()`
//!   raises `channel.RemoteError`);
//! - an item holds a channel reference and the two channels are on different
//!   gateways: both ends are closed with the error "cannot forward a channel
//!   reference across gateways" (on one gateway the reference is valid and is
//!   forwarded);
//! - [`Bridge::stop`]: the destination is closed normally and the source is left
//!   open, so its owner can still read it or close it.
//!
//! A bridge is one-way: items that the destination sends back stay queued on the
//! destination channel for whoever holds it. A channel takes part in at most one
//! running bridge (as source or destination), and a channel cannot be bridged to
//! itself.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::{Gateway, Value, bridge::Bridge};
//! let a = Gateway::open("popen//python=python3//id=a").await.unwrap();
//! let b = Gateway::open("popen//python=python3//id=b").await.unwrap();
//! // the consumer gets a channel of its own and adds up what arrives on it
//! let inbox = b.new_channel();
//! let consumer = b
//!     .remote_exec("inbox = channel.receive()\nchannel.send(sum(inbox))")
//!     .await
//!     .unwrap();
//! consumer.send(&Value::Channel(inbox.id())).await.unwrap();
//! let producer = a
//!     .remote_exec("for i in range(1, 5):\n    channel.send(i)")
//!     .await
//!     .unwrap();
//! let bridge = Bridge::start(producer, inbox).await.unwrap();
//! assert_eq!(bridge.label(), "a:1 → b:1");
//! // the producer's end closes the inbox, which ends the consumer's loop
//! assert_eq!(consumer.receive().await.unwrap(), Value::Int(10));
//! assert_eq!(bridge.wait().await, "source closed");
//! assert_eq!(bridge.stats().items, 4);
//! a.terminate(std::time::Duration::from_secs(5)).await;
//! b.terminate(std::time::Duration::from_secs(5)).await;
//! # });
//! ```

use super::channel::{Channel, Ending};
use super::codec::StrConfig;
use super::error::{Error, Result};
use super::gateway::{Facts, Gateway, GatewayState};
use super::value::{Value, collapse_equal_keys};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a bridge has forwarded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Items delivered to the destination.
    pub items: u64,
    /// Strings converted between Python 2 and 3 (one per string, at any depth).
    pub conversions: u64,
    /// Dict keys and set members merged because a conversion made them equal (a
    /// Python 2 dict with both `'\xe9'` and `u'\xe9'`), as Python's loader merges them.
    pub merged: u64,
    /// Encoded size of the forwarded items (the serialized payloads, as sent).
    pub bytes: u64,
    /// Time since the start; frozen when the bridge ends.
    pub elapsed: Duration,
}

/// A running (or ended) bridge from a source channel to a destination channel.
/// Cheap to clone; clones share one forwarding task.
#[derive(Clone)]
pub struct Bridge {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Bridge {}>", self.shared.label)
    }
}

struct Shared {
    label: String,
    started: Instant,
    items: AtomicU64,
    conversions: AtomicU64,
    merged: AtomicU64,
    bytes: AtomicU64,
    /// The reason and the elapsed time, once the bridge has ended.
    end: Mutex<Option<(String, Duration)>>,
    done: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn end(&self) -> std::sync::MutexGuard<'_, Option<(String, Duration)>> {
        self.end.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bridge {
    /// Starts forwarding the items of `src` to `dst`.
    ///
    /// Reads both gateways' facts (cached per gateway) to know which side runs
    /// Python 2, and reconfigures `src` so that a Python 2 `str` arrives as bytes
    /// (`py2str_as_py3str = false`) and can be told apart from `unicode`. Items that
    /// were already queued on `src` were decoded with its previous configuration
    /// (a py2 `str` as latin-1 text): let the producer wait for a go-ahead if that
    /// matters. A `dst` created with [`Gateway::new_channel`] must be known to the
    /// remote code (its reference sent) before items flow, or the worker drops them.
    ///
    /// Fails if `src` and `dst` are the same channel, if either is already part of
    /// a running bridge, if `src` delivers to the event sink
    /// ([`Gateway::remote_exec_forwarded`]), or if the facts or the reconfigure
    /// cannot be had.
    pub async fn start(src: Channel, dst: Channel) -> Result<Bridge> {
        let src_label = chan_label(&src);
        let dst_label = chan_label(&dst);
        let label = format!("{src_label} → {dst_label}");
        if Arc::ptr_eq(&src.state, &dst.state) {
            return Err(Error::Unsupported(format!(
                "cannot bridge channel {src_label} to itself"
            )));
        }
        if src.state.forward.load(Ordering::Relaxed) {
            return Err(Error::Unsupported(format!(
                "channel {src_label} delivers its items to the event sink; it cannot be the source of a bridge"
            )));
        }
        // claimed before any await, so two concurrent starts cannot both win
        let claim = Claim::new(&src, &dst, &label)?;
        let (src_facts, dst_facts) =
            tokio::try_join!(src.gateway().facts(), dst.gateway().facts())?;
        if !src.is_closed() {
            src.reconfigure(StrConfig {
                py2str_as_py3str: false,
                py3str_as_py2str: false,
            })
            .await?;
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            label,
            started: Instant::now(),
            items: AtomicU64::new(0),
            conversions: AtomicU64::new(0),
            merged: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            end: Mutex::new(None),
            done: done_tx,
            stop: stop_tx,
        });
        let finisher = Finisher {
            shared: shared.clone(),
            claim: Mutex::new(Some(claim)),
        };
        let fwd = Forwarder {
            shared: shared.clone(),
            src_label,
            dst_label,
            from_py2: is_py2(&src_facts),
            to_py2: is_py2(&dst_facts),
            src,
            dst,
        };
        tokio::spawn(async move {
            let reason = fwd.run(stop_rx).await;
            finisher.finish(reason);
        });
        Ok(Bridge { shared })
    }

    /// A snapshot of the counters (atomics; cheap).
    pub fn stats(&self) -> BridgeStats {
        let s = &self.shared;
        BridgeStats {
            items: s.items.load(Ordering::Relaxed),
            conversions: s.conversions.load(Ordering::Relaxed),
            merged: s.merged.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            elapsed: s
                .end()
                .as_ref()
                .map_or_else(|| s.started.elapsed(), |(_, d)| *d),
        }
    }

    /// E.g. "gw0:3 → gw1:5" (gateway id and channel id of each end).
    pub fn label(&self) -> String {
        self.shared.label.clone()
    }

    /// `None` while running; else why the bridge ended, e.g. "source closed",
    /// "source gw0:3 failed: ZeroDivisionError: division by zero",
    /// "destination gw1:5 closed", "gateway gw1 died: connection closed (...)",
    /// "stopped". The ends have been closed (as described in the module docs) by
    /// the time this is set.
    pub fn ended(&self) -> Option<String> {
        self.shared.end().as_ref().map(|(r, _)| r.clone())
    }

    /// Waits for the end and returns its reason (see [`ended`](Self::ended)).
    pub async fn wait(&self) -> String {
        let mut done = self.shared.done.subscribe();
        // the sender lives in `shared`, which we hold: this only returns when done
        let _ = done.wait_for(|d| *d).await;
        self.ended()
            .unwrap_or_else(|| "bridge task ended unexpectedly".to_string())
    }

    /// Stops forwarding and waits for the end. The destination is closed normally
    /// (its consumer's loop ends); the source is left open, and items arriving on it
    /// from now on stay queued for its owner. An item being sent when `stop` is
    /// called is delivered first. The reason reads "stopped" unless the bridge had
    /// already ended for another one.
    pub async fn stop(&self) {
        self.shared.stop.send_replace(true);
        self.wait().await;
    }
}

/// Converts the strings of `v` for the destination's Python major version.
///
/// From a Python 2 source, `Bytes` (a py2 `str`, as the bridge receives it) become
/// `Str` for a Python 3 destination: decoded as UTF-8, or latin-1 when they are not
/// UTF-8. From a Python 3 source, `Str` becomes `Bytes` (UTF-8) for a Python 2
/// destination, which receives it as a native `str`. Otherwise `v` is returned
/// unchanged. Tuples, lists, dicts (keys and values), sets and frozensets are
/// converted recursively. Keys and set members that became equal are merged as the
/// destination's loader merges them (the first key's place, the last value).
/// `count` adds 1 per converted string and per merged key.
///
/// ```
/// use execdeck_engine::{Value, bridge::{Converted, convert}};
/// let mut n = Converted::default();
/// let v = Value::parse_literal("[b'tick', {b'k': b'\\xff', 'k': 2}, 'text', 1]").unwrap();
/// let v = convert(v, true, false, &mut n);
/// assert_eq!(v.to_string(), "['tick', {'k': 2}, 'text', 1]");
/// assert_eq!(n, Converted { strings: 3, merged: 1 });
/// ```
pub fn convert(v: Value, from_py2: bool, to_py2: bool, count: &mut Converted) -> Value {
    if from_py2 == to_py2 {
        return v;
    }
    let mut v = conv(v, from_py2, &mut count.strings);
    count.merged += collapse_equal_keys(&mut v) as u64;
    v
}

/// What [`convert`] changed in one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Converted {
    /// Strings converted between Python 2 and 3.
    pub strings: u64,
    /// Dict keys and set members merged because the conversion made them equal.
    pub merged: u64,
}

fn conv(v: Value, from_py2: bool, count: &mut u64) -> Value {
    let all = |items: Vec<Value>, count: &mut u64| -> Vec<Value> {
        items
            .into_iter()
            .map(|x| conv(x, from_py2, count))
            .collect()
    };
    match v {
        Value::Bytes(b) if from_py2 => {
            *count += 1;
            Value::Str(match String::from_utf8(b) {
                Ok(s) => s,
                Err(e) => e.into_bytes().iter().map(|&c| char::from(c)).collect(),
            })
        }
        Value::Str(s) if !from_py2 => {
            *count += 1;
            Value::Bytes(s.into_bytes())
        }
        Value::Tuple(items) => Value::Tuple(all(items, count)),
        Value::List(items) => Value::List(all(items, count)),
        Value::Set(items) => Value::Set(all(items, count)),
        Value::FrozenSet(items) => Value::FrozenSet(all(items, count)),
        Value::Dict(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, x)| (conv(k, from_py2, count), conv(x, from_py2, count)))
                .collect(),
        ),
        other => other,
    }
}

fn is_py2(f: &Facts) -> bool {
    f.version_info.first() == Some(&Value::Int(2))
}

fn chan_label(ch: &Channel) -> String {
    format!("{}:{}", ch.gateway().id(), ch.id())
}

fn contains_channel(v: &Value) -> bool {
    match v {
        Value::Channel(_) => true,
        Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => {
            x.iter().any(contains_channel)
        }
        Value::Dict(x) => x
            .iter()
            .any(|(k, v)| contains_channel(k) || contains_channel(v)),
        _ => false,
    }
}

/// Length of `codec::encode(v)`, computed without encoding.
fn encoded_len(v: &Value) -> u64 {
    fn len(v: &Value) -> u64 {
        let n = |x: usize| x as u64;
        match v {
            Value::None | Value::Bool(_) => 1,
            Value::Int(i) if i32::try_from(*i).is_ok() => 5,
            Value::Int(i) => 5 + n(i.to_string().len()),
            Value::BigInt(s) => 5 + n(s.len()),
            Value::Float(_) => 9,
            Value::Complex(..) => 17,
            Value::Bytes(b) => 5 + n(b.len()),
            Value::Str(s) => 5 + n(s.len()),
            Value::Tuple(x) | Value::Set(x) | Value::FrozenSet(x) => {
                5 + x.iter().map(len).sum::<u64>()
            }
            Value::List(x) => 5 + x.iter().map(|i| 6 + len(i)).sum::<u64>(),
            Value::Dict(x) => 1 + x.iter().map(|(k, v)| len(k) + len(v) + 1).sum::<u64>(),
            Value::Channel(_) => 5,
        }
    }
    len(v) + 1
}

/// The registry of channels taking part in a running bridge, keyed by the address
/// of their shared state (kept alive by the claim, so it cannot be reused).
static BRIDGED: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

fn bridged() -> std::sync::MutexGuard<'static, Vec<(usize, String)>> {
    BRIDGED.lock().unwrap_or_else(|p| p.into_inner())
}

fn state_key(ch: &Channel) -> usize {
    Arc::as_ptr(&ch.state) as usize
}

/// Both channels' places in the registry; released on drop.
struct Claim {
    keys: [usize; 2],
    _channels: [Channel; 2],
}

impl Claim {
    fn new(src: &Channel, dst: &Channel, label: &str) -> Result<Claim> {
        let mut reg = bridged();
        for ch in [src, dst] {
            let key = state_key(ch);
            if let Some((_, other)) = reg.iter().find(|(k, _)| *k == key) {
                return Err(Error::Unsupported(format!(
                    "channel {} is already bridged ({other})",
                    chan_label(ch)
                )));
            }
        }
        let keys = [state_key(src), state_key(dst)];
        for k in keys {
            reg.push((k, label.to_string()));
        }
        Ok(Claim {
            keys,
            _channels: [src.clone(), dst.clone()],
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        bridged().retain(|(k, _)| !self.keys.contains(k));
    }
}

/// Records the end exactly once: on the task's return, or (on panic or when the
/// runtime drops the task) from `Drop`.
struct Finisher {
    shared: Arc<Shared>,
    claim: Mutex<Option<Claim>>,
}

impl Finisher {
    fn finish(&self, reason: String) {
        // released first: whoever sees the end may bridge these channels again
        drop(self.claim.lock().unwrap_or_else(|p| p.into_inner()).take());
        {
            let mut end = self.shared.end();
            if end.is_none() {
                *end = Some((reason, self.shared.started.elapsed()));
            }
        }
        self.shared.done.send_replace(true);
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.finish("bridge task ended unexpectedly".to_string());
    }
}

/// What to do with one end when the bridge ends.
enum Close {
    Keep,
    Clean,
    WithError(String),
}

struct Outcome {
    reason: String,
    src: Close,
    dst: Close,
}

struct Forwarder {
    shared: Arc<Shared>,
    src: Channel,
    dst: Channel,
    src_label: String,
    dst_label: String,
    from_py2: bool,
    to_py2: bool,
}

enum Step {
    Stop,
    DstEnded(Ending),
    Next(Result<Option<Value>>),
}

/// Waits until the channel has ended for good (a last-message notice does not count:
/// the peer still receives).
async fn ended(ch: &Channel) -> Ending {
    loop {
        let notified = ch.state.ended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(e) = ch.ending()
            && !matches!(e, Ending::LastMessage)
        {
            return e;
        }
        notified.await;
    }
}

/// "gateway gw1 died: <reason>", or "gateway gw1 terminated" when we ended it.
fn gone(gw: &Gateway, reason: &str) -> String {
    match gw.state() {
        GatewayState::Terminated => format!("gateway {} terminated", gw.id()),
        GatewayState::Dead(r) => format!("gateway {} died: {r}", gw.id()),
        GatewayState::Ready => format!("gateway {} died: {reason}", gw.id()),
    }
}

impl Forwarder {
    async fn run(self, mut stop: watch::Receiver<bool>) -> String {
        let same_gateway = Arc::ptr_eq(&self.src.gateway().inner, &self.dst.gateway().inner);
        let out = loop {
            let step = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => Step::Stop,
                e = ended(&self.dst) => Step::DstEnded(e),
                r = self.src.next() => Step::Next(r),
            };
            let item = match step {
                Step::Stop => {
                    break Outcome {
                        reason: "stopped".into(),
                        src: Close::Keep,
                        dst: Close::Clean,
                    };
                }
                Step::DstEnded(e) => break self.dst_ended(e),
                Step::Next(Ok(Some(v))) => v,
                Step::Next(Ok(None)) => {
                    break Outcome {
                        reason: "source closed".into(),
                        src: Close::Keep,
                        dst: Close::Clean,
                    };
                }
                Step::Next(Err(e)) => break self.src_failed(e),
            };
            if !same_gateway && contains_channel(&item) {
                let reason = "cannot forward a channel reference across gateways".to_string();
                break Outcome {
                    src: Close::WithError(format!("{reason} ({})", self.shared.label)),
                    dst: Close::WithError(format!("{reason} ({})", self.shared.label)),
                    reason,
                };
            }
            let mut n = Converted::default();
            let item = convert(item, self.from_py2, self.to_py2, &mut n);
            let size = encoded_len(&item);
            if let Err(e) = self.dst.send(&item).await {
                break self.send_failed(e);
            }
            let s = &self.shared;
            s.items.fetch_add(1, Ordering::Relaxed);
            s.conversions.fetch_add(n.strings, Ordering::Relaxed);
            s.merged.fetch_add(n.merged, Ordering::Relaxed);
            s.bytes.fetch_add(size, Ordering::Relaxed);
        };
        // closing an end whose gateway is gone fails; the reason stands anyway
        match &out.dst {
            Close::Keep => {}
            Close::Clean => {
                let _ = self.dst.close().await;
            }
            Close::WithError(text) => {
                let _ = self.dst.close_with_error(text).await;
            }
        }
        match &out.src {
            Close::Keep | Close::Clean => {}
            Close::WithError(text) => {
                let _ = self.src.close_with_error(text).await;
            }
        }
        out.reason
    }

    fn src_failed(&self, e: Error) -> Outcome {
        let (reason, text) = match e {
            Error::Remote(r) => {
                let reason = format!("source {} failed: {}", self.src_label, r.summary());
                let text = format!("{reason}\n{}", r.formatted.trim_end());
                (reason, text)
            }
            Error::GatewayClosed { reason, .. } => {
                let r = gone(self.src.gateway(), &reason);
                (r.clone(), r)
            }
            other => {
                let r = format!("source {} failed: {other}", self.src_label);
                (r.clone(), r)
            }
        };
        Outcome {
            reason,
            src: Close::Keep,
            dst: Close::WithError(text),
        }
    }

    fn dst_ended(&self, e: Ending) -> Outcome {
        let (reason, text) = match e {
            Ending::Closed | Ending::LastMessage => {
                let r = format!("destination {} closed", self.dst_label);
                (r.clone(), r)
            }
            Ending::Error(r) => {
                let reason = format!("destination {} failed: {}", self.dst_label, r.summary());
                let text = format!("{reason}\n{}", r.formatted.trim_end());
                (reason, text)
            }
            Ending::GatewayGone(reason) => {
                let r = gone(self.dst.gateway(), &reason);
                (r.clone(), r)
            }
            Ending::Refused(why) => {
                let r = format!("destination {} failed: {why}", self.dst_label);
                (r.clone(), r)
            }
        };
        Outcome {
            reason,
            src: Close::WithError(text),
            dst: Close::Keep,
        }
    }

    fn send_failed(&self, e: Error) -> Outcome {
        let items = self.shared.items.load(Ordering::Relaxed);
        match e {
            // the destination ended between our look and the send
            Error::ChannelClosed { .. } => {
                self.dst_ended(self.dst.ending().unwrap_or(Ending::Closed))
            }
            Error::GatewayClosed { reason, .. } => {
                let r = gone(self.dst.gateway(), &reason);
                Outcome {
                    reason: r.clone(),
                    src: Close::WithError(r),
                    dst: Close::Keep,
                }
            }
            Error::Encode(e) => {
                let r = format!(
                    "cannot forward item {} of {}: {e}",
                    items + 1,
                    self.src_label
                );
                Outcome {
                    reason: r.clone(),
                    src: Close::WithError(r.clone()),
                    dst: Close::WithError(r),
                }
            }
            other => {
                let r = format!("destination {} failed: {other}", self.dst_label);
                Outcome {
                    reason: r.clone(),
                    src: Close::WithError(r),
                    dst: Close::Keep,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn encoded_len_matches_the_codec() {
        for text in [
            "None",
            "True",
            "42",
            "-2147483649",
            "9223372036854775807",
            "123456789012345678901234567890",
            "1.5",
            "(1+2j)",
            "b'\\xff\\x00'",
            "'h\\xe9llo \\U0001F600'",
            "(1, 'a', (None,), ())",
            "[1, [2, []], {}, []]",
            "{'k': (1, 2.5, b'x', None), 3: [4]}",
            "{3, 'x'}",
            "frozenset({7})",
        ] {
            let v = Value::parse_literal(text).expect(text);
            let n = codec::encode(&v).expect(text).len() as u64;
            assert_eq!(encoded_len(&v), n, "{text}");
        }
        let ch = Value::List(vec![Value::Channel(5)]);
        assert_eq!(
            encoded_len(&ch),
            codec::encode(&ch).expect("ch").len() as u64
        );
    }

    #[test]
    fn channel_references_are_found_at_any_depth() {
        let deep = Value::Dict(vec![(
            Value::Str("k".into()),
            Value::Tuple(vec![Value::Int(1), Value::Set(vec![Value::Channel(3)])]),
        )]);
        assert!(contains_channel(&deep));
        assert!(!contains_channel(
            &Value::parse_literal("[1, {'a': (2,)}]").expect("lit")
        ));
    }
}

//! Channels: bidirectional item streams multiplexed over one gateway.

pub(crate) mod state;

pub(crate) use state::ChanState;
pub use state::Ending;

use crate::codec::StrConfig;
use crate::error::{Error, Result};
use crate::gateway::handle::{Counts, Gateway};
use crate::value::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A channel to remote code. Cheap to clone; clones share one queue.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use execdeck_engine::{Gateway, Value};
/// let gw = Gateway::open("popen//python=python3").await.unwrap();
/// let ch = gw.remote_exec("for x in channel:\n    channel.send(x * 2)").await.unwrap();
/// ch.send(&Value::Int(21)).await.unwrap();
/// assert_eq!(ch.receive().await.unwrap(), Value::Int(42));
/// ch.close().await.unwrap();
/// ch.wait_closed(None).await.unwrap();
/// gw.terminate(std::time::Duration::from_secs(5)).await;
/// # });
/// ```
#[derive(Clone)]
pub struct Channel {
    pub(crate) gw: Gateway,
    pub(crate) state: std::sync::Arc<ChanState>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Channel {} of {}>", self.state.id, self.gw.id())
    }
}

impl Channel {
    pub fn id(&self) -> i32 {
        self.state.id
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    /// Items received / sent so far.
    pub fn counts(&self) -> Counts {
        Counts::load(&self.state.items_in, &self.state.items_out)
    }

    /// Why the channel ended, if it has.
    pub fn ending(&self) -> Option<Ending> {
        self.state.lock().ending.clone()
    }

    /// True when no more items will arrive (after those already queued).
    pub fn is_closed(&self) -> bool {
        self.state.lock().ending.is_some()
    }

    /// Sends one item to the remote side.
    pub async fn send(&self, v: &Value) -> Result<()> {
        if self.state.lock().send_closed {
            return Err(Error::ChannelClosed {
                gateway: self.gw.id().to_string(),
                channel: self.state.id,
            });
        }
        self.gw.send_data(self.state.id, v).await?;
        self.state.items_out.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn ending_error(&self, ending: &Ending) -> Error {
        match ending {
            Ending::Error(e) => Error::Remote(e.clone()),
            Ending::GatewayGone(reason) => Error::GatewayClosed {
                gateway: self.gw.id().to_string(),
                reason: reason.clone(),
            },
            Ending::Closed | Ending::LastMessage => Error::ChannelClosed {
                gateway: self.gw.id().to_string(),
                channel: self.state.id,
            },
            Ending::Refused(why) => Error::Protocol(format!(
                "channel {} of gateway {} ended: {why}",
                self.state.id,
                self.gw.id()
            )),
        }
    }

    /// Next item, or `Ok(None)` when the channel has ended normally; an error ending
    /// (remote traceback, dead gateway) is returned as `Err`.
    pub async fn next(&self) -> Result<Option<Value>> {
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            // registered before the check, so an end() in between is not missed
            notified.as_mut().enable();
            {
                let mut g = self.state.lock();
                if let Some(v) = ChanState::pop(&mut g) {
                    return Ok(Some(v));
                }
                match &g.ending {
                    Some(Ending::Closed | Ending::LastMessage) => return Ok(None),
                    Some(e) => return Err(self.ending_error(e)),
                    None => {}
                }
            }
            notified.await;
        }
    }

    /// Receives one item; a closed channel is an error (`ChannelClosed`,
    /// `Remote` with the traceback, or `GatewayClosed`).
    pub async fn receive(&self) -> Result<Value> {
        match self.next().await? {
            Some(v) => Ok(v),
            None => Err(Error::ChannelClosed {
                gateway: self.gw.id().to_string(),
                channel: self.state.id,
            }),
        }
    }

    /// Like [`receive`](Self::receive) but gives up after `timeout` with `Error::Timeout`.
    pub async fn receive_timeout(&self, timeout: Duration) -> Result<Value> {
        match tokio::time::timeout(timeout, self.receive()).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// An async stream of the items: each call to `next` on it yields an item until
    /// the channel ends.
    pub fn items(&self) -> impl futures_lite::Stream<Item = Result<Value>> + '_ {
        futures_lite::stream::unfold(Some(self), |st| async move {
            let ch = st?;
            match ch.next().await {
                Ok(Some(v)) => Some((Ok(v), Some(ch))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Closes the channel from our side (CHANNEL_CLOSE): no more sending, and receiving
    /// ends after the items already queued. Closing twice is harmless.
    pub async fn close(&self) -> Result<()> {
        self.close_inner(None).await
    }

    /// Closes the channel with an error text: the remote `receive()` raises
    /// `RemoteError(text)`.
    pub async fn close_with_error(&self, text: &str) -> Result<()> {
        self.close_inner(Some(text)).await
    }

    async fn close_inner(&self, error: Option<&str>) -> Result<()> {
        {
            let mut g = self.state.lock();
            if g.send_closed {
                return Ok(());
            }
            g.send_closed = true;
        }
        let r = self.gw.send_close(self.state.id, error).await;
        // as in execnet, closing also ends our receiving side (queued items stay)
        self.state.end(Ending::Closed);
        r
    }

    /// Waits until the remote side has closed the channel; a remote error is returned
    /// as `Err(Error::Remote)`. Unread items are kept.
    pub async fn wait_closed(&self, timeout: Option<Duration>) -> Result<()> {
        let fut = async {
            loop {
                let notified = self.state.ended.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let g = self.state.lock();
                    match &g.ending {
                        Some(Ending::Closed | Ending::LastMessage) => return Ok(()),
                        Some(e) => return Err(self.ending_error(e)),
                        None => {}
                    }
                }
                notified.await;
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .unwrap_or(Err(Error::Timeout(t))),
            None => fut.await,
        }
    }

    /// Sets how strings decode on this channel, here and on the remote side
    /// (RECONFIGURE for this channel).
    pub async fn reconfigure(&self, cfg: StrConfig) -> Result<()> {
        self.state.lock().strconfig = Some(cfg);
        self.gw.send_reconfigure(self.state.id, cfg).await
    }
}

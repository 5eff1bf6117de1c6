//! The shared state of one channel: its queue, how it ended, its counters. The
//! gateway's table and every [`Channel`](crate::channel::Channel) handle hold it.

use crate::codec::StrConfig;
use crate::error::RemoteError;
use crate::value::Value;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Why no more items will arrive on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The peer closed the channel normally.
    Closed,
    /// The peer closed it with an error (a remote traceback).
    Error(RemoteError),
    /// The peer said it sends no more (CHANNEL_LAST_MESSAGE); we may still send.
    LastMessage,
    /// The gateway went away.
    GatewayGone(String),
    /// We ended it: an item broke a decoding limit or the channel's memory budget
    /// (the gateway and its other channels live on). The text names the limit.
    Refused(String),
}

#[derive(Debug, Default)]
pub(crate) struct ChanInner {
    pub queue: VecDeque<Value>,
    /// Payload bytes of each queued item (in queue order) and their sum.
    pub sizes: VecDeque<usize>,
    pub unread_bytes: usize,
    pub ending: Option<Ending>,
    /// We closed it (or the peer did): sending is not allowed any more.
    pub send_closed: bool,
    pub strconfig: Option<StrConfig>,
}

/// Shared state of one channel, owned by the gateway's table and by handles.
#[derive(Debug)]
pub(crate) struct ChanState {
    pub id: i32,
    pub inner: Mutex<ChanInner>,
    /// Wakes a receiver: an item arrived or the channel ended.
    pub notify: Notify,
    /// Wakes every `wait_closed`: the channel ended.
    pub ended: Notify,
    pub items_in: AtomicU64,
    pub items_out: AtomicU64,
    /// Items and the end go to the gateway's event sink (in wire order with output)
    /// instead of this channel's queue.
    pub forward: std::sync::atomic::AtomicBool,
}

impl ChanState {
    pub fn new(id: i32, strconfig: StrConfig) -> Self {
        ChanState {
            id,
            inner: Mutex::new(ChanInner {
                strconfig: Some(strconfig),
                ..ChanInner::default()
            }),
            notify: Notify::new(),
            ended: Notify::new(),
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            forward: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ChanInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an item whose payload had `bytes` bytes, unless the unread items would
    /// then exceed `max_unread` bytes: that item is dropped and `Err` carries what is unread.
    pub fn push(&self, v: Value, bytes: usize, max_unread: usize) -> Result<(), usize> {
        {
            let mut g = self.lock();
            let total = g.unread_bytes.saturating_add(bytes);
            if total > max_unread {
                return Err(g.unread_bytes);
            }
            g.unread_bytes = total;
            g.sizes.push_back(bytes);
            g.queue.push_back(v);
        }
        self.items_in.fetch_add(1, Ordering::Relaxed);
        self.notify.notify_one();
        Ok(())
    }

    /// The oldest queued item, if any.
    pub fn pop(g: &mut ChanInner) -> Option<Value> {
        let v = g.queue.pop_front()?;
        let bytes = g.sizes.pop_front().unwrap_or(0);
        g.unread_bytes = g.unread_bytes.saturating_sub(bytes);
        Some(v)
    }

    pub fn end(&self, ending: Ending) {
        {
            let mut g = self.lock();
            if g.ending.is_some() && !matches!(g.ending, Some(Ending::LastMessage)) {
                return;
            }
            if !matches!(ending, Ending::LastMessage) {
                g.send_closed = true;
            }
            g.ending = Some(ending);
        }
        self.notify.notify_waiters();
        self.notify.notify_one();
        self.ended.notify_waiters();
    }
}

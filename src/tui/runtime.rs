//! The cockpit's runtime value: everything the loop, the effect runner and the
//! background tasks share, made once at start (no process-wide statics).

use super::app::EngineMsg;
use crate::engine::group::Starting;
use crate::engine::{Channel, Console, Gateway, GatewayOptions, Group, Spec, TerminateOutcome};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the cockpit holds of one gateway (by the app's key).
#[derive(Default)]
pub(super) struct Handle {
    pub gw: Option<Gateway>,
    pub console: Option<Console>,
    pub channels: HashMap<i32, Channel>,
    /// Whether a channel's watcher leaves its items alone (a bridge reads them).
    pub holds: HashMap<i32, watch::Sender<bool>>,
}

/// Shared by the loop and every task as `Arc<Runtime>`.
pub(super) struct Runtime {
    /// Engine messages to the event loop.
    pub tx: mpsc::Sender<EngineMsg>,
    /// `--accept-new-host-keys`: record unknown SSH host keys.
    pub accept_new_host_keys: bool,
    /// The terminal's keyboard enhancement flags were pushed (pop them on restore).
    pub enhanced: AtomicBool,
    /// The metrics sampling interval in seconds (0: off); samplers follow its changes.
    pub interval: watch::Sender<f64>,
    /// Where the answer to the SSH thread's current question goes.
    pending_secret: Mutex<Option<std::sync::mpsc::Sender<Option<String>>>>,
    /// One SSH question at a time.
    asking: Mutex<()>,
    handles: Mutex<HashMap<usize, Handle>>,
    /// One engine group per cockpit group: ids, `via=`/`installvia=` carriers and the
    /// terminate order.
    groups: Mutex<HashMap<String, Group>>,
}

/// Locks, and goes on with the data if a panicking thread held the lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runtime {
    /// The runtime and the receiving end of its engine messages.
    pub fn new(
        accept_new_host_keys: bool,
        interval: f64,
    ) -> (Arc<Runtime>, mpsc::Receiver<EngineMsg>) {
        let (tx, rx) = mpsc::channel(4096);
        let rt = Runtime {
            tx,
            accept_new_host_keys,
            enhanced: AtomicBool::new(false),
            interval: watch::channel(interval).0,
            pending_secret: Mutex::new(None),
            asking: Mutex::new(()),
            handles: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
        };
        (Arc::new(rt), rx)
    }

    /// Sends to the loop; false once the loop is gone.
    pub async fn send(&self, msg: EngineMsg) -> bool {
        self.tx.send(msg).await.is_ok()
    }

    pub fn handles(&self) -> MutexGuard<'_, HashMap<usize, Handle>> {
        lock(&self.handles)
    }

    /// Changes a gateway's handle (made if missing).
    pub fn with_handle(&self, key: usize, f: impl FnOnce(&mut Handle)) {
        f(self.handles().entry(key).or_default());
    }

    pub fn gateway(&self, key: usize) -> Option<Gateway> {
        self.handles().get(&key).and_then(|h| h.gw.clone())
    }

    pub fn console(&self, key: usize) -> Option<Console> {
        self.handles().get(&key).and_then(|h| h.console.clone())
    }

    pub fn channel(&self, (key, channel): (usize, i32)) -> Option<Channel> {
        self.handles()
            .get(&key)
            .and_then(|h| h.channels.get(&channel).cloned())
    }

    pub fn hold(&self, (key, channel): (usize, i32)) -> Option<watch::Sender<bool>> {
        self.handles()
            .get(&key)
            .and_then(|h| h.holds.get(&channel).cloned())
    }

    /// Reserves a gateway's start in its group: the id, and the `via=`/`installvia=`
    /// carrier (a member or one still starting). Awaiting the start bootstraps it.
    pub fn start_gateway(
        self: &Arc<Self>,
        group: &str,
        id: String,
        spec: Spec,
        events: mpsc::Sender<crate::engine::Event>,
    ) -> crate::engine::Result<Starting> {
        let opts = GatewayOptions {
            id: Some(id),
            events: Some(events),
            accept_new_host_keys: self.accept_new_host_keys,
            prompter: Some(self.prompter()),
            limits: crate::config::limits(),
            ..GatewayOptions::default()
        };
        lock(&self.groups)
            .entry(group.to_string())
            .or_default()
            .start_gateway_with(spec, opts)
    }

    /// Terminates every group, each in its order (gateways reached through another
    /// first), all groups at once.
    pub async fn terminate_all(&self, timeout: Duration) -> Vec<(String, TerminateOutcome)> {
        let groups: Vec<Group> = lock(&self.groups).drain().map(|(_, g)| g).collect();
        let mut set = tokio::task::JoinSet::new();
        for mut g in groups {
            set.spawn(async move { g.terminate(timeout).await });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.extend(r.unwrap_or_default());
        }
        out
    }

    /// Asks through the cockpit (a masked prompt); blocks the SSH thread until
    /// answered. Holds the runtime weakly: gateways keep their prompter.
    fn prompter(self: &Arc<Self>) -> crate::engine::ssh::Prompter {
        let rt: Weak<Runtime> = Arc::downgrade(self);
        Arc::new(move |question: &str, secret: bool| {
            let rt = rt.upgrade()?;
            let _one = lock(&rt.asking);
            let (reply_tx, reply_rx) = std::sync::mpsc::channel();
            *lock(&rt.pending_secret) = Some(reply_tx);
            rt.tx
                .blocking_send(EngineMsg::SecretPrompt {
                    question: question.to_string(),
                    secret,
                })
                .ok()?;
            reply_rx
                .recv_timeout(Duration::from_secs(300))
                .ok()
                .flatten()
        })
    }

    /// Hands the user's answer to the SSH thread that asked.
    pub fn answer_secret(&self, answer: Option<String>) {
        if let Some(s) = lock(&self.pending_secret).take() {
            let _ = s.send(answer);
        }
    }
}

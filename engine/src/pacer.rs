//! Paced starts: at most a few bootstraps in flight per place they start.
//!
//! Starting a thousand interpreters at once gives each a thousandth of the CPUs, and
//! every one of them runs out of its bootstrap timeout together; a burst of SSH
//! connections to one host runs into sshd's `MaxStartups` (10 unauthenticated
//! connections by default). So a gateway first waits for a start slot of its kind,
//! reports itself [`Event::GatewayQueued`](crate::events::Event::GatewayQueued) while
//! it waits, and its bootstrap timeout starts only once it holds a slot.
//!
//! | kind | key | default slots |
//! |---|---|---|
//! | `popen` | this machine | 2 × the CPU count (at least 4) |
//! | `ssh=`, `vagrant_ssh=` | each `user@host:port` | 8 (under sshd's `MaxStartups`) |
//! | `socket=` | each server address | 16 |
//! | `docker=`, `podman=` | this machine's container engine | as `popen` |
//! | `kubectl=` | the cluster | as `ssh=` |
//! | `via=`, `installvia=` | not paced here: the carrying gateway's host does the work | |
//!
//! [`set_limits`] changes the defaults (the CLI's `--start-slots`); it applies to keys
//! not used yet, so call it before the first gateway starts.
//!
//! ```
//! use execdeck_engine::pacer::{self, StartLimits};
//! let d = StartLimits::default();
//! assert!(d.local >= 4);
//! pacer::set_limits(StartLimits { local: 8, ..d });
//! assert_eq!(pacer::limits().local, 8);
//! ```

use crate::spec::{Spec, Transport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many bootstraps may be in flight at once, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimits {
    /// Local interpreters (`popen`), all together.
    pub local: usize,
    /// SSH connections being set up to one `user@host:port`.
    pub per_ssh_host: usize,
    /// Connections being set up to one socket server.
    pub per_socket_server: usize,
}

impl Default for StartLimits {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        StartLimits {
            local: (2 * cpus).max(4),
            per_ssh_host: 8,
            per_socket_server: 16,
        }
    }
}

struct Pacer {
    limits: StartLimits,
    slots: HashMap<String, Arc<Semaphore>>,
}

fn pacer() -> &'static Mutex<Pacer> {
    static PACER: OnceLock<Mutex<Pacer>> = OnceLock::new();
    PACER.get_or_init(|| {
        Mutex::new(Pacer {
            limits: StartLimits::default(),
            slots: HashMap::new(),
        })
    })
}

/// Sets the number of start slots per kind (each at least 1) for keys not used yet.
pub fn set_limits(limits: StartLimits) {
    if let Ok(mut p) = pacer().lock() {
        p.limits = StartLimits {
            local: limits.local.max(1),
            per_ssh_host: limits.per_ssh_host.max(1),
            per_socket_server: limits.per_socket_server.max(1),
        };
    }
}

/// The limits in force.
pub fn limits() -> StartLimits {
    pacer()
        .lock()
        .map_or_else(|_| StartLimits::default(), |p| p.limits)
}

/// Which start slots a spec waits for: its key and that key's number of slots, or
/// `None` when its start is not paced here.
pub fn key(spec: &Spec) -> Option<(String, usize)> {
    if spec.via.is_some() || spec.installvia.is_some() {
        return None;
    }
    let l = limits();
    match &spec.transport {
        Transport::Popen => Some(("popen".to_string(), l.local)),
        Transport::Ssh(t) | Transport::VagrantSsh(t) => Some((format!("ssh:{t}"), l.per_ssh_host)),
        Transport::Socket(t) => Some((format!("socket:{t}"), l.per_socket_server)),
        // `docker exec` / `podman exec` start on this machine's container engine
        Transport::Docker(_) | Transport::Podman(_) => Some(("container".to_string(), l.local)),
        Transport::Kubectl(_) => Some(("kubectl".to_string(), l.per_ssh_host)),
    }
}

/// A held start slot; dropping it lets the next queued gateway start.
pub struct Slot(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

/// Takes a start slot for `spec`. `on_queued` runs once, before waiting, when no slot
/// is free at once.
pub async fn acquire(spec: &Spec, on_queued: impl std::future::Future<Output = ()>) -> Slot {
    let Some((key, n)) = key(spec) else {
        return Slot(None);
    };
    let sem = match pacer().lock() {
        Ok(mut p) => p
            .slots
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(n)))
            .clone(),
        // a poisoned lock only means another start panicked: do not pace this one
        Err(_) => return Slot(None),
    };
    if let Ok(permit) = sem.clone().try_acquire_owned() {
        return Slot(Some(permit));
    }
    on_queued.await;
    // the semaphore is never closed, so acquire cannot fail; if it ever did, start
    // unpaced rather than not at all
    Slot(sem.acquire_owned().await.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_key_queues_and_a_dropped_slot_lets_the_next_start() {
        let spec: Spec = "socket=127.0.0.1:1//id=pacer-test".parse().expect("spec");
        let n = key(&spec).expect("paced").1;
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(acquire(&spec, async { panic!("free slots must not queue") }).await);
        }
        let queued = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let q = queued.clone();
        let spec2 = spec.clone();
        let waiter = tokio::spawn(async move {
            acquire(&spec2, async move {
                q.store(true, std::sync::atomic::Ordering::SeqCst);
            })
            .await
        });
        while !queued.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        held.pop();
        waiter.await.expect("the queued start gets the freed slot");
    }

    #[test]
    fn via_gateways_are_not_paced_here() {
        let spec: Spec = "popen//via=base".parse().expect("spec");
        assert!(key(&spec).is_none());
        let spec: Spec = "ssh=u@h:2222".parse().expect("spec");
        assert_eq!(key(&spec).map(|k| k.0), Some("ssh:u@h:2222".to_string()));
    }
}

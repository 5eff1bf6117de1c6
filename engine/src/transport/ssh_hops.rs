//! Which hop of an SSH link broke: the jump hosts' forwarders record when each hop
//! last answered, and a lost link is reported with the first silent hop, or else the
//! step from the last jump host to the target.

use std::time::{Duration, Instant};

/// When a jump host last answered (data or a keepalive reply), so that a lost link
/// can say which hop broke.
#[derive(Clone)]
pub(crate) struct HopWatch {
    pub(crate) name: String,
    pub(crate) alive: Duration,
    pub(crate) last: std::sync::Arc<std::sync::Mutex<Instant>>,
}

impl HopWatch {
    pub(crate) fn heard(&self) {
        if let Ok(mut l) = self.last.lock() {
            *l = Instant::now();
        }
    }

    fn silent_for(&self) -> Duration {
        self.last.lock().map(|l| l.elapsed()).unwrap_or_default()
    }
}

/// Why the link to `target` counts as lost, naming the hop that broke: the first jump
/// host that went silent too, else the step from the last jump host to the target.
pub(crate) fn lost_reason(
    target: &str,
    silent: Duration,
    hops: &[HopWatch],
    limit: Duration,
) -> String {
    let n = hops.len();
    if let Some((i, h)) = hops
        .iter()
        .enumerate()
        .find(|(_, h)| h.silent_for() > limit)
    {
        return format!(
            "connection lost (no answer for {:.0} s): jump host {} of {n} ({}) stopped answering",
            h.silent_for().as_secs_f64(),
            i + 1,
            h.name
        );
    }
    match hops.last() {
        Some(last) => format!(
            "connection lost (no answer from {target} for {:.0} s): the link from jump host {} to {target} broke (the jump host still answers)",
            silent.as_secs_f64(),
            last.name,
        ),
        None => format!(
            "connection lost (no answer from the host for {:.0} s)",
            silent.as_secs_f64()
        ),
    }
}

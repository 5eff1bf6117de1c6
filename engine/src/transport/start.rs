//! What a transport is asked to do: start one worker and bootstrap it.

use crate::events::Event;
use crate::gateway::handle::Gateway;
use crate::spec::Spec;
use crate::transport::link::{Prompter, StderrTail, report_stderr};
use std::time::Duration;
use tokio::sync::mpsc;

/// Everything a transport may need to start one worker and bootstrap it.
#[derive(Clone)]
pub struct Start<'a> {
    pub spec: &'a Spec,
    /// The gateway id, for messages and events.
    pub id: &'a str,
    /// The bootstrap line (a Python string literal and a newline) the worker reads
    /// first; the transport sends it and waits for the `1` that acknowledges it.
    pub line: &'a [u8],
    pub timeout: Duration,
    pub events: Option<mpsc::Sender<Event>>,
    pub stderr_tail: StderrTail,
    /// SSH: record unknown host keys.
    pub accept_new_host_keys: bool,
    /// SSH: asks for passwords and key passphrases.
    pub prompter: Option<Prompter>,
    /// `via=` / `installvia=`: the gateway of the same group to start through.
    pub via: Option<&'a Gateway>,
}

impl Start<'_> {
    /// Reports a line of worker stderr: kept in the tail and sent as `Fd2` output.
    pub async fn stderr(&self, text: String) {
        report_stderr(&self.stderr_tail, self.events.as_ref(), self.id, text).await;
    }
}

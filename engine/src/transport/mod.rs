//! Transports: how a gateway reaches its interpreter. Each one starts or connects to a
//! worker, sends the bootstrap line it is given, waits for the `1` and hands back one
//! shape, a [`Link`]: the byte stream (reader and writer), process control when the
//! worker is a local child (wait, signal, kill), and liveness (a [`CloseReason`] the
//! transport sets when it knows why the connection ended). The worker's stderr goes to
//! the [`StderrTail`] passed in [`Start`], which the gateway keeps for its messages.
//! [`bootstrap`](crate::bootstrap) builds the line and calls [`start()`]; the gateway
//! runs on top of the link.
//!
//! A new transport (sudo, a container) is one new file here with a
//! `start(&Start, …) -> Result<Link>`, one arm in [`start()`], and its
//! [`Transport`] variant and key in [`spec`](crate::spec).

pub mod docker;
pub mod known_hosts;
pub mod link;
pub mod popen;
pub mod sealed;
pub mod socket;
pub mod ssh;
pub mod ssh_config;
pub mod ssh_hops;
pub mod start;
pub mod sudo;
pub mod via;

use crate::error::{Error, Result};
use crate::spec::Transport;
pub use link::{
    CloseReason, Link, ONE_LINER, Prompter, Reader, StderrTail, Writer, expand_home, python_label,
};
pub use start::Start;

/// Starts the worker through the transport its spec names and bootstraps it.
pub async fn start(req: &Start<'_>) -> Result<Link> {
    match (&req.spec.transport, req.via) {
        (Transport::Popen, Some(via)) => via::start(req, via).await,
        (Transport::Popen, None) => popen::start(req).await,
        (Transport::Socket(addr), _) => socket::start(req, addr).await,
        (Transport::Ssh(target), _) => ssh::start(req, target).await,
        (Transport::Docker(_) | Transport::Podman(_) | Transport::Kubectl(_), _) => {
            docker::start(req).await
        }
        (other, _) => Err(Error::Unsupported(format!(
            "gateway {}: the {} transport is not supported yet (spec '{}')",
            req.id,
            other.name(),
            req.spec
        ))),
    }
}

//! One gateway: a bootstrapped interpreter driven over execnet's wire protocol.
//!
//! - `handle.rs`: the cheap-to-clone [`Gateway`] handle and the state it shares with its
//!   IO tasks (channel table, writer, counters, life state);
//! - `exec.rs`: channels and `remote_exec`, STATUS, reconfigure;
//! - `facts.rs`: interpreter facts (execnet's `rinfo`);
//! - `reader.rs`: the IO actor's reading side (frames in, dispatch, death);
//! - `lifecycle.rs`: open (through [`bootstrap`](crate::bootstrap) and a
//!   [transport](crate::transport)) and terminate.

pub(crate) mod exec;
pub(crate) mod facts;
pub(crate) mod handle;
pub(crate) mod lifecycle;
pub(crate) mod reader;

pub use crate::process::TerminateOutcome;
pub use exec::dedent;
pub use facts::Facts;
pub use handle::{Counts, Gateway, GatewayState};
pub use lifecycle::GatewayOptions;

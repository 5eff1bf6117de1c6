//! The gateway engine: bootstraps Python interpreters with zero install and drives
//! them over execnet's wire protocol. No UI code lives here.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::{Group, Value};
//! use std::time::Duration;
//! let mut group = Group::new();
//! group.make_gateway("popen//python=python3").await.unwrap();
//! group.make_gateway("popen//python=python3//id=other").await.unwrap();
//! let chans = group.remote_exec("import os; channel.send(os.getpid())").await.unwrap();
//! for (id, ch) in &chans {
//!     let pid = ch.receive().await.unwrap();
//!     println!("{id}: pid {pid}");
//! }
//! let outcomes = group.terminate(Duration::from_secs(5)).await;
//! assert_eq!(outcomes.len(), 2);
//! # });
//! ```

pub mod bootstrap;
pub mod bridge;
pub mod channel;
pub mod codec;
pub mod console;
pub mod error;
pub mod events;
pub mod frame;
pub mod gateway;
pub mod group;
pub mod monitor;
pub mod process;
pub mod rosetta;
pub mod spec;
pub mod transport;
pub mod value;

/// The SSH transport at its old path (`execdeck_engine::ssh::Prompter`, …).
pub use transport::ssh;
/// The `~/.ssh/config` reader at its old path.
pub use transport::ssh_config;

pub use bootstrap::Bootstrap;
pub use channel::{Channel, Ending};
pub use codec::{Limits, StrConfig};
pub use console::{Console, ConsoleEvent, InterruptMode};
pub use error::{Error, RemoteError, Result};
pub use events::{Event, Stream};
pub use gateway::{Facts, Gateway, GatewayOptions, GatewayState};
pub use group::Group;
pub use process::TerminateOutcome;
pub use spec::{ExecModel, Spec, SpecError, Transport};
pub use value::Value;

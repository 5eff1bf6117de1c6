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
//!
//! ## Layout, bottom to top
//!
//! Each layer uses only the ones before it (`scripts/check_imports.py` checks that no
//! two files import each other in a circle).
//!
//! - [`value`] (the Python values, their `repr`, the literal parser, the one escaper
//!   for Python source), [`spec`] (spec strings and the table of their keys),
//!   [`frame`] (the 9-byte header), [`process`] (child processes and their groups),
//!   [`codec`] (execnet's serializer), [`error`], [`events`], [`pacer`] (start slots);
//! - [`channel`] and [`gateway`]'s `handle` / `exec` / `facts`: the gateway handle, its
//!   channel table and `remote_exec`;
//! - [`transport`]: one file per way to reach an interpreter (`popen`, `ssh`,
//!   `socket`, `via`), each giving the same [`transport::Link`];
//! - [`bootstrap`]: the worker source, the bootstrap line, the compiled-stub cache;
//! - [`gateway`]'s `reader` and `lifecycle`: the IO actor, open and terminate;
//! - on top: [`group`], [`console`], [`monitor`], [`bridge`], [`rosetta`].

pub mod bootstrap;
pub mod bridge;
pub mod channel;
pub mod codec;
pub mod console;
pub mod error;
pub mod events;
pub mod farm;
pub mod frame;
pub mod gateway;
pub mod group;
pub mod monitor;
pub mod pacer;
pub mod process;
pub mod rosetta;
pub mod rsync;
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
pub use farm::{Farm, FarmEvent, FarmOptions, FarmSummary, TaskResult};
pub use gateway::{Facts, Gateway, GatewayOptions, GatewayState};
pub use group::Group;
pub use process::TerminateOutcome;
pub use spec::{ExecModel, Spec, SpecError, Transport};
pub use value::Value;

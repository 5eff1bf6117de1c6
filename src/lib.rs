//! execdeck: drive Python interpreters here and elsewhere over execnet's wire protocol.
//!
//! The engine lives in its own crate, `execdeck-engine` (folder `engine/`), with no UI
//! dependency; it is re-exported here as [`engine`]. This crate adds the cockpit
//! ([`tui`]), the headless command line ([`cli`]) and the user's files ([`config`]).

pub use execdeck_engine as engine;

pub mod cli;
pub mod config;
pub mod tui;

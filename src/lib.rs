//! execdeck: drive Python interpreters here and elsewhere over execnet's wire protocol.
//!
//! The [`engine`] is a library with no UI code; the `execdeck` binary adds a headless
//! command line ([`cli`]).

pub mod cli;
pub mod config;
pub mod engine;
pub mod tui;

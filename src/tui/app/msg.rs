//! What flows in and out of the app: user and engine actions in, effects out.

use crate::engine::{ConsoleEvent, Spec, Stream, TerminateOutcome};
use crossterm::event::{KeyEvent, MouseEvent};

/// Everything that can happen to the app.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize,
    Engine(EngineMsg),
}

/// What the engine side reports, addressed by gateway key.
#[derive(Debug, Clone)]
pub enum EngineMsg {
    Ready {
        key: usize,
        id: String,
        pid: Option<u32>,
        interpreter: String,
    },
    Failed {
        key: usize,
        error: String,
    },
    Console {
        key: usize,
        event: ConsoleEvent,
    },
    Output {
        key: usize,
        stream: Stream,
        text: String,
    },
    Died {
        key: usize,
        reason: String,
    },
    Terminated {
        key: usize,
        outcome: TerminateOutcome,
    },
    /// Ran a snippet: its id on the console.
    Started {
        key: usize,
        snippet: u64,
    },
    /// Saved console history of a gateway's spec, loaded from disk.
    History {
        key: usize,
        entries: Vec<String>,
    },
    /// A session file was read: open its groups.
    Session(crate::config::Session),
    /// Something to tell the user in the footer.
    Notice(String),
    /// The SSH side asks a question (answer with SecretReply): a password or passphrase
    /// (`secret`, masked) or a consent such as trusting a new host key.
    SecretPrompt {
        question: String,
        secret: bool,
    },
    /// A channel of a gateway appeared (opened here, or referenced in data); `name`
    /// is set for channels a session file names.
    ChannelOpened {
        key: usize,
        channel: i32,
        opener: String,
        name: Option<String>,
    },
    /// A metrics sample of a gateway.
    Metrics {
        key: usize,
        metrics: crate::engine::monitor::Metrics,
    },
    /// A bridge's counters (sent a few times a second while it runs, and at its end).
    Bridge {
        src: (usize, i32),
        dst: (usize, i32),
        items: u64,
        conversions: u64,
        /// Keys merged because a conversion made them equal.
        merged: u64,
        per_s: f64,
        ended: Option<String>,
    },
    /// A bridge could not be made.
    BridgeFailed {
        src: (usize, i32),
        dst: (usize, i32),
        error: String,
    },
    /// One cell of Rosetta run `run` (the `index`th gateway), as soon as it is in.
    RosettaCell {
        run: u64,
        index: usize,
        cell: crate::engine::rosetta::Cell,
    },
    /// The cells of Rosetta run `run`, one per gateway key.
    RosettaDone {
        run: u64,
        cells: Vec<crate::engine::rosetta::Cell>,
    },
    /// A session's channel could not be opened.
    ChannelOpenFailed {
        key: usize,
        name: Option<String>,
        error: String,
    },
    /// An item arrived on a channel (as repr).
    ChannelItem {
        key: usize,
        channel: i32,
        repr: String,
    },
    /// An item was sent on a channel.
    ChannelSent {
        key: usize,
        channel: i32,
        repr: String,
    },
    ChannelEnded {
        key: usize,
        channel: i32,
        error: Option<String>,
    },
}

/// What the app asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Open {
        key: usize,
        id: String,
        group: String,
        spec: Box<Spec>,
    },
    Run {
        key: usize,
        code: String,
    },
    Interrupt {
        key: usize,
    },
    /// Ask the console of `key` for completions (`inspect`: signature and doc) of the
    /// end of `text`; the answer carries `request`.
    Complete {
        key: usize,
        request: u64,
        text: String,
        inspect: bool,
    },
    Signal {
        key: usize,
    },
    Terminate {
        keys: Vec<usize>,
    },
    SaveHistory {
        spec: String,
        entry: String,
    },
    SaveSession {
        name: String,
        session: crate::config::Session,
    },
    OpenSession {
        name: String,
    },
    SaveOutput {
        path: String,
        text: String,
    },
    OpenChannel {
        key: usize,
        code: String,
        /// A session's name for the channel.
        name: Option<String>,
        /// Do not read its items: a bridge will.
        hold: bool,
    },
    /// Forward the items of channel `src` into channel `dst` (gateway key, channel).
    Bridge {
        src: (usize, i32),
        dst: (usize, i32),
    },
    /// Run a snippet on these gateways as Rosetta grid number `run`.
    Rosetta {
        run: u64,
        keys: Vec<usize>,
        code: String,
    },
    /// Let a channel's watcher read its items again (a bridge was not made).
    ReleaseChannel {
        key: usize,
        channel: i32,
    },
    /// Sample every gateway at this interval from now on (0: off).
    MonitorInterval(f64),
    /// The answer to a SecretPrompt (`None`: declined).
    SecretReply(Option<String>),
    ChannelSend {
        key: usize,
        channel: i32,
        value: crate::engine::Value,
    },
    ChannelClose {
        key: usize,
        channel: i32,
    },
    Quit,
}

//! The cockpit's state and its one entry point, `App::update(Action) -> Vec<Effect>`.
//! Pure: no terminal, no engine; the loop in `tui::mod` executes the effects.

use super::keymap::{Command, Key, Keymap, Mode};
use super::monitor::{
    GwMetrics, LogEntry, LogKind, RosettaGrid, SortBy, Tail, TailFilter, TailLine, TailStream,
};
use crate::engine::{ConsoleEvent, InterruptMode, Spec, Stream, TerminateOutcome};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;
use std::collections::VecDeque;

/// Default lines kept per console.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

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
        per_s: f64,
        ended: Option<String>,
    },
    /// A bridge could not be made.
    BridgeFailed {
        src: (usize, i32),
        dst: (usize, i32),
        error: String,
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

#[derive(Debug, Clone, PartialEq)]
pub enum GwState {
    Connecting,
    Ready,
    Busy,
    Dead(String),
    Terminated(String),
    Failed(String),
}

impl GwState {
    pub fn label(&self) -> String {
        match self {
            GwState::Connecting => "connecting".into(),
            GwState::Ready => "ready".into(),
            GwState::Busy => "busy".into(),
            GwState::Dead(r) => format!("dead ({r})"),
            GwState::Terminated(o) => format!("terminated ({o})"),
            GwState::Failed(_) => "failed".into(),
        }
    }

    pub fn alive(&self) -> bool {
        matches!(self, GwState::Connecting | GwState::Ready | GwState::Busy)
    }
}

/// The kind of an output line (for colours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Input,
    Stdout,
    Stderr,
    Result,
    Traceback,
    Info,
}

/// A bounded ring of lines; counts what it dropped.
#[derive(Debug, Clone)]
pub struct Ring {
    pub lines: VecDeque<(LineKind, String)>,
    pub cap: usize,
    pub dropped: u64,
    /// The last line is still open (no newline seen yet).
    open: bool,
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
            open: false,
        }
    }

    /// Appends text, splitting lines; a partial last line is continued by the next
    /// push of the same kind.
    pub fn push(&mut self, kind: LineKind, text: &str) {
        let expanded;
        let text = if text.contains('\t') {
            expanded = text.replace('\t', "    ");
            expanded.as_str()
        } else {
            text
        };
        for piece in text.split_inclusive('\n') {
            let body = piece.strip_suffix('\n').unwrap_or(piece);
            let body = body.strip_suffix('\r').unwrap_or(body);
            let continues = self.open && self.lines.back().is_some_and(|(k, _)| *k == kind);
            if continues {
                if let Some((_, last)) = self.lines.back_mut() {
                    last.push_str(body);
                }
            } else {
                self.lines.push_back((kind, body.to_string()));
            }
            self.open = !piece.ends_with('\n');
            while self.lines.len() > self.cap {
                self.lines.pop_front();
                self.dropped += 1;
            }
        }
    }

    /// Ends an open line so the next output starts a new one.
    pub fn close_line(&mut self) {
        self.open = false;
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.open = false;
    }
}

/// One gateway's console.
pub struct ConsoleView {
    pub editor: TextArea<'static>,
    pub output: Ring,
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
    pub running: Option<u64>,
    /// 0: none; 1: in-band interrupt sent; 2: SIGINT sent; 3: offering terminate.
    pub interrupt_step: u8,
    pub interrupt_mode: Option<InterruptMode>,
    /// Lines scrolled up from the end; 0 = follow.
    pub scroll: usize,
    /// The text searched for with `/`; matching lines are highlighted.
    pub search: Option<String>,
    /// Channels of this gateway seen by the channels view.
    pub channels: Vec<ChannelRow>,
    pub channel_selected: usize,
}

/// One row of the channels view.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: i32,
    /// "here" (we opened it) or "remote" (the worker made it).
    pub opener: String,
    /// "open", "closed" or "error".
    pub state: String,
    pub items_in: u64,
    pub items_out: u64,
    /// Items received (repr) and sent, and the end.
    pub log: Ring,
    /// The name a session file gave it.
    pub name: Option<String>,
    /// A bridge from or to this channel.
    pub link: Option<Link>,
}

/// One end of a bridge, as the channels view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// true: this channel's items flow out to `peer`; false: they come in from it.
    pub outgoing: bool,
    /// "gw1#5".
    pub peer: String,
    pub items: u64,
    pub conversions: u64,
    pub per_s: f64,
    /// Why the bridge ended.
    pub ended: Option<String>,
}

/// What fills the body of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The gateway tree and the selected gateway's console (or channels/broadcast).
    Console,
    /// The group's gateways with metric columns and sparklines, and the event log.
    Monitor,
    /// Every gateway's output merged.
    Tail,
    /// The Rosetta grid.
    Rosetta,
}

/// What a session file asks for beyond its gateways, done as gateways become ready.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// (group, gateway id, channel name, code, held for a bridge)
    pub channels: Vec<(String, String, String, String, bool)>,
    /// (from, to) channel names.
    pub bridges: Vec<(String, String)>,
    /// (group, gateway ids, code)
    pub rosetta: Option<(String, Vec<String>, String)>,
    /// Named channels opened so far: name -> (gateway key, channel id).
    pub named: std::collections::HashMap<String, (usize, i32)>,
    /// Named channels that will not open (their gateway is not up, or the open failed).
    pub failed: Vec<String>,
}

impl ConsoleView {
    fn new(cap: usize) -> ConsoleView {
        ConsoleView {
            editor: new_editor(),
            output: Ring::new(cap),
            history: Vec::new(),
            history_pos: None,
            running: None,
            interrupt_step: 0,
            interrupt_mode: None,
            scroll: 0,
            search: None,
            channels: Vec::new(),
            channel_selected: 0,
        }
    }
}

fn new_editor() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_tab_length(4);
    t.set_hard_tab_indent(false);
    t
}

pub struct GatewayView {
    pub key: usize,
    pub group: String,
    pub id: String,
    pub spec: String,
    pub state: GwState,
    pub interpreter: Option<String>,
    pub pid: Option<u32>,
    pub host: String,
    pub console: ConsoleView,
    pub metrics: GwMetrics,
    /// The user asked to terminate it: its channels ending is no error to log.
    pub terminating: bool,
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Editor,
}

/// A line prompt at the bottom (`:` commands or `a` add).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    pub error: Option<String>,
    pub history_pos: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Command,
    AddSpec,
    Search,
    SavePath,
    SendLiteral,
    /// A masked prompt for a secret; the text is never shown or logged.
    Secret,
    /// A question from the SSH side answered in clear (e.g. "yes" to a new host key).
    Ask,
    /// The tail's filter.
    TailFilter,
}

/// A destructive action waiting for confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub keys: Vec<usize>,
    /// false: Cancel focused (the default).
    pub yes_focused: bool,
    /// A narrower choice offered with `o` (e.g. only the selected gateway of a group).
    pub only: Option<(String, Vec<usize>)>,
}

/// The result of a broadcast: every gateway of a group ran the same snippet.
#[derive(Debug, Clone)]
pub struct Broadcast {
    pub group: String,
    pub keys: Vec<usize>,
    /// Interleaved output, each line prefixed with its gateway id.
    pub ring: Ring,
    pub side_by_side: bool,
    /// Shown instead of the selected gateway's console.
    pub shown: bool,
    /// Each member's unfinished line, completed by its next output.
    pub partial: std::collections::HashMap<usize, (LineKind, String)>,
}

pub const COMMANDS: &[&str] = &[
    "add",
    "group",
    "terminate",
    "save",
    "open",
    "quit",
    "help",
    "monitor",
    "tail",
    "rosetta",
    "bridge",
    "sort",
    "interval",
];

pub struct App {
    pub keymap: Keymap,
    pub gateways: Vec<GatewayView>,
    pub groups: Vec<String>,
    pub selected: usize,
    pub focus: Focus,
    pub prompt: Option<Prompt>,
    pub confirm: Option<Confirm>,
    pub help: Option<String>,
    /// Rows of the help overlay scrolled past.
    pub help_scroll: usize,
    pub toast: Option<String>,
    pub command_history: Vec<String>,
    pub current_group: String,
    pub scrollback: usize,
    pub quitting: bool,
    pub broadcast: Option<Broadcast>,
    /// The channels view replaces the console output pane.
    pub channels_shown: bool,
    /// Screen rows of the tree that select a gateway (row, first and last column,
    /// display position), set when drawing; used by mouse clicks.
    pub tree_rows: Vec<(u16, u16, u16, usize)>,
    pub view: View,
    pub monitor: crate::config::MonitorConfig,
    pub sort: SortBy,
    pub log: VecDeque<LogEntry>,
    pub tail: Tail,
    pub rosetta: Option<RosettaGrid>,
    pub setup: Setup,
    /// The wall-clock time for the log and the tail ("HH:MM:SS"); tests fix it.
    pub clock: fn() -> String,
    next_key: usize,
    /// Set when the screen must be redrawn.
    pub dirty: bool,
}

impl App {
    pub fn new(keymap: Keymap) -> App {
        App {
            keymap,
            gateways: Vec::new(),
            groups: Vec::new(),
            selected: 0,
            focus: Focus::Tree,
            prompt: None,
            confirm: None,
            help: None,
            help_scroll: 0,
            toast: None,
            command_history: Vec::new(),
            current_group: "local".into(),
            scrollback: DEFAULT_SCROLLBACK,
            quitting: false,
            broadcast: None,
            channels_shown: false,
            tree_rows: Vec::new(),
            view: View::Console,
            monitor: crate::config::MonitorConfig::default(),
            sort: SortBy::Added,
            log: VecDeque::new(),
            tail: Tail::new(super::monitor::TAIL_LINES),
            rosetta: None,
            setup: Setup::default(),
            clock: local_time,
            next_key: 0,
            dirty: true,
        }
    }

    /// Registers a gateway to open; returns the effect that opens it, or an error for a
    /// duplicate id in the group.
    pub fn add_gateway(&mut self, group: &str, spec: Spec) -> Result<Effect, String> {
        let id = match &spec.id {
            Some(id) => id.clone(),
            None => {
                let mut n = self.gateways.iter().filter(|g| g.group == group).count();
                while self
                    .gateways
                    .iter()
                    .any(|g| g.group == group && g.id == format!("gw{n}"))
                {
                    n += 1;
                }
                format!("gw{n}")
            }
        };
        if self.gateways.iter().any(|g| g.group == group && g.id == id) {
            return Err(format!(
                "gateway id '{id}' is already in use in group '{group}'"
            ));
        }
        let key = self.next_key;
        self.next_key += 1;
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_string());
        }
        self.gateways.push(GatewayView {
            key,
            group: group.to_string(),
            id: id.clone(),
            spec: spec.raw.clone(),
            state: GwState::Connecting,
            interpreter: None,
            pid: None,
            host: match &spec.transport {
                _ if spec.via.is_some() => format!("via {}", spec.via.clone().unwrap_or_default()),
                crate::engine::Transport::Popen => "local".into(),
                crate::engine::Transport::Ssh(t) => match &spec.proxy_jump {
                    Some(j) => format!("ssh {t} via {j}"),
                    None => format!("ssh {t}"),
                },
                crate::engine::Transport::Socket(a) => format!("socket {a}"),
                crate::engine::Transport::VagrantSsh(n) => format!("vagrant {n}"),
            },
            console: ConsoleView::new(self.scrollback),
            metrics: GwMetrics::default(),
            terminating: false,
        });
        // select the new gateway
        if let Some(pos) = self
            .ordered()
            .iter()
            .position(|&i| self.gateways[i].key == key)
        {
            self.selected = pos;
        }
        self.dirty = true;
        Ok(Effect::Open {
            key,
            id,
            group: group.to_string(),
            spec: Box::new(spec),
        })
    }

    fn add_from_prompt(&mut self, spec: Spec, p: Prompt) -> Vec<Effect> {
        let group = self.current_group.clone();
        match self.add_gateway(&group, spec) {
            Ok(e) => vec![e],
            Err(msg) => {
                self.prompt = Some(Prompt {
                    error: Some(msg),
                    ..p
                });
                vec![]
            }
        }
    }

    /// Gateways in display order (grouped).
    pub fn ordered(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for g in &self.groups {
            for (i, gw) in self.gateways.iter().enumerate() {
                if &gw.group == g {
                    out.push(i);
                }
            }
        }
        out
    }

    pub fn selected_gateway(&self) -> Option<&GatewayView> {
        self.ordered()
            .get(self.selected)
            .and_then(|&i| self.gateways.get(i))
    }

    fn selected_index(&self) -> Option<usize> {
        self.ordered().get(self.selected).copied()
    }

    fn by_key(&mut self, key: usize) -> Option<&mut GatewayView> {
        self.gateways.iter_mut().find(|g| g.key == key)
    }

    pub fn mode(&self) -> Mode {
        match self.focus {
            Focus::Tree => Mode::Normal,
            Focus::Editor => Mode::Editor,
        }
    }

    /// Counts for the header: groups, gateways alive / all, busy, channels open (each
    /// live gateway's console channel included).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let alive = self.gateways.iter().filter(|g| g.state.alive()).count();
        let busy = self
            .gateways
            .iter()
            .filter(|g| g.console.running.is_some())
            .count();
        let consoles = self
            .gateways
            .iter()
            .filter(|g| g.console.interrupt_mode.is_some() && g.state.alive())
            .count();
        let open = self
            .gateways
            .iter()
            .filter(|g| g.state.alive())
            .flat_map(|g| g.console.channels.iter())
            .filter(|c| c.state == "open")
            .count();
        (
            self.groups.len(),
            alive,
            self.gateways.len(),
            busy,
            consoles + open,
        )
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        self.dirty = true;
        match action {
            Action::Key(k) => self.on_key(k),
            Action::Paste(text) => {
                if self.help.is_some() || self.confirm.is_some() {
                    return vec![];
                }
                if let Some(p) = &mut self.prompt {
                    p.text.push_str(&text.replace(['\n', '\r'], " "));
                } else if let Some(i) = self.selected_index() {
                    self.focus = Focus::Editor;
                    self.gateways[i]
                        .console
                        .editor
                        .insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
                }
                vec![]
            }
            Action::Mouse(m) => {
                match m.kind {
                    MouseEventKind::ScrollUp => self.scroll(3, true),
                    MouseEventKind::ScrollDown => self.scroll(3, false),
                    MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                        if let Some(&(_, _, _, pos)) = self
                            .tree_rows
                            .iter()
                            .find(|(y, x0, x1, _)| *y == m.row && (*x0..*x1).contains(&m.column))
                        {
                            self.selected = pos;
                            self.focus = Focus::Tree;
                            if let Some(b) = &mut self.broadcast {
                                b.shown = false;
                            }
                        }
                    }
                    _ => {}
                }
                vec![]
            }
            Action::Resize => vec![],
            Action::Engine(msg) => self.on_engine(msg),
        }
    }

    fn scroll(&mut self, n: usize, up: bool) {
        if self.view == View::Tail {
            let t = &mut self.tail;
            t.scroll = if up {
                (t.scroll + n).min(t.visible().count().saturating_sub(1))
            } else {
                t.scroll.saturating_sub(n)
            };
            return;
        }
        if let Some(i) = self.selected_index() {
            let c = &mut self.gateways[i].console;
            if up {
                c.scroll = (c.scroll + n).min(c.output.lines.len().saturating_sub(1));
            } else {
                c.scroll = c.scroll.saturating_sub(n);
            }
        }
    }

    fn on_engine(&mut self, msg: EngineMsg) -> Vec<Effect> {
        match msg {
            EngineMsg::Ready {
                key,
                id,
                pid,
                interpreter,
            } => {
                if let Some(g) = self.by_key(key) {
                    if g.state != GwState::Connecting {
                        // terminated (or failed) while it was starting: end it now
                        let mut effects = vec![Effect::Terminate { keys: vec![key] }];
                        effects.extend(self.setup_progress());
                        return effects;
                    }
                    g.id = id;
                    g.pid = pid;
                    g.console.output.push(
                        LineKind::Info,
                        &format!("{interpreter} ready (pid {})\n", pid.unwrap_or(0)),
                    );
                    let text = match pid {
                        Some(p) => format!("{interpreter} (pid {p})"),
                        None => interpreter.clone(),
                    };
                    g.interpreter = Some(interpreter);
                    g.state = GwState::Ready;
                    self.log_event(key, LogKind::Started, text);
                }
                return self.setup_progress();
            }
            EngineMsg::Failed { key, error } => {
                if let Some(g) = self.by_key(key) {
                    g.console
                        .output
                        .push(LineKind::Traceback, &format!("{error}\n"));
                    g.console.running = None;
                    g.console.interrupt_step = 0;
                    if g.state == GwState::Connecting {
                        g.state = GwState::Failed(error.clone());
                        self.log_event(key, LogKind::Failed, error);
                        return self.setup_progress();
                    } else if g.state == GwState::Busy {
                        g.state = GwState::Ready;
                    }
                }
            }
            EngineMsg::Started { key, snippet } => {
                if let Some(g) = self.by_key(key)
                    && g.console.running.is_some()
                {
                    g.console.running = Some(snippet);
                }
            }
            EngineMsg::Console { key, event } => {
                let mut flush = false;
                self.broadcast_event(key, &event);
                if let ConsoleEvent::Output { stderr, text, .. } = &event {
                    let stream = if *stderr {
                        TailStream::Err
                    } else {
                        TailStream::Out
                    };
                    self.tail_text(key, stream, text);
                }
                if let Some(g) = self.by_key(key) {
                    let c = &mut g.console;
                    match event {
                        ConsoleEvent::Hello { interrupt } => c.interrupt_mode = Some(interrupt),
                        ConsoleEvent::Output { stderr, text, .. } => c.output.push(
                            if stderr {
                                LineKind::Stderr
                            } else {
                                LineKind::Stdout
                            },
                            &text,
                        ),
                        ConsoleEvent::Result { repr, .. } => {
                            c.output.close_line();
                            c.output.push(LineKind::Result, &format!("{repr}\n"));
                        }
                        ConsoleEvent::Error { traceback, .. } => {
                            c.output.close_line();
                            c.output.push(LineKind::Traceback, &traceback);
                        }
                        ConsoleEvent::Done { seconds, .. } => {
                            flush = true;
                            c.output.close_line();
                            c.running = None;
                            c.interrupt_step = 0;
                            if seconds >= 1.0 {
                                c.output
                                    .push(LineKind::Info, &format!("(took {seconds:.1} s)\n"));
                            }
                            if g.state == GwState::Busy {
                                g.state = GwState::Ready;
                            }
                        }
                        ConsoleEvent::Closed { reason } => {
                            c.running = None;
                            c.interrupt_step = 0;
                            if g.state == GwState::Busy {
                                g.state = GwState::Ready;
                            }
                            c.output.close_line();
                            c.output.push(
                                LineKind::Info,
                                &format!("console closed: {}\n", reason.trim_end()),
                            );
                        }
                    }
                }
                if flush {
                    self.flush_tail(key);
                }
            }
            EngineMsg::Output { key, stream, text } => {
                let ts = if stream.is_err() {
                    TailStream::Err
                } else {
                    TailStream::Out
                };
                self.tail_text(key, ts, &text);
                if let Some(g) = self.by_key(key) {
                    let kind = if stream.is_err() {
                        LineKind::Stderr
                    } else {
                        LineKind::Stdout
                    };
                    g.console.output.push(kind, &text);
                }
            }
            EngineMsg::Died { key, reason } => {
                if let Some(g) = self.by_key(key) {
                    g.console.running = None;
                    g.console.output.close_line();
                    g.console
                        .output
                        .push(LineKind::Traceback, &format!("gateway died: {reason}\n"));
                    if g.state.alive() {
                        g.state = GwState::Dead(reason.clone());
                        self.log_event(key, LogKind::Died, reason);
                    }
                }
                self.flush_tail(key);
                return self.setup_progress();
            }
            EngineMsg::History { key, entries } => {
                if let Some(g) = self.by_key(key) {
                    let mut merged = entries;
                    merged.append(&mut g.console.history);
                    g.console.history = merged;
                }
            }
            EngineMsg::Session(session) => {
                let mut effects = Vec::new();
                self.apply_setup(&session);
                for group in session.groups {
                    for spec in group.specs {
                        match spec.parse::<Spec>() {
                            Ok(spec) => match self.add_gateway(&group.name, spec) {
                                Ok(e) => effects.push(e),
                                Err(e) => self.toast = Some(e),
                            },
                            Err(e) => self.toast = Some(e.to_string()),
                        }
                    }
                }
                return effects;
            }
            EngineMsg::Metrics { key, metrics } => {
                if let Some(g) = self.by_key(key) {
                    g.metrics.push(metrics);
                }
            }
            EngineMsg::Bridge {
                src,
                dst,
                items,
                conversions,
                per_s,
                ended,
            } => {
                let names = (self.channel_label(src), self.channel_label(dst));
                let first_end = ended.is_some()
                    && self
                        .channel_row(src.0, src.1)
                        .is_none_or(|r| r.link.as_ref().is_none_or(|l| l.ended.is_none()));
                for (end, peer, outgoing) in [(src, &names.1, true), (dst, &names.0, false)] {
                    if let Some(row) = self.channel_row(end.0, end.1) {
                        let was_running = row.link.as_ref().is_none_or(|l| l.ended.is_none());
                        row.link = Some(Link {
                            outgoing,
                            peer: peer.clone(),
                            items,
                            conversions,
                            per_s,
                            ended: ended.clone(),
                        });
                        if let (Some(reason), true) = (&ended, was_running) {
                            row.log
                                .push(LineKind::Info, &format!("bridge ended: {reason}\n"));
                        }
                    }
                }
                if let Some(reason) = ended
                    && first_end
                {
                    self.log_event(
                        src.0,
                        LogKind::Bridge,
                        format!(
                            "{} → {} ended after {items} items: {reason}",
                            names.0, names.1
                        ),
                    );
                }
            }
            EngineMsg::BridgeFailed { src, dst, error } => {
                for end in [src, dst] {
                    if let Some(row) = self.channel_row(end.0, end.1) {
                        row.link = None;
                    }
                }
                let text = format!(
                    "cannot bridge {} → {}: {error}",
                    self.channel_label(src),
                    self.channel_label(dst)
                );
                self.toast = Some(text.clone());
                self.log_event(src.0, LogKind::Bridge, text);
            }
            EngineMsg::RosettaDone { run, cells } => {
                // an older run's late answer does not overwrite the current grid
                if let Some(r) = &mut self.rosetta
                    && r.run == run
                {
                    r.cells = Some(cells);
                }
            }
            EngineMsg::ChannelOpenFailed { key, name, error } => {
                let what = match &name {
                    Some(n) => format!("channel '{n}' not opened: {error}"),
                    None => format!("cannot open a channel: {error}"),
                };
                self.toast = Some(what.clone());
                self.log_event(key, LogKind::ChannelError, what);
                if let Some(n) = name {
                    self.setup.failed.push(n);
                    return self.setup_progress();
                }
            }
            EngineMsg::Notice(text) => self.toast = Some(text),
            EngineMsg::SecretPrompt { question, secret } => {
                self.prompt = Some(Prompt {
                    kind: if secret {
                        PromptKind::Secret
                    } else {
                        PromptKind::Ask
                    },
                    text: String::new(),
                    error: Some(question),
                    history_pos: None,
                });
            }
            EngineMsg::ChannelOpened {
                key,
                channel,
                opener,
                name,
            } => {
                let cap = self.scrollback;
                if let Some(g) = self.by_key(key)
                    && !g.console.channels.iter().any(|c| c.id == channel)
                {
                    g.console.channels.push(ChannelRow {
                        id: channel,
                        opener,
                        state: "open".into(),
                        items_in: 0,
                        items_out: 0,
                        log: Ring::new(cap),
                        name: name.clone(),
                        link: None,
                    });
                    g.console.channel_selected = g.console.channels.len() - 1;
                }
                if let Some(name) = name {
                    self.setup.named.insert(name, (key, channel));
                    return self.setup_progress();
                }
            }
            EngineMsg::ChannelItem { key, channel, repr } => {
                let item = TailLine {
                    time: (self.clock)(),
                    group: String::new(),
                    gateway: String::new(),
                    stream: TailStream::Items,
                    channel: Some(channel),
                    text: repr.replace('\n', "\\n"),
                    marker: false,
                };
                if let Some(g) = self.by_key(key) {
                    let (group, gateway) = (g.group.clone(), g.id.clone());
                    self.tail.push(TailLine {
                        group,
                        gateway,
                        ..item
                    });
                }
                if let Some(row) = self.channel_row(key, channel) {
                    row.items_in += 1;
                    row.log.push(LineKind::Result, &format!("← {repr}\n"));
                }
            }
            EngineMsg::ChannelSent { key, channel, repr } => {
                if let Some(row) = self.channel_row(key, channel) {
                    row.items_out += 1;
                    row.log.push(LineKind::Input, &format!("→ {repr}\n"));
                }
            }
            EngineMsg::ChannelEnded {
                key,
                channel,
                error,
            } => {
                let ending = self
                    .gateways
                    .iter()
                    .find(|g| g.key == key)
                    .is_some_and(|g| g.terminating || !g.state.alive());
                if let Some(e) = &error
                    && !ending
                {
                    let last = e.trim_end().lines().last().unwrap_or("").to_string();
                    self.log_event(
                        key,
                        LogKind::ChannelError,
                        format!("channel {channel}: {last}"),
                    );
                }
                if let Some(row) = self.channel_row(key, channel) {
                    match error {
                        Some(e) => {
                            row.state = "error".into();
                            row.log
                                .push(LineKind::Traceback, &format!("{}\n", e.trim_end()));
                        }
                        None => {
                            row.state = "closed".into();
                            row.log.push(LineKind::Info, "closed\n");
                        }
                    }
                }
            }
            EngineMsg::Terminated { key, outcome } => {
                if let Some(g) = self.by_key(key) {
                    g.console.running = None;
                    g.console.output.close_line();
                    g.console
                        .output
                        .push(LineKind::Info, &format!("terminated: {outcome}\n"));
                    // a failed start, or the follow-up of one terminated while starting,
                    // is not a new termination
                    let logged = matches!(g.state, GwState::Failed(_) | GwState::Terminated(_));
                    g.state = GwState::Terminated(outcome.to_string());
                    if !logged {
                        self.log_event(key, LogKind::Terminated, outcome.to_string());
                    }
                }
                self.flush_tail(key);
                return self.setup_progress();
            }
        }
        vec![]
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        self.toast = None;
        if self.confirm.is_some() {
            return self.on_confirm_key(k);
        }
        if self.help.is_some() {
            return self.on_help_key(k);
        }
        if self.prompt.is_some() {
            return self.on_prompt_key(k);
        }
        let key = Key::from_event(&k);
        if let Some(cmd) = self.keymap.lookup(self.mode(), key) {
            return self.run_command(cmd);
        }
        if self.focus == Focus::Editor {
            return self.on_editor_key(k);
        }
        vec![]
    }

    fn on_help_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let filter = self.help.get_or_insert_with(String::new);
        match k.code {
            KeyCode::Down => self.help_scroll += 1,
            KeyCode::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
            KeyCode::PageDown => self.help_scroll += 10,
            KeyCode::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
            KeyCode::Esc | KeyCode::Char('?') if filter.is_empty() || k.code == KeyCode::Esc => {
                self.help = None
            }
            KeyCode::Backspace => {
                filter.pop();
                self.help_scroll = 0;
            }
            KeyCode::Char(c) => {
                filter.push(c);
                self.help_scroll = 0;
            }
            _ => {}
        }
        vec![]
    }

    fn on_confirm_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(c) = &mut self.confirm else {
            return vec![];
        };
        match k.code {
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                c.yes_focused = !c.yes_focused;
                vec![]
            }
            KeyCode::Esc | KeyCode::Char('n') => {
                self.confirm = None;
                vec![]
            }
            KeyCode::Char('y') => self.confirmed(),
            KeyCode::Char('o') if c.only.is_some() => {
                if let Some((_, keys)) = c.only.take() {
                    c.keys = keys;
                }
                self.confirmed()
            }
            KeyCode::Enter => {
                if c.yes_focused {
                    self.confirmed()
                } else {
                    self.confirm = None;
                    vec![]
                }
            }
            _ => vec![],
        }
    }

    fn confirmed(&mut self) -> Vec<Effect> {
        let Some(c) = self.confirm.take() else {
            return vec![];
        };
        for key in &c.keys {
            if let Some(g) = self.by_key(*key)
                && g.state.alive()
            {
                g.terminating = true;
                g.console.output.push(LineKind::Info, "terminating…\n");
            }
        }
        vec![Effect::Terminate { keys: c.keys }]
    }

    fn on_editor_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let c = &mut self.gateways[i].console;
        let row = c.editor.cursor().0;
        let last_row = c.editor.lines().len().saturating_sub(1);
        match k.code {
            KeyCode::Up if row == 0 && !c.history.is_empty() && k.modifiers.is_empty() => {
                let pos = match c.history_pos {
                    None => c.history.len() - 1,
                    Some(p) => p.saturating_sub(1),
                };
                c.history_pos = Some(pos);
                set_text(&mut c.editor, &c.history[pos]);
                return vec![];
            }
            KeyCode::Down
                if row == last_row && c.history_pos.is_some() && k.modifiers.is_empty() =>
            {
                let pos = c.history_pos.unwrap_or(0) + 1;
                if pos >= c.history.len() {
                    c.history_pos = None;
                    set_text(&mut c.editor, "");
                } else {
                    c.history_pos = Some(pos);
                    set_text(&mut c.editor, &c.history[pos]);
                }
                return vec![];
            }
            KeyCode::Enter if k.modifiers.is_empty() => {
                // auto-indent: keep the line's indent, one level more after ':'
                let line = c.editor.lines().get(row).cloned().unwrap_or_default();
                let indent: String = line.chars().take_while(|ch| *ch == ' ').collect();
                let extra = if line.trim_end().ends_with(':') {
                    "    "
                } else {
                    ""
                };
                c.editor.insert_newline();
                c.editor.insert_str(format!("{indent}{extra}"));
                return vec![];
            }
            _ => {}
        }
        c.editor.input(k);
        vec![]
    }

    fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(p) = &mut self.prompt else {
            return vec![];
        };
        match k.code {
            KeyCode::Esc if matches!(p.kind, PromptKind::Secret | PromptKind::Ask) => {
                self.prompt = None;
                vec![Effect::SecretReply(None)]
            }
            KeyCode::Esc => {
                self.prompt = None;
                vec![]
            }
            KeyCode::Backspace => {
                p.text.pop();
                if !matches!(p.kind, PromptKind::Secret | PromptKind::Ask) {
                    p.error = None;
                }
                self.validate_prompt();
                vec![]
            }
            KeyCode::Tab if p.kind == PromptKind::Command => {
                let word = p.text.trim();
                let matches: Vec<&&str> = COMMANDS.iter().filter(|c| c.starts_with(word)).collect();
                if let [only] = matches.as_slice() {
                    p.text = format!("{only} ");
                } else if !matches.is_empty() {
                    p.error = Some(format!(
                        "completions: {}",
                        matches.iter().map(|s| **s).collect::<Vec<_>>().join(" ")
                    ));
                }
                vec![]
            }
            KeyCode::Up | KeyCode::Down
                if p.kind == PromptKind::Command && !self.command_history.is_empty() =>
            {
                let n = self.command_history.len();
                let pos = match (p.history_pos, k.code) {
                    (None, KeyCode::Up) => Some(n - 1),
                    (Some(i), KeyCode::Up) => Some(i.saturating_sub(1)),
                    (Some(i), KeyCode::Down) if i + 1 < n => Some(i + 1),
                    (None, KeyCode::Down) => return vec![],
                    _ => None,
                };
                p.history_pos = pos;
                p.text = pos
                    .map(|i| self.command_history[i].clone())
                    .unwrap_or_default();
                vec![]
            }
            KeyCode::Enter => {
                let Some(p) = self.prompt.take() else {
                    return vec![];
                };
                match p.kind {
                    PromptKind::AddSpec => match p.text.trim().parse::<Spec>() {
                        Ok(spec) => self.add_from_prompt(spec, p),
                        Err(e) => {
                            self.prompt = Some(Prompt {
                                error: Some(e.to_string()),
                                ..p
                            });
                            vec![]
                        }
                    },
                    PromptKind::Secret | PromptKind::Ask => vec![Effect::SecretReply(Some(p.text))],
                    PromptKind::TailFilter => match TailFilter::parse(&p.text) {
                        Ok(f) => {
                            self.tail.filter = f;
                            self.tail.scroll = 0;
                            vec![]
                        }
                        Err(e) => {
                            self.prompt = Some(Prompt {
                                error: Some(e),
                                ..p
                            });
                            vec![]
                        }
                    },
                    PromptKind::SendLiteral => match crate::engine::Value::parse_literal(&p.text) {
                        Ok(value) => match self.selected_channel() {
                            Some((key, channel, true)) => vec![Effect::ChannelSend {
                                key,
                                channel,
                                value,
                            }],
                            _ => vec![],
                        },
                        Err(e) => {
                            self.prompt = Some(Prompt {
                                error: Some(e.to_string()),
                                ..p
                            });
                            vec![]
                        }
                    },
                    PromptKind::Search => {
                        let text = p.text.clone();
                        if let Some(i) = self.selected_index() {
                            let c = &mut self.gateways[i].console;
                            c.search = (!text.is_empty()).then_some(text);
                            c.scroll = 0;
                        }
                        self.jump_to_match(false);
                        vec![]
                    }
                    PromptKind::SavePath => {
                        let path = p.text.trim().to_string();
                        let Some(g) = self.selected_gateway() else {
                            return vec![];
                        };
                        if path.is_empty() {
                            return vec![];
                        }
                        let mut text = String::new();
                        if g.console.output.dropped > 0 {
                            text.push_str(&format!(
                                "[{} earlier lines dropped]\n",
                                g.console.output.dropped
                            ));
                        }
                        for (_, line) in &g.console.output.lines {
                            text.push_str(line);
                            text.push('\n');
                        }
                        vec![Effect::SaveOutput { path, text }]
                    }
                    PromptKind::Command => {
                        let text = p.text.trim().to_string();
                        if !text.is_empty() && self.command_history.last() != Some(&text) {
                            self.command_history.push(text.clone());
                        }
                        self.run_command_line(&text, p)
                    }
                }
            }
            KeyCode::Char(ch) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                p.text.push(ch);
                if !matches!(p.kind, PromptKind::Secret | PromptKind::Ask) {
                    p.error = None;
                }
                self.validate_prompt();
                vec![]
            }
            _ => vec![],
        }
    }

    /// Inline validation of a spec while it is typed.
    fn validate_prompt(&mut self) {
        if let Some(p) = &mut self.prompt {
            let spec_text = match p.kind {
                PromptKind::AddSpec => Some(p.text.trim()),
                PromptKind::Command => p.text.trim().strip_prefix("add "),
                PromptKind::Search
                | PromptKind::SavePath
                | PromptKind::Secret
                | PromptKind::Ask => None,
                PromptKind::TailFilter => {
                    p.error = TailFilter::parse(&p.text).err();
                    None
                }
                PromptKind::SendLiteral => {
                    p.error = crate::engine::Value::parse_literal(&p.text)
                        .err()
                        .map(|e| e.to_string());
                    None
                }
            };
            if let Some(t) = spec_text
                && !t.is_empty()
            {
                p.error = t.parse::<Spec>().err().map(|e| e.to_string());
            }
        }
    }

    fn run_command_line(&mut self, text: &str, p: Prompt) -> Vec<Effect> {
        let (cmd, arg) = match text.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (text, ""),
        };
        let fail = |app: &mut App, msg: String| {
            app.prompt = Some(Prompt {
                error: Some(msg),
                ..p.clone()
            });
            vec![]
        };
        match cmd {
            "" => vec![],
            "q" | "quit" => self.run_command(Command::Quit),
            "help" => self.run_command(Command::Help),
            "add" => match arg.parse::<Spec>() {
                Ok(spec) => self.add_from_prompt(spec, p.clone()),
                Err(e) => fail(self, e.to_string()),
            },
            "group" => {
                if arg.is_empty() || arg.contains(char::is_whitespace) {
                    return fail(self, "usage: :group NAME".into());
                }
                self.current_group = arg.to_string();
                if !self.groups.iter().any(|g| g == arg) {
                    self.groups.push(arg.to_string());
                }
                self.toast = Some(format!("new gateways go to group '{arg}'"));
                vec![]
            }
            "save" => {
                if arg.is_empty() {
                    return fail(self, "usage: :save NAME".into());
                }
                if let Err(e) = crate::config::Session::path_for(arg) {
                    return fail(self, e);
                }
                vec![Effect::SaveSession {
                    name: arg.to_string(),
                    session: self.session(),
                }]
            }
            "open" => {
                if arg.is_empty() {
                    return fail(self, "usage: :open NAME (or a path to a .toml file)".into());
                }
                vec![Effect::OpenSession {
                    name: arg.to_string(),
                }]
            }
            "terminate" => {
                let group = if arg.is_empty() {
                    self.selected_gateway()
                        .map(|g| g.group.clone())
                        .unwrap_or_default()
                } else {
                    arg.to_string()
                };
                if !self.groups.contains(&group) {
                    return fail(self, format!("no group '{group}'"));
                }
                self.ask_terminate_group(&group);
                vec![]
            }
            "monitor" => {
                self.toggle_view(View::Monitor);
                vec![]
            }
            "tail" => {
                if !arg.is_empty() {
                    match TailFilter::parse(arg) {
                        Ok(f) => {
                            self.tail.filter = f;
                            self.tail.scroll = 0;
                        }
                        Err(e) => return fail(self, e),
                    }
                }
                if self.view != View::Tail {
                    self.toggle_view(View::Tail);
                }
                vec![]
            }
            "sort" => match super::monitor::SortBy::from_name(arg) {
                Some(k) => {
                    self.sort = k;
                    self.view = View::Monitor;
                    vec![]
                }
                None => fail(
                    self,
                    format!(
                        "usage: :sort {}",
                        super::monitor::SortBy::ALL.map(|k| k.name()).join("|")
                    ),
                ),
            },
            "interval" => match arg.parse::<f64>() {
                Ok(v) if v == 0.0 || (0.1..=3600.0).contains(&v) => {
                    self.monitor.interval = v;
                    self.toast = Some(if v == 0.0 {
                        "metrics sampling off".into()
                    } else {
                        format!("metrics every {v} s")
                    });
                    vec![Effect::MonitorInterval(v)]
                }
                _ => fail(
                    self,
                    "usage: :interval SECONDS (0.1 to 3600, or 0 to stop sampling)".into(),
                ),
            },
            "rosetta" => {
                let Some(i) = self.selected_index() else {
                    return fail(self, "no gateway".into());
                };
                let code = self.gateways[i].console.editor.lines().join("\n");
                if code.trim().is_empty() {
                    return fail(
                        self,
                        "write the snippet in the selected gateway's editor first".into(),
                    );
                }
                let group = self.gateways[i].group.clone();
                let ids: Vec<String> = arg
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = ids.iter().find(|id| {
                    !self
                        .gateways
                        .iter()
                        .any(|g| g.group == group && &g.id == *id)
                }) {
                    return fail(self, format!("no gateway '{bad}' in group '{group}'"));
                }
                let keys = self.live_keys(&group, &ids);
                self.rosetta_from_editor(i, keys, code)
            }
            "bridge" => {
                let parts: Vec<&str> = arg.split_whitespace().collect();
                let [from, to] = parts.as_slice() else {
                    return fail(
                        self,
                        "usage: :bridge FROM TO  (channels as GATEWAY#CHANNEL, e.g. gw0#3 gw1#5)"
                            .into(),
                    );
                };
                let src = match self.resolve_channel(from) {
                    Ok(c) => c,
                    Err(e) => return fail(self, e),
                };
                let dst = match self.resolve_channel(to) {
                    Ok(c) => c,
                    Err(e) => return fail(self, e),
                };
                if src == dst {
                    return fail(self, "a channel cannot be bridged into itself".into());
                }
                let busy = |app: &App, c: (usize, i32)| {
                    app.gateways
                        .iter()
                        .find(|g| g.key == c.0)
                        .and_then(|g| g.console.channels.iter().find(|r| r.id == c.1))
                        .and_then(|r| r.link.as_ref())
                        .is_some_and(|l| l.ended.is_none())
                };
                if busy(self, src) || busy(self, dst) {
                    return fail(self, "one of these channels is already bridged".into());
                }
                self.channels_shown = true;
                self.view = View::Console;
                self.bridge_effect(src, dst)
            }
            other => {
                let hint = COMMANDS
                    .iter()
                    .find(|c| c.starts_with(other))
                    .map(|c| format!(" (did you mean :{c}?)"))
                    .unwrap_or_default();
                fail(self, format!("unknown command ':{other}'{hint}"))
            }
        }
    }

    /// Adds an entry to the event log.
    fn log_event(&mut self, key: usize, kind: LogKind, text: String) {
        let (group, gateway) = self
            .gateways
            .iter()
            .find(|g| g.key == key)
            .map(|g| (g.group.clone(), g.id.clone()))
            .unwrap_or_default();
        if self.log.len() >= super::monitor::EVENT_LOG {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            time: (self.clock)(),
            group,
            gateway,
            kind,
            text: text.trim_end().to_string(),
        });
    }

    /// Adds a gateway's output to the tail.
    fn tail_text(&mut self, key: usize, stream: TailStream, text: &str) {
        if let Some(g) = self.gateways.iter().find(|g| g.key == key) {
            let (group, id) = (g.group.clone(), g.id.clone());
            let now = (self.clock)();
            self.tail.push_text(&now, &group, &id, stream, text);
        }
    }

    /// Shows a gateway's unfinished output lines in the tail.
    fn flush_tail(&mut self, key: usize) {
        if let Some(g) = self.gateways.iter().find(|g| g.key == key) {
            let (group, id) = (g.group.clone(), g.id.clone());
            let now = (self.clock)();
            self.tail.flush(&group, &id, &now);
        }
    }

    /// "gw1#5" for a gateway key and channel.
    pub fn channel_label(&self, (key, channel): (usize, i32)) -> String {
        match self.gateways.iter().find(|g| g.key == key) {
            Some(g) => format!("{}#{channel}", g.id),
            None => format!("?#{channel}"),
        }
    }

    /// Finds a channel by session name, `GW#CH` (a gateway of the selected group) or
    /// `GROUP/GW#CH`.
    fn resolve_channel(&self, text: &str) -> Result<(usize, i32), String> {
        if let Some(&(key, channel)) = self.setup.named.get(text) {
            let row = self
                .gateways
                .iter()
                .find(|g| g.key == key)
                .and_then(|g| g.console.channels.iter().find(|c| c.id == channel));
            return match row {
                Some(c) if c.state == "open" => Ok((key, channel)),
                Some(c) => Err(format!("channel '{text}' is {}", c.state)),
                None => Err(format!("channel '{text}' is gone")),
            };
        }
        let Some((gw, ch)) = text.rsplit_once('#') else {
            return Err(format!(
                "'{text}': name a channel as GATEWAY#CHANNEL (e.g. gw0#3) or by its session name"
            ));
        };
        let channel: i32 = ch
            .parse()
            .map_err(|_| format!("'{text}': channel '{ch}' is not a number"))?;
        let (group, id) = match gw.split_once('/') {
            Some((g, i)) => (g.to_string(), i),
            None => (
                self.selected_gateway()
                    .map(|g| g.group.clone())
                    .unwrap_or_default(),
                gw,
            ),
        };
        let g = self
            .gateways
            .iter()
            .find(|g| g.group == group && g.id == id)
            .ok_or_else(|| format!("no gateway '{id}' in group '{group}'"))?;
        match g.console.channels.iter().find(|c| c.id == channel) {
            Some(c) if c.state == "open" => Ok((g.key, channel)),
            Some(c) => Err(format!("channel {id}#{channel} is {}", c.state)),
            None => Err(format!(
                "gateway {id} has no channel {channel} (C lists its channels)"
            )),
        }
    }

    /// Takes what a session file asks for beyond its gateways; it happens as they
    /// become ready.
    pub fn apply_setup(&mut self, session: &crate::config::Session) {
        let first = session.groups.first().map(|g| g.name.clone());
        let group_of = |g: &Option<String>| {
            g.clone()
                .or_else(|| first.clone())
                .unwrap_or_else(|| self.current_group.clone())
        };
        for c in &session.channels {
            let hold = session.bridges.iter().any(|b| b.from == c.name);
            self.setup.channels.push((
                group_of(&c.group),
                c.gateway.clone(),
                c.name.clone(),
                c.code.clone(),
                hold,
            ));
        }
        for b in &session.bridges {
            self.setup.bridges.push((b.from.clone(), b.to.clone()));
        }
        if let Some(r) = &session.rosetta {
            self.setup.rosetta = Some((group_of(&r.group), r.gateways.clone(), r.code.clone()));
        }
        self.view = match session.view.as_deref() {
            Some("monitor") => View::Monitor,
            Some("tail") => View::Tail,
            Some("rosetta") => View::Rosetta,
            Some("channels") => {
                self.channels_shown = true;
                View::Console
            }
            _ => self.view,
        };
        if self.view == View::Tail {
            self.tail.group = first;
        }
    }

    /// Opens a session's channels, bridges and grid whose gateways are ready; gives up
    /// on those whose gateway will not come up, and says so.
    fn setup_progress(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        let state_of = |app: &App, group: &str, id: &str| {
            app.gateways
                .iter()
                .find(|g| g.group == group && g.id == id)
                .map(|g| (g.key, g.state.clone()))
        };
        let pending = std::mem::take(&mut self.setup.channels);
        for (group, id, name, code, hold) in pending {
            match state_of(self, &group, &id) {
                Some((key, GwState::Ready | GwState::Busy)) => {
                    // held only while its bridge can still be made
                    let hold = hold
                        && self
                            .setup
                            .bridges
                            .iter()
                            .any(|(from, to)| from == &name && !self.setup.failed.contains(to));
                    effects.push(Effect::OpenChannel {
                        key,
                        code,
                        name: Some(name),
                        hold,
                    })
                }
                Some((_, GwState::Connecting)) => {
                    self.setup.channels.push((group, id, name, code, hold))
                }
                other => {
                    let why = match other {
                        Some((_, st)) => format!("{id} is {}", st.label()),
                        None => format!("no gateway {id}"),
                    };
                    let text = format!("channel '{name}' not opened: {why}");
                    self.toast = Some(text.clone());
                    if let Some((key, _)) = other_key(self, &group, &id) {
                        self.log_event(key, LogKind::ChannelError, text);
                    }
                    self.setup.failed.push(name);
                }
            }
        }
        let bridges = std::mem::take(&mut self.setup.bridges);
        for (from, to) in bridges {
            let lost = [&from, &to]
                .into_iter()
                .find(|n| self.setup.failed.contains(n))
                .cloned();
            if let Some(lost) = lost {
                // its source reads its items again instead of waiting for the bridge
                if let Some(&(key, channel)) = self.setup.named.get(&from) {
                    effects.push(Effect::ReleaseChannel { key, channel });
                }
                let key = self.setup.named.get(&from).map(|c| c.0);
                let text = format!("{from} → {to} not made: channel '{lost}' did not open");
                self.toast = Some(text.clone());
                if let Some(key) = key {
                    self.log_event(key, LogKind::Bridge, text);
                } else {
                    self.log.push_back(LogEntry {
                        time: (self.clock)(),
                        group: self.current_group.clone(),
                        gateway: String::new(),
                        kind: LogKind::Bridge,
                        text,
                    });
                }
                continue;
            }
            match (self.setup.named.get(&from), self.setup.named.get(&to)) {
                (Some(&src), Some(&dst)) => effects.extend(self.bridge_effect(src, dst)),
                _ => self.setup.bridges.push((from, to)),
            }
        }
        if let Some((group, ids, code)) = self.setup.rosetta.take() {
            let members: Vec<&GatewayView> = self
                .gateways
                .iter()
                .filter(|g| g.group == group && (ids.is_empty() || ids.contains(&g.id)))
                .collect();
            if members.iter().any(|g| g.state == GwState::Connecting) || members.is_empty() {
                self.setup.rosetta = Some((group, ids, code));
            } else {
                let keys: Vec<usize> = members
                    .iter()
                    .filter(|g| matches!(g.state, GwState::Ready | GwState::Busy))
                    .map(|g| g.key)
                    .collect();
                effects.extend(self.start_rosetta(keys, code));
            }
        }
        effects
    }

    /// The bridge effect, with both channel rows marked as linked at once (so a second
    /// bridge on either is refused before the first one reports).
    fn bridge_effect(&mut self, src: (usize, i32), dst: (usize, i32)) -> Vec<Effect> {
        let names = (self.channel_label(src), self.channel_label(dst));
        for (end, peer, outgoing) in [(src, &names.1, true), (dst, &names.0, false)] {
            if let Some(row) = self.channel_row(end.0, end.1) {
                row.link = Some(Link {
                    outgoing,
                    peer: peer.clone(),
                    items: 0,
                    conversions: 0,
                    per_s: 0.0,
                    ended: None,
                });
            }
        }
        vec![Effect::Bridge { src, dst }]
    }

    fn start_rosetta(&mut self, keys: Vec<usize>, code: String) -> Vec<Effect> {
        if keys.is_empty() {
            self.toast = Some("no live gateway for the Rosetta grid".into());
            return vec![];
        }
        let run = self.rosetta.as_ref().map_or(1, |r| r.run + 1);
        self.rosetta = Some(RosettaGrid {
            run,
            code: code.clone(),
            keys: keys.clone(),
            cells: None,
        });
        self.view = View::Rosetta;
        vec![Effect::Rosetta { run, keys, code }]
    }

    /// The gateways of the selected gateway's group, in the monitor's sort order
    /// (indices into `gateways`).
    pub fn monitor_rows(&self) -> Vec<usize> {
        let group = self
            .selected_gateway()
            .map(|g| g.group.clone())
            .unwrap_or_default();
        let mut rows: Vec<usize> = self
            .ordered()
            .into_iter()
            .filter(|&i| self.gateways[i].group == group)
            .collect();
        let metric = |i: usize| -> f64 {
            // a dead gateway's last sample is history: it sorts last
            let g = &self.gateways[i];
            let m = g.metrics.last.as_ref().filter(|_| g.state.alive());
            match self.sort {
                SortBy::Rtt => m.map(|m| m.rtt.as_secs_f64()),
                SortBy::Cpu => m.and_then(|m| m.cpu_percent),
                SortBy::Rss => m.and_then(|m| m.rss_bytes.map(|b| b as f64)),
                SortBy::Msgs => m.map(|m| {
                    m.messages_in_per_s.unwrap_or(0.0) + m.messages_out_per_s.unwrap_or(0.0)
                }),
                SortBy::Uptime => m.map(|m| m.uptime.as_secs_f64()),
                _ => None,
            }
            .unwrap_or(-1.0)
        };
        match self.sort {
            SortBy::Added => {}
            SortBy::Id => rows.sort_by(|&a, &b| self.gateways[a].id.cmp(&self.gateways[b].id)),
            SortBy::State => rows.sort_by_key(|&i| self.gateways[i].state.label()),
            _ => rows.sort_by(|&a, &b| metric(b).total_cmp(&metric(a))),
        }
        rows
    }

    /// Moves the selection one row in the monitor's order.
    fn monitor_step(&mut self, down: bool) {
        let rows = self.monitor_rows();
        let Some(cur) = self.selected_index() else {
            return;
        };
        let at = rows.iter().position(|&i| i == cur).unwrap_or(0);
        let next = if down {
            (at + 1).min(rows.len().saturating_sub(1))
        } else {
            at.saturating_sub(1)
        };
        if let Some(&i) = rows.get(next)
            && let Some(pos) = self.ordered().iter().position(|&o| o == i)
        {
            self.selected = pos;
        }
    }

    fn toggle_view(&mut self, target: View) {
        if self.view == target {
            self.view = View::Console;
            return;
        }
        self.view = target;
        if target == View::Tail {
            self.tail.group = self.selected_gateway().map(|g| g.group.clone());
        }
    }

    /// Keys of the live gateways of a group (only `ids` if given, in that order).
    fn live_keys(&self, group: &str, ids: &[String]) -> Vec<usize> {
        let live = |g: &&GatewayView| matches!(g.state, GwState::Ready | GwState::Busy);
        if ids.is_empty() {
            self.ordered()
                .into_iter()
                .map(|i| &self.gateways[i])
                .filter(|g| g.group == group)
                .filter(live)
                .map(|g| g.key)
                .collect()
        } else {
            ids.iter()
                .filter_map(|id| {
                    self.gateways
                        .iter()
                        .find(|g| g.group == group && &g.id == id)
                })
                .filter(live)
                .map(|g| g.key)
                .collect()
        }
    }

    /// Runs the editor's snippet of gateway index `i` as a Rosetta grid on `keys`.
    fn rosetta_from_editor(&mut self, i: usize, keys: Vec<usize>, code: String) -> Vec<Effect> {
        let effects = self.start_rosetta(keys, code.clone());
        self.editor_sent(i, code, effects)
    }

    /// After the editor's snippet of gateway index `i` went out as `effects` (none:
    /// nothing went), it joins the history and the editor empties.
    fn editor_sent(&mut self, i: usize, code: String, mut effects: Vec<Effect>) -> Vec<Effect> {
        if !effects.is_empty() {
            effects.push(Effect::SaveHistory {
                spec: self.gateways[i].spec.clone(),
                entry: code.clone(),
            });
            let c = &mut self.gateways[i].console;
            if c.history.last() != Some(&code) {
                c.history.push(code);
            }
            set_text(&mut c.editor, "");
            self.focus = Focus::Tree;
        }
        effects
    }

    fn channel_row(&mut self, key: usize, channel: i32) -> Option<&mut ChannelRow> {
        self.by_key(key)?
            .console
            .channels
            .iter_mut()
            .find(|c| c.id == channel)
    }

    /// The selected gateway's selected channel: (gateway key, channel id, open).
    pub fn selected_channel(&self) -> Option<(usize, i32, bool)> {
        let g = self.selected_gateway()?;
        let row = g.console.channels.get(g.console.channel_selected)?;
        Some((g.key, row.id, row.state == "open"))
    }

    /// Scrolls the selected console so that the next match (older than the current
    /// view when `older`) is at the bottom of the view.
    fn jump_to_match(&mut self, older: bool) {
        let Some(i) = self.selected_index() else {
            return;
        };
        let c = &mut self.gateways[i].console;
        let Some(needle) = c.search.clone() else {
            self.toast = Some("no search: press / first".into());
            return;
        };
        let n = c.output.lines.len();
        let bottom = n.saturating_sub(c.scroll);
        let start = if older {
            bottom.saturating_sub(1)
        } else {
            bottom
        };
        match (0..start)
            .rev()
            .find(|&idx| c.output.lines[idx].1.contains(&needle))
        {
            Some(idx) => c.scroll = n - idx - 1,
            None => self.toast = Some(format!("'{needle}' not found above")),
        }
    }

    /// Adds a console event of a broadcast member to the interleaved view.
    fn broadcast_event(&mut self, key: usize, event: &ConsoleEvent) {
        let Some(id) = self
            .gateways
            .iter()
            .find(|g| g.key == key)
            .map(|g| g.id.clone())
        else {
            return;
        };
        let Some(b) = &mut self.broadcast else { return };
        if !b.keys.contains(&key) {
            return;
        }
        let (kind, text) = match event {
            ConsoleEvent::Output { stderr, text, .. } => (
                if *stderr {
                    LineKind::Stderr
                } else {
                    LineKind::Stdout
                },
                text.clone(),
            ),
            ConsoleEvent::Result { repr, .. } => (LineKind::Result, format!("{repr}\n")),
            ConsoleEvent::Error { traceback, .. } => (LineKind::Traceback, traceback.clone()),
            ConsoleEvent::Done { seconds, .. } => {
                (LineKind::Info, format!("done in {seconds:.3} s\n"))
            }
            _ => return,
        };
        let done = matches!(event, ConsoleEvent::Done { .. });
        let (pkind, mut pending) = b.partial.remove(&key).unwrap_or((kind, String::new()));
        if pkind != kind && !pending.is_empty() {
            b.ring.close_line();
            b.ring.push(pkind, &format!("[{id}] {pending}\n"));
            pending.clear();
        }
        pending.push_str(&text);
        while let Some(nl) = pending.find('\n') {
            let line: String = pending.drain(..=nl).collect();
            b.ring.close_line();
            b.ring.push(kind, &format!("[{id}] {line}"));
        }
        if !pending.is_empty() {
            if done {
                b.ring.close_line();
                b.ring.push(kind, &format!("[{id}] {pending}\n"));
            } else {
                b.partial.insert(key, (kind, pending));
            }
        }
        b.ring.close_line();
    }

    /// Runs `code` on every idle live gateway of `group`.
    fn run_broadcast(&mut self, group: &str, code: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut keys = Vec::new();
        for g in self.gateways.iter_mut().filter(|g| g.group == group) {
            if !matches!(g.state, GwState::Ready | GwState::Busy) || g.console.running.is_some() {
                continue;
            }
            let c = &mut g.console;
            c.output.close_line();
            for (n, line) in code.lines().enumerate() {
                let prompt = if n == 0 { "b>> " } else { "... " };
                c.output.push(LineKind::Input, &format!("{prompt}{line}\n"));
            }
            c.running = Some(0);
            c.interrupt_step = 0;
            g.state = GwState::Busy;
            keys.push(g.key);
            effects.push(Effect::Run {
                key: g.key,
                code: code.to_string(),
            });
        }
        if keys.is_empty() {
            self.toast = Some(format!("no idle gateway in group '{group}'"));
            return vec![];
        }
        let mut ring = Ring::new(self.scrollback);
        for (n, line) in code.lines().enumerate() {
            let prompt = if n == 0 { ">>> " } else { "... " };
            ring.push(LineKind::Input, &format!("{prompt}{line}\n"));
        }
        let side_by_side = self.broadcast.as_ref().is_some_and(|b| b.side_by_side);
        self.broadcast = Some(Broadcast {
            group: group.to_string(),
            keys,
            ring,
            side_by_side,
            shown: true,
            partial: Default::default(),
        });
        effects
    }

    /// The groups and specs of live (or starting) gateways, for `:save`.
    pub fn session(&self) -> crate::config::Session {
        let groups = self
            .groups
            .iter()
            .map(|name| crate::config::SessionGroup {
                name: name.clone(),
                specs: self
                    .gateways
                    .iter()
                    .filter(|g| &g.group == name && g.state.alive())
                    .map(|g| g.spec.clone())
                    .collect(),
            })
            .filter(|g| !g.specs.is_empty())
            .collect();
        crate::config::Session {
            groups,
            ..Default::default()
        }
    }

    fn ask_terminate_group(&mut self, group: &str) {
        let keys: Vec<usize> = self
            .gateways
            .iter()
            .filter(|g| g.group == group)
            .map(|g| g.key)
            .collect();
        self.confirm = Some(Confirm {
            title: format!("Terminate group '{group}' ({} gateways)?", keys.len()),
            keys,
            yes_focused: false,
            only: None,
        });
    }

    pub fn run_command(&mut self, cmd: Command) -> Vec<Effect> {
        match cmd {
            Command::Quit => {
                self.quitting = true;
                vec![Effect::Quit]
            }
            Command::Help => {
                self.help = Some(String::new());
                self.help_scroll = 0;
                vec![]
            }
            Command::SelectNext | Command::SelectPrev if self.view == View::Monitor => {
                self.monitor_step(cmd == Command::SelectNext);
                vec![]
            }
            Command::SelectNext => {
                let n = self.ordered().len();
                if n > 0 {
                    self.selected = (self.selected + 1).min(n - 1);
                }
                vec![]
            }
            Command::SelectPrev => {
                self.selected = self.selected.saturating_sub(1);
                vec![]
            }
            Command::FocusEditor => {
                if self.selected_gateway().is_some() {
                    self.focus = Focus::Editor;
                }
                vec![]
            }
            Command::FocusTree => {
                self.focus = Focus::Tree;
                vec![]
            }
            Command::AddGateway => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::AddSpec,
                    text: String::new(),
                    error: None,
                    history_pos: None,
                });
                vec![]
            }
            Command::CommandMode => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Command,
                    text: String::new(),
                    error: None,
                    history_pos: None,
                });
                vec![]
            }
            Command::ScrollUp => {
                self.scroll(10, true);
                vec![]
            }
            Command::ScrollDown => {
                self.scroll(10, false);
                vec![]
            }
            Command::ClearOutput => {
                if let Some(i) = self.selected_index() {
                    self.gateways[i].console.output.clear();
                    self.gateways[i].console.scroll = 0;
                }
                vec![]
            }
            Command::Terminate => {
                let Some(g) = self.selected_gateway() else {
                    return vec![];
                };
                let (key, id, group) = (g.key, g.id.clone(), g.group.clone());
                let in_group = self.gateways.iter().filter(|x| x.group == group).count();
                if self.focus == Focus::Tree && in_group > 1 {
                    self.ask_terminate_group(&group);
                    if let Some(c) = &mut self.confirm {
                        c.only = Some((format!("o: only gateway {id}"), vec![key]));
                    }
                } else {
                    self.confirm = Some(Confirm {
                        title: format!("Terminate gateway {id} (group '{group}')?"),
                        keys: vec![key],
                        yes_focused: false,
                        only: None,
                    });
                }
                vec![]
            }
            Command::Broadcast => {
                let Some(i) = self.selected_index() else {
                    return vec![];
                };
                let code = self.gateways[i].console.editor.lines().join("\n");
                if code.trim().is_empty() {
                    self.toast =
                        Some("the editor is empty: write the snippet to broadcast first".into());
                    return vec![];
                }
                let group = self.gateways[i].group.clone();
                let effects = self.run_broadcast(&group, &code);
                self.editor_sent(i, code, effects)
            }
            Command::ToggleLayout => {
                match &mut self.broadcast {
                    Some(b) => {
                        b.side_by_side = !b.side_by_side;
                        b.shown = true;
                    }
                    None => {
                        self.toast = Some(
                            "no broadcast yet: press b to run the editor's snippet on the group"
                                .into(),
                        )
                    }
                }
                vec![]
            }
            Command::ConsoleView => {
                if self.view != View::Console {
                    self.view = View::Console;
                } else if let Some(b) = &mut self.broadcast {
                    b.shown = !b.shown;
                }
                vec![]
            }
            Command::MonitorView | Command::TailView => {
                let target = if cmd == Command::MonitorView {
                    View::Monitor
                } else {
                    View::Tail
                };
                self.toggle_view(target);
                vec![]
            }
            Command::Sort => {
                self.sort = self.sort.next();
                self.view = View::Monitor;
                self.toast = Some(format!("monitor sorted by {}", self.sort.name()));
                vec![]
            }
            Command::Pause => {
                let now = (self.clock)();
                self.tail.toggle_pause(&now);
                self.view = View::Tail;
                vec![]
            }
            Command::TailFilter => {
                self.view = View::Tail;
                self.prompt = Some(Prompt {
                    kind: PromptKind::TailFilter,
                    text: self.tail.filter.text.clone(),
                    error: None,
                    history_pos: None,
                });
                vec![]
            }
            Command::Rosetta => {
                let Some(i) = self.selected_index() else {
                    return vec![];
                };
                let code = self.gateways[i].console.editor.lines().join("\n");
                if code.trim().is_empty() {
                    if self.rosetta.is_some() {
                        self.toggle_view(View::Rosetta);
                    } else {
                        self.toast = Some(
                            "write the snippet in the editor first; R runs it on every gateway of the group"
                                .into(),
                        );
                    }
                    return vec![];
                }
                let group = self.gateways[i].group.clone();
                let keys = self.live_keys(&group, &[]);
                self.rosetta_from_editor(i, keys, code)
            }
            Command::Bridge => match self.selected_channel() {
                Some((key, channel, true)) => {
                    let from = self.channel_label((key, channel));
                    self.prompt = Some(Prompt {
                        kind: PromptKind::Command,
                        text: format!("bridge {from} "),
                        error: Some("then the channel to feed: GATEWAY#CHANNEL".into()),
                        history_pos: None,
                    });
                    vec![]
                }
                _ => {
                    self.toast = Some(
                        "select an open channel first (C shows the channels), or :bridge FROM TO"
                            .into(),
                    );
                    vec![]
                }
            },
            Command::Search | Command::SaveOutput => {
                self.prompt = Some(Prompt {
                    kind: if cmd == Command::Search {
                        PromptKind::Search
                    } else {
                        PromptKind::SavePath
                    },
                    text: String::new(),
                    error: None,
                    history_pos: None,
                });
                vec![]
            }
            Command::ChannelsView => {
                self.channels_shown = !self.channels_shown;
                if let Some(b) = &mut self.broadcast {
                    b.shown = false;
                }
                vec![]
            }
            Command::OpenChannel => {
                let Some(i) = self.selected_index() else {
                    return vec![];
                };
                let g = &mut self.gateways[i];
                let code = g.console.editor.lines().join("\n");
                if code.trim().is_empty() {
                    self.toast = Some(
                        "write the channel's code in the editor first (it sees `channel`)".into(),
                    );
                    return vec![];
                }
                if !matches!(g.state, GwState::Ready | GwState::Busy) {
                    self.toast = Some(format!("gateway {} is {}", g.id, g.state.label()));
                    return vec![];
                }
                set_text(&mut g.console.editor, "");
                self.channels_shown = true;
                self.view = View::Console;
                vec![Effect::OpenChannel {
                    key: g.key,
                    code,
                    name: None,
                    hold: false,
                }]
            }
            Command::ChannelSend => match self.selected_channel() {
                Some((_, _, true)) => {
                    self.prompt = Some(Prompt {
                        kind: PromptKind::SendLiteral,
                        text: String::new(),
                        error: None,
                        history_pos: None,
                    });
                    vec![]
                }
                Some(_) => {
                    self.toast = Some("that channel is closed".into());
                    vec![]
                }
                None => {
                    self.toast = Some("no channel: open one with E (C shows the channels)".into());
                    vec![]
                }
            },
            Command::ChannelClose => match self.selected_channel() {
                Some((key, channel, true)) => vec![Effect::ChannelClose { key, channel }],
                _ => vec![],
            },
            Command::ChannelNext | Command::ChannelPrev => {
                if let Some(i) = self.selected_index() {
                    let c = &mut self.gateways[i].console;
                    let n = c.channels.len();
                    if n > 0 {
                        c.channel_selected = if cmd == Command::ChannelNext {
                            (c.channel_selected + 1).min(n - 1)
                        } else {
                            c.channel_selected.saturating_sub(1)
                        };
                    }
                }
                vec![]
            }
            Command::NextMatch => {
                self.jump_to_match(true);
                vec![]
            }
            Command::Run => {
                let Some(i) = self.selected_index() else {
                    return vec![];
                };
                let g = &mut self.gateways[i];
                let code = g.console.editor.lines().join("\n");
                let code_for_history = code.clone();
                if code.trim().is_empty() {
                    return vec![];
                }
                if !matches!(g.state, GwState::Ready | GwState::Busy) {
                    self.toast = Some(format!("gateway {} is {}", g.id, g.state.label()));
                    return vec![];
                }
                if g.console.running.is_some() {
                    self.toast = Some("a snippet is still running: Ctrl+C interrupts it".into());
                    return vec![];
                }
                let c = &mut g.console;
                c.output.close_line();
                for (n, line) in code.lines().enumerate() {
                    let prompt = if n == 0 { ">>> " } else { "... " };
                    c.output.push(LineKind::Input, &format!("{prompt}{line}\n"));
                }
                if c.history.last() != Some(&code) {
                    c.history.push(code.clone());
                }
                c.history_pos = None;
                c.scroll = 0;
                c.running = Some(0);
                c.interrupt_step = 0;
                set_text(&mut c.editor, "");
                if g.state == GwState::Ready {
                    g.state = GwState::Busy;
                }
                vec![
                    Effect::Run { key: g.key, code },
                    Effect::SaveHistory {
                        spec: g.spec.clone(),
                        entry: code_for_history,
                    },
                ]
            }
            Command::Interrupt => {
                let Some(i) = self.selected_index() else {
                    return vec![];
                };
                let g = &mut self.gateways[i];
                let c = &mut g.console;
                if c.running.is_none() {
                    self.toast = Some("nothing is running".into());
                    return vec![];
                }
                let in_band = c.interrupt_mode == Some(InterruptMode::InBand);
                let can_signal = c.interrupt_mode != Some(InterruptMode::None);
                c.interrupt_step += 1;
                match (c.interrupt_step, in_band, can_signal) {
                    (1, true, _) => {
                        c.output.push(
                            LineKind::Info,
                            "^C interrupt sent (KeyboardInterrupt); Ctrl+C again sends SIGINT\n",
                        );
                        vec![Effect::Interrupt { key: g.key }]
                    }
                    (1, false, true) | (2, _, true) => {
                        c.interrupt_step = 2;
                        c.output.push(
                            LineKind::Info,
                            "^C SIGINT sent to the worker; Ctrl+C again offers to terminate\n",
                        );
                        vec![Effect::Signal { key: g.key }]
                    }
                    (_, _, can) => {
                        c.interrupt_step = 3;
                        if !can {
                            c.output.push(
                                LineKind::Info,
                                "this interpreter cannot be interrupted in-band\n",
                            );
                        }
                        let (key, id) = (g.key, g.id.clone());
                        self.confirm = Some(Confirm {
                            title: format!("Snippet still running. Terminate gateway {id}?"),
                            keys: vec![key],
                            yes_focused: false,
                            only: None,
                        });
                        vec![]
                    }
                }
            }
        }
    }
}

/// The key (and state) of gateway `id` of `group`.
fn other_key(app: &App, group: &str, id: &str) -> Option<(usize, GwState)> {
    app.gateways
        .iter()
        .find(|g| g.group == group && g.id == id)
        .map(|g| (g.key, g.state.clone()))
}

/// The local wall-clock time, "HH:MM:SS".
pub fn local_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r only writes the tm we own; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if ok {
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        let s = now.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

fn set_text(editor: &mut TextArea<'static>, text: &str) {
    let mut t = TextArea::from(text.split('\n').map(str::to_string).collect::<Vec<_>>());
    t.set_tab_length(4);
    t.set_hard_tab_indent(false);
    t.move_cursor(ratatui_textarea::CursorMove::Bottom);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    *editor = t;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    fn key(code: KeyCode) -> Action {
        Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }
    fn ctrl(c: char) -> Action {
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }
    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            app.update(key(KeyCode::Char(c)));
        }
    }

    fn app_with_gateway() -> App {
        let mut app = App::new(Keymap::defaults());
        let eff = app.add_gateway("local", "popen//python=python3".parse().unwrap());
        assert!(matches!(eff, Ok(Effect::Open { key: 0, .. })));
        app.update(Action::Engine(EngineMsg::Ready {
            key: 0,
            id: "gw0".into(),
            pid: Some(42),
            interpreter: "CPython 3.12.1".into(),
        }));
        app.update(Action::Engine(EngineMsg::Console {
            key: 0,
            event: ConsoleEvent::Hello {
                interrupt: InterruptMode::InBand,
            },
        }));
        app
    }

    #[test]
    fn run_snippet_flow() {
        let mut app = app_with_gateway();
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert_eq!(app.focus, Focus::Editor);
        typed(&mut app, "print(6*7)");
        let eff = app.update(key(KeyCode::F(5)));
        assert_eq!(
            eff[0],
            Effect::Run {
                key: 0,
                code: "print(6*7)".into()
            }
        );
        assert_eq!(
            eff[1],
            Effect::SaveHistory {
                spec: "popen//python=python3".into(),
                entry: "print(6*7)".into()
            }
        );
        assert_eq!(app.gateways[0].state, GwState::Busy);
        app.update(Action::Engine(EngineMsg::Started { key: 0, snippet: 1 }));
        app.update(Action::Engine(EngineMsg::Console {
            key: 0,
            event: ConsoleEvent::Output {
                snippet: 1,
                stderr: false,
                text: "42\n".into(),
            },
        }));
        app.update(Action::Engine(EngineMsg::Console {
            key: 0,
            event: ConsoleEvent::Done {
                snippet: 1,
                seconds: 0.01,
            },
        }));
        assert_eq!(app.gateways[0].state, GwState::Ready);
        let lines: Vec<&str> = app.gateways[0]
            .console
            .output
            .lines
            .iter()
            .map(|l| l.1.as_str())
            .collect();
        assert!(lines.contains(&">>> print(6*7)"), "{lines:?}");
        assert!(lines.contains(&"42"), "{lines:?}");
        // history: Up on the first line brings the snippet back
        app.update(key(KeyCode::Up));
        assert_eq!(app.gateways[0].console.editor.lines(), ["print(6*7)"]);
        // Ctrl+R runs too
        assert_eq!(app.update(ctrl('r')).len(), 2);
        // a duplicate id is refused
        let dup = app.add_gateway("local", "popen//id=gw0".parse().unwrap());
        assert_eq!(
            dup,
            Err("gateway id 'gw0' is already in use in group 'local'".into())
        );
    }

    #[test]
    fn auto_indent_after_colon() {
        let mut app = app_with_gateway();
        app.update(key(KeyCode::Enter));
        typed(&mut app, "for i in range(3):");
        app.update(key(KeyCode::Enter));
        typed(&mut app, "print(i)");
        assert_eq!(
            app.gateways[0].console.editor.lines(),
            ["for i in range(3):", "    print(i)"]
        );
    }

    #[test]
    fn interrupt_ladder() {
        let mut app = app_with_gateway();
        app.update(key(KeyCode::Enter));
        typed(&mut app, "while True: pass");
        assert_eq!(app.update(key(KeyCode::F(5))).len(), 2);
        assert_eq!(app.update(ctrl('c')), vec![Effect::Interrupt { key: 0 }]);
        assert_eq!(app.update(ctrl('c')), vec![Effect::Signal { key: 0 }]);
        assert!(app.update(ctrl('c')).is_empty());
        let c = app.confirm.clone().expect("offers to terminate");
        assert!(!c.yes_focused, "Cancel is focused first");
        assert!(
            app.update(key(KeyCode::Enter)).is_empty(),
            "Enter on Cancel does nothing"
        );
        assert!(app.confirm.is_none());
    }

    #[test]
    fn terminate_needs_confirmation() {
        let mut app = app_with_gateway();
        let eff = app.add_gateway("local", "popen//python=python3".parse().unwrap());
        assert!(matches!(eff, Ok(Effect::Open { key: 1, .. })));
        app.selected = 0;
        assert!(
            app.update(Action::Key(KeyEvent::new(
                KeyCode::Char('X'),
                KeyModifiers::SHIFT
            )))
            .is_empty()
        );
        let c = app.confirm.clone().expect("dialog");
        assert_eq!(c.title, "Terminate group 'local' (2 gateways)?");
        app.update(key(KeyCode::Right));
        assert_eq!(
            app.update(key(KeyCode::Enter)),
            vec![Effect::Terminate { keys: vec![0, 1] }]
        );
        app.update(Action::Engine(EngineMsg::Terminated {
            key: 0,
            outcome: TerminateOutcome::Killed,
        }));
        assert_eq!(
            app.gateways[0].state,
            GwState::Terminated("killed after timeout".into())
        );
    }

    #[test]
    fn terminate_only_the_selected_gateway_of_a_group() {
        let mut app = app_with_gateway();
        app.add_gateway("local", "popen//python=python3".parse().unwrap())
            .unwrap();
        app.selected = 1;
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('X'),
            KeyModifiers::SHIFT,
        )));
        assert!(app.confirm.as_ref().unwrap().only.is_some());
        assert_eq!(
            app.update(key(KeyCode::Char('o'))),
            vec![Effect::Terminate { keys: vec![1] }]
        );
        // a late Ready of a gateway terminated while connecting ends it again
        app.update(Action::Engine(EngineMsg::Terminated {
            key: 1,
            outcome: TerminateOutcome::AlreadyDead(None),
        }));
        let eff = app.update(Action::Engine(EngineMsg::Ready {
            key: 1,
            id: "gw1".into(),
            pid: Some(7),
            interpreter: "CPython".into(),
        }));
        assert_eq!(eff, vec![Effect::Terminate { keys: vec![1] }]);
        assert!(matches!(app.gateways[1].state, GwState::Terminated(_)));
    }

    #[test]
    fn add_validates_inline() {
        let mut app = app_with_gateway();
        app.update(key(KeyCode::Char('a')));
        typed(&mut app, "popen//nice=abc");
        let p = app.prompt.clone().expect("prompt");
        assert!(
            p.error
                .expect("inline error")
                .contains("nice must be an integer")
        );
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert!(app.prompt.is_some(), "stays open with the error");
        for _ in 0..4 {
            app.update(key(KeyCode::Backspace));
        }
        typed(&mut app, "=5");
        let eff = app.update(key(KeyCode::Enter));
        assert!(matches!(&eff[..], [Effect::Open { key: 1, .. }]), "{eff:?}");
    }

    #[test]
    fn command_mode_completion_history_and_errors() {
        let mut app = app_with_gateway();
        app.update(key(KeyCode::Char(':')));
        typed(&mut app, "gr");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.prompt.as_ref().unwrap().text, "group ");
        typed(&mut app, "work");
        app.update(key(KeyCode::Enter));
        assert_eq!(app.current_group, "work");
        app.update(key(KeyCode::Char(':')));
        app.update(key(KeyCode::Up));
        assert_eq!(app.prompt.as_ref().unwrap().text, "group work");
        app.update(key(KeyCode::Esc));
        app.update(key(KeyCode::Char(':')));
        typed(&mut app, "fly");
        app.update(key(KeyCode::Enter));
        assert_eq!(
            app.prompt.as_ref().unwrap().error.as_deref(),
            Some("unknown command ':fly'")
        );
        app.update(key(KeyCode::Esc));
        app.update(key(KeyCode::Char(':')));
        typed(&mut app, "quit");
        assert_eq!(app.update(key(KeyCode::Enter)), vec![Effect::Quit]);
    }

    #[test]
    fn broadcast_runs_on_the_group_and_tags_lines() {
        let mut app = app_with_gateway();
        app.add_gateway("local", "popen//python=pypy3".parse().unwrap())
            .unwrap();
        app.update(Action::Engine(EngineMsg::Ready {
            key: 1,
            id: "gw1".into(),
            pid: Some(43),
            interpreter: "PyPy 7.3.11".into(),
        }));
        app.selected = 0;
        app.update(key(KeyCode::Enter));
        typed(&mut app, "print(1)");
        app.update(key(KeyCode::Esc));
        let eff = app.update(key(KeyCode::Char('b')));
        assert_eq!(
            &eff[..2],
            &[
                Effect::Run {
                    key: 0,
                    code: "print(1)".into()
                },
                Effect::Run {
                    key: 1,
                    code: "print(1)".into()
                }
            ]
        );
        assert!(matches!(&eff[2], Effect::SaveHistory { entry, .. } if entry == "print(1)"));
        for k in [0, 1] {
            for text in ["1", "\n"] {
                app.update(Action::Engine(EngineMsg::Console {
                    key: k,
                    event: ConsoleEvent::Output {
                        snippet: 1,
                        stderr: false,
                        text: text.into(),
                    },
                }));
            }
        }
        let b = app.broadcast.clone().expect("broadcast view");
        let lines: Vec<&str> = b.ring.lines.iter().map(|l| l.1.as_str()).collect();
        assert_eq!(lines, [">>> print(1)", "[gw0] 1", "[gw1] 1"]);
        assert!(!b.side_by_side);
        app.update(key(KeyCode::Char('v')));
        assert!(app.broadcast.as_ref().unwrap().side_by_side);
        app.update(key(KeyCode::Char('o')));
        assert!(!app.broadcast.as_ref().unwrap().shown);
    }

    #[test]
    fn search_scrolls_to_matches_and_save_writes_the_pane() {
        let mut app = app_with_gateway();
        for i in 0..50 {
            app.update(Action::Engine(EngineMsg::Output {
                key: 0,
                stream: Stream::Stdout,
                text: format!("line {i}\n"),
            }));
        }
        app.update(key(KeyCode::Char('/')));
        typed(&mut app, "line 1");
        app.update(key(KeyCode::Enter));
        // lines: 0 is the "ready" info line, "line 19" is the newest match
        let c = &app.gateways[0].console;
        assert_eq!(
            c.output.lines[c.output.lines.len() - 1 - c.scroll].1,
            "line 19"
        );
        app.update(key(KeyCode::Char('n')));
        let c = &app.gateways[0].console;
        assert_eq!(
            c.output.lines[c.output.lines.len() - 1 - c.scroll].1,
            "line 18"
        );
        app.update(key(KeyCode::Char('w')));
        typed(&mut app, "/tmp/out.txt");
        let eff = app.update(key(KeyCode::Enter));
        match &eff[..] {
            [Effect::SaveOutput { path, text }] => {
                assert_eq!(path, "/tmp/out.txt");
                assert!(text.contains("line 49\n"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn channels_view_flow() {
        let mut app = app_with_gateway();
        app.update(key(KeyCode::Enter));
        typed(&mut app, "for x in channel: channel.send(x)");
        app.update(key(KeyCode::Esc));
        let eff = app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('E'),
            KeyModifiers::SHIFT,
        )));
        assert_eq!(
            eff,
            vec![Effect::OpenChannel {
                key: 0,
                code: "for x in channel: channel.send(x)".into(),
                name: None,
                hold: false,
            }]
        );
        assert!(app.channels_shown);
        app.update(Action::Engine(EngineMsg::ChannelOpened {
            key: 0,
            channel: 3,
            opener: "here".into(),
            name: None,
        }));
        assert_eq!(app.counts().4, 2, "console + one channel open");
        app.update(key(KeyCode::Char('s')));
        typed(&mut app, "{'a': [1,");
        let err = app
            .prompt
            .as_ref()
            .unwrap()
            .error
            .clone()
            .expect("inline parse error");
        assert!(err.contains("expected"), "{err}");
        typed(&mut app, " 2]}");
        assert_eq!(app.prompt.as_ref().unwrap().error, None);
        let eff = app.update(key(KeyCode::Enter));
        match &eff[..] {
            [
                Effect::ChannelSend {
                    key: 0,
                    channel: 3,
                    value,
                },
            ] => {
                assert_eq!(value.to_string(), "{'a': [1, 2]}")
            }
            other => panic!("{other:?}"),
        }
        app.update(Action::Engine(EngineMsg::ChannelSent {
            key: 0,
            channel: 3,
            repr: "x".into(),
        }));
        app.update(Action::Engine(EngineMsg::ChannelItem {
            key: 0,
            channel: 3,
            repr: "x".into(),
        }));
        let row = &app.gateways[0].console.channels[0];
        assert_eq!((row.items_in, row.items_out), (1, 1));
        assert_eq!(
            app.update(key(KeyCode::Char('x'))),
            vec![Effect::ChannelClose { key: 0, channel: 3 }]
        );
        app.update(Action::Engine(EngineMsg::ChannelEnded {
            key: 0,
            channel: 3,
            error: None,
        }));
        assert_eq!(app.gateways[0].console.channels[0].state, "closed");
    }

    #[test]
    fn ring_is_bounded_and_counts_drops() {
        let mut r = Ring::new(3);
        r.push(LineKind::Stdout, "a\nb\nc\nd\n");
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.dropped, 1);
        r.push(LineKind::Stdout, "par");
        r.push(LineKind::Stdout, "tial\n");
        assert_eq!(r.lines.back().unwrap().1, "partial");
    }

    #[test]
    fn paste_goes_to_the_editor() {
        let mut app = app_with_gateway();
        app.update(Action::Paste("def f():\r\n    return 1\r\n".into()));
        assert_eq!(app.focus, Focus::Editor);
        assert_eq!(
            app.gateways[0].console.editor.lines(),
            ["def f():", "    return 1", ""]
        );
    }
}

//! The cockpit's state and its one entry point, `App::update(Action) -> Vec<Effect>`.
//! Pure: no terminal, no engine; the loop in `tui::mod` executes the effects.
//!
//! One file per feature, each with its state, its share of the engine's messages and
//! its declared commands (see `commands`): `console` (tree, editor, output), `channels`
//! (and bridges), `broadcast`, `monitor` (metrics, event log), `tail`, `rosetta`,
//! `setup` (gateways, groups, session files) and `prompts` (command line, dialogs, help).

pub mod broadcast;
pub mod channels;
pub mod commands;
pub mod complete;
pub mod console;
pub mod editor;
pub mod lines;
pub mod monitor;
mod msg;
pub mod prompts;
pub mod rosetta;
pub mod setup;
pub mod tail;
#[cfg(test)]
mod tests;

pub use broadcast::Broadcast;
pub use channels::{ChannelRow, ChannelState, Channels, Link};
pub use commands::{Decl, Scope};
pub use console::{ConsoleView, Interrupt};
pub use lines::{LineBuf, LineKind, Ring};
pub use monitor::Monitor;
pub use msg::{Action, Effect, EngineMsg};
pub use prompts::{Confirm, Help, Prompt, PromptKind, Prompts};
pub use setup::{Setup, SetupChannel};

use super::keymap::{Key, Keymap, Mode};
use super::monitor::{GwMetrics, RosettaGrid, Tail};
use crate::engine::Spec;
use crossterm::event::{KeyEvent, MouseEventKind};
use ratatui_textarea::TextArea;

/// Default lines kept per console.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

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

    /// Up and answering: code can run on it.
    pub fn up(&self) -> bool {
        matches!(self, GwState::Ready | GwState::Busy)
    }
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

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Editor,
}

/// A gateway in the tree, with its console, channels and metrics.
pub struct GatewayView {
    pub key: usize,
    pub group: String,
    pub id: String,
    pub spec: String,
    pub interpreter: Option<String>,
    pub pid: Option<u32>,
    pub state: GwState,
    /// Where it runs ("local", "ssh host", "via gw0", …).
    pub host: String,
    pub console: ConsoleView,
    pub channels: Channels,
    /// The user asked to terminate it: its channels ending is no error to log.
    pub terminating: bool,
    pub metrics: GwMetrics,
}

/// A screen row of the tree that selects a gateway, set when drawing (mouse clicks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    pub y: u16,
    pub x0: u16,
    pub x1: u16,
    /// The gateway's display position.
    pub pos: usize,
}

/// The header's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub groups: usize,
    pub alive: usize,
    pub all: usize,
    pub busy: usize,
    /// Channels open, each live gateway's console channel included.
    pub channels: usize,
}

pub struct App {
    pub keymap: Keymap,
    pub gateways: Vec<GatewayView>,
    pub selected: usize,
    pub groups: Vec<String>,
    pub focus: Focus,
    pub view: View,
    pub toast: Option<String>,
    /// The group new gateways join.
    pub current_group: String,
    /// Screen rows of the tree, set when drawing (mouse clicks).
    pub tree_rows: Vec<TreeRow>,
    pub broadcast: Option<Broadcast>,
    pub rosetta: Option<RosettaGrid>,
    /// Lines kept per console.
    pub scrollback: usize,
    pub quitting: bool,
    /// Rows of the output pane, set when drawing: PgUp/PgDn scroll by this much.
    pub page: usize,
    /// `q` asks first when a gateway is busy or holds state.
    pub confirm_quit: bool,
    /// The wall-clock time for the log and the tail ("HH:MM:SS"); tests fix it.
    pub clock: fn() -> String,
    /// Set when the screen must be redrawn.
    pub dirty: bool,
    pub prompts: Prompts,
    /// The channels view replaces the console output pane.
    pub channels_shown: bool,
    next_key: usize,
    pub monitor: Monitor,
    pub tail: Tail,
    pub setup: Setup,
}

impl App {
    pub fn new(keymap: Keymap) -> App {
        App {
            keymap,
            gateways: Vec::new(),
            groups: Vec::new(),
            selected: 0,
            focus: Focus::Tree,
            view: View::Console,
            current_group: "local".into(),
            scrollback: DEFAULT_SCROLLBACK,
            toast: None,
            quitting: false,
            page: 10,
            confirm_quit: true,
            dirty: true,
            clock: local_time,
            tree_rows: Vec::new(),
            prompts: Prompts::default(),
            channels_shown: false,
            broadcast: None,
            monitor: Monitor::default(),
            tail: Tail::new(super::monitor::TAIL_LINES),
            rosetta: None,
            setup: Setup::default(),
            next_key: 0,
        }
    }

    /// Registers a gateway to open; returns the effect that opens it, or an error for a
    /// duplicate id in the group.
    pub fn add_gateway(&mut self, group: &str, spec: Spec) -> Result<Effect, String> {
        let in_group =
            |app: &App, id: &str| app.gateways.iter().any(|g| g.group == group && g.id == id);
        let id = match &spec.id {
            Some(id) => id.clone(),
            None => {
                let mut n = self.gateways.iter().filter(|g| g.group == group).count();
                while in_group(self, &format!("gw{n}")) {
                    n += 1;
                }
                format!("gw{n}")
            }
        };
        if in_group(self, &id) {
            return Err(format!(
                "gateway id '{id}' is already in use in group '{group}'"
            ));
        }
        let key = self.next_key;
        self.next_key += 1;
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_string());
        }
        if self.gateways.is_empty() && self.view == View::Console {
            // the first minute: typing goes to the first gateway's editor
            self.focus = Focus::Editor;
        }
        self.gateways.push(GatewayView {
            key,
            group: group.to_string(),
            id: id.clone(),
            spec: spec.raw.clone(),
            state: GwState::Connecting,
            interpreter: None,
            pid: None,
            host: host_of(&spec),
            console: ConsoleView::new(self.scrollback),
            channels: Channels::default(),
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

    /// The selected gateway's group ("" without gateways).
    fn selected_group(&self) -> String {
        self.selected_gateway()
            .map(|g| g.group.clone())
            .unwrap_or_default()
    }

    fn gateway(&self, key: usize) -> Option<&GatewayView> {
        self.gateways.iter().find(|g| g.key == key)
    }

    fn by_key(&mut self, key: usize) -> Option<&mut GatewayView> {
        self.gateways.iter_mut().find(|g| g.key == key)
    }

    /// Gateway `id` of `group`.
    fn find(&self, group: &str, id: &str) -> Option<&GatewayView> {
        self.gateways
            .iter()
            .find(|g| g.group == group && g.id == id)
    }

    /// Where keys go: the editor only while it is on screen and focused.
    pub fn mode(&self) -> Mode {
        if self.focus == Focus::Editor && self.view == View::Console {
            Mode::Editor
        } else {
            Mode::Normal
        }
    }

    /// Counts for the header.
    pub fn counts(&self) -> Counts {
        let live = || self.gateways.iter().filter(|g| g.state.alive());
        let consoles = live()
            .filter(|g| g.console.interrupt_mode.is_some())
            .count();
        let open = live()
            .flat_map(|g| g.channels.rows.iter())
            .filter(|c| c.state == ChannelState::Open)
            .count();
        Counts {
            groups: self.groups.len(),
            alive: live().count(),
            all: self.gateways.len(),
            busy: self
                .gateways
                .iter()
                .filter(|g| g.console.running.is_some())
                .count(),
            channels: consoles + open,
        }
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        self.dirty = true;
        match action {
            Action::Key(k) => self.on_key(k),
            Action::Paste(text) => {
                self.on_paste(&text);
                vec![]
            }
            Action::Mouse(m) => {
                match m.kind {
                    MouseEventKind::ScrollUp => self.scroll(3, true),
                    MouseEventKind::ScrollDown => self.scroll(3, false),
                    MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                        let hit = self
                            .tree_rows
                            .iter()
                            .find(|r| r.y == m.row && (r.x0..r.x1).contains(&m.column));
                        if let Some(&TreeRow { pos, .. }) = hit {
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

    /// Each engine message goes to the feature it is about.
    fn on_engine(&mut self, msg: EngineMsg) -> Vec<Effect> {
        use EngineMsg as M;
        match msg {
            M::Metrics { key, metrics } => {
                if let Some(g) = self.by_key(key) {
                    g.metrics.push(metrics);
                }
                vec![]
            }
            M::RosettaDone { run, cells } => {
                self.rosetta_done(run, cells);
                vec![]
            }
            M::RosettaCell { run, index, cell } => {
                self.rosetta_cell(run, index, cell);
                vec![]
            }
            M::Session(session) => self.open_session(session),
            M::Notice(text) => {
                self.toast = Some(text);
                vec![]
            }
            M::SecretPrompt { question, secret } => {
                self.ask_secret(question, secret);
                vec![]
            }
            M::ChannelOpened { .. }
            | M::ChannelOpenFailed { .. }
            | M::ChannelItem { .. }
            | M::ChannelSent { .. }
            | M::ChannelEnded { .. }
            | M::Bridge { .. }
            | M::BridgeFailed { .. } => self.on_channel_msg(msg),
            other => self.on_console_msg(other),
        }
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        self.toast = None;
        if self.prompts.confirm.is_some() {
            return self.on_confirm_key(k);
        }
        if self.prompts.help.is_some() {
            self.on_help_key(k);
            return vec![];
        }
        if self.prompts.line.is_some() {
            return self.on_prompt_key(k);
        }
        if self.mode() == Mode::Editor && self.on_assist_key(&k) {
            return vec![];
        }
        let key = Key::from_event(&k);
        if let Some(cmd) = self.keymap.lookup(self.mode(), key) {
            return self.run_key(cmd, key);
        }
        if self.mode() == Mode::Editor {
            self.on_editor_key(k);
        }
        vec![]
    }

    /// Runs the command of a key when it belongs to the view on screen; elsewhere the
    /// key does nothing but say where it works (no key acts on a hidden view).
    fn run_key(&mut self, cmd: super::keymap::Command, key: Key) -> Vec<Effect> {
        let Some(d) = commands::by_key(cmd) else {
            return vec![];
        };
        let scope = self.scope();
        if !d.shown_in(scope) {
            self.toast = Some(format!(
                "{} ({}) works in {}, not in the {} view",
                key.label(),
                d.hint_or_help(),
                d.scopes_text(),
                scope.name()
            ));
            return vec![];
        }
        match d.on_key {
            Some(run) => run(self),
            None => vec![],
        }
    }

    /// Runs a keymap command through the command table.
    pub fn run_command(&mut self, cmd: super::keymap::Command) -> Vec<Effect> {
        match commands::by_key(cmd).and_then(|d| d.on_key) {
            Some(run) => run(self),
            None => vec![],
        }
    }

    /// Shows `target`, or the console when it is shown already.
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
        let members: Vec<&GatewayView> = if ids.is_empty() {
            self.ordered()
                .into_iter()
                .map(|i| &self.gateways[i])
                .filter(|g| g.group == group)
                .collect()
        } else {
            ids.iter().filter_map(|id| self.find(group, id)).collect()
        };
        members
            .into_iter()
            .filter(|g| g.state.up())
            .map(|g| g.key)
            .collect()
    }
}

/// Where a gateway runs, for the tree's detail line.
fn host_of(spec: &Spec) -> String {
    if let Some(via) = &spec.via {
        return format!("via {via}");
    }
    match &spec.transport {
        crate::engine::Transport::Popen => "local".into(),
        crate::engine::Transport::Ssh(t) => match &spec.proxy_jump {
            Some(j) => format!("ssh {t} via {j}"),
            None => format!("ssh {t}"),
        },
        crate::engine::Transport::Socket(a) => format!("socket {a}"),
        crate::engine::Transport::VagrantSsh(n) => format!("vagrant {n}"),
        t => format!("{} {}", t.name(), t.target()),
    }
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

/// An editor with Python's indent (four spaces, no hard tabs) holding `text`, the
/// cursor at its end.
fn editor_with(text: &str) -> TextArea<'static> {
    let mut t = TextArea::from(text.split('\n').map(str::to_string).collect::<Vec<_>>());
    t.set_tab_length(4);
    t.set_hard_tab_indent(false);
    t.move_cursor(ratatui_textarea::CursorMove::Bottom);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

//! The gateway tree and each gateway's console: output pane, editor, history, runs and
//! the interrupt ladder, search and save.

use super::commands::{Decl, Scope};
use super::lines::{LineKind, Ring};
use super::{App, Confirm, Effect, EngineMsg, Focus, GwState, PromptKind, View, editor_with};
use crate::engine::{ConsoleEvent, InterruptMode};
use crate::tui::keymap::Command;
use crate::tui::monitor::{LogKind, TailStream};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui_textarea::TextArea;

/// Where a running snippet is on the interrupt ladder (Ctrl+C, again, again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interrupt {
    #[default]
    None,
    /// KeyboardInterrupt raised in-band.
    InBandSent,
    /// SIGINT sent to the worker.
    SignalSent,
    /// Terminating the gateway was offered.
    TerminateOffered,
}

/// One gateway's console.
pub struct ConsoleView {
    pub editor: TextArea<'static>,
    pub output: Ring,
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
    pub running: Option<u64>,
    pub interrupt: Interrupt,
    pub interrupt_mode: Option<InterruptMode>,
    /// Lines scrolled up from the end when it was scrolled (0 = follow); see `offset`.
    pub scroll: usize,
    /// Lines ever added when it was scrolled: lines added since keep the view still.
    pub scroll_base: u64,
    /// The text searched for with `/`; matching lines are highlighted.
    pub search: Option<String>,
    /// A snippet run before the gateway was ready: it runs when it is.
    pub queued: Option<String>,
    /// Snippets run here: the namespace holds state.
    pub runs: usize,
    /// The completion popup, the inspect box and the latest request.
    pub assist: super::complete::Assist,
}

impl ConsoleView {
    pub fn new(cap: usize) -> ConsoleView {
        ConsoleView {
            editor: editor_with(""),
            output: Ring::new(cap),
            history: Vec::new(),
            history_pos: None,
            running: None,
            interrupt: Interrupt::None,
            interrupt_mode: None,
            scroll: 0,
            scroll_base: 0,
            search: None,
            queued: None,
            runs: 0,
            assist: Default::default(),
        }
    }

    /// Lines ever added (kept and dropped).
    fn total(&self) -> u64 {
        self.output.lines.len() as u64 + self.output.dropped
    }

    /// Lines that arrived since the view was scrolled back (0 when it follows).
    pub fn new_lines(&self) -> usize {
        if self.scroll == 0 {
            return 0;
        }
        self.total().saturating_sub(self.scroll_base) as usize
    }

    /// Lines between the end and the bottom of the view: scrolled back, the view stays
    /// on the same lines while new ones arrive.
    pub fn offset(&self) -> usize {
        if self.scroll == 0 {
            return 0;
        }
        (self.scroll + self.new_lines()).min(self.output.lines.len().saturating_sub(1))
    }

    /// Scrolls to `n` lines from the end (0: follow).
    pub fn set_scroll(&mut self, n: usize) {
        self.scroll = n;
        self.scroll_base = self.total();
    }

    /// The editor's text.
    pub fn code(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// Echoes `code` as input with `prompt` before its first line.
    fn echo(&mut self, prompt: &str, code: &str) {
        self.output.close_line();
        for (n, line) in code.lines().enumerate() {
            let p = if n == 0 { prompt } else { "... " };
            self.output.push(LineKind::Input, &format!("{p}{line}\n"));
        }
    }

    /// The snippet ended (or can no longer end): nothing runs.
    fn stopped(&mut self) {
        self.running = None;
        self.queued = None;
        self.interrupt = Interrupt::None;
        self.output.close_line();
    }

    /// The pane as text, for `w`.
    pub fn text(&self) -> String {
        let mut text = String::new();
        if self.output.dropped > 0 {
            text.push_str(&format!(
                "[{} earlier lines dropped]\n",
                self.output.dropped
            ));
        }
        for (_, line) in &self.output.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::SelectNext, |a| a.select_step(true), "next", "next gateway").only(&[Scope::Tree, Scope::Monitor, Scope::Channels]),
    Decl::key(Command::SelectPrev, |a| a.select_step(false), "previous", "previous gateway").only(&[Scope::Tree, Scope::Monitor, Scope::Channels]),
    Decl::key(Command::FocusEditor, App::focus_editor, "edit", "edit code for the selected gateway").only(&[Scope::Tree, Scope::Channels, Scope::Broadcast]),
    Decl::key(Command::Back, App::back, "back", "back one level (to the console; in the tree: clear the search)").only(&[Scope::Tree, Scope::Channels, Scope::Broadcast, Scope::Monitor, Scope::Tail, Scope::Rosetta]),
    Decl::key(Command::Run, App::run_editor, "run", "run the editor's snippet").everywhere(),
    // the editor's own keys
    Decl::key(Command::Interrupt, App::interrupt, "interrupt", "interrupt the running snippet (again: escalate)").everywhere(),
    Decl::key(Command::ScrollUp, |a| a.scroll_by(a.page, true), "", "scroll output up a page (the view then stays still while lines arrive)").everywhere(),
    Decl::key(Command::ScrollDown, |a| a.scroll_by(a.page, false), "", "scroll output down a page (to the end: follow)").everywhere(),
    Decl::key(Command::Follow, |a| a.scroll_by(usize::MAX, false), "", "follow the output again (to its end)"),
    Decl::key(Command::ClearOutput, App::clear_output, "clear", "clear the console output").only(&[Scope::Tree]),
    Decl::key(Command::Search, |a| a.open_prompt(PromptKind::Search, ""), "search", "search the console output").only(&[Scope::Tree]),
    Decl::key(Command::NextMatch, |a| a.jump_to_match(true), "", "next (older) search match").only(&[Scope::Tree]),
    Decl::key(Command::SaveOutput, |a| a.open_prompt(PromptKind::SavePath, ""), "", "save the console output to a file").only(&[Scope::Tree]),
    Decl::key(Command::ConsoleView, App::console_view, "console", "back to the selected gateway's console").only(&[Scope::Broadcast, Scope::Monitor, Scope::Tail, Scope::Rosetta]),
];

impl App {
    /// Engine messages about a gateway and its console.
    pub(super) fn on_console_msg(&mut self, msg: EngineMsg) -> Vec<Effect> {
        match msg {
            EngineMsg::Ready {
                key,
                id,
                pid,
                interpreter,
            } => self.ready(key, id, pid, interpreter),
            EngineMsg::Failed { key, error } => {
                let Some(g) = self.by_key(key) else {
                    return vec![];
                };
                g.console
                    .output
                    .push(LineKind::Traceback, &format!("{error}\n"));
                g.console.running = None;
                g.console.queued = None;
                g.console.interrupt = Interrupt::None;
                match g.state {
                    GwState::Connecting => {
                        g.state = GwState::Failed(error.clone());
                        self.log_event(key, LogKind::Failed, error);
                        return self.setup_progress();
                    }
                    GwState::Busy => g.state = GwState::Ready,
                    _ => {}
                }
                vec![]
            }
            EngineMsg::Started { key, snippet } => {
                if let Some(g) = self.by_key(key)
                    && g.console.running.is_some()
                {
                    g.console.running = Some(snippet);
                }
                vec![]
            }
            EngineMsg::Console { key, event } => self.console_event(key, event),
            EngineMsg::Output { key, stream, text } => {
                let (ts, kind) = streams(stream.is_err());
                self.tail_text(key, ts, &text);
                if let Some(g) = self.by_key(key) {
                    g.console.output.push(kind, &text);
                }
                vec![]
            }
            EngineMsg::Died { key, reason } => {
                if let Some(g) = self.by_key(key) {
                    g.console.stopped();
                    g.console
                        .output
                        .push(LineKind::Traceback, &format!("gateway died: {reason}\n"));
                    if g.state.alive() {
                        g.state = GwState::Dead(reason.clone());
                        self.log_event(key, LogKind::Died, reason);
                    }
                }
                self.flush_tail(key);
                self.setup_progress()
            }
            EngineMsg::Terminated { key, outcome } => {
                if let Some(g) = self.by_key(key) {
                    g.console.running = None;
                    g.console.queued = None;
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
                self.setup_progress()
            }
            EngineMsg::History { key, entries } => {
                if let Some(g) = self.by_key(key) {
                    let mut merged = entries;
                    merged.append(&mut g.console.history);
                    g.console.history = merged;
                }
                vec![]
            }
            _ => vec![],
        }
    }

    fn ready(
        &mut self,
        key: usize,
        id: String,
        pid: Option<u32>,
        interpreter: String,
    ) -> Vec<Effect> {
        let Some(g) = self.by_key(key) else {
            return self.setup_progress();
        };
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
        self.setup_progress()
    }

    fn console_event(&mut self, key: usize, event: ConsoleEvent) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.broadcast_event(key, &event);
        if let ConsoleEvent::Output { stderr, text, .. } = &event {
            self.tail_text(key, streams(*stderr).0, text);
        }
        let done = matches!(event, ConsoleEvent::Done { .. });
        let stops = done || matches!(event, ConsoleEvent::Closed { .. });
        if let Some(g) = self.by_key(key) {
            let c = &mut g.console;
            match event {
                ConsoleEvent::Hello { interrupt } => {
                    c.interrupt_mode = Some(interrupt);
                    // a snippet typed before the console was up runs now
                    if let Some(code) = c.queued.take() {
                        c.runs += 1;
                        g.state = GwState::Busy;
                        effects.push(Effect::Run { key, code });
                    }
                }
                ConsoleEvent::Output { stderr, text, .. } => {
                    c.output.push(streams(stderr).1, &text)
                }
                ConsoleEvent::Result { repr, .. } => {
                    c.output.close_line();
                    c.output.push(LineKind::Result, &format!("{repr}\n"));
                }
                ConsoleEvent::Error { traceback, .. } => {
                    c.output.close_line();
                    c.output.push(LineKind::Traceback, &traceback);
                }
                ConsoleEvent::Done { seconds, .. } => {
                    c.stopped();
                    if seconds >= 1.0 {
                        c.output
                            .push(LineKind::Info, &format!("(took {seconds:.1} s)\n"));
                    }
                }
                ConsoleEvent::Completions { request, items } => {
                    let current =
                        super::complete::word_before(&super::complete::line_before(&c.editor));
                    if let Some((word, with)) = c.assist.completions(request, items, &current) {
                        super::complete::replace_word(&mut c.editor, &word, &with);
                    }
                }
                ConsoleEvent::Inspected { request, text } => c.assist.inspected(request, text),
                ConsoleEvent::Closed { reason } => {
                    c.stopped();
                    c.output.push(
                        LineKind::Info,
                        &format!("console closed: {}\n", reason.trim_end()),
                    );
                }
            }
            if stops && g.state == GwState::Busy {
                g.state = GwState::Ready;
            }
        }
        if done {
            self.flush_tail(key);
        }
        effects
    }

    pub(super) fn on_paste(&mut self, text: &str) {
        if self.prompts.help.is_some() || self.prompts.confirm.is_some() {
            return;
        }
        if let Some(p) = &mut self.prompts.line {
            p.text.push_str(&text.replace(['\n', '\r'], " "));
        } else if let Some(i) = self.selected_index() {
            self.focus = Focus::Editor;
            self.gateways[i]
                .console
                .editor
                .insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
        }
    }

    pub(super) fn on_editor_key(&mut self, k: KeyEvent) {
        let Some(i) = self.selected_index() else {
            return;
        };
        let c = &mut self.gateways[i].console;
        let row = c.editor.cursor().0;
        let last_row = c.editor.lines().len().saturating_sub(1);
        let plain = k.modifiers.is_empty();
        match k.code {
            KeyCode::Up if row == 0 && !c.history.is_empty() && plain => {
                let pos = c
                    .history_pos
                    .map_or(c.history.len() - 1, |p| p.saturating_sub(1));
                c.history_pos = Some(pos);
                c.editor = editor_with(&c.history[pos]);
            }
            KeyCode::Down if row == last_row && plain && c.history_pos.is_some() => {
                let pos = c.history_pos.unwrap_or(0) + 1;
                c.history_pos = (pos < c.history.len()).then_some(pos);
                c.editor = editor_with(c.history.get(pos).map_or("", String::as_str));
            }
            KeyCode::Enter if plain => {
                self.editor_newline();
            }
            KeyCode::Backspace if plain => {
                if !self.editor_backspace() {
                    self.gateways[i].console.editor.input(k);
                }
            }
            _ => {
                c.editor.input(k);
            }
        }
    }

    /// Scrolls the shown pane (the tail, else the selected console) by `n` lines.
    pub(super) fn scroll(&mut self, n: usize, up: bool) {
        let (scroll, len) = if self.view == View::Tail {
            let len = self.tail.visible().count();
            (&mut self.tail.scroll, len)
        } else if let Some(i) = self.selected_index() {
            let c = &mut self.gateways[i].console;
            let len = c.output.lines.len();
            let now = c.offset();
            let to = if up {
                (now + n).min(len.saturating_sub(1))
            } else {
                now.saturating_sub(n)
            };
            c.set_scroll(to);
            return;
        } else {
            return;
        };
        *scroll = if up {
            (*scroll + n).min(len.saturating_sub(1))
        } else {
            scroll.saturating_sub(n)
        };
    }

    fn scroll_by(&mut self, n: usize, up: bool) -> Vec<Effect> {
        self.scroll(n, up);
        vec![]
    }

    fn select_step(&mut self, down: bool) -> Vec<Effect> {
        if self.view == View::Monitor {
            self.monitor_step(down);
        } else if down {
            let n = self.ordered().len();
            self.selected = (self.selected + 1).min(n.saturating_sub(1));
        } else {
            self.selected = self.selected.saturating_sub(1);
        }
        vec![]
    }

    fn focus_editor(&mut self) -> Vec<Effect> {
        if self.selected_gateway().is_some() {
            self.focus = Focus::Editor;
        }
        vec![]
    }

    pub(super) fn focus_tree(&mut self) -> Vec<Effect> {
        self.focus = Focus::Tree;
        vec![]
    }

    /// Esc: one level back. A view goes back to the console, the channels or broadcast
    /// pane back to the output; in the tree it clears the search highlight.
    fn back(&mut self) -> Vec<Effect> {
        use super::commands::Scope as S;
        match self.scope() {
            S::Monitor | S::Tail | S::Rosetta => self.view = View::Console,
            S::Channels => self.channels_shown = false,
            S::Broadcast => {
                if let Some(b) = &mut self.broadcast {
                    b.shown = false;
                }
            }
            S::Tree => {
                if let Some(i) = self.selected_index() {
                    self.gateways[i].console.search = None;
                }
            }
            S::Editor => self.focus = Focus::Tree,
        }
        vec![]
    }

    fn clear_output(&mut self) -> Vec<Effect> {
        if let Some(i) = self.selected_index() {
            self.gateways[i].console.output.clear();
            self.gateways[i].console.set_scroll(0);
        }
        vec![]
    }

    fn console_view(&mut self) -> Vec<Effect> {
        if self.view != View::Console {
            self.view = View::Console;
        } else if let Some(b) = &mut self.broadcast {
            b.shown = !b.shown;
        }
        vec![]
    }

    /// The editor's snippet of the selected gateway (its index), if any is written.
    pub(super) fn editor_code(&self) -> Option<(usize, String)> {
        let i = self.selected_index()?;
        let code = self.gateways[i].console.code();
        (!code.trim().is_empty()).then_some((i, code))
    }

    /// After the editor's snippet of gateway index `i` went out as `effects` (none:
    /// nothing went), it joins the history and the editor empties.
    pub(super) fn editor_sent(
        &mut self,
        i: usize,
        code: String,
        mut effects: Vec<Effect>,
    ) -> Vec<Effect> {
        if !effects.is_empty() {
            effects.push(Effect::SaveHistory {
                spec: self.gateways[i].spec.clone(),
                entry: code.clone(),
            });
            let c = &mut self.gateways[i].console;
            if c.history.last() != Some(&code) {
                c.history.push(code);
            }
            c.editor = editor_with("");
            self.focus = Focus::Tree;
        }
        effects
    }

    pub(super) fn run_editor(&mut self) -> Vec<Effect> {
        let Some((i, code)) = self.editor_code() else {
            return vec![];
        };
        let keys = self.key_label(Command::Interrupt);
        // a run always shows the console it runs in
        self.view = View::Console;
        let g = &mut self.gateways[i];
        let console_up = g.console.interrupt_mode.is_some();
        if (g.state == GwState::Connecting || (g.state == GwState::Ready && !console_up))
            && g.console.running.is_none()
        {
            // typed before the interpreter is up: it runs as soon as it is
            let c = &mut g.console;
            c.echo(">>> ", &code);
            c.output
                .push(LineKind::Info, "(runs when the gateway is ready)\n");
            c.queued = Some(code.clone());
            c.running = Some(0);
            c.set_scroll(0);
            c.history_pos = None;
            if c.history.last() != Some(&code) {
                c.history.push(code.clone());
            }
            c.editor = editor_with("");
            return vec![Effect::SaveHistory {
                spec: g.spec.clone(),
                entry: code,
            }];
        }
        if !g.state.up() {
            self.toast = Some(format!("gateway {} is {}", g.id, g.state.label()));
            return vec![];
        }
        if g.console.running.is_some() {
            self.toast = Some(format!("a snippet is still running: {keys} interrupts it"));
            return vec![];
        }
        let c = &mut g.console;
        c.echo(">>> ", &code);
        if c.history.last() != Some(&code) {
            c.history.push(code.clone());
        }
        c.history_pos = None;
        c.set_scroll(0);
        c.running = Some(0);
        c.runs += 1;
        c.interrupt = Interrupt::None;
        c.editor = editor_with("");
        g.state = GwState::Busy;
        vec![
            Effect::Run {
                key: g.key,
                code: code.clone(),
            },
            Effect::SaveHistory {
                spec: g.spec.clone(),
                entry: code,
            },
        ]
    }

    /// Marks gateway index `i` as running a broadcast's `code`.
    pub(super) fn run_as_member(&mut self, i: usize, code: &str) -> Effect {
        let g = &mut self.gateways[i];
        g.console.echo("b>> ", code);
        g.console.running = Some(0);
        g.console.runs += 1;
        g.console.interrupt = Interrupt::None;
        g.state = GwState::Busy;
        Effect::Run {
            key: g.key,
            code: code.to_string(),
        }
    }

    fn interrupt(&mut self) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let again = self.key_label(Command::Interrupt);
        let g = &mut self.gateways[i];
        let c = &mut g.console;
        if c.running.is_none() {
            self.toast = Some("nothing is running".into());
            return vec![];
        }
        if c.queued.take().is_some() {
            c.running = None;
            c.output
                .push(LineKind::Info, "^C the waiting snippet will not run\n");
            return vec![];
        }
        let in_band = c.interrupt_mode == Some(InterruptMode::InBand);
        let can_signal = c.interrupt_mode != Some(InterruptMode::None);
        c.interrupt = match c.interrupt {
            Interrupt::None if in_band => Interrupt::InBandSent,
            Interrupt::None | Interrupt::InBandSent if can_signal => Interrupt::SignalSent,
            _ => Interrupt::TerminateOffered,
        };
        match c.interrupt {
            Interrupt::InBandSent => {
                c.output.push(
                    LineKind::Info,
                    &format!("^C interrupt sent (KeyboardInterrupt); {again} again sends SIGINT\n"),
                );
                vec![Effect::Interrupt { key: g.key }]
            }
            Interrupt::SignalSent => {
                c.output.push(
                    LineKind::Info,
                    &format!("^C SIGINT sent to the worker; {again} again offers to terminate\n"),
                );
                vec![Effect::Signal { key: g.key }]
            }
            _ => {
                if !can_signal {
                    c.output.push(
                        LineKind::Info,
                        "this interpreter cannot be interrupted in-band\n",
                    );
                }
                self.prompts.confirm = Some(Confirm::new(
                    format!("Snippet still running. Terminate gateway {}?", g.id),
                    vec![g.key],
                ));
                vec![]
            }
        }
    }

    /// Searches the selected console for `text` (empty: no search).
    pub(super) fn search_for(&mut self, text: String) {
        if let Some(i) = self.selected_index() {
            let c = &mut self.gateways[i].console;
            c.search = (!text.is_empty()).then_some(text);
            c.set_scroll(0);
        }
        self.jump_to_match(false);
    }

    /// Scrolls the selected console so that the next match (older than the current
    /// view when `older`) is at the bottom of the view.
    fn jump_to_match(&mut self, older: bool) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let keys = self.key_label(Command::Search);
        let c = &mut self.gateways[i].console;
        let Some(needle) = c.search.clone() else {
            self.toast = Some(format!("no search: press {keys} first"));
            return vec![];
        };
        let n = c.output.lines.len();
        let bottom = n.saturating_sub(c.offset());
        let start = if older {
            bottom.saturating_sub(1)
        } else {
            bottom
        };
        let hit = |idx: usize| matches(&c.output.lines[idx].1, &needle);
        let total = (0..n).filter(|&idx| hit(idx)).count();
        match (0..start).rev().find(|&idx| hit(idx)) {
            Some(idx) => {
                let above = (0..idx).filter(|&i| hit(i)).count();
                c.set_scroll(n - idx - 1);
                self.toast = Some(format!(
                    "match {} of {total} for '{needle}' (n: older, Esc clears)",
                    above + 1
                ));
            }
            None => self.toast = Some(format!("'{needle}' not found above ({total} in all)")),
        }
        vec![]
    }
}

/// Whether `line` holds `needle`, ignoring case (search is case-insensitive).
pub fn matches(line: &str, needle: &str) -> bool {
    line.to_lowercase().contains(&needle.to_lowercase())
}

/// The tail stream and line kind of output on stderr or stdout.
fn streams(stderr: bool) -> (TailStream, LineKind) {
    if stderr {
        (TailStream::Err, LineKind::Stderr)
    } else {
        (TailStream::Out, LineKind::Stdout)
    }
}

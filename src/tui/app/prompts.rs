//! The line prompt at the bottom (`:` commands, add, search, save, send, tail filter,
//! SSH questions), the confirmation dialog and the help overlay.

use super::commands::{self, Decl};
use super::{App, Effect};
use crate::engine::Spec;
use crate::tui::keymap::Command;
use crate::tui::monitor::TailFilter;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A line prompt at the bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// An error, a hint, or (for secrets and questions) the question.
    pub error: Option<String>,
    pub history_pos: Option<usize>,
}

impl Prompt {
    pub fn new(kind: PromptKind, text: &str) -> Prompt {
        Prompt {
            kind,
            text: text.to_string(),
            error: None,
            history_pos: None,
        }
    }

    /// A question from the SSH side: its text is the question, not an error.
    fn asks(&self) -> bool {
        matches!(self.kind, PromptKind::Secret | PromptKind::Ask)
    }
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
    /// Yes quits the cockpit (rather than terminating `keys`).
    pub quit: bool,
}

impl Confirm {
    pub fn new(title: String, keys: Vec<usize>) -> Confirm {
        Confirm {
            title,
            keys,
            yes_focused: false,
            quit: false,
        }
    }

    /// Quitting, which ends every gateway.
    pub fn quit(title: String) -> Confirm {
        Confirm {
            quit: true,
            ..Confirm::new(title, vec![])
        }
    }

    /// The label of the button that goes ahead.
    pub fn yes_label(&self) -> &'static str {
        if self.quit { "Quit" } else { "Terminate" }
    }
}

/// The help overlay: a filter typed into it and how far it is scrolled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Help {
    pub filter: String,
    pub scroll: usize,
}

/// The prompt line, the dialog and the overlay, and the `:` history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompts {
    pub line: Option<Prompt>,
    pub confirm: Option<Confirm>,
    pub help: Option<Help>,
    pub history: Vec<String>,
}

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::CommandMode, |a| a.open_prompt(super::PromptKind::Command, ""), "command", "command line (:add :group :terminate :quit …, Tab completes)"),
    Decl::key(Command::Help, App::open_help, "help", "help: the keys and commands of this view").named("help", "", |a, _| Ok(a.open_help())),
    Decl::key(Command::Quit, App::quit, "quit", "quit (terminates every gateway; asks first when one is busy or holds state)").named("quit", "", |a, _| Ok(a.quit())).alias("q"),
    Decl::key(Command::QuitNow, App::quit_now, "", "quit at once, without asking (terminates every gateway)").everywhere(),
];

impl App {
    pub(super) fn open_prompt(&mut self, kind: PromptKind, text: &str) -> Vec<Effect> {
        self.prompts.line = Some(Prompt::new(kind, text));
        vec![]
    }

    pub(super) fn ask_secret(&mut self, question: String, secret: bool) {
        let kind = if secret {
            PromptKind::Secret
        } else {
            PromptKind::Ask
        };
        self.prompts.line = Some(Prompt {
            error: Some(question),
            ..Prompt::new(kind, "")
        });
    }

    fn open_help(&mut self) -> Vec<Effect> {
        self.prompts.help = Some(Help::default());
        vec![]
    }

    /// `q`: quits, after asking when a gateway is busy or holds state (snippets ran
    /// in it) and `confirm_quit` is on; Ctrl+Q never asks.
    fn quit(&mut self) -> Vec<Effect> {
        let live = self.gateways.iter().filter(|g| g.state.alive());
        let busy = live.clone().filter(|g| g.console.running.is_some()).count();
        let state = live.filter(|g| g.console.runs > 0).count();
        if self.confirm_quit && (busy > 0 || state > 0) {
            let title = if busy > 0 {
                format!("{busy} gateway(s) busy. Quit and terminate every gateway?")
            } else {
                format!("{state} gateway(s) hold state. Quit and terminate every gateway?")
            };
            self.prompts.confirm = Some(Confirm::quit(title));
            return vec![];
        }
        self.quit_now()
    }

    fn quit_now(&mut self) -> Vec<Effect> {
        self.quitting = true;
        vec![Effect::Quit]
    }

    pub(super) fn on_help_key(&mut self, k: KeyEvent) {
        let Some(h) = &mut self.prompts.help else {
            return;
        };
        match k.code {
            KeyCode::Down => h.scroll += 1,
            KeyCode::Up => h.scroll = h.scroll.saturating_sub(1),
            KeyCode::PageDown => h.scroll += 10,
            KeyCode::PageUp => h.scroll = h.scroll.saturating_sub(10),
            KeyCode::Esc => self.prompts.help = None,
            KeyCode::Char('?') if h.filter.is_empty() => self.prompts.help = None,
            KeyCode::Backspace => {
                h.filter.pop();
                h.scroll = 0;
            }
            KeyCode::Char(c) => {
                h.filter.push(c);
                h.scroll = 0;
            }
            _ => {}
        }
    }

    pub(super) fn on_confirm_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(c) = &mut self.prompts.confirm else {
            return vec![];
        };
        let yes = match k.code {
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                c.yes_focused = !c.yes_focused;
                return vec![];
            }
            KeyCode::Char('y') => true,
            KeyCode::Enter => c.yes_focused,
            KeyCode::Esc | KeyCode::Char('n') => false,
            _ => return vec![],
        };
        match self.prompts.confirm.take() {
            Some(c) if yes && c.quit => self.quit_now(),
            Some(c) if yes => self.terminate(c.keys),
            _ => vec![],
        }
    }

    pub(super) fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(p) = &mut self.prompts.line else {
            return vec![];
        };
        match k.code {
            KeyCode::Esc => {
                let asked = p.asks();
                self.prompts.line = None;
                if asked {
                    return vec![Effect::SecretReply(None)];
                }
            }
            KeyCode::Backspace => {
                p.text.pop();
                self.edited();
            }
            KeyCode::Char(ch) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                p.text.push(ch);
                self.edited();
            }
            KeyCode::Tab if p.kind == PromptKind::Command => {
                let matches = commands::complete(p.text.trim());
                if let [only] = matches.as_slice() {
                    p.text = format!("{only} ");
                } else if !matches.is_empty() {
                    p.error = Some(format!("completions: {}", matches.join(" ")));
                }
            }
            KeyCode::Up | KeyCode::Down if p.kind == PromptKind::Command => {
                self.command_history_step(k.code == KeyCode::Up);
            }
            KeyCode::Enter => {
                if let Some(p) = self.prompts.line.take() {
                    return self.submit(p);
                }
            }
            _ => {}
        }
        vec![]
    }

    /// Up/Down in the `:` prompt walk its history.
    fn command_history_step(&mut self, up: bool) {
        let n = self.prompts.history.len();
        let Some(p) = &mut self.prompts.line else {
            return;
        };
        if n == 0 {
            return;
        }
        p.history_pos = match (p.history_pos, up) {
            (None, true) => Some(n - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < n => Some(i + 1),
            (None, false) => return,
            _ => None,
        };
        p.text = p
            .history_pos
            .map(|i| self.prompts.history[i].clone())
            .unwrap_or_default();
    }

    /// Enter in a prompt; an error keeps it open with the message.
    fn submit(&mut self, p: Prompt) -> Vec<Effect> {
        let text = p.text.clone();
        let done = match p.kind {
            PromptKind::AddSpec => self.add_line(&text),
            PromptKind::Secret | PromptKind::Ask => Ok(vec![Effect::SecretReply(Some(text))]),
            PromptKind::TailFilter => self.set_tail_filter(&text).map(|()| vec![]),
            PromptKind::SendLiteral => self.send_literal(&text),
            PromptKind::Search => {
                self.search_for(text);
                Ok(vec![])
            }
            PromptKind::SavePath => Ok(self.save_effect(text.trim())),
            PromptKind::Command => {
                let line = text.trim().to_string();
                if !line.is_empty() && self.prompts.history.last() != Some(&line) {
                    self.prompts.history.push(line.clone());
                }
                self.run_line(&line)
            }
        };
        done.unwrap_or_else(|e| {
            self.keep_prompt(p, e);
            vec![]
        })
    }

    /// The selected console's text saved to `path`.
    fn save_effect(&self, path: &str) -> Vec<Effect> {
        match self.selected_gateway() {
            Some(g) if !path.is_empty() => vec![Effect::SaveOutput {
                path: path.to_string(),
                text: g.console.text(),
            }],
            _ => vec![],
        }
    }

    /// The prompt's text changed: validate it inline (a question keeps its text).
    fn edited(&mut self) {
        let Some(p) = &mut self.prompts.line else {
            return;
        };
        if p.asks() {
            return;
        }
        p.error = None;
        let spec_text = match p.kind {
            PromptKind::AddSpec => Some(p.text.trim()),
            PromptKind::Command => p.text.trim().strip_prefix("add "),
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
            _ => None,
        };
        if let Some(t) = spec_text
            && !t.is_empty()
        {
            p.error = Spec::parse_many(t).err().map(|e| e.to_string());
        }
    }
}

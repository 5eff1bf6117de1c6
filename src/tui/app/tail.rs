//! The tail view: every gateway's output of a group merged, tagged, filtered and
//! pausable (see `tui::monitor::Tail` for the buffer).

use super::commands::{Decl, Scope};
use super::{App, Effect, PromptKind, View};
use crate::tui::keymap::Command;
use crate::tui::monitor::{TailFilter, TailStream};

const HERE: &[Scope] = &[Scope::Tail];

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::TailView, App::toggle_tail, "tail", "tail: the group's output merged and tagged (toggle)").named("tail", "FILTER", App::tail_line),
    Decl::key(Command::Pause, App::toggle_pause, "pause/resume", "tail: pause / resume (nothing is lost silently)").only(HERE),
    Decl::key(Command::TailFilter, App::ask_filter, "filter", "tail: filter by gw:ID, out/err/items and a regex").only(HERE),
];

impl App {
    /// Adds a gateway's output to the tail.
    pub(super) fn tail_text(&mut self, key: usize, stream: TailStream, text: &str) {
        if let Some(g) = self.gateway(key) {
            let (group, id) = (g.group.clone(), g.id.clone());
            let now = (self.clock)();
            self.tail.push_text(&now, &group, &id, stream, text);
        }
    }

    /// Shows a gateway's unfinished output lines in the tail.
    pub(super) fn flush_tail(&mut self, key: usize) {
        if let Some(g) = self.gateway(key) {
            let (group, id) = (g.group.clone(), g.id.clone());
            let now = (self.clock)();
            self.tail.flush(&group, &id, &now);
        }
    }

    /// Filters the tail by `text` (see `TailFilter::parse`).
    pub(super) fn set_tail_filter(&mut self, text: &str) -> Result<(), String> {
        self.tail.filter = TailFilter::parse(text)?;
        self.tail.scroll = 0;
        Ok(())
    }

    fn toggle_tail(&mut self) -> Vec<Effect> {
        self.toggle_view(View::Tail);
        vec![]
    }

    fn tail_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        if !arg.is_empty() {
            self.set_tail_filter(arg)?;
        }
        if self.view != View::Tail {
            self.toggle_view(View::Tail);
        }
        Ok(vec![])
    }

    fn toggle_pause(&mut self) -> Vec<Effect> {
        let now = (self.clock)();
        self.tail.toggle_pause(&now);
        self.view = View::Tail;
        vec![]
    }

    fn ask_filter(&mut self) -> Vec<Effect> {
        self.view = View::Tail;
        let text = self.tail.filter.text.clone();
        self.open_prompt(PromptKind::TailFilter, &text)
    }
}

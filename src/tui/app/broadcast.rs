//! Broadcast: every idle gateway of a group runs the editor's snippet; their output is
//! shown interleaved (each line tagged with its gateway) or side by side.

use super::commands::{Decl, Scope};
use super::lines::{LineKind, Partials, Ring};
use super::{App, Effect};
use crate::engine::ConsoleEvent;
use crate::tui::keymap::Command;

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
    partial: Partials<usize, LineKind>,
}

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::Broadcast, App::broadcast_editor, "broadcast", "broadcast: run the editor's snippet on every gateway of the group").only(&[Scope::Tree, Scope::Broadcast]),
    Decl::key(Command::ToggleLayout, App::toggle_layout, "layout", "broadcast view: interleaved with prefixes / side by side").only(&[Scope::Broadcast]),
];

impl App {
    /// Adds a console event of a broadcast member to the interleaved view.
    pub(super) fn broadcast_event(&mut self, key: usize, event: &ConsoleEvent) {
        let Some(id) = self.gateway(key).map(|g| g.id.clone()) else {
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
        let mut lines = b.partial.feed(key, kind, &text);
        if matches!(event, ConsoleEvent::Done { .. }) {
            lines.extend(b.partial.take(&key));
        }
        for (kind, line) in lines {
            b.ring.close_line();
            b.ring.push(kind, &format!("[{id}] {line}\n"));
        }
    }

    /// Runs `code` on every idle live gateway of `group`.
    fn run_broadcast(&mut self, group: &str, code: &str) -> Vec<Effect> {
        let members: Vec<usize> = (0..self.gateways.len())
            .filter(|&i| {
                let g = &self.gateways[i];
                g.group == group && g.state.up() && g.console.running.is_none()
            })
            .collect();
        if members.is_empty() {
            self.toast = Some(format!("no idle gateway in group '{group}'"));
            return vec![];
        }
        let keys = members.iter().map(|&i| self.gateways[i].key).collect();
        let effects = members
            .into_iter()
            .map(|i| self.run_as_member(i, code))
            .collect();
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
            partial: Partials::default(),
        });
        effects
    }

    fn broadcast_editor(&mut self) -> Vec<Effect> {
        if self.selected_index().is_none() {
            return vec![];
        }
        let Some((i, code)) = self.editor_code() else {
            self.toast = Some("the editor is empty: write the snippet to broadcast first".into());
            return vec![];
        };
        let group = self.gateways[i].group.clone();
        let effects = self.run_broadcast(&group, &code);
        self.editor_sent(i, code, effects)
    }

    fn toggle_layout(&mut self) -> Vec<Effect> {
        match &mut self.broadcast {
            Some(b) => {
                b.side_by_side = !b.side_by_side;
                b.shown = true;
            }
            None => {
                let keys = self.key_label(Command::Broadcast);
                self.toast = Some(format!(
                    "no broadcast yet: press {keys} to run the editor's snippet on the group"
                ));
            }
        }
        vec![]
    }
}

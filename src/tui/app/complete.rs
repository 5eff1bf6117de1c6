//! Completion and inspect in the editor. Candidates come from the gateway's console
//! namespace, computed in the worker by name and attribute lookup only (like
//! rlcompleter): names, attributes, dict keys, module names after `import`. Tab asks
//! (at the start of a line it indents), a popup shows several candidates; Shift+Tab or
//! F1 shows the signature and first doc lines of the name at the cursor.

use super::commands::{Decl, Scope};
use super::{App, Effect, Focus};
use crate::tui::keymap::Command;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui_textarea::{DataCursor, TextArea};

/// Rows of the popup at most.
pub const POPUP_ROWS: usize = 8;

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::Complete, App::complete_key, "complete", "complete from the gateway's namespace (names, attributes, dict keys, modules); ↑/↓ pick, Enter accepts, Esc closes; at a line's start: indent").only(&[Scope::Editor]),
    Decl::key(Command::Inspect, |a| a.ask_assist(true), "inspect", "inspect: the signature and first doc lines of the name at the cursor").only(&[Scope::Editor]),
];

/// Candidates shown under the word they complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Popup {
    pub items: Vec<String>,
    pub selected: usize,
    /// The text before the cursor that a candidate replaces.
    pub word: String,
}

/// The editor's completion state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assist {
    /// The latest request; older answers are dropped.
    pub request: u64,
    /// The word the request in flight completes (None: none in flight).
    pub pending: Option<String>,
    pub popup: Option<Popup>,
    /// The inspect box (or a short note such as "no completions").
    pub inspect: Option<String>,
}

impl Assist {
    /// An answer to request `request` for the editor whose word at the cursor is now
    /// `current`: one candidate (or a longer common prefix) to put in at once, as
    /// (word, replacement); several also open the popup.
    pub fn completions(
        &mut self,
        request: u64,
        items: Vec<String>,
        current: &str,
    ) -> Option<(String, String)> {
        if request != self.request {
            return None;
        }
        let word = self.pending.take()?;
        if word != current {
            // typed on meanwhile: the answer is stale
            return None;
        }
        match items.len() {
            0 => {
                self.inspect = Some("(no completions)".into());
                None
            }
            1 => items.into_iter().next().map(|item| (word, item)),
            _ => {
                let prefix = common_prefix(&items);
                let longer = prefix.len() > word.len() && prefix.starts_with(&word);
                self.popup = Some(Popup {
                    items,
                    selected: 0,
                    word: if longer { prefix.clone() } else { word.clone() },
                });
                longer.then_some((word, prefix))
            }
        }
    }

    pub fn inspected(&mut self, request: u64, text: String) {
        if request == self.request && self.pending.take().is_some() {
            let text = text.trim_end().to_string();
            self.inspect = Some(if text.is_empty() {
                "(nothing to inspect)".into()
            } else {
                text
            });
        }
    }
}

fn common_prefix(items: &[String]) -> String {
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut n = first.len();
    for it in &items[1..] {
        n = n.min(
            first
                .char_indices()
                .zip(it.chars())
                .take_while(|((_, a), b)| a == b)
                .map(|((i, a), _)| i + a.len_utf8())
                .last()
                .unwrap_or(0),
        );
    }
    first[..n].to_string()
}

/// The editor's line before the cursor.
pub fn line_before(t: &TextArea) -> String {
    let DataCursor(row, col) = t.cursor();
    t.lines()
        .get(row)
        .map(|l| l.chars().take(col).collect())
        .unwrap_or_default()
}

/// The word a candidate replaces: after an open quote of `name['`, the key typed so
/// far; else the identifier characters before the cursor.
pub fn word_before(before: &str) -> String {
    if let Some(q) = before.rfind(['\'', '"']) {
        let head = &before[..q];
        let rest = &before[q + 1..];
        if head.ends_with('[') && !rest.contains(['\'', '"', ']']) {
            return rest.to_string();
        }
    }
    let n = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .count();
    before.chars().skip(before.chars().count() - n).collect()
}

/// Replaces `word` before the cursor with `with`.
pub fn replace_word(t: &mut TextArea, word: &str, with: &str) {
    if line_before(t).ends_with(word) {
        for _ in 0..word.chars().count() {
            t.delete_char();
        }
        t.insert_str(with);
    }
}

impl App {
    /// Tab: indents at the start of a line, else asks the worker for completions.
    fn complete_key(&mut self) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let c = &mut self.gateways[i].console;
        let before = line_before(&c.editor);
        if before.trim().is_empty() {
            let col = before.chars().count();
            c.editor
                .insert_str(" ".repeat(super::editor::INDENT - col % super::editor::INDENT));
            return vec![];
        }
        self.ask_assist(false)
    }

    /// Sends a completion (or inspect) request for the text at the cursor.
    fn ask_assist(&mut self, inspect: bool) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let g = &mut self.gateways[i];
        if !g.state.up() || g.console.interrupt_mode.is_none() {
            self.toast = Some(format!(
                "gateway {} is {}: completion needs its console",
                g.id,
                g.state.label()
            ));
            return vec![];
        }
        let c = &mut g.console;
        let mut text = line_before(&c.editor);
        if inspect {
            // the whole name under the cursor
            let DataCursor(row, col) = c.editor.cursor();
            if let Some(line) = c.editor.lines().get(row) {
                text.extend(
                    line.chars()
                        .skip(col)
                        .take_while(|ch| ch.is_alphanumeric() || *ch == '_'),
                );
            }
        }
        c.assist.request += 1;
        c.assist.pending = Some(word_before(&text));
        c.assist.popup = None;
        c.assist.inspect = None;
        vec![Effect::Complete {
            key: g.key,
            request: c.assist.request,
            text,
            inspect,
        }]
    }

    /// Keys while the popup or the inspect box is open; true when the key was used.
    pub(super) fn on_assist_key(&mut self, k: &KeyEvent) -> bool {
        if self.focus != Focus::Editor {
            return false;
        }
        let Some(i) = self.selected_index() else {
            return false;
        };
        let c = &mut self.gateways[i].console;
        if c.assist.inspect.take().is_some() {
            // any key closes the box; Esc does nothing else
            return k.code == KeyCode::Esc;
        }
        let Some(p) = &mut c.assist.popup else {
            return false;
        };
        let n = p.items.len().max(1);
        match k.code {
            KeyCode::Down | KeyCode::Tab => p.selected = (p.selected + 1) % n,
            KeyCode::Up | KeyCode::BackTab => p.selected = (p.selected + n - 1) % n,
            KeyCode::Enter => {
                if let Some(p) = c.assist.popup.take()
                    && let Some(item) = p.items.get(p.selected)
                {
                    replace_word(&mut c.editor, &p.word, item);
                }
            }
            KeyCode::Esc => c.assist.popup = None,
            _ => {
                // typing goes on in the editor
                c.assist.popup = None;
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_prefixes() {
        assert_eq!(word_before("os.pa"), "pa");
        assert_eq!(word_before("x = d['al"), "al");
        assert_eq!(word_before("x = d['al'] + y"), "y");
        assert_eq!(word_before("import "), "");
        assert_eq!(
            common_prefix(&["pardir".into(), "path".into(), "pathsep".into()]),
            "pa"
        );
        let mut a = Assist {
            request: 3,
            pending: Some("pa".into()),
            ..Assist::default()
        };
        assert_eq!(a.completions(2, vec!["path".into()], "pa"), None, "stale");
        assert_eq!(
            a.completions(3, vec!["path".into(), "pathsep".into()], "pa"),
            Some(("pa".into(), "path".into()))
        );
        assert_eq!(a.popup.as_ref().map(|p| p.items.len()), Some(2));
    }
}

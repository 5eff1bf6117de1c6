//! The one table of declared commands. Each feature declares its commands next to
//! their code (`COMMANDS` in `console.rs`, `channels.rs`, …): a `:` name and usage, the
//! keymap action that runs it by default, a footer hint, a help text and the views it
//! belongs to. From this table come the key dispatch (`App::run_command`), the `:`
//! command line (completion, "did you mean"), the help overlay and every footer. Key
//! labels always come from the active keymap, user overrides included.

use super::{App, Effect, Focus, View};
use crate::tui::keymap::{Command, Key, Mode};

/// What a key runs.
pub type KeyFn = fn(&mut App) -> Vec<Effect>;
/// What a `:` command runs with its argument text; an error keeps the command line
/// open with the message.
pub type LineFn = fn(&mut App, &str) -> Result<Vec<Effect>, String>;

/// What the screen shows, for footers and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The gateway tree has the keyboard, the console beside it.
    Tree,
    /// The console's editor has the keyboard.
    Editor,
    Channels,
    Broadcast,
    Monitor,
    Tail,
    Rosetta,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Tree,
        Scope::Editor,
        Scope::Channels,
        Scope::Broadcast,
        Scope::Monitor,
        Scope::Tail,
        Scope::Rosetta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Tree => "console",
            Scope::Editor => "editor",
            Scope::Channels => "channels",
            Scope::Broadcast => "broadcast",
            Scope::Monitor => "monitor",
            Scope::Tail => "tail",
            Scope::Rosetta => "rosetta",
        }
    }

    /// The keymap mode whose keys act here.
    pub fn mode(self) -> Mode {
        match self {
            Scope::Editor => Mode::Editor,
            _ => Mode::Normal,
        }
    }
}

/// Where a command is listed.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// Every view, the editor included.
    Everywhere,
    /// Every view but the editor.
    Normal,
    In(&'static [Scope]),
}

/// One declared command.
#[derive(Debug, Clone, Copy)]
pub struct Decl {
    /// Its `:` name, if it can be typed.
    pub name: Option<&'static str>,
    /// Another `:` name for it.
    pub alias: Option<&'static str>,
    /// The arguments of the `:` command, e.g. "FROM TO".
    pub args: &'static str,
    /// The keymap action that runs it (its key comes from the keymap).
    pub key: Option<Command>,
    /// A word or two for the footer.
    pub hint: &'static str,
    pub help: &'static str,
    pub shown: Shown,
    pub on_key: Option<KeyFn>,
    pub on_line: Option<LineFn>,
}

impl Decl {
    /// A command a key runs, listed in every view but the editor.
    pub const fn key(cmd: Command, run: KeyFn, hint: &'static str, help: &'static str) -> Decl {
        Decl {
            name: None,
            alias: None,
            args: "",
            key: Some(cmd),
            hint,
            help,
            shown: Shown::Normal,
            on_key: Some(run),
            on_line: None,
        }
    }

    /// A `:` command without a key.
    pub const fn line(
        name: &'static str,
        args: &'static str,
        run: LineFn,
        hint: &'static str,
        help: &'static str,
    ) -> Decl {
        Decl {
            name: Some(name),
            alias: None,
            args,
            key: None,
            hint,
            help,
            shown: Shown::Normal,
            on_key: None,
            on_line: Some(run),
        }
    }

    /// Also typed as `:name ARGS`.
    pub const fn named(self, name: &'static str, args: &'static str, run: LineFn) -> Decl {
        Decl {
            name: Some(name),
            args,
            on_line: Some(run),
            ..self
        }
    }

    pub const fn alias(self, alias: &'static str) -> Decl {
        Decl {
            alias: Some(alias),
            ..self
        }
    }

    /// Listed only in these views.
    pub const fn only(self, scopes: &'static [Scope]) -> Decl {
        Decl {
            shown: Shown::In(scopes),
            ..self
        }
    }

    /// Listed in every view, the editor too.
    pub const fn everywhere(self) -> Decl {
        Decl {
            shown: Shown::Everywhere,
            ..self
        }
    }

    pub fn shown_in(&self, scope: Scope) -> bool {
        match self.shown {
            Shown::Everywhere => true,
            Shown::Normal => scope != Scope::Editor,
            Shown::In(s) => s.contains(&scope),
        }
    }

    /// ":sort COLUMN".
    pub fn usage(&self) -> Option<String> {
        let name = self.name?;
        Some(if self.args.is_empty() {
            format!(":{name}")
        } else {
            format!(":{name} {}", self.args)
        })
    }

    /// The footer hint, else the help text.
    pub fn hint_or_help(&self) -> &'static str {
        if self.hint.is_empty() {
            self.help
        } else {
            self.hint
        }
    }

    /// The views it is listed in, e.g. "the tail view".
    pub fn scopes_text(&self) -> String {
        match self.shown {
            Shown::Everywhere => "every view".into(),
            Shown::Normal => "every view but the editor".into(),
            Shown::In(s) => {
                let names: Vec<String> = s
                    .iter()
                    .map(|s| match s {
                        Scope::Tree => "the gateway tree".to_string(),
                        Scope::Editor => "the editor".to_string(),
                        other => format!("the {} view", other.name()),
                    })
                    .collect();
                names.join(" / ")
            }
        }
    }

    fn answers_to(&self, word: &str) -> bool {
        self.name == Some(word) || self.alias == Some(word)
    }
}

/// Every declared command, feature by feature.
pub fn table() -> impl Iterator<Item = &'static Decl> {
    [
        super::console::COMMANDS,
        super::editor::COMMANDS,
        super::complete::COMMANDS,
        super::channels::COMMANDS,
        super::broadcast::COMMANDS,
        super::monitor::COMMANDS,
        super::tail::COMMANDS,
        super::rosetta::COMMANDS,
        super::setup::COMMANDS,
        super::prompts::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// The command a keymap action runs.
pub fn by_key(cmd: Command) -> Option<&'static Decl> {
    table().find(|d| d.key == Some(cmd))
}

/// The `:` names starting with `word`.
pub fn complete(word: &str) -> Vec<&'static str> {
    table()
        .filter_map(|d| d.name)
        .filter(|n| n.starts_with(word))
        .collect()
}

/// The `:` name closest to an unknown `word`: one it starts, else one a couple of
/// edits away.
pub fn did_you_mean(word: &str) -> Option<&'static str> {
    if word.is_empty() {
        return None;
    }
    let names = || table().filter_map(|d| d.name);
    names().find(|n| n.starts_with(word)).or_else(|| {
        names()
            .map(|n| (strsim::damerau_levenshtein(word, n), n))
            .filter(|&(d, n)| d <= 2 && d < word.len().min(n.len()))
            .min_by_key(|&(d, _)| d)
            .map(|(_, n)| n)
    })
}

/// One row of the help overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct HelpRow {
    /// Where the keys are bound ("normal", "editor", "global") or "command".
    pub mode: String,
    /// Key labels, then the `:` usage.
    pub keys: String,
    pub help: String,
}

impl App {
    /// What the screen shows now.
    pub fn scope(&self) -> Scope {
        match self.view {
            View::Monitor => Scope::Monitor,
            View::Tail => Scope::Tail,
            View::Rosetta => Scope::Rosetta,
            View::Console if self.focus == Focus::Editor => Scope::Editor,
            View::Console if self.channels_shown => Scope::Channels,
            View::Console if self.broadcast.as_ref().is_some_and(|b| b.shown) => Scope::Broadcast,
            View::Console => Scope::Tree,
        }
    }

    /// The keys bound to `cmd` in `mode` (and globally).
    pub fn keys_of(&self, cmd: Command, mode: Mode) -> Vec<Key> {
        self.keymap.keys_for(mode, cmd)
    }

    /// "F5/Ctrl+R": the first two keys of `cmd` where the keyboard is now; "" when
    /// unbound.
    pub fn key_label(&self, cmd: Command) -> String {
        let keys = self.keys_of(cmd, self.mode());
        keys.iter()
            .take(2)
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The footer of a scope: (keys or `:` usage, hint) of its commands, the view's
    /// own first, then those of every view.
    pub fn footer_hints(&self, scope: Scope) -> Vec<(String, String)> {
        self.footer_hints_of(scope)
            .into_iter()
            .map(|(k, h, _)| (k, h))
            .collect()
    }

    fn footer_hints_of(&self, scope: Scope) -> Vec<(String, String, Option<Command>)> {
        let mut decls: Vec<&Decl> = table()
            .filter(|d| d.shown_in(scope) && !d.hint.is_empty())
            .collect();
        decls.sort_by_key(|d| match d.shown {
            Shown::In(_) => 0,
            Shown::Normal => 1,
            Shown::Everywhere => 2,
        });
        decls
            .into_iter()
            .filter_map(|d| {
                let keys = match d.key {
                    Some(cmd) => self.keys_of(cmd, scope.mode()),
                    None => Vec::new(),
                };
                let label = if keys.is_empty() {
                    // a command without a key shows how to type it
                    d.usage()?
                } else {
                    keys.iter()
                        .take(2)
                        .map(Key::label)
                        .collect::<Vec<_>>()
                        .join("/")
                };
                Some((label, d.hint.to_string(), d.key))
            })
            .collect()
    }

    /// The footer of a scope fitted to `width` columns: hints are dropped from the end
    /// until it fits, but the ones a newcomer needs (edit, run, back, help) stay, and
    /// help comes last.
    pub fn footer_fitted(&self, scope: Scope, width: usize) -> Vec<(String, String)> {
        const ESSENTIAL: [Command; 6] = [
            Command::Submit,
            Command::Run,
            Command::FocusEditor,
            Command::FocusTree,
            Command::Back,
            Command::Help,
        ];
        let all = self.footer_hints_of(scope);
        let (mut help, mut rest): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|(_, _, c)| *c == Some(Command::Help));
        let cost = |v: &[(String, String, Option<Command>)]| -> usize {
            v.iter()
                .map(|(k, h, _)| k.chars().count() + h.chars().count() + 3)
                .sum()
        };
        while cost(&rest) + cost(&help) > width {
            match rest
                .iter()
                .rposition(|(_, _, c)| !c.is_some_and(|c| ESSENTIAL.contains(&c)))
            {
                Some(p) => {
                    rest.remove(p);
                }
                None => break,
            }
        }
        rest.append(&mut help);
        rest.into_iter().map(|(k, h, _)| (k, h)).collect()
    }

    /// The help overlay of a scope, filtered by `filter` (case-insensitive).
    pub fn help_rows(&self, scope: Scope, filter: &str) -> Vec<HelpRow> {
        let filter = filter.to_lowercase();
        table()
            .filter(|d| d.shown_in(scope))
            .filter_map(|d| {
                let (mode, keys) = match d.key {
                    Some(cmd) => self.bound_in(cmd, scope.mode()),
                    None => ("command".to_string(), Vec::new()),
                };
                let mut labels: Vec<String> = keys.iter().map(Key::label).collect();
                labels.extend(d.usage());
                if labels.is_empty() {
                    return None;
                }
                Some(HelpRow {
                    mode,
                    keys: labels.join(", "),
                    help: d.help.to_string(),
                })
            })
            .filter(|r| {
                filter.is_empty()
                    || r.keys.to_lowercase().contains(&filter)
                    || r.help.to_lowercase().contains(&filter)
            })
            .collect()
    }

    /// The mode name and keys of `cmd` as bound for `mode`.
    fn bound_in(&self, cmd: Command, mode: Mode) -> (String, Vec<Key>) {
        let own = self.keymap.keys_in(mode, cmd);
        if own.is_empty() {
            (
                Mode::Global.name().into(),
                self.keymap.keys_in(Mode::Global, cmd),
            )
        } else {
            (mode.name().into(), own)
        }
    }

    /// Runs a `:` command line.
    pub(super) fn run_line(&mut self, text: &str) -> Result<Vec<Effect>, String> {
        let (word, arg) = match text.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (text, ""),
        };
        if word.is_empty() {
            return Ok(vec![]);
        }
        match table().find(|d| d.answers_to(word)) {
            Some(Decl {
                on_line: Some(run), ..
            }) => run(self, arg),
            Some(Decl {
                on_key: Some(run), ..
            }) => Ok(run(self)),
            _ => Err(match did_you_mean(word) {
                Some(n) => format!("unknown command ':{word}' (did you mean :{n}?)"),
                None => format!("unknown command ':{word}'"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_are_declared_once() {
        let mut names: Vec<&str> = table().filter_map(|d| d.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a `:` name is declared twice");
        let mut keys: Vec<String> = table()
            .filter_map(|d| d.key)
            .map(|k| format!("{k:?}"))
            .collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "a keymap action is declared twice");
    }

    #[test]
    fn every_keymap_action_is_declared() {
        let km = crate::tui::keymap::Keymap::defaults();
        for b in &km.bindings {
            assert!(
                by_key(b.command).is_some(),
                "{:?} is not declared",
                b.command
            );
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("mon"), Some("monitor"));
        assert_eq!(did_you_mean("brigde"), Some("bridge"));
        assert_eq!(did_you_mean("fly"), None);
    }
}

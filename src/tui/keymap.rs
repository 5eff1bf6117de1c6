//! Key bindings as data: defaults in `assets/keymap.toml`, a user `keymap.toml` in the
//! config directory overrides only the entries it names. The keymap binds keys to
//! actions; what an action does, and its help and footer text, is declared in the
//! cockpit's command table (`app::commands`), which reads its keys from here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Global,
    Normal,
    Editor,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Global => "global",
            Mode::Normal => "normal",
            Mode::Editor => "editor",
        }
    }
}

/// Every command a key can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Quit,
    Run,
    Interrupt,
    ScrollUp,
    ScrollDown,
    SelectNext,
    SelectPrev,
    FocusEditor,
    FocusTree,
    AddGateway,
    CommandMode,
    Terminate,
    ClearOutput,
    Help,
    Broadcast,
    ToggleLayout,
    ConsoleView,
    Search,
    NextMatch,
    SaveOutput,
    ChannelsView,
    OpenChannel,
    ChannelSend,
    ChannelClose,
    ChannelNext,
    ChannelPrev,
    MonitorView,
    TailView,
    Rosetta,
    Sort,
    Pause,
    TailFilter,
    Bridge,
    Back,
    Submit,
    Newline,
    QuitNow,
    Complete,
    Inspect,
    Follow,
}

impl Command {
    fn from_name(s: &str) -> Option<Command> {
        Some(match s {
            "quit" => Command::Quit,
            "run" => Command::Run,
            "interrupt" => Command::Interrupt,
            "scroll_up" => Command::ScrollUp,
            "scroll_down" => Command::ScrollDown,
            "select_next" => Command::SelectNext,
            "select_prev" => Command::SelectPrev,
            "focus_editor" => Command::FocusEditor,
            "focus_tree" => Command::FocusTree,
            "add_gateway" => Command::AddGateway,
            "command_mode" => Command::CommandMode,
            "terminate" => Command::Terminate,
            "clear_output" => Command::ClearOutput,
            "help" => Command::Help,
            "broadcast" => Command::Broadcast,
            "toggle_layout" => Command::ToggleLayout,
            "console_view" => Command::ConsoleView,
            "search" => Command::Search,
            "next_match" => Command::NextMatch,
            "save_output" => Command::SaveOutput,
            "channels_view" => Command::ChannelsView,
            "open_channel" => Command::OpenChannel,
            "channel_send" => Command::ChannelSend,
            "channel_close" => Command::ChannelClose,
            "channel_next" => Command::ChannelNext,
            "channel_prev" => Command::ChannelPrev,
            "monitor_view" => Command::MonitorView,
            "tail_view" => Command::TailView,
            "rosetta" => Command::Rosetta,
            "sort" => Command::Sort,
            "pause" => Command::Pause,
            "tail_filter" => Command::TailFilter,
            "bridge" => Command::Bridge,
            "back" => Command::Back,
            "submit" => Command::Submit,
            "newline" => Command::Newline,
            "quit_now" => Command::QuitNow,
            "complete" => Command::Complete,
            "inspect" => Command::Inspect,
            "follow" => Command::Follow,
            _ => return None,
        })
    }
}

/// A key with modifiers, parsed from text like `ctrl+r` or `F5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl+") {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt+") {
                mods |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("shift+") {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        if mods.contains(KeyModifiers::SHIFT) && rest == "Tab" {
            mods.remove(KeyModifiers::SHIFT);
            return Ok(Key {
                code: KeyCode::BackTab,
                mods,
            });
        }
        if mods.contains(KeyModifiers::SHIFT) && rest.chars().count() == 1 {
            // terminals send Shift+z as 'Z': match what from_event produces
            mods.remove(KeyModifiers::SHIFT);
            let up: String = rest.to_uppercase();
            return Key::parse(&format!(
                "{}{up}",
                if mods.contains(KeyModifiers::CONTROL) {
                    "ctrl+"
                } else {
                    ""
                }
            ));
        }
        let code = match rest {
            "Enter" => KeyCode::Enter,
            "Esc" => KeyCode::Esc,
            "Tab" => KeyCode::Tab,
            "BackTab" => KeyCode::BackTab,
            "Up" => KeyCode::Up,
            "Down" => KeyCode::Down,
            "Left" => KeyCode::Left,
            "Right" => KeyCode::Right,
            "PageUp" => KeyCode::PageUp,
            "PageDown" => KeyCode::PageDown,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            "Backspace" => KeyCode::Backspace,
            "Delete" => KeyCode::Delete,
            "Space" => KeyCode::Char(' '),
            f if f.len() > 1 && f.starts_with('F') => match f[1..].parse::<u8>() {
                Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                _ => return Err(format!("unknown key '{s}'")),
            },
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                })
            }
            _ => return Err(format!("unknown key '{s}'")),
        };
        Ok(Key { code, mods })
    }

    /// Normalises a terminal event for lookup (shift on letters is in the char).
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("Ctrl+");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("Alt+");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("Shift+");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("Space"),
            KeyCode::Char(c) => s.push(if self.mods.contains(KeyModifiers::CONTROL) {
                c.to_ascii_uppercase()
            } else {
                c
            }),
            KeyCode::F(n) => s.push_str(&format!("F{n}")),
            KeyCode::PageUp => s.push_str("PgUp"),
            KeyCode::PageDown => s.push_str("PgDn"),
            other => s.push_str(&format!("{other:?}")),
        }
        s
    }
}

/// One binding: keys, command, mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub mode: Mode,
    pub keys: Vec<Key>,
    pub command: Command,
}

#[derive(Deserialize)]
struct FileEntry {
    mode: String,
    on: Vec<String>,
    run: String,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    keys: Vec<FileEntry>,
}

/// The active bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

fn parse_file(text: &str, name: &str) -> Result<Vec<Binding>, String> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        format!("{name}: {line}{}", e.message())
    })?;
    let mut out = Vec::new();
    for (i, e) in file.keys.iter().enumerate() {
        // the line of this entry's `run =` (else its [[keys]] header)
        let header = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[keys]]")
            .nth(i)
            .map(|(n, _)| n);
        let line = header
            .and_then(|h| {
                text.lines()
                    .enumerate()
                    .skip(h)
                    .find(|(_, l)| l.trim_start().starts_with("run"))
                    .or(Some((h, "")))
            })
            .map(|(n, _)| n + 1)
            .unwrap_or(1);
        let at = format!("{name}: line {line}: entry {} (run = \"{}\")", i + 1, e.run);
        let mode = match e.mode.as_str() {
            "global" => Mode::Global,
            "normal" => Mode::Normal,
            "editor" => Mode::Editor,
            other => {
                return Err(format!(
                    "{at}: unknown mode '{other}' (global, normal, editor)"
                ));
            }
        };
        let command = Command::from_name(&e.run)
            .ok_or_else(|| format!("{at}: unknown command '{}'", e.run))?;
        let keys =
            e.on.iter()
                .map(|k| Key::parse(k).map_err(|m| format!("{at}: {m}")))
                .collect::<Result<Vec<_>, _>>()?;
        out.push(Binding {
            mode,
            keys,
            command,
        });
    }
    Ok(out)
}

impl Keymap {
    pub fn defaults() -> Keymap {
        Keymap {
            // the embedded defaults are tested to parse
            bindings: parse_file(DEFAULT_KEYMAP, "assets/keymap.toml").unwrap_or_default(),
        }
    }

    /// Defaults overridden by a user file's text; an error names file, line and problem.
    pub fn with_overrides(text: &str, name: &str) -> Result<Keymap, String> {
        let mut km = Keymap::defaults();
        for b in parse_file(text, name)? {
            // a key the user binds leaves every other binding of that mode
            for other in km
                .bindings
                .iter_mut()
                .filter(|d| d.mode == b.mode && d.command != b.command)
            {
                other.keys.retain(|k| !b.keys.contains(k));
            }
            match km
                .bindings
                .iter_mut()
                .find(|d| d.mode == b.mode && d.command == b.command)
            {
                Some(slot) => *slot = b,
                None => km.bindings.push(b),
            }
        }
        Ok(km)
    }

    /// The command bound to a key in a mode (mode bindings first, then global).
    pub fn lookup(&self, mode: Mode, key: Key) -> Option<Command> {
        let find = |m: Mode| {
            self.bindings
                .iter()
                .find(|b| b.mode == m && b.keys.contains(&key))
                .map(|b| b.command)
        };
        find(mode).or_else(|| find(Mode::Global))
    }

    /// The keys of `cmd` bound in exactly `mode`.
    pub fn keys_in(&self, mode: Mode, cmd: Command) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|b| b.mode == mode && b.command == cmd)
            .flat_map(|b| b.keys.iter().copied())
            .collect()
    }

    /// The keys that run `cmd` in `mode`: its own bindings, then the global ones.
    pub fn keys_for(&self, mode: Mode, cmd: Command) -> Vec<Key> {
        let mut keys = self.keys_in(mode, cmd);
        keys.extend(self.keys_in(Mode::Global, cmd));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `key` runs in normal mode.
    fn normal(km: &Keymap, key: &str) -> Option<Command> {
        km.lookup(Mode::Normal, Key::parse(key).unwrap())
    }

    #[test]
    fn defaults_parse_and_look_up() {
        let parsed = parse_file(DEFAULT_KEYMAP, "assets/keymap.toml");
        assert!(parsed.is_ok(), "{parsed:?}");
        let km = Keymap::defaults();
        let f5 = Key::parse("F5").unwrap();
        assert_eq!(km.lookup(Mode::Editor, f5), Some(Command::Run));
        assert_eq!(normal(&km, "j"), Some(Command::SelectNext));
        assert_eq!(km.lookup(Mode::Editor, Key::parse("j").unwrap()), None);
        assert_eq!(normal(&km, "ctrl+q"), Some(Command::QuitNow));
        assert_eq!(normal(&km, "q"), Some(Command::Quit));
        let ev = KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT);
        assert_eq!(
            km.lookup(Mode::Normal, Key::from_event(&ev)),
            Some(Command::Terminate)
        );
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let km = Keymap::with_overrides(
            "[[keys]]\nmode = \"normal\"\non = [\"n\"]\nrun = \"select_next\"\n",
            "keymap.toml",
        )
        .unwrap();
        assert_eq!(normal(&km, "n"), Some(Command::SelectNext));
        assert_eq!(normal(&km, "j"), None);
        assert_eq!(normal(&km, "k"), Some(Command::SelectPrev));
    }

    #[test]
    fn shift_keys_and_stolen_keys() {
        let ev = KeyEvent::new(KeyCode::Char('Z'), KeyModifiers::SHIFT);
        assert_eq!(Key::parse("shift+z").unwrap(), Key::from_event(&ev));
        let bt = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::parse("shift+Tab").unwrap(), Key::from_event(&bt));
        // binding q to search takes q away from quit in normal mode
        let km = Keymap::with_overrides(
            "[[keys]]\nmode = \"normal\"\non = [\"q\"]\nrun = \"search\"\n",
            "k.toml",
        )
        .unwrap();
        assert_eq!(normal(&km, "q"), Some(Command::Search));
    }

    #[test]
    fn bad_files_name_file_line_and_problem() {
        let e = Keymap::with_overrides(
            "[[keys]]\nmode = \"normal\"\non = [\"j\"]\nrun = \"fly\"\n",
            "km.toml",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "km.toml: line 4: entry 1 (run = \"fly\"): unknown command 'fly'"
        );
        let e = Keymap::with_overrides(
            "[[keys]]\nmode = \"normal\"\non = [\"Hyper\"]\nrun = \"quit\"\n",
            "km.toml",
        )
        .unwrap_err();
        assert!(e.contains("unknown key 'Hyper'"), "{e}");
        let e = Keymap::with_overrides("[[keys]]\nmode = \"normal\"\non = [\"j\"\n", "km.toml")
            .unwrap_err();
        assert!(e.starts_with("km.toml: line "), "{e}");
    }
}

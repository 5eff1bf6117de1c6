//! Footers and help come from the command table and the active keymap: a user keymap
//! that moves S, X, T, p, f and R to F7…F12 shows the new keys, and never the old
//! ones, in the footer and the help overlay of every view.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use execdeck::engine::{ConsoleEvent, InterruptMode};
use execdeck::tui::app::{Action, App, EngineMsg, Scope};
use execdeck::tui::keymap::{Command, Keymap};
use execdeck::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// (keymap action, default key, the user's key, words of its help text)
const MOVES: [(&str, &str, &str, &str); 6] = [
    ("sort", "S", "F7", "monitor: sort by the next column"),
    ("terminate", "X", "F8", "terminate the selected gateway"),
    ("tail_view", "T", "F9", "tail: the group's output merged"),
    ("pause", "p", "F10", "tail: pause / resume"),
    ("tail_filter", "f", "F11", "tail: filter by gw:ID"),
    ("rosetta", "R", "F12", "Rosetta grid: the editor's snippet"),
];

/// The user's keymap file, as `tui::load_keymap` reads it from the config directory.
fn user_keymap() -> Keymap {
    let mut text = String::new();
    for (run, _, key, _) in MOVES {
        text.push_str(&format!(
            "[[keys]]\nmode = \"normal\"\non = [\"{key}\"]\nrun = \"{run}\"\n\n"
        ));
    }
    Keymap::with_overrides(&text, "keymap.toml").expect("user keymap")
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// Two ready gateways of group "local", the tree focused.
fn app() -> App {
    let mut app = App::new(user_keymap());
    for i in 0..2usize {
        app.add_gateway("local", "popen//python=python3".parse().expect("spec"))
            .expect("add");
        app.update(Action::Engine(EngineMsg::Ready {
            key: i,
            id: format!("gw{i}"),
            pid: Some(100 + i as u32),
            interpreter: "CPython 3.12.1".into(),
        }));
        app.update(Action::Engine(EngineMsg::Console {
            key: i,
            event: ConsoleEvent::Hello {
                interrupt: InterruptMode::InBand,
            },
        }));
    }
    app.selected = 0;
    // the first gateway's editor had the keyboard: the tree takes it
    press(&mut app, KeyCode::Esc);
    app
}

/// The screen as text, one string per row.
fn screen(app: &mut App) -> Vec<String> {
    let (w, h) = (320, 60);
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

/// The words of a text, split at spaces, commas and slashes.
fn words(text: &str) -> Vec<&str> {
    text.split([' ', ',', '/', '│'])
        .filter(|w| !w.is_empty())
        .collect()
}

/// Footer and help of the view `app` shows now: the moved commands it lists carry
/// their new keys, and no old key is shown.
fn check_view(app: &mut App, scope: Scope, expected: &[&str]) {
    assert_eq!(app.scope(), scope, "not in the {scope:?} view");
    let rows = screen(app);
    let footer = rows.last().cloned().unwrap_or_default();
    let footer_words = words(&footer);
    for (_, old, new, _) in MOVES {
        assert!(
            !footer_words.contains(&old),
            "{scope:?}: the old key {old} is in the footer: {footer}"
        );
        if expected.contains(&new) {
            assert!(
                footer_words.contains(&new),
                "{scope:?}: {new} missing from the footer: {footer}"
            );
        }
    }
    match app.keys_of(Command::Help, app.mode()).first() {
        Some(key) => {
            app.update(Action::Key(KeyEvent::new(key.code, key.mods)));
        }
        // no default key opens help from the editor; the command does
        None => {
            app.run_command(Command::Help);
        }
    }
    let help = screen(app);
    assert!(
        help.iter()
            .any(|l| l.contains(&format!(" help · {} ", scope.name()))),
        "{scope:?}: no help overlay:\n{}",
        help.join("\n")
    );
    for (_, old, new, text) in MOVES {
        let row = help.iter().find(|l| l.contains(text));
        if expected.contains(&new) {
            let row = row.unwrap_or_else(|| panic!("{scope:?}: help lacks '{text}'"));
            let w = words(row);
            assert!(w.contains(&new), "{scope:?}: help row without {new}: {row}");
            assert!(!w.contains(&old), "{scope:?}: help row with {old}: {row}");
        }
        for line in &help {
            assert!(
                !words(line).contains(&old) || line.contains("filter: "),
                "{scope:?}: the old key {old} is in the help: {line}"
            );
        }
    }
    press(app, KeyCode::Esc);
    assert!(app.prompts.help.is_none());
}

#[test]
fn rebound_keys_show_in_every_footer_and_help() {
    let every = ["F8", "F9", "F12"];
    let mut a = app();
    check_view(&mut a, Scope::Tree, &every);

    // the editor: the moved keys are normal-mode keys, so none is offered there
    press(&mut a, KeyCode::Enter);
    check_view(&mut a, Scope::Editor, &[]);
    typed(&mut a, "print(1)");
    press(&mut a, KeyCode::Esc);

    // broadcast (the editor's snippet on the group)
    press(&mut a, KeyCode::Char('b'));
    check_view(&mut a, Scope::Broadcast, &every);
    press(&mut a, KeyCode::Char('o'));

    press(&mut a, KeyCode::Char('C'));
    check_view(&mut a, Scope::Channels, &every);
    press(&mut a, KeyCode::Char('C'));

    press(&mut a, KeyCode::Char('M'));
    check_view(&mut a, Scope::Monitor, &["F7", "F8", "F9", "F12"]);
    press(&mut a, KeyCode::Char('o'));

    // the tail through its new key; the old one does nothing there
    press(&mut a, KeyCode::Char('T'));
    assert_eq!(a.scope(), Scope::Tree, "T is unbound now");
    press(&mut a, KeyCode::F(9));
    check_view(&mut a, Scope::Tail, &["F8", "F9", "F10", "F11", "F12"]);
    press(&mut a, KeyCode::Char('o'));

    press(&mut a, KeyCode::Enter);
    typed(&mut a, "7 / 2");
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::F(12));
    check_view(&mut a, Scope::Rosetta, &every);
}

//! TestBackend snapshots of the main screens (text), plus the colours that carry meaning.
//! `UPDATE_SNAPSHOTS=1 cargo nextest run --test tui_snapshots` rewrites the files.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use execdeck::engine::{ConsoleEvent, InterruptMode};
use execdeck::tui::app::{Action, App, EngineMsg};
use execdeck::tui::keymap::Keymap;
use execdeck::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn app() -> App {
    let mut app = App::new(Keymap::defaults());
    for (i, spec) in ["popen//python=python3", "popen//python=pypy3"]
        .iter()
        .enumerate()
    {
        app.add_gateway("local", spec.parse().expect("spec"))
            .expect("add");
        app.update(Action::Engine(EngineMsg::Ready {
            key: i,
            id: format!("gw{i}"),
            pid: Some(1000 + i as u32),
            interpreter: if i == 0 {
                "CPython 3.12.1".into()
            } else {
                "PyPy 7.3.11".into()
            },
        }));
        app.update(Action::Engine(EngineMsg::Console {
            key: i,
            event: ConsoleEvent::Hello {
                interrupt: InterruptMode::InBand,
            },
        }));
    }
    app.selected = 0;
    app.update(key(KeyCode::Enter));
    for c in "print(6*7)".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::F(5)));
    let events = [
        ConsoleEvent::Output { snippet: 1, stderr: false, text: "42\n".into() },
        ConsoleEvent::Output { snippet: 1, stderr: true, text: "a warning\n".into() },
        ConsoleEvent::Result { snippet: 1, repr: "{'a': (1, 2.5)}".into() },
        ConsoleEvent::Error {
            snippet: 1,
            traceback: "Traceback (most recent call last):\n  File \"<console>\", line 1, in <module>\nZeroDivisionError: division by zero\n".into(),
        },
        ConsoleEvent::Done { snippet: 1, seconds: 0.01 },
    ];
    for event in events {
        app.update(Action::Engine(EngineMsg::Console { key: 0, event }));
    }
    app
}

fn render(app: &mut App, w: u16, h: u16) -> (String, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    (text, buf)
}

fn check(name: &str, text: &str) {
    let path = format!("{}/tests/snapshots/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, text).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing snapshot {path}"));
    assert_eq!(
        text, want,
        "screen {name} changed; rerun with UPDATE_SNAPSHOTS=1 if intended"
    );
}

fn row_of(text: &str, needle: &str) -> u16 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not on screen")) as u16
}

#[test]
fn console_screen() {
    let mut a = app();
    let (text, buf) = render(&mut a, 100, 24);
    check("console", &text);
    // meaning carried by colour: stderr yellow, result green, traceback red
    let x = 40;
    let colour = |needle: &str| {
        let y = row_of(&text, needle);
        let line = text.lines().nth(y as usize).unwrap_or("");
        let col = line
            .find(needle)
            .map(|b| line[..b].chars().count() as u16)
            .unwrap_or(x);
        buf[(col, y)].fg
    };
    assert_eq!(colour("a warning"), Color::Yellow);
    assert_eq!(colour("{'a': (1, 2.5)}"), Color::Green);
    assert_eq!(colour("ZeroDivisionError"), Color::Red);
}

#[test]
fn terminate_dialog_screen() {
    let mut a = app();
    a.update(key(KeyCode::Esc));
    a.update(Action::Key(KeyEvent::new(
        KeyCode::Char('X'),
        KeyModifiers::SHIFT,
    )));
    let (text, _) = render(&mut a, 100, 24);
    check("terminate_dialog", &text);
}

#[test]
fn help_screen() {
    let mut a = app();
    a.update(key(KeyCode::Esc));
    a.update(key(KeyCode::Char('?')));
    let (text, _) = render(&mut a, 100, 30);
    check("help", &text);
    for c in "term".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    let (text, _) = render(&mut a, 100, 30);
    assert!(text.contains("terminate the selected gateway or group"));
    assert!(!text.contains("next gateway"), "filtered out");
}

#[test]
fn add_prompt_and_too_small() {
    let mut a = app();
    a.update(key(KeyCode::Esc));
    a.update(key(KeyCode::Char('a')));
    for c in "popen//nice=x".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    let (text, _) = render(&mut a, 100, 24);
    check("add_prompt", &text);
    let (small, _) = render(&mut a, 40, 8);
    assert!(small.contains("Terminal too small: 40x8"), "{small}");
}

#[test]
fn broadcast_screens() {
    let mut a = app();
    for c in "print('hello')".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    a.update(key(KeyCode::Esc));
    a.update(key(KeyCode::Char('b')));
    for k in [0usize, 1] {
        a.update(Action::Engine(EngineMsg::Console {
            key: k,
            event: ConsoleEvent::Output {
                snippet: 2,
                stderr: false,
                text: format!("hello from gw{k}\n"),
            },
        }));
        a.update(Action::Engine(EngineMsg::Console {
            key: k,
            event: ConsoleEvent::Done {
                snippet: 2,
                seconds: 0.01,
            },
        }));
    }
    let (text, _) = render(&mut a, 100, 24);
    check("broadcast_interleaved", &text);
    a.update(key(KeyCode::Char('v')));
    let (text, _) = render(&mut a, 100, 24);
    check("broadcast_side_by_side", &text);
}

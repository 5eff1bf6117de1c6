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
    assert!(text.contains("terminate the selected gateway"));
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

// ---- the watching views: monitor, event log, tail, Rosetta grid, bridges ----

use execdeck::engine::monitor::Metrics;
use execdeck::engine::rosetta::Cell;
use execdeck::tui::app::{Effect, GwState, View};
use std::time::Duration;

fn noon() -> String {
    "12:00:00".into()
}

fn metrics(id: &str, rtt_ms: u64, cpu: f64, rss_mb: u64) -> Metrics {
    Metrics {
        gateway: id.into(),
        rtt: Duration::from_micros(rtt_ms * 1000 + 400),
        channels_open: 2,
        tasks_executing: 1,
        execmodel: "thread".into(),
        messages_in_per_s: Some(3.0),
        messages_out_per_s: Some(1.0),
        bytes_in_per_s: Some(150.0),
        bytes_out_per_s: Some(40.0),
        cpu_percent: Some(cpu),
        rss_bytes: Some(rss_mb << 20),
        uptime: Duration::from_secs(125),
    }
}

/// Three gateways of group "demo" with a few samples each.
fn watch_app() -> App {
    let mut app = App::new(Keymap::defaults());
    app.clock = noon;
    let names = [
        ("py27", "CPython 2.7.18"),
        ("py313", "CPython 3.13.0"),
        ("jython", "Jython 2.7.3"),
    ];
    for (i, (id, interp)) in names.iter().enumerate() {
        let spec = format!("popen//python=python3//id={id}");
        app.add_gateway("demo", spec.parse().expect("spec"))
            .expect("add");
        app.update(Action::Engine(EngineMsg::Ready {
            key: i,
            id: id.to_string(),
            pid: Some(100 + i as u32),
            interpreter: interp.to_string(),
        }));
    }
    for n in 0..10u64 {
        for (i, (id, _)) in names.iter().enumerate() {
            let (rtt, cpu, rss) = match i {
                0 => (0, (n * 3) as f64, 9),
                1 => (120, 60.0 + n as f64, 14),
                _ => (2, 1.0, 3000),
            };
            app.update(Action::Engine(EngineMsg::Metrics {
                key: i,
                metrics: metrics(id, rtt, cpu, rss),
            }));
        }
    }
    app.selected = 0;
    // the first gateway's editor had the keyboard: the tree takes it
    app.update(key(KeyCode::Esc));
    app
}

#[test]
fn monitor_screen_rows_sparklines_thresholds_and_sort() {
    let mut app = watch_app();
    app.update(key(KeyCode::Char('M')));
    assert_eq!(app.view, View::Monitor);
    let (text, buf) = render(&mut app, 150, 20);
    check("monitor", &text);
    // thresholds colour the row: py313 (120 ms, 69 % CPU) warns, jython (3000 MiB) is
    // critical, py27 is plain
    let fg = |needle: &str| {
        let y = row_of(&text, needle);
        buf[(2, y)].fg
    };
    assert_eq!(fg("py313"), Color::Yellow);
    assert_eq!(fg("jython"), Color::Red);
    assert_eq!(fg("py27 "), Color::Reset);
    // S sorts by the next column; cpu puts the busiest first
    for _ in 0..4 {
        app.update(key(KeyCode::Char('S')));
    }
    assert_eq!(app.monitor.sort.name(), "cpu");
    let order: Vec<String> = app
        .monitor_rows()
        .iter()
        .map(|&i| app.gateways[i].id.clone())
        .collect();
    assert_eq!(order, ["py313", "py27", "jython"]);
    // j walks the sorted rows: from py27 (2nd) to jython (3rd)
    app.update(key(KeyCode::Char('j')));
    assert_eq!(
        app.selected_gateway().map(|g| g.id.as_str()),
        Some("jython")
    );
    // :sort with a bad key explains the choices
    app.update(key(KeyCode::Char(':')));
    for c in "sort speed".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    let err = app.prompts.line.as_ref().and_then(|p| p.error.clone());
    assert!(err.is_some_and(|e| e.contains("rtt|cpu|rss")));
}

#[test]
fn event_log_records_start_death_channel_errors_and_termination() {
    let mut app = watch_app();
    app.update(Action::Engine(EngineMsg::Died {
        key: 1,
        reason: "connection closed (worker killed by signal 9 (SIGKILL))".into(),
    }));
    app.update(Action::Engine(EngineMsg::ChannelOpened {
        key: 0,
        channel: 3,
        opener: "here".into(),
        name: None,
    }));
    app.update(Action::Engine(EngineMsg::ChannelEnded {
        key: 0,
        channel: 3,
        error: Some("Traceback (most recent call last):\nValueError: boom\n".into()),
    }));
    app.update(Action::Engine(EngineMsg::Terminated {
        key: 2,
        outcome: execdeck::engine::TerminateOutcome::Exited(
            execdeck::engine::process::ExitInfo::Code(0),
        ),
    }));
    let kinds: Vec<(String, &str, String)> = app
        .monitor
        .log
        .iter()
        .map(|e| (e.gateway.clone(), e.kind.name(), e.text.clone()))
        .collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert_eq!(kinds[0].1, "started");
    assert_eq!(kinds[0].2, "CPython 2.7.18 (pid 100)");
    assert_eq!(
        kinds[3],
        (
            "py313".into(),
            "died",
            "connection closed (worker killed by signal 9 (SIGKILL))".into()
        )
    );
    assert_eq!(
        kinds[4],
        (
            "py27".into(),
            "channel error",
            "channel 3: ValueError: boom".into()
        )
    );
    assert_eq!(kinds[5].1, "terminated");
    assert!(matches!(app.gateways[1].state, GwState::Dead(_)));
    app.update(key(KeyCode::Char('M')));
    let (text, _) = render(&mut app, 150, 20);
    check("monitor_events", &text);
    assert!(text.contains("12:00:00 py313      died: connection closed"));
    // the dead row shows no stale metrics
    let row = text.lines().find(|l| l.contains("│py313")).unwrap_or("");
    assert!(row.contains("dead") && !row.contains("14.0M"), "{row}");
}

#[test]
fn tail_merges_filters_and_pauses_without_silent_loss() {
    let mut app = watch_app();
    app.tail.set_cap(5);
    let out = |app: &mut App, key: usize, text: &str| {
        app.update(Action::Engine(EngineMsg::Output {
            key,
            stream: execdeck::engine::Stream::Stdout,
            text: text.into(),
        }));
    };
    out(&mut app, 0, "tick 1\ntick ");
    out(&mut app, 0, "2\n");
    app.update(Action::Engine(EngineMsg::Output {
        key: 1,
        stream: execdeck::engine::Stream::Stderr,
        text: "warning: careful\n".into(),
    }));
    app.update(Action::Engine(EngineMsg::ChannelOpened {
        key: 1,
        channel: 5,
        opener: "here".into(),
        name: None,
    }));
    app.update(Action::Engine(EngineMsg::ChannelItem {
        key: 1,
        channel: 5,
        repr: "'tick 1'".into(),
    }));
    app.update(key(KeyCode::Char('T')));
    assert_eq!(app.view, View::Tail);
    let tags: Vec<String> = app.tail.visible().map(|l| l.tag()).collect();
    assert_eq!(tags, ["py27 out", "py27 out", "py313 err", "py313#5"]);
    let (text, _) = render(&mut app, 100, 12);
    check("tail", &text);
    // PgUp scrolls the tail back, PgDn follows again
    app.update(key(KeyCode::PageUp));
    assert_eq!(app.tail.scroll, 3, "at most to the oldest line");
    let (text, _) = render(&mut app, 100, 12);
    assert!(text.contains("scrolled 3 (PgDn to follow)"), "{text}");
    assert!(!text.contains("'tick 1'"), "{text}");
    app.update(key(KeyCode::PageDown));
    assert_eq!(app.tail.scroll, 0);
    // filter: the f prompt takes gw:ID, stream names and a regex
    app.update(key(KeyCode::Char('f')));
    for c in "gw:py27 tick [2]".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    let shown: Vec<String> = app.tail.visible().map(|l| l.text.clone()).collect();
    assert_eq!(shown, ["tick 2"]);
    // a bad regex is refused in the prompt, the old filter stays
    app.update(key(KeyCode::Char('f')));
    app.update(key(KeyCode::Char('(')));
    app.update(key(KeyCode::Enter));
    assert!(
        app.prompts
            .line
            .as_ref()
            .and_then(|p| p.error.clone())
            .is_some_and(|e| e.contains("bad regex"))
    );
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char(':')));
    for c in "tail items err".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    assert_eq!(app.tail.visible().count(), 2);
    // pause: 8 lines arrive, the pending buffer holds 4 (one slot stays for the marker);
    // resuming says 4 were dropped
    app.update(key(KeyCode::Char('p')));
    assert!(app.tail.paused);
    for n in 0..8 {
        out(&mut app, 2, &format!("line {n}\n"));
    }
    assert_eq!(app.tail.lines.len(), 4, "nothing moves while paused");
    let (text, _) = render(&mut app, 100, 12);
    assert!(text.contains("PAUSED, 4 waiting (4 dropped)"), "{text}");
    app.update(key(KeyCode::Char('p')));
    assert!(!app.tail.paused);
    app.update(key(KeyCode::Char(':')));
    for c in "tail".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Enter));
    let marker: Vec<&str> = app
        .tail
        .lines
        .iter()
        .filter(|l| l.marker)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(marker, ["── 4 lines dropped while paused ──"]);
    // the marker shows whatever the filter
    assert!(app.tail.visible().any(|l| l.marker));
    let kept: Vec<&str> = app
        .tail
        .lines
        .iter()
        .filter(|l| !l.marker)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(kept, ["line 4", "line 5", "line 6", "line 7"]);
    assert!(
        app.tail.lines.dropped > 0,
        "the scrollback limit counts too"
    );
}

#[test]
fn rosetta_grid_runs_on_the_group_and_highlights_the_odd_ones() {
    let mut app = watch_app();
    app.update(key(KeyCode::Enter));
    for c in "7 / 2".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Esc));
    let eff = app.update(key(KeyCode::Char('R')));
    assert_eq!(
        eff[0],
        Effect::Rosetta {
            run: 1,
            keys: vec![0, 1, 2],
            code: "7 / 2".into()
        }
    );
    assert_eq!(app.view, View::Rosetta);
    let (running, _) = render(&mut app, 100, 14);
    assert!(running.contains("running…"));
    let cell = |gw: &str, repr: &str, ty: &str, differs: bool| Cell {
        gateway: gw.into(),
        repr: Some(repr.into()),
        type_name: Some(ty.into()),
        error: None,
        elapsed: Duration::from_micros(1500),
        timed_out: false,
        differs,
    };
    // a cell that is in shows at once; the others still run
    app.update(Action::Engine(EngineMsg::RosettaCell {
        run: 1,
        index: 1,
        cell: cell("py313", "3.5", "float", false),
    }));
    let (partial, _) = render(&mut app, 100, 14);
    assert!(partial.contains("3.5"), "{partial}");
    assert_eq!(partial.matches("running…").count(), 2, "{partial}");
    app.update(Action::Engine(EngineMsg::RosettaDone {
        run: 1,
        cells: vec![
            cell("py27", "3", "int", false),
            cell("py313", "3.5", "float", true),
            cell("jython", "3", "int", false),
        ],
    }));
    let (text, buf) = render(&mut app, 100, 14);
    check("rosetta", &text);
    for interp in ["CPython 2.7.18", "CPython 3.13.0", "Jython 2.7.3"] {
        assert!(text.contains(interp), "{interp} missing");
    }
    // the odd cell is highlighted
    let y = row_of(&text, "3.5");
    let x = text
        .lines()
        .nth(y as usize)
        .and_then(|l| l.find("3.5"))
        .unwrap_or(0);
    let x = text
        .lines()
        .nth(y as usize)
        .map(|l| l[..x].chars().count())
        .unwrap_or(0) as u16;
    assert_eq!(buf[(x, y)].bg, Color::Yellow);
    // :rosetta with a chosen set, and an unknown id is refused
    app.update(key(KeyCode::Char('o')));
    app.update(key(KeyCode::Enter));
    for c in "1".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char(':')));
    for c in "rosetta py27,nope".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let eff = app.update(key(KeyCode::Enter));
    assert!(eff.is_empty());
    assert!(
        app.prompts
            .line
            .as_ref()
            .and_then(|p| p.error.clone())
            .is_some_and(|e| e.contains("no gateway 'nope'"))
    );
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char(':')));
    for c in "rosetta py27,jython".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let eff = app.update(key(KeyCode::Enter));
    assert_eq!(
        eff[0],
        Effect::Rosetta {
            run: 2,
            keys: vec![0, 2],
            code: "1".into()
        }
    );
}

#[test]
fn session_setup_opens_channels_bridges_and_the_grid_as_gateways_come_up() {
    let text = r#"
view = "rosetta"
[[groups]]
name = "demo"
specs = ["popen//id=a", "popen//id=b"]
[[channels]]
name = "producer"
gateway = "a"
code = "channel.send(1)"
[[channels]]
name = "consumer"
gateway = "b"
code = "for x in channel: print(x)"
[[bridges]]
from = "producer"
to = "consumer"
[rosetta]
code = "1 + 1"
"#;
    let session = execdeck::config::Session::parse(text, "demo.toml").expect("parse");
    let mut app = App::new(Keymap::defaults());
    let effects = app.update(Action::Engine(EngineMsg::Session(session)));
    assert_eq!(effects.len(), 2, "two gateways open");
    assert_eq!(app.view, View::Rosetta);
    let ready = |app: &mut App, key: usize, id: &str| {
        app.update(Action::Engine(EngineMsg::Ready {
            key,
            id: id.into(),
            pid: None,
            interpreter: "CPython 3.11.2".into(),
        }))
    };
    let eff = ready(&mut app, 0, "a");
    assert_eq!(
        eff,
        vec![Effect::OpenChannel {
            key: 0,
            code: "channel.send(1)".into(),
            name: Some("producer".into()),
            hold: true
        }],
        "the producer is held for the bridge; no grid until b is up"
    );
    let eff = ready(&mut app, 1, "b");
    assert_eq!(eff.len(), 2, "{eff:?}");
    assert!(matches!(
        &eff[0],
        Effect::OpenChannel {
            key: 1,
            hold: false,
            ..
        }
    ));
    assert!(matches!(&eff[1], Effect::Rosetta { keys, .. } if keys == &vec![0, 1]));
    let opened = |app: &mut App, key: usize, channel: i32, name: &str| {
        app.update(Action::Engine(EngineMsg::ChannelOpened {
            key,
            channel,
            opener: "here".into(),
            name: Some(name.into()),
        }))
    };
    assert!(opened(&mut app, 0, 3, "producer").is_empty());
    let eff = opened(&mut app, 1, 3, "consumer");
    assert_eq!(
        eff,
        vec![Effect::Bridge {
            src: (0, 3),
            dst: (1, 3)
        }]
    );
    // the bridge's counters show on both rows; its end is logged once
    app.update(Action::Engine(EngineMsg::Bridge {
        src: (0, 3),
        dst: (1, 3),
        items: 12,
        conversions: 12,
        merged: 0,
        per_s: 2.0,
        ended: None,
    }));
    app.selected = 0;
    app.view = View::Console;
    app.channels_shown = true;
    let (text, _) = render(&mut app, 140, 16);
    check("channels_bridge", &text);
    assert!(text.contains("⇒ b#3  12 items  12 conv  2/s"), "{text}");
    bridge_ended_twice(&mut app, (0, 3), (1, 3), 13, "destination b#3 closed");
    let bridge_log: Vec<&str> = app
        .monitor
        .log
        .iter()
        .filter(|e| e.kind.name() == "bridge")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        bridge_log,
        ["a#3 → b#3 ended after 13 items: destination b#3 closed"]
    );
}

/// The end of a bridge, reported twice (as the runtime may): it must be logged once.
fn bridge_ended_twice(
    app: &mut App,
    src: (usize, i32),
    dst: (usize, i32),
    items: u64,
    reason: &str,
) {
    for _ in 0..2 {
        app.update(Action::Engine(EngineMsg::Bridge {
            src,
            dst,
            items,
            conversions: items,
            merged: 0,
            per_s: 0.0,
            ended: Some(reason.into()),
        }));
    }
}

#[test]
fn bridge_command_checks_its_channels() {
    let mut app = watch_app();
    for (key, channel) in [(0, 3), (1, 5)] {
        app.update(Action::Engine(EngineMsg::ChannelOpened {
            key,
            channel,
            opener: "here".into(),
            name: None,
        }));
    }
    let run = |app: &mut App, line: &str| {
        app.update(key(KeyCode::Char(':')));
        for c in line.chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let eff = app.update(key(KeyCode::Enter));
        let err = app.prompts.line.take().and_then(|p| p.error);
        (eff, err)
    };
    let (_, err) = run(&mut app, "bridge py27#3");
    assert!(err.is_some_and(|e| e.starts_with("usage: :bridge FROM TO")));
    let (_, err) = run(&mut app, "bridge py27#3 py27#3");
    assert_eq!(
        err.as_deref(),
        Some("a channel cannot be bridged into itself")
    );
    let (_, err) = run(&mut app, "bridge py27#9 py313#5");
    assert_eq!(
        err.as_deref(),
        Some("gateway py27 has no channel 9 (C lists its channels)")
    );
    let (_, err) = run(&mut app, "bridge nope#1 py313#5");
    assert_eq!(err.as_deref(), Some("no gateway 'nope' in group 'demo'"));
    let (eff, err) = run(&mut app, "bridge py27#3 py313#5");
    assert_eq!(err, None);
    assert_eq!(
        eff,
        vec![Effect::Bridge {
            src: (0, 3),
            dst: (1, 5)
        }]
    );
    // B on a selected channel pre-fills the command line with it
    app.update(key(KeyCode::Char('B')));
    assert_eq!(
        app.prompts.line.as_ref().map(|p| p.text.as_str()),
        Some("bridge py27#3 ")
    );
}

#[test]
fn sampling_interval_command() {
    let mut app = watch_app();
    app.update(key(KeyCode::Char(':')));
    for c in "interval 0.5".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    assert_eq!(
        app.update(key(KeyCode::Enter)),
        vec![Effect::MonitorInterval(0.5)]
    );
    app.update(key(KeyCode::Char(':')));
    for c in "interval 0.01".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(app.prompts.line.is_some_and(|p| p.error.is_some()));
}

// ---- regressions found in review ----

fn command(app: &mut App, line: &str) -> (Vec<Effect>, Option<String>) {
    if app.mode() == execdeck::tui::keymap::Mode::Editor {
        // `:` is typed in the tree; Esc goes there from the editor
        app.update(key(KeyCode::Esc));
    }
    app.update(key(KeyCode::Char(':')));
    for c in line.chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let eff = app.update(key(KeyCode::Enter));
    let err = app.prompts.line.take().and_then(|p| p.error);
    (eff, err)
}

#[test]
fn an_older_rosetta_run_does_not_overwrite_the_grid() {
    let mut app = watch_app();
    for code in ["slow()", "fast()"] {
        app.update(key(KeyCode::Enter));
        for c in code.chars() {
            app.update(key(KeyCode::Char(c)));
        }
        app.update(key(KeyCode::Esc));
        app.update(key(KeyCode::Char('R')));
        // Esc: from the grid back to the console, where Enter edits again
        app.update(key(KeyCode::Esc));
    }
    let cells = |repr: &str| {
        vec![Cell {
            gateway: "py27".into(),
            repr: Some(repr.into()),
            type_name: Some("str".into()),
            error: None,
            elapsed: Duration::ZERO,
            timed_out: false,
            differs: false,
        }]
    };
    app.update(Action::Engine(EngineMsg::RosettaDone {
        run: 2,
        cells: cells("'fast'"),
    }));
    app.update(Action::Engine(EngineMsg::RosettaDone {
        run: 1,
        cells: cells("'slow'"),
    }));
    let r = app.rosetta.as_ref().expect("grid");
    assert_eq!(r.code, "fast()");
    assert_eq!(
        r.cells.as_ref().and_then(|c| c[0].repr.clone()).as_deref(),
        Some("'fast'")
    );
}

const TWO_CHANNEL_SESSION: &str = r#"
[[groups]]
name = "demo"
specs = ["popen//id=a", "popen//id=b"]
[[channels]]
name = "producer"
gateway = "a"
code = "p"
[[channels]]
name = "consumer"
gateway = "b"
code = "c"
[[bridges]]
from = "producer"
to = "consumer"
[rosetta]
code = "1"
"#;

fn session_app() -> App {
    let session = execdeck::config::Session::parse(TWO_CHANNEL_SESSION, "s.toml").expect("parse");
    let mut app = App::new(Keymap::defaults());
    app.clock = noon;
    app.update(Action::Engine(EngineMsg::Session(session)));
    app
}

fn ready(app: &mut App, key: usize, id: &str) -> Vec<Effect> {
    app.update(Action::Engine(EngineMsg::Ready {
        key,
        id: id.into(),
        pid: None,
        interpreter: "CPython 3.11.2".into(),
    }))
}

#[test]
fn a_bridge_whose_consumer_never_comes_up_releases_its_producer() {
    // the consumer fails first: the producer opens unheld, the bridge is dropped
    let mut app = session_app();
    app.update(Action::Engine(EngineMsg::Failed {
        key: 1,
        error: "python interpreter not found: /nope".into(),
    }));
    let eff = ready(&mut app, 0, "a");
    assert!(
        eff.iter()
            .any(|e| matches!(e, Effect::OpenChannel { hold: false, .. })),
        "{eff:?}"
    );
    assert!(
        eff.iter()
            .any(|e| matches!(e, Effect::Rosetta { keys, .. } if keys == &vec![0])),
        "the grid runs on what came up: {eff:?}"
    );
    let logged: Vec<&str> = app.monitor.log.iter().map(|e| e.text.as_str()).collect();
    assert!(
        logged.contains(&"producer → consumer not made: channel 'consumer' did not open"),
        "{logged:?}"
    );
    // the producer is up and held first, then the consumer's channel fails to open
    let mut app = session_app();
    ready(&mut app, 0, "a");
    ready(&mut app, 1, "b");
    app.update(Action::Engine(EngineMsg::ChannelOpened {
        key: 0,
        channel: 3,
        opener: "here".into(),
        name: Some("producer".into()),
    }));
    let eff = app.update(Action::Engine(EngineMsg::ChannelOpenFailed {
        key: 1,
        name: Some("consumer".into()),
        error: "gateway b is closed".into(),
    }));
    assert_eq!(eff, vec![Effect::ReleaseChannel { key: 0, channel: 3 }]);
}

#[test]
fn session_setup_completes_when_a_gateway_is_terminated_while_connecting() {
    let mut app = session_app();
    ready(&mut app, 0, "a");
    let eff = app.update(Action::Engine(EngineMsg::Terminated {
        key: 1,
        outcome: execdeck::engine::TerminateOutcome::AlreadyDead(None),
    }));
    assert!(
        eff.iter()
            .any(|e| matches!(e, Effect::Rosetta { keys, .. } if keys == &vec![0])),
        "{eff:?}"
    );
    // the late Ready of the terminated gateway ends it again, without a second log entry
    let eff = ready(&mut app, 1, "b");
    assert_eq!(eff, vec![Effect::Terminate { keys: vec![1] }]);
    app.update(Action::Engine(EngineMsg::Terminated {
        key: 1,
        outcome: execdeck::engine::TerminateOutcome::Exited(
            execdeck::engine::process::ExitInfo::Code(0),
        ),
    }));
    let terminated = app
        .monitor
        .log
        .iter()
        .filter(|e| e.kind.name() == "terminated")
        .count();
    assert_eq!(terminated, 1);
}

#[test]
fn bridges_refuse_busy_and_closed_channels_at_once() {
    let mut app = session_app();
    ready(&mut app, 0, "a");
    ready(&mut app, 1, "b");
    for (key, channel, name) in [(0, 3, Some("producer")), (1, 3, None), (1, 5, None)] {
        app.update(Action::Engine(EngineMsg::ChannelOpened {
            key,
            channel,
            opener: "here".into(),
            name: name.map(str::to_string),
        }));
    }
    // the session's own bridge needs the consumer; bridge by hand instead
    let (eff, err) = command(&mut app, "bridge a#3 b#3");
    assert_eq!(err, None);
    assert_eq!(eff.len(), 1);
    // a second bridge into b#3 is refused before the first reports anything
    let (eff, err) = command(&mut app, "bridge b#5 b#3");
    assert!(eff.is_empty());
    assert_eq!(
        err.as_deref(),
        Some("one of these channels is already bridged")
    );
    // a closed channel is refused by its session name as by GW#CH
    app.update(Action::Engine(EngineMsg::BridgeFailed {
        src: (0, 3),
        dst: (1, 3),
        error: "test".into(),
    }));
    app.update(Action::Engine(EngineMsg::ChannelEnded {
        key: 0,
        channel: 3,
        error: None,
    }));
    let (_, err) = command(&mut app, "bridge producer b#5");
    assert_eq!(err.as_deref(), Some("channel 'producer' is closed"));
}

#[test]
fn bridge_ends_are_logged_once_per_bridge_even_with_repeated_ids() {
    let mut app = App::new(Keymap::defaults());
    app.clock = noon;
    for (n, group) in ["g1", "g1", "g2", "g2"].iter().enumerate() {
        app.add_gateway(group, "popen".parse().expect("spec"))
            .expect("add");
        ready(&mut app, n, &format!("gw{}", n % 2));
        app.update(Action::Engine(EngineMsg::ChannelOpened {
            key: n,
            channel: 3,
            opener: "here".into(),
            name: None,
        }));
    }
    for (src, dst) in [((0, 3), (1, 3)), ((2, 3), (3, 3))] {
        bridge_ended_twice(&mut app, src, dst, 5, "source closed");
    }
    let ends: Vec<&str> = app
        .monitor
        .log
        .iter()
        .filter(|e| e.kind.name() == "bridge")
        .map(|e| e.group.as_str())
        .collect();
    assert_eq!(ends, ["g1", "g2"]);
}

#[test]
fn monitor_sorts_dead_gateways_last_and_scrolls_to_the_selection() {
    let mut app = watch_app();
    // py313 was the busiest; once dead it sorts last
    app.update(Action::Engine(EngineMsg::Died {
        key: 1,
        reason: "gone".into(),
    }));
    command(&mut app, "sort cpu");
    let order: Vec<String> = app
        .monitor_rows()
        .iter()
        .map(|&i| app.gateways[i].id.clone())
        .collect();
    assert_eq!(order, ["py27", "jython", "py313"]);
    // 32 gateways on a short screen: the selected row stays visible
    let mut app = App::new(Keymap::defaults());
    for n in 0..32 {
        app.add_gateway("bench", format!("popen//id=w{n:02}").parse().expect("spec"))
            .expect("add");
        ready(&mut app, n, &format!("w{n:02}"));
    }
    app.selected = 0;
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char('M')));
    for _ in 0..31 {
        app.update(key(KeyCode::Char('j')));
    }
    let (text, _) = render(&mut app, 160, 24);
    assert!(text.lines().any(|l| l.starts_with("│w31 ")), "{text}");
    assert!(text.contains(" above · 0 below"), "{text}");
}

#[test]
fn tail_narrowing_resets_scroll_and_partial_lines_show_at_the_end() {
    let mut app = watch_app();
    for n in 0..200 {
        app.update(Action::Engine(EngineMsg::Output {
            key: 0,
            stream: execdeck::engine::Stream::Stdout,
            text: format!("line {n}{}\n", if n % 50 == 0 { " MATCH" } else { "" }),
        }));
    }
    app.update(key(KeyCode::Char('T')));
    for _ in 0..10 {
        app.update(key(KeyCode::PageUp));
    }
    assert_eq!(app.tail.scroll, 100);
    command(&mut app, "tail MATCH");
    assert_eq!(app.tail.scroll, 0);
    let (text, _) = render(&mut app, 100, 12);
    assert!(text.contains("line 150 MATCH"), "{text}");
    // an unfinished line shows when its gateway dies
    app.update(Action::Engine(EngineMsg::Output {
        key: 2,
        stream: execdeck::engine::Stream::Stdout,
        text: "progress 50%".into(),
    }));
    command(&mut app, "tail gw:jython");
    assert_eq!(app.tail.visible().count(), 0);
    app.update(Action::Engine(EngineMsg::Died {
        key: 2,
        reason: "gone".into(),
    }));
    let shown: Vec<&str> = app.tail.visible().map(|l| l.text.as_str()).collect();
    assert_eq!(shown, ["progress 50%"]);
}

#[test]
fn a_terminated_gateway_s_channels_are_no_errors_in_the_log() {
    let mut app = watch_app();
    app.update(Action::Engine(EngineMsg::ChannelOpened {
        key: 0,
        channel: 3,
        opener: "here".into(),
        name: None,
    }));
    app.selected = 0;
    app.update(key(KeyCode::Char('X')));
    app.update(key(KeyCode::Char('y')));
    app.update(Action::Engine(EngineMsg::ChannelEnded {
        key: 0,
        channel: 3,
        error: Some("gateway py27 is closed: gateway terminated".into()),
    }));
    assert!(
        !app.monitor
            .log
            .iter()
            .any(|e| e.kind.name() == "channel error"),
        "{:?}",
        app.monitor.log
    );
}

//! State tests of `App::update`: no terminal, no engine.

use super::*;
use crate::engine::{ConsoleEvent, InterruptMode, Stream, TerminateOutcome};
use crate::tui::keymap::{Keymap, Mode};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(key(KeyCode::Char(c)));
    }
}

fn app_with_gateway() -> App {
    let mut app = App::new(Keymap::defaults());
    let eff = app.add_gateway("local", "popen//python=python3".parse().unwrap());
    assert!(matches!(eff, Ok(Effect::Open { key: 0, .. })));
    // the first gateway's editor has the keyboard; Esc goes to the tree
    assert_eq!(app.focus, Focus::Editor);
    app.update(key(KeyCode::Esc));
    assert_eq!(app.focus, Focus::Tree);
    app.update(Action::Engine(EngineMsg::Ready {
        key: 0,
        id: "gw0".into(),
        pid: Some(42),
        interpreter: "CPython 3.12.1".into(),
    }));
    app.update(Action::Engine(EngineMsg::Console {
        key: 0,
        event: ConsoleEvent::Hello {
            interrupt: InterruptMode::InBand,
        },
    }));
    app
}

/// A ready gateway whose editor has focus and holds `code`.
fn app_editing(code: &str) -> App {
    let mut app = app_with_gateway();
    app.update(key(KeyCode::Enter));
    typed(&mut app, code);
    app
}

#[test]
fn run_snippet_flow() {
    let mut app = app_with_gateway();
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.focus, Focus::Editor);
    typed(&mut app, "print(6*7)");
    let eff = app.update(key(KeyCode::F(5)));
    assert_eq!(
        eff[0],
        Effect::Run {
            key: 0,
            code: "print(6*7)".into()
        }
    );
    assert_eq!(
        eff[1],
        Effect::SaveHistory {
            spec: "popen//python=python3".into(),
            entry: "print(6*7)".into()
        }
    );
    assert_eq!(app.gateways[0].state, GwState::Busy);
    app.update(Action::Engine(EngineMsg::Started { key: 0, snippet: 1 }));
    app.update(Action::Engine(EngineMsg::Console {
        key: 0,
        event: ConsoleEvent::Output {
            snippet: 1,
            stderr: false,
            text: "42\n".into(),
        },
    }));
    app.update(Action::Engine(EngineMsg::Console {
        key: 0,
        event: ConsoleEvent::Done {
            snippet: 1,
            seconds: 0.01,
        },
    }));
    assert_eq!(app.gateways[0].state, GwState::Ready);
    let lines: Vec<&str> = app.gateways[0]
        .console
        .output
        .lines
        .iter()
        .map(|l| l.1.as_str())
        .collect();
    assert!(lines.contains(&">>> print(6*7)"), "{lines:?}");
    assert!(lines.contains(&"42"), "{lines:?}");
    // history: Up on the first line brings the snippet back
    app.update(key(KeyCode::Up));
    assert_eq!(app.gateways[0].console.editor.lines(), ["print(6*7)"]);
    // Ctrl+R runs too
    assert_eq!(app.update(ctrl('r')).len(), 2);
    // a duplicate id is refused
    let dup = app.add_gateway("local", "popen//id=gw0".parse().unwrap());
    assert_eq!(
        dup,
        Err("gateway id 'gw0' is already in use in group 'local'".into())
    );
}

#[test]
fn auto_indent_after_colon() {
    let mut app = app_editing("for i in range(3):");
    app.update(key(KeyCode::Enter));
    typed(&mut app, "print(i)");
    assert_eq!(
        app.gateways[0].console.editor.lines(),
        ["for i in range(3):", "    print(i)"]
    );
}

#[test]
fn interrupt_ladder() {
    let mut app = app_editing("while True: pass");
    assert_eq!(app.update(key(KeyCode::F(5))).len(), 2);
    assert_eq!(app.update(ctrl('c')), vec![Effect::Interrupt { key: 0 }]);
    assert_eq!(app.update(ctrl('c')), vec![Effect::Signal { key: 0 }]);
    assert!(app.update(ctrl('c')).is_empty());
    let c = app.prompts.confirm.clone().expect("offers to terminate");
    assert!(!c.yes_focused, "Cancel is focused first");
    assert!(
        app.update(key(KeyCode::Enter)).is_empty(),
        "Enter on Cancel does nothing"
    );
    assert!(app.prompts.confirm.is_none());
}

#[test]
fn terminate_needs_confirmation() {
    let mut app = app_with_gateway();
    let eff = app.add_gateway("local", "popen//python=python3".parse().unwrap());
    assert!(matches!(eff, Ok(Effect::Open { key: 1, .. })));
    app.selected = 0;
    assert!(
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('X'),
            KeyModifiers::SHIFT
        )))
        .is_empty()
    );
    let c = app.prompts.confirm.clone().expect("dialog");
    assert_eq!(c.title, "Terminate gateway gw0 (group 'local')?");
    // Cancel is focused: Enter keeps it
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    // the group through `:terminate`, the count of live gateways in the title
    typed(&mut app, ":terminate");
    app.update(key(KeyCode::Enter));
    let c = app.prompts.confirm.clone().expect("dialog");
    assert_eq!(c.title, "Terminate group 'local' (2 live gateways)?");
    app.update(key(KeyCode::Right));
    assert_eq!(
        app.update(key(KeyCode::Enter)),
        vec![Effect::Terminate { keys: vec![0, 1] }]
    );
    app.update(Action::Engine(EngineMsg::Terminated {
        key: 0,
        outcome: TerminateOutcome::Killed,
    }));
    assert_eq!(
        app.gateways[0].state,
        GwState::Terminated("killed after timeout".into())
    );
}

#[test]
fn terminate_only_the_selected_gateway_of_a_group() {
    let mut app = app_with_gateway();
    app.add_gateway("local", "popen//python=python3".parse().unwrap())
        .unwrap();
    app.selected = 1;
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('X'),
        KeyModifiers::SHIFT,
    )));
    // X names the selected gateway, not its group
    let title = app.prompts.confirm.as_ref().unwrap().title.clone();
    assert_eq!(title, "Terminate gateway gw1 (group 'local')?");
    assert_eq!(
        app.update(key(KeyCode::Char('y'))),
        vec![Effect::Terminate { keys: vec![1] }]
    );
    // a late Ready of a gateway terminated while connecting ends it again
    app.update(Action::Engine(EngineMsg::Terminated {
        key: 1,
        outcome: TerminateOutcome::AlreadyDead(None),
    }));
    let eff = app.update(Action::Engine(EngineMsg::Ready {
        key: 1,
        id: "gw1".into(),
        pid: Some(7),
        interpreter: "CPython".into(),
    }));
    assert_eq!(eff, vec![Effect::Terminate { keys: vec![1] }]);
    assert!(matches!(app.gateways[1].state, GwState::Terminated(_)));
}

#[test]
fn add_validates_inline() {
    let mut app = app_with_gateway();
    app.update(key(KeyCode::Char('a')));
    typed(&mut app, "popen//nice=abc");
    let p = app.prompts.line.clone().expect("prompt");
    assert!(
        p.error
            .expect("inline error")
            .contains("nice must be an integer")
    );
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(app.prompts.line.is_some(), "stays open with the error");
    for _ in 0..4 {
        app.update(key(KeyCode::Backspace));
    }
    typed(&mut app, "=5");
    let eff = app.update(key(KeyCode::Enter));
    assert!(matches!(&eff[..], [Effect::Open { key: 1, .. }]), "{eff:?}");
}

#[test]
fn command_mode_completion_history_and_errors() {
    let mut app = app_with_gateway();
    app.update(key(KeyCode::Char(':')));
    typed(&mut app, "gr");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.prompts.line.as_ref().unwrap().text, "group ");
    typed(&mut app, "work");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.current_group, "work");
    app.update(key(KeyCode::Char(':')));
    app.update(key(KeyCode::Up));
    assert_eq!(app.prompts.line.as_ref().unwrap().text, "group work");
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char(':')));
    typed(&mut app, "fly");
    app.update(key(KeyCode::Enter));
    assert_eq!(
        app.prompts.line.as_ref().unwrap().error.as_deref(),
        Some("unknown command ':fly'")
    );
    app.update(key(KeyCode::Esc));
    app.update(key(KeyCode::Char(':')));
    typed(&mut app, "quit");
    assert_eq!(app.update(key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn broadcast_runs_on_the_group_and_tags_lines() {
    let mut app = app_with_gateway();
    app.add_gateway("local", "popen//python=pypy3".parse().unwrap())
        .unwrap();
    app.update(Action::Engine(EngineMsg::Ready {
        key: 1,
        id: "gw1".into(),
        pid: Some(43),
        interpreter: "PyPy 7.3.11".into(),
    }));
    app.selected = 0;
    app.update(key(KeyCode::Enter));
    typed(&mut app, "print(1)");
    app.update(key(KeyCode::Esc));
    let eff = app.update(key(KeyCode::Char('b')));
    assert_eq!(
        &eff[..2],
        &[
            Effect::Run {
                key: 0,
                code: "print(1)".into()
            },
            Effect::Run {
                key: 1,
                code: "print(1)".into()
            }
        ]
    );
    assert!(matches!(&eff[2], Effect::SaveHistory { entry, .. } if entry == "print(1)"));
    for k in [0, 1] {
        for text in ["1", "\n"] {
            app.update(Action::Engine(EngineMsg::Console {
                key: k,
                event: ConsoleEvent::Output {
                    snippet: 1,
                    stderr: false,
                    text: text.into(),
                },
            }));
        }
    }
    let b = app.broadcast.clone().expect("broadcast view");
    let lines: Vec<&str> = b.ring.lines.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(lines, [">>> print(1)", "[gw0] 1", "[gw1] 1"]);
    assert!(!b.side_by_side);
    app.update(key(KeyCode::Char('v')));
    assert!(app.broadcast.as_ref().unwrap().side_by_side);
    app.update(key(KeyCode::Char('o')));
    assert!(!app.broadcast.as_ref().unwrap().shown);
}

#[test]
fn search_scrolls_to_matches_and_save_writes_the_pane() {
    let mut app = app_with_gateway();
    for i in 0..50 {
        app.update(Action::Engine(EngineMsg::Output {
            key: 0,
            stream: Stream::Stdout,
            text: format!("line {i}\n"),
        }));
    }
    app.update(key(KeyCode::Char('/')));
    // case-insensitive, with a count of the matches
    typed(&mut app, "LINE 1");
    app.update(key(KeyCode::Enter));
    // lines: 0 is the "ready" info line, "line 19" is the newest match
    let c = &app.gateways[0].console;
    assert_eq!(
        c.output.lines[c.output.lines.len() - 1 - c.scroll].1,
        "line 19"
    );
    assert_eq!(
        app.toast.as_deref(),
        Some("match 11 of 11 for 'LINE 1' (n: older, Esc clears)")
    );
    app.update(key(KeyCode::Char('n')));
    let c = &app.gateways[0].console;
    assert_eq!(
        c.output.lines[c.output.lines.len() - 1 - c.scroll].1,
        "line 18"
    );
    app.update(key(KeyCode::Char('w')));
    typed(&mut app, "/tmp/out.txt");
    let eff = app.update(key(KeyCode::Enter));
    match &eff[..] {
        [Effect::SaveOutput { path, text }] => {
            assert_eq!(path, "/tmp/out.txt");
            assert!(text.contains("line 49\n"));
        }
        other => panic!("{other:?}"),
    }
    // Esc in the tree clears the highlight
    app.update(key(KeyCode::Esc));
    assert_eq!(app.gateways[0].console.search, None);
}

#[test]
fn channels_view_flow() {
    let mut app = app_editing("for x in channel: channel.send(x)");
    app.update(key(KeyCode::Esc));
    let eff = app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('E'),
        KeyModifiers::SHIFT,
    )));
    assert_eq!(
        eff,
        vec![Effect::OpenChannel {
            key: 0,
            code: "for x in channel: channel.send(x)".into(),
            name: None,
            hold: false,
        }]
    );
    assert!(app.channels_shown);
    app.update(Action::Engine(EngineMsg::ChannelOpened {
        key: 0,
        channel: 3,
        opener: "here".into(),
        name: None,
    }));
    assert_eq!(app.counts().channels, 2, "console + one channel open");
    app.update(key(KeyCode::Char('s')));
    typed(&mut app, "{'a': [1,");
    let err = app
        .prompts
        .line
        .as_ref()
        .unwrap()
        .error
        .clone()
        .expect("inline parse error");
    assert!(err.contains("expected"), "{err}");
    typed(&mut app, " 2]}");
    assert_eq!(app.prompts.line.as_ref().unwrap().error, None);
    let eff = app.update(key(KeyCode::Enter));
    match &eff[..] {
        [
            Effect::ChannelSend {
                key: 0,
                channel: 3,
                value,
            },
        ] => {
            assert_eq!(value.to_string(), "{'a': [1, 2]}")
        }
        other => panic!("{other:?}"),
    }
    app.update(Action::Engine(EngineMsg::ChannelSent {
        key: 0,
        channel: 3,
        repr: "x".into(),
    }));
    app.update(Action::Engine(EngineMsg::ChannelItem {
        key: 0,
        channel: 3,
        repr: "x".into(),
    }));
    let row = &app.gateways[0].channels.rows[0];
    assert_eq!((row.items_in, row.items_out), (1, 1));
    assert_eq!(
        app.update(key(KeyCode::Char('x'))),
        vec![Effect::ChannelClose { key: 0, channel: 3 }]
    );
    app.update(Action::Engine(EngineMsg::ChannelEnded {
        key: 0,
        channel: 3,
        error: None,
    }));
    assert_eq!(app.gateways[0].channels.rows[0].state, ChannelState::Closed);
}

#[test]
fn paste_goes_to_the_editor() {
    let mut app = app_with_gateway();
    app.update(Action::Paste("def f():\r\n    return 1\r\n".into()));
    assert_eq!(app.focus, Focus::Editor);
    assert_eq!(
        app.gateways[0].console.editor.lines(),
        ["def f():", "    return 1", ""]
    );
}

#[test]
fn enter_runs_complete_code_and_opens_blocks() {
    let mut app = app_editing("for i in range(3):");
    assert!(app.update(key(KeyCode::Enter)).is_empty(), "a block opens");
    assert_eq!(app.gateways[0].console.code(), "for i in range(3):\n    ");
    typed(&mut app, "print(i)");
    assert!(
        app.update(key(KeyCode::Enter)).is_empty(),
        "still in the block"
    );
    let eff = app.update(key(KeyCode::Enter));
    assert_eq!(
        eff[0],
        Effect::Run {
            key: 0,
            code: "for i in range(3):\n    print(i)".into()
        }
    );
    // Backspace goes back one indent stop; Alt+Enter never runs
    let mut app = app_editing("if x:");
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Backspace));
    assert_eq!(app.gateways[0].console.code(), "if x:\n");
    let mut app = app_editing("x = 1");
    let alt = Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    assert!(app.update(alt).is_empty());
    assert_eq!(app.gateways[0].console.code(), "x = 1\n");
}

#[test]
fn view_keys_act_only_in_their_view_and_esc_goes_back() {
    let mut app = app_with_gateway();
    // `p` (pause the tail) in the tree: says where it works, opens nothing
    app.update(key(KeyCode::Char('p')));
    assert_eq!(app.view, View::Console);
    assert!(app.toast.as_deref().unwrap_or("").contains("tail view"));
    assert!(!app.tail.paused);
    for (letter, view) in [('M', View::Monitor), ('T', View::Tail)] {
        app.update(key(KeyCode::Char(letter)));
        assert_eq!(app.view, view);
        // `i` does not reach a hidden editor
        app.update(key(KeyCode::Char('i')));
        assert_eq!(app.mode(), Mode::Normal);
        app.update(key(KeyCode::Esc));
        assert_eq!(app.view, View::Console);
    }
    app.update(key(KeyCode::Char('C')));
    assert!(app.channels_shown);
    app.update(key(KeyCode::Esc));
    assert!(!app.channels_shown);
}

#[test]
fn a_snippet_typed_before_the_console_is_up_runs_when_it_is() {
    let mut app = App::new(Keymap::defaults());
    app.add_gateway("local", "popen//python=python3".parse().unwrap())
        .unwrap();
    typed(&mut app, "print(6*7)");
    let eff = app.update(key(KeyCode::Enter));
    assert!(
        !eff.iter().any(|e| matches!(e, Effect::Run { .. })),
        "{eff:?}"
    );
    app.update(Action::Engine(EngineMsg::Ready {
        key: 0,
        id: "gw0".into(),
        pid: Some(42),
        interpreter: "CPython 3.12.1".into(),
    }));
    let eff = app.update(Action::Engine(EngineMsg::Console {
        key: 0,
        event: ConsoleEvent::Hello {
            interrupt: InterruptMode::InBand,
        },
    }));
    assert_eq!(
        eff,
        vec![Effect::Run {
            key: 0,
            code: "print(6*7)".into()
        }]
    );
    assert_eq!(app.gateways[0].state, GwState::Busy);
}

#[test]
fn q_asks_when_a_gateway_holds_state_unless_configured_off() {
    let mut app = app_with_gateway();
    // nothing ran yet: q quits at once
    let mut fresh = app_with_gateway();
    assert_eq!(fresh.update(key(KeyCode::Char('q'))), vec![Effect::Quit]);
    app.update(key(KeyCode::Enter));
    typed(&mut app, "x = 1");
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Esc));
    assert!(app.update(key(KeyCode::Char('q'))).is_empty());
    let c = app.prompts.confirm.clone().expect("dialog");
    assert!(c.quit && c.title.contains("busy"), "{c:?}");
    assert!(app.update(key(KeyCode::Enter)).is_empty(), "Cancel first");
    assert!(!app.quitting);
    app.confirm_quit = false;
    assert_eq!(app.update(key(KeyCode::Char('q'))), vec![Effect::Quit]);
}

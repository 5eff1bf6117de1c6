//! The real binary in tmux: start, run `print(6*7)` with F5, interrupt a spinning loop
//! with Ctrl+C, terminate the group through the confirmation, quit; then no Python
//! process of ours is left and the terminal was restored.

mod common;

use common::{Pids, Tmux, pids_on};

/// Enter from the tree: waits until the footer shows the editor's bindings.
fn focus_editor(tmux: &Tmux) {
    tmux.keys(&["Enter"]);
    tmux.wait(10, "editor focus", |s| s.contains("Esc tree"));
}

/// Esc from the editor: waits until the footer shows the tree's bindings (a key sent
/// right after Esc would read as Alt+key).
fn focus_tree(tmux: &Tmux) {
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| s.contains("j/Down next"));
}

/// The cockpit exited with 0, the terminal modes are off again, and no worker is left.
fn assert_clean_exit(tmux: &Tmux, pids: &[i32]) {
    let s = tmux.wait(20, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    let modes = tmux.cmd(&[
        "display",
        "-p",
        "-t",
        "t",
        "#{alternate_on} #{mouse_any_flag}",
    ]);
    assert_eq!(modes.trim(), "0 0", "terminal restored");
    for &p in pids {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "worker {p} left behind"
        );
    }
}

fn pids_in_tree(screen: &str) -> usize {
    screen
        .lines()
        .filter(|l| l.contains(" local") && !pids_on(l).is_empty() && !l.contains("ready (pid"))
        .count()
}

#[test]
fn cockpit_in_tmux() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let py = common::python3();
    let tmux = Tmux::new("execdeck-e2e");
    let bin = common::bin();
    // a wrapper shell reports the exit status and whether the terminal modes were reset
    let script = format!(
        "'{}' --group local='popen//python={py},popen//python={py}'; echo EXIT=$?; sleep 30",
        bin.display()
    );
    tmux.start(120, 36, &script);
    // the tree's detail lines show a pid once a gateway is ready
    let screen = tmux.wait(20, "two ready gateways", |s| pids_in_tree(s) >= 2);
    assert!(screen.contains("groups 1  gateways alive 2/2"), "{screen}");
    let mut pids = Pids(pids_on(&screen));
    assert_eq!(pids.0.len(), 2, "{screen}");

    // run a snippet with F5
    tmux.keys(&["Enter"]);
    tmux.text("print(6*7)");
    tmux.keys(&["F5"]);
    tmux.wait(20, "42", |s| {
        s.lines().any(|l| l.contains("│42 ")) && s.contains("busy 0")
    });

    // a spinning loop, interrupted with Ctrl+C; the gateway survives
    tmux.text("while True: pass");
    tmux.keys(&["F5"]);
    tmux.wait(10, "busy state", |s| s.contains("running…"));
    tmux.keys(&["C-c"]);
    tmux.wait(20, "KeyboardInterrupt and idle", |s| {
        s.contains("KeyboardInterrupt") && s.contains("busy 0")
    });
    tmux.text("6*7+1");
    tmux.keys(&["F5"]);
    tmux.wait(20, "43", |s| s.lines().any(|l| l.contains("│43 ")));

    // broadcast the editor's snippet to the group: tagged lines, then side by side
    tmux.text("print('bc-%d' % (6*7))");
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| s.contains("j/Down next"));
    tmux.keys(&["b"]);
    tmux.wait(20, "tagged broadcast output", |s| {
        s.contains("[gw0] bc-42") && s.contains("[gw1] bc-42") && s.contains("busy 0")
    });
    tmux.keys(&["v"]);
    tmux.wait(10, "side by side", |s| {
        s.contains("gw0 · CPython") && s.contains("gw1 · CPython")
    });
    tmux.keys(&["o"]);
    tmux.wait(10, "console again", |s| !s.contains("broadcast to group"));
    focus_editor(&tmux);

    // channels view: open a channel from the editor, send a literal, see the reply
    tmux.text("for x in channel:");
    tmux.keys(&["Enter"]);
    tmux.text("channel.send(x * 2)");
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| s.contains("j/Down next"));
    tmux.keys(&["E"]);
    tmux.wait(20, "channel row", |s| {
        s.contains("channels of gw0") && s.contains(" here ") && s.contains("open")
    });
    tmux.keys(&["s"]);
    tmux.text("[1, 2");
    tmux.wait(10, "inline literal error", |s| {
        s.contains("expected ',' or ']'")
    });
    tmux.text("]");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "reply on the channel", |s| s.contains("← [1, 2, 1, 2]"));
    tmux.keys(&["x"]);
    tmux.wait(20, "channel closed", |s| s.contains("closed"));
    tmux.keys(&["C"]);
    tmux.wait(10, "console again", |s| !s.contains("channels of gw0"));
    focus_editor(&tmux);

    // help is generated from the keymap
    focus_tree(&tmux);
    tmux.keys(&["?"]);
    tmux.wait(10, "help", |s| {
        s.contains(" help ") && s.contains("next gateway")
    });
    // typing filters the list
    tmux.text("termin");
    tmux.wait(10, "filtered help", |s| {
        s.contains("terminate the selected gateway") && !s.contains("next gateway")
    });
    tmux.keys(&["Escape"]);
    // (a key right after Esc would read as Alt+key: wait until help is gone)
    tmux.wait(10, "help closed", |s| !s.contains(" help "));

    // terminate the group (`:terminate`; X is the selected gateway's): the dialog
    // focuses Cancel first
    tmux.keys(&[":"]);
    tmux.text("terminate");
    tmux.keys(&["Enter"]);
    tmux.wait(10, "dialog", |s| {
        s.contains("Terminate group 'local' (2 live gateways)?")
    });
    tmux.keys(&["Enter"]);
    let s = tmux.wait(10, "dialog closed", |s| !s.contains("Terminate group"));
    assert!(s.contains("alive 2/2"), "Cancel kept the gateways: {s}");
    tmux.keys(&[":"]);
    tmux.text("terminate local");
    tmux.keys(&["Enter"]);
    tmux.wait(10, "dialog", |s| s.contains("Terminate group 'local'"));
    tmux.keys(&["Right", "Enter"]);
    tmux.wait(20, "terminated", |s| s.contains("alive 0/2"));
    for &p in &pids.0 {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "worker {p} still there after terminate"
        );
    }

    // add one more gateway live, then quit with it running
    tmux.keys(&["a"]);
    tmux.text("popen//nice=abc");
    tmux.wait(10, "inline validation", |s| {
        s.contains("nice must be an integer")
    });
    for _ in 0..4 {
        tmux.keys(&["BSpace"]);
    }
    tmux.text(&format!("=1//python={py}//id=late"));
    tmux.keys(&["Enter"]);
    let s = tmux.wait(20, "late gateway ready", |s| s.contains("late ready"));
    let late = pids_on(&s);
    pids.0.extend(&late);
    tmux.keys(&["C-q"]);
    assert_clean_exit(&tmux, &pids.0);
}

/// A bad keymap file: the cockpit starts with the default keys and names file, line
/// and problem; `:save` writes a session that `--session NAME` opens again.
#[test]
fn bad_keymap_notice_and_sessions() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let py = common::python3();
    let cfg = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        cfg.path().join("keymap.toml"),
        "[[keys]]\nmode = \"normal\"\non = [\"j\"]\nrun = \"fly\"\n",
    )
    .expect("write keymap");
    let tmux = Tmux::new("execdeck-e2e-s");
    let run = |extra: &str| {
        format!(
            "EXECDECK_CONFIG_DIR='{}' EXECDECK_DATA_DIR='{}' '{}' {extra}; echo EXIT=$?; sleep 30",
            cfg.path().display(),
            data.path().display(),
            common::bin().display()
        )
    };
    let script = run(&format!("--group work='popen//python={py}//id=w1'"));
    tmux.start(140, 30, &script);
    let s = tmux.wait(20, "notice", |s| s.contains("unknown command 'fly'"));
    assert!(s.contains("keymap.toml: line 4: entry 1"), "{s}");
    let s = tmux.wait(20, "ready", |s| {
        pids_in_tree(s) >= 1 || s.contains("w1 ready")
    });
    let mut pids = Pids(pids_on(&s));
    // defaults still work: Esc leaves the editor (focused at start) for the tree
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| s.contains("j/Down next"));
    tmux.keys(&[":"]);
    tmux.text("save mysession");
    tmux.keys(&["Enter"]);
    tmux.wait(10, "saved", |s| s.contains("session 'mysession' saved"));
    let saved =
        std::fs::read_to_string(cfg.path().join("sessions/mysession.toml")).expect("session file");
    assert!(saved.contains("name = \"work\""), "{saved}");
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
    // reopen by name, in the same pane
    let script = run("--session mysession");
    tmux.respawn(&script);
    let s = tmux.wait(20, "session reopened", |s| {
        s.contains("▾ work") && s.contains("w1 ready")
    });
    pids.0.extend(pids_on(&s));
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
    for &p in &pids.0 {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "worker {p} left"
        );
    }
}

/// SIGTERM (and SIGHUP) end the cockpit cleanly: terminal restored, workers gone.
#[test]
fn sigterm_restores_the_terminal_and_stops_workers() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let py = common::python3();
    let tmux = Tmux::new("execdeck-e2e-t");
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let script = format!(
        "'{}' -g 'popen//python={py}' & echo $! > '{}'; wait $!; echo EXIT=$?; sleep 30",
        common::bin().display(),
        pidfile.display()
    );
    tmux.start(120, 30, &script);
    let s = tmux.wait(20, "ready", |s| pids_in_tree(s) >= 1);
    let pids = Pids(pids_on(&s));
    // the pid of this test's execdeck, written by the shell that started it
    let child: i32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    assert!(child > 0, "no execdeck pid");
    // SAFETY: kill(2) of the execdeck process this test started.
    unsafe {
        libc::kill(child, libc::SIGTERM);
    }
    assert_clean_exit(&tmux, &pids.0);
}

/// Quitting the cockpit kills what a snippet started, also a `setsid()` grandchild
/// that left the worker's process group (it carries the worker's token).
#[test]
fn quit_kills_setsid_escapes() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let py = common::python3();
    let tmux = Tmux::new("execdeck-e2e-q");
    let script = format!(
        "'{}' -g 'popen//python={py}'; echo EXIT=$?; sleep 30",
        common::bin().display()
    );
    tmux.start(120, 30, &script);
    let s = tmux.wait(20, "ready", |s| pids_in_tree(s) >= 1);
    let mut pids = Pids(pids_on(&s));
    tmux.keys(&["Enter"]);
    tmux.text("import subprocess; q = subprocess.Popen(['setsid', 'sleep', '601']); print('GRAND %d' % q.pid)");
    tmux.keys(&["F5"]);
    // the editor shows the code's own `GRAND %d` too: wait for a number after it
    let grand_pid = |s: &str| -> Option<i32> {
        s.split("GRAND ")
            .skip(1)
            .find_map(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
    };
    let s = tmux.wait(20, "grandchild pid", |s| grand_pid(s).is_some());
    let grand: i32 = grand_pid(&s).unwrap_or_else(|| panic!("no pid: {s}"));
    pids.0.push(grand);
    // it did escape the worker's process group
    let pgid = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    };
    assert!(
        common::wait_until(5.0, || pgid(grand) == Some(grand)),
        "the grandchild did not setsid()"
    );
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
    for &p in &pids.0 {
        assert!(
            common::wait_until(5.0, || common::state_after_reap(p).is_none()),
            "process {p} left after quit"
        );
    }
}

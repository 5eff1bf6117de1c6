//! The real binary in tmux with a group whose second gateway is a socket gateway
//! reached through the first (`installvia=`): both come up, a snippet runs on the
//! socket gateway, and quitting leaves no process behind.

mod common;

use common::{Pids, Tmux, pids_on};

#[test]
fn installvia_group_runs_a_snippet_on_the_socket_gateway() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let py = common::python3();
    let tmux = Tmux::new("execdeck-installvia");
    let script = format!(
        "'{}' --group local='popen//python={py}//id=base,socket=ignored:0//installvia=base//id=sock'; echo EXIT=$?; sleep 30",
        common::bin().display()
    );
    tmux.start(120, 30, &script);
    let screen = tmux.wait(30, "base and sock ready", |s| {
        s.contains("base ready") && s.contains("sock ready") && s.contains("alive 2/2")
    });
    // the tree's detail lines: base's process and sock's worker (from its facts)
    let pids = Pids(pids_on(&screen));
    assert_eq!(pids.0.len(), 2, "{screen}");

    // select sock (the second gateway of the tree) and run a snippet there; the
    // editor has the keyboard at start: Esc goes to the tree
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| s.contains("j/Down next"));
    tmux.keys(&["j"]);
    tmux.wait(10, "sock selected", |s| {
        s.contains("sock · socket=ignored:0")
    });
    tmux.keys(&["Enter"]);
    tmux.wait(10, "editor focus", |s| s.contains("Esc tree"));
    tmux.text("print(6*7)");
    tmux.keys(&["F5"]);
    let s = tmux.wait(20, "42 on sock", |s| {
        s.lines().any(|l| l.contains("│42 ")) && s.contains("busy 0")
    });
    assert!(s.contains("sock · socket=ignored:0"), "ran on sock: {s}");

    // quit: exit status 0, terminal restored, both processes gone
    tmux.keys(&["C-q"]);
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
    for &p in &pids.0 {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "process {p} left behind"
        );
    }
}

//! The demo session in the real binary, in tmux: the Rosetta grid shows every
//! interpreter, the bridge carries Python 2.7 `str` items into Python 3.13 as `str`,
//! the monitor shows metrics; killing a worker shows in the event log and its row.

mod common;

use common::{Pids, Tmux};

/// "(pid N)" numbers on the screen.
fn pids(screen: &str) -> Vec<i32> {
    let mut v: Vec<i32> = screen
        .split("(pid ")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .filter_map(|s| s.parse().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The monitor row of a gateway.
fn row<'a>(screen: &'a str, id: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(&format!("│{id} ")))
        .unwrap_or("")
}

#[test]
fn demo_session_grid_bridge_monitor_and_a_killed_worker() {
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    for (path, what) in [
        (common::pyenv_python("2.7.18"), "pyenv Python 2.7.18"),
        (common::pyenv_python("3.8.18"), "pyenv Python 3.8.18"),
        (common::pyenv_python("3.13.0"), "pyenv Python 3.13.0"),
        ("/usr/bin/pypy3".into(), "pypy3"),
        ("/usr/bin/jython".into(), "jython"),
    ] {
        if common::require(&path, what).is_none() {
            return;
        }
    }
    let dirs = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new("execdeck-demo");
    let session = format!("{}/assets/demo/bridge.toml", env!("CARGO_MANIFEST_DIR"));
    let script = format!(
        "EXECDECK_CONFIG_DIR='{d}/c' EXECDECK_DATA_DIR='{d}/d' '{bin}' --session '{session}' --monitor-interval 0.5; echo EXIT=$?; sleep 30",
        d = dirs.path().display(),
        bin = common::bin().display(),
    );
    tmux.start(200, 50, &script);

    // the start view is the grid: a column per interpreter, the odd ones marked
    let grid = tmux.wait(90, "the Rosetta grid", |s| {
        s.contains("Jython 2.7.3") && !s.contains("running…") && s.contains("elapsed")
    });
    for interp in [
        "CPython 2.7.18",
        "CPython 3.8.18",
        "CPython 3.13.0",
        "PyPy 7.3",
        "Jython 2.7.3",
    ] {
        assert!(
            grid.contains(interp),
            "{interp} missing from the grid:\n{grid}"
        );
    }
    assert!(grid.contains("(3, 3.0, True, ['a', 'b'])"), "{grid}");
    assert!(grid.contains("(3.5, 2, False, ['a', 'b'])"), "{grid}");
    assert_eq!(
        grid.matches("≠ differs from the majority").count(),
        2,
        "2.7 and Jython differ from the three Python 3:\n{grid}"
    );

    // the monitor lists the five gateways with their pids in the event log
    tmux.keys(&["M"]);
    let mon = tmux.wait(30, "five started gateways with metrics", |s| {
        s.matches("started:").count() == 5
            && ["py27", "py38", "py313", "pypy", "jython"]
                .iter()
                .all(|id| row(s, id).contains("ms "))
    });
    let mut guard = Pids(pids(&mon));
    assert_eq!(guard.0.len(), 5, "{mon}");

    // the bridge: Python 2.7 str items reach Python 3.13 as str; the channels view of
    // py313 shows the link with items and conversions counted
    tmux.keys(&["T"]);
    // any tick will do: on a busy machine the first ones may have scrolled away already
    tmux.wait(30, "bridged items in the tail", |s| {
        s.lines().any(|l| {
            l.contains("[py313 out] Python 3.13 got str 'tick ")
                && l.contains(" from Python 2.7.18'")
        })
    });
    tmux.keys(&["o"]);
    tmux.wait(10, "console view", |s| s.contains("┌ gateways"));
    // the console's editor has the keyboard (as at start): Esc goes to the tree
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| {
        s.lines().last().is_some_and(|l| l.contains("j/Down next"))
    });
    // py313 is the third gateway
    tmux.keys(&["j", "j", "C"]);
    let ch = tmux.wait(20, "the link in the channels view", |s| {
        s.contains("channels of py313")
            && s.lines().any(|l| {
                l.contains("consumer") && l.contains("⇐ py27#") && {
                    let n: u64 = l
                        .split("  ")
                        .find_map(|w| w.trim().strip_suffix(" conv"))
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    n >= 3
                }
            })
    });
    // every forwarded item was a Python 2 str: as many conversions as items
    let link = ch
        .lines()
        .find(|l| l.contains("⇐ py27#"))
        .unwrap_or_default();
    let count = |suffix: &str| -> u64 {
        link.split("  ")
            .find_map(|w| w.trim().strip_suffix(suffix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(count(" items") >= 3, "{link}");
    assert_eq!(count(" items"), count(" conv"), "{link}");

    // kill -9 a worker: its row turns dead and the log says how it ended
    let py38 = pids(&mon)
        .into_iter()
        .find(|p| {
            mon.lines()
                .any(|l| l.contains("py38") && l.contains(&format!("(pid {p})")))
        })
        .expect("py38 pid");
    common::kill9(py38);
    tmux.keys(&["C", "M"]);
    let dead = tmux.wait(20, "the death in the log and the row", |s| {
        s.contains("died: connection closed (worker killed by signal 9")
            && row(s, "py38").contains("dead")
    });
    assert!(row(&dead, "py27").contains("ready"), "{dead}");
    assert!(dead.contains("gateways alive 4/5"), "{dead}");

    // quit: everything ends, nothing is left
    tmux.keys(&["q"]);
    let s = tmux.wait(30, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    for &p in &guard.0 {
        assert!(
            common::wait_until(10.0, || common::proc_state(p).is_none()),
            "worker {p} left behind"
        );
    }
    guard.0.clear();
}

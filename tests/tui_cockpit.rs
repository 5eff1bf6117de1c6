//! The cockpit a daily user keeps open, driven in tmux as a user would: the first
//! minute (no arguments, type, Enter), Python-aware Enter, Esc out of every view,
//! the footer at 80 columns, safe quit and terminate.

mod common;

use common::{Pids, Tmux, pids_on};

/// A cockpit in tmux with a private config and data dir, `args` after the binary; the
/// wrapper shell prints EXIT=<status> when it ends.
fn start(tmux: &Tmux, cols: u16, rows: u16, args: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!(
        "EXECDECK_CONFIG_DIR='{d}/cfg' EXECDECK_DATA_DIR='{d}/data' '{}' {args}; echo EXIT=$?; sleep 30",
        common::bin().display(),
        d = dir.path().display()
    );
    tmux.start(cols, rows, &script);
    dir
}

/// The footer: the screen's last line.
fn footer(screen: &str) -> String {
    screen.lines().last().unwrap_or("").to_string()
}

/// Lines of the console pane that hold exactly `text` as output.
fn shows_output(screen: &str, text: &str) -> bool {
    screen.lines().any(|l| l.contains(&format!("│{text} ")))
}

fn ready_pids(screen: &str) -> Vec<i32> {
    // the tree's detail lines (left of the console pane)
    screen
        .lines()
        .filter_map(|l| l.split("││").next())
        .filter(|l| l.contains("· pid "))
        .flat_map(pids_on)
        .collect()
}

/// A newcomer starts with no arguments, types `print(6*7)` and Enter: 42, and no other
/// view opened on the way. The footer fits `? help` at 80 columns in the tree and the
/// editor's run hint.
#[test]
fn first_minute_no_arguments_type_and_enter() {
    common::require("/usr/bin/tmux", "tmux");
    let tmux = Tmux::new("execdeck-first");
    let _dir = start(&tmux, 80, 24, "");
    tmux.wait(20, "first frame", |s| s.contains("execdeck"));
    // typing goes straight to the editor, even before the interpreter is up
    tmux.text("print(6*7)");
    tmux.keys(&["Enter"]);
    let mut seen = Vec::new();
    let s = tmux.wait(30, "42", |s| shows_output(s, "42"));
    seen.push(s.clone());
    let mut pids = Pids(ready_pids(&s));
    let s = tmux.wait(20, "pid in the tree", |s| !ready_pids(s).is_empty());
    pids.0 = ready_pids(&s);
    assert_eq!(pids.0.len(), 1, "{s}");
    for s in &seen {
        for other in ["┌ tail", "┌ monitor", "┌ rosetta", " help · "] {
            assert!(!s.contains(other), "{other} opened: {s}");
        }
    }
    // the editor keeps the keyboard and its footer shows run and the way to help
    tmux.wait(10, "editor footer with run and ? help", |s| {
        let f = footer(s);
        f.starts_with("Enter run") && f.contains("? help")
    });
    // once ready, Enter to output is quick (the benchmark measures it)
    let t0 = std::time::Instant::now();
    tmux.text("print(6*7+1)");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "43", |s| shows_output(s, "43"));
    eprintln!("Enter → 43 on screen: {:?}", t0.elapsed());
    // Esc: the tree, whose footer still ends with `? help` at 80 columns
    tmux.keys(&["Escape"]);
    // (polled: a capture may catch the footer half drawn)
    tmux.wait(10, "tree footer with edit and ? help", |s| {
        let f = footer(s);
        f.contains("j/Down next") && f.contains("edit") && f.ends_with("? help")
    });
    tmux.keys(&["C-q"]);
    let s = tmux.wait(20, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    for &p in &pids.0 {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "worker {p} left"
        );
    }
}

/// IPython-grade Enter: a `for` line opens an indented line, Enter inside the block
/// adds a line, an empty Enter runs the loop; Backspace dedents by a whole level.
#[test]
fn enter_runs_complete_code_and_opens_blocks() {
    common::require("/usr/bin/tmux", "tmux");
    let py = common::python3();
    let tmux = Tmux::new("execdeck-enter");
    let _dir = start(&tmux, 100, 30, &format!("-g 'popen//python={py}'"));
    let s = tmux.wait(20, "ready", |s| !ready_pids(s).is_empty());
    let _pids = Pids(ready_pids(&s));
    tmux.text("for i in range(3):");
    tmux.keys(&["Enter"]);
    // the editor grows: a second line, indented by four spaces
    tmux.text("print('n=%d' % i)");
    tmux.wait(10, "indented line", |s| {
        s.contains("│    print('n=%d' % i)")
    });
    tmux.keys(&["Enter"]);
    tmux.wait(10, "third line", |s| {
        s.lines().filter(|l| l.contains("│    ")).count() >= 2
    });
    assert!(!tmux.screen().contains("n=0"), "ran too early");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "the loop ran", |s| {
        shows_output(s, "n=0") && shows_output(s, "n=1") && shows_output(s, "n=2")
    });
    // Backspace at an indent goes back a whole level; Alt+Enter adds a line
    tmux.text("if True:");
    tmux.keys(&["Enter"]);
    tmux.keys(&["BSpace"]);
    tmux.text("x = 5");
    tmux.keys(&["M-Enter"]);
    tmux.text("x * 2");
    tmux.wait(10, "dedented line", |s| s.contains("│x = 5"));
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    // `if True:` with a dedented body is a syntax error: Python says so, the cockpit
    // does not hang
    tmux.wait(20, "an error from Python", |s| {
        s.contains("IndentationError")
    });
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
}

/// Safety: `X` on one gateway of three terminates only that one (the dialog names it
/// and the group count is of live gateways); `q` with a busy gateway asks, and Cancel
/// keeps everything running.
#[test]
fn x_terminates_one_of_three_and_q_asks_when_busy() {
    common::require("/usr/bin/tmux", "tmux");
    let py = common::python3();
    let tmux = Tmux::new("execdeck-safety");
    let g = format!("popen//python={py}");
    let _dir = start(&tmux, 120, 34, &format!("--group local='{g},{g},{g}'"));
    let s = tmux.wait(30, "three ready", |s| ready_pids(s).len() == 3);
    let pids = Pids(ready_pids(&s));
    let [p0, p1, p2] = [pids.0[0], pids.0[1], pids.0[2]];
    // select gw1 from the tree and terminate it
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| footer(s).contains("j/Down next"));
    tmux.keys(&["j"]);
    tmux.wait(10, "gw1 selected", |s| s.contains("┌ gw1 ·"));
    tmux.keys(&["X"]);
    tmux.wait(10, "dialog for gw1", |s| {
        s.contains("Terminate gateway gw1 (group 'local')?")
    });
    tmux.keys(&["Right", "Enter"]);
    tmux.wait(20, "one terminated", |s| s.contains("alive 2/3"));
    let gone = |p: i32| common::wait_until(10.0, || common::proc_state(p).is_none());
    // the tree lists gw0, gw1, gw2 in that order
    assert!(gone(p1), "gw1's worker {p1} still runs");
    let alive = [p0, p1, p2]
        .iter()
        .filter(|&&p| common::proc_state(p).is_some())
        .count();
    assert_eq!(alive, 2, "only gw1 ended");
    // :terminate counts the live gateways of the group
    tmux.keys(&[":"]);
    tmux.text("terminate local");
    tmux.keys(&["Enter"]);
    tmux.wait(10, "group dialog", |s| {
        s.contains("Terminate group 'local' (2 live of 3 gateways)?")
    });
    tmux.keys(&["Escape"]);
    tmux.wait(10, "dialog closed", |s| !s.contains("Terminate group"));
    // a busy gateway: q asks, Cancel keeps it
    tmux.keys(&["k", "Enter"]);
    tmux.wait(10, "gw0's editor", |s| {
        s.contains("┌ gw0 ·") && footer(s).starts_with("Enter run")
    });
    tmux.text("import time; time.sleep(60)");
    tmux.keys(&["Enter"]);
    tmux.wait(10, "busy", |s| s.contains("busy 1"));
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| footer(s).contains("j/Down next"));
    tmux.keys(&["q"]);
    tmux.wait(10, "quit dialog", |s| {
        s.contains("1 gateway(s) busy. Quit and terminate every gateway?")
    });
    tmux.keys(&["Enter"]);
    let s = tmux.wait(10, "dialog closed", |s| !s.contains("Quit and terminate"));
    assert!(s.contains("alive 2/3") && !s.contains("EXIT="), "{s}");
    tmux.keys(&["q"]);
    tmux.wait(10, "quit dialog", |s| s.contains("Quit and terminate"));
    tmux.keys(&["Right", "Enter"]);
    let s = tmux.wait(30, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    for p in [p0, p1, p2] {
        assert!(gone(p), "worker {p} left");
    }
}

/// Completion from the remote namespace and inspect, on 2.7, 3.13, PyPy and Jython:
/// `import os` Enter, `os.pa` Tab offers `path` and `pardir`, accepting `path` gives
/// `os.path`; Shift+Tab on `os.path.join` shows its signature or first doc line.
#[test]
fn completion_and_inspect_from_the_worker_on_four_interpreters() {
    common::require("/usr/bin/tmux", "tmux");
    let py27 = common::pyenv_python("2.7.18");
    let py313 = common::pyenv_python("3.13.0");
    let pypy = common::require("/usr/bin/pypy3", "pypy3").unwrap_or_default();
    let jython = common::require("/usr/bin/jython", "jython").unwrap_or_default();
    let gws = [
        ("py27", py27.as_str()),
        ("py313", py313.as_str()),
        ("pypy", pypy.as_str()),
        ("jy", jython.as_str()),
    ];
    let specs: Vec<String> = gws
        .iter()
        .filter(|(_, p)| !p.is_empty())
        // the JVM starts slowly on a busy machine
        .map(|(id, p)| format!("popen//python={p}//id={id}//timeout=60"))
        .collect();
    let tmux = Tmux::new("execdeck-complete");
    let _dir = start(
        &tmux,
        140,
        40,
        &format!("--group local='{}'", specs.join(",")),
    );
    let s = tmux.wait(90, "all ready", |s| ready_pids(s).len() == specs.len());
    let _pids = Pids(ready_pids(&s));
    for (n, (id, _)) in gws.iter().filter(|(_, p)| !p.is_empty()).enumerate() {
        if n > 0 {
            tmux.keys(&["Escape"]);
            tmux.wait(10, "tree focus", |s| footer(s).contains("j/Down next"));
            tmux.keys(&["j", "Enter"]);
        }
        tmux.wait(10, "editor of the gateway", |s| {
            s.contains(&format!("┌ {id} ·")) && footer(s).starts_with("Enter run")
        });
        tmux.text("import os");
        tmux.keys(&["Enter"]);
        tmux.wait(20, "import ran", |s| s.contains("│>>> import os"));
        tmux.text("os.pa");
        tmux.keys(&["Tab"]);
        tmux.wait(20, &format!("{id}: popup with pardir and path"), |s| {
            s.contains("│pardir") && s.contains("│path")
        });
        // pardir comes first; Down picks path, Enter accepts it
        tmux.keys(&["Down"]);
        tmux.keys(&["Enter"]);
        tmux.wait(10, &format!("{id}: os.path in the editor"), |s| {
            s.contains("│os.path ") && !s.contains("│pardir")
        });
        tmux.keys(&["Enter"]);
        tmux.wait(20, &format!("{id}: os.path ran"), |s| {
            s.contains("<module 'posixpath'")
        });
        tmux.text("os.path.join");
        tmux.keys(&["BTab"]);
        let s = tmux.wait(20, &format!("{id}: inspect box"), |s| {
            s.contains(" inspect · any key closes ")
        });
        assert!(
            s.contains("os.path.join(a, *p)") || s.contains("Join two or more pathname"),
            "{s}"
        );
        tmux.keys(&["Escape"]);
        tmux.wait(10, "box closed", |s| !s.contains(" inspect · "));
        // clear the editor for the next gateway: run it
        tmux.keys(&["Enter"]);
        tmux.wait(20, "join ran", |s| s.contains("│>>> os.path.join"));
    }
    tmux.keys(&["C-q"]);
    tmux.wait(30, "exit", |s| s.contains("EXIT=0"));
}

/// The console pane's first output row (its top line).
fn top_output_line(screen: &str) -> String {
    screen
        .lines()
        .nth(2)
        .and_then(|l| l.split("││").nth(1))
        .unwrap_or("")
        .to_string()
}

/// Scrolled back, the console stays still (same top line) while 1,000 lines/s arrive
/// for 3 s, and counts them ("▼ N new lines"); End follows again.
#[test]
fn a_scrolled_back_view_stays_still_while_lines_arrive() {
    common::require("/usr/bin/tmux", "tmux");
    let py = common::python3();
    let tmux = Tmux::new("execdeck-still");
    let _dir = start(&tmux, 120, 30, &format!("-g 'popen//python={py}'"));
    let s = tmux.wait(20, "ready", |s| !ready_pids(s).is_empty());
    let _pids = Pids(ready_pids(&s));
    tmux.text("import time");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "import ran", |s| s.contains("│>>> import time"));
    // 1,000 lines a second for about 12 s (sleeps are at least 1 ms): long enough that
    // lines still arrive while the view is checked, even when a loaded machine is slow
    // to show the first ones
    tmux.text("for i in range(12000): print('line %05d' % i); time.sleep(0.001)");
    tmux.keys(&["Enter"]);
    let shown = |s: &str| {
        s.lines()
            .filter_map(|l| l.split("│line ").nth(1))
            .filter_map(|r| r.get(..5).and_then(|n| n.parse::<u32>().ok()))
            .max()
    };
    tmux.wait(60, "streaming", |s| {
        shown(s).is_some_and(|n| (300..9000).contains(&n))
    });
    tmux.keys(&["PPage"]);
    let s = tmux.wait(10, "scrolled back", |s| s.contains("scrolled "));
    let top = top_output_line(&s);
    let mut counted = 0;
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(3) {
        let s = tmux.screen();
        if !s.contains("scrolled ") {
            // a capture between two frames: poll again
            continue;
        }
        assert_eq!(top_output_line(&s), top, "the view moved:\n{s}");
        if let Some(n) = s
            .split("▼ ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            counted = counted.max(n);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(counted > 100, "new lines counted: {counted}");
    // Esc to the tree, End follows the end again
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree focus", |s| footer(s).contains("j/Down next"));
    tmux.keys(&["End"]);
    tmux.wait(120, "following to the end", |s| {
        !s.contains("scrolled ") && s.contains("│line 11999")
    });
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
}

/// Esc goes back one level from every view: monitor, tail, Rosetta, channels,
/// broadcast and help each return to the console (the tree's footer).
#[test]
fn esc_returns_from_every_view() {
    common::require("/usr/bin/tmux", "tmux");
    let py = common::python3();
    let tmux = Tmux::new("execdeck-esc");
    let g = format!("popen//python={py}");
    let _dir = start(&tmux, 120, 30, &format!("--group local='{g},{g}'"));
    let s = tmux.wait(30, "ready", |s| ready_pids(s).len() == 2);
    let _pids = Pids(ready_pids(&s));
    let tree = |s: &str| footer(s).contains("j/Down next") && s.contains("┌ gateways");
    tmux.keys(&["Escape"]);
    tmux.wait(10, "tree", tree);
    // (view letter, text only that view shows)
    for (key, shown) in [
        ("M", "┌ monitor"),
        ("T", "┌ tail"),
        ("C", "┌ channels of gw0"),
        ("?", " help · "),
    ] {
        tmux.keys(&[key]);
        tmux.wait(10, shown, |s| s.contains(shown));
        tmux.keys(&["Escape"]);
        tmux.wait(10, &format!("back from {shown}"), |s| {
            tree(s) && !s.contains(shown)
        });
    }
    // broadcast and Rosetta run the editor's snippet
    for (key, shown) in [("b", "broadcast to group"), ("R", "┌ rosetta")] {
        tmux.keys(&["Enter"]);
        tmux.wait(10, "editor", |s| footer(s).starts_with("Enter run"));
        tmux.text("6*7");
        tmux.keys(&["Escape"]);
        tmux.wait(10, "tree", tree);
        tmux.keys(&[key]);
        tmux.wait(20, shown, |s| s.contains(shown));
        tmux.keys(&["Escape"]);
        tmux.wait(10, &format!("back from {shown}"), |s| {
            tree(s) && !s.contains(shown)
        });
    }
    tmux.keys(&["C-q"]);
    tmux.wait(20, "exit", |s| s.contains("EXIT=0"));
}

//! The headless CLI against the real binary: `execdeck exec`, `execdeck info`, `--help`,
//! spec errors, a missing interpreter and Ctrl+C.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// One line of the child's output: `(from stderr, text without the newline)`.
type Line = (bool, String);

/// A running `execdeck` whose stdout and stderr are read line by line on threads.
/// Dropping it kills the child if it is still running, so a failing test leaves nothing.
struct Running {
    child: Child,
    rx: Receiver<Line>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

fn reader(src: impl Read + Send + 'static, err: bool, tx: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(src);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&buf);
                    let s = s.strip_suffix('\n').unwrap_or(&s).to_string();
                    if tx.send((err, s)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

impl Running {
    fn spawn(args: &[&str], stdin: Option<&str>) -> Running {
        let mut child = Command::new(common::bin())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn execdeck");
        if let Some(text) = stdin {
            let mut w = child.stdin.take().expect("stdin pipe");
            w.write_all(text.as_bytes()).expect("write stdin");
            // dropping `w` closes the pipe: end of the code
        }
        let (tx, rx) = mpsc::channel();
        reader(child.stdout.take().expect("stdout pipe"), false, tx.clone());
        reader(child.stderr.take().expect("stderr pipe"), true, tx);
        Running {
            child,
            rx,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn store(&mut self, (err, line): Line) {
        if err {
            self.stderr.push(line);
        } else {
            self.stdout.push(line);
        }
    }

    /// Reads lines until a stdout line satisfies `pred`; returns it, or None after `secs`.
    fn wait_stdout(&mut self, secs: f64, pred: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    let hit = !l.0 && pred(&l.1);
                    let text = l.1.clone();
                    self.store(l);
                    if hit {
                        return Some(text);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `secs` for the exit; None if it is still running.
    fn wait_exit(&mut self, secs: f64) -> Option<ExitStatus> {
        let mut status = None;
        common::wait_until(secs, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Waits for the exit and the end of both streams; panics after `secs`.
    fn finish(&mut self, secs: f64) -> (ExitStatus, String, String) {
        let start = Instant::now();
        let status = self.wait_exit(secs).unwrap_or_else(|| {
            panic!(
                "execdeck still running after {secs} s\nstdout:\n{}\nstderr:\n{}",
                self.stdout.join("\n"),
                self.stderr.join("\n")
            )
        });
        // the pipes close when the process is gone; allow a little for the readers
        let left = Duration::from_secs_f64(secs)
            .saturating_sub(start.elapsed())
            .max(Duration::from_secs(2));
        let end = Instant::now() + left;
        loop {
            match self
                .rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
            {
                Ok(l) => self.store(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("execdeck's output pipes stayed open"),
            }
        }
        (status, self.stdout.join("\n"), self.stderr.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kills the listed pids (workers, grandchildren) if the test fails before they are gone.
struct PidGuard(Vec<i32>);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for &pid in &self.0 {
                if matches!(common::proc_state(pid), Some(s) if s != 'Z') {
                    common::kill9(pid);
                }
            }
        }
    }
}

/// Runs execdeck to completion (60 s at most): (exit code, stdout, stderr).
fn run(args: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    let mut r = Running::spawn(args, stdin);
    let (status, out, err) = r.finish(60.0);
    (status.code(), out, err)
}

fn py3_spec() -> String {
    format!("popen//python={}", common::python3())
}

fn py27() -> Option<String> {
    common::require(&common::pyenv_python("2.7.18"), "pyenv CPython 2.7.18")
}

fn no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "execdeck panicked:\n{stderr}");
}

#[test]
fn exec_two_gateways_prefixes_output_by_gateway() {
    let Some(py2) = py27() else { return };
    let g0 = py3_spec();
    let g1 = format!("popen//python={py2}");
    let code = "import sys\n\
                print('hello from python %d' % sys.version_info[0])\n\
                channel.send(sys.version_info[0] * 100 + sys.version_info[1])\n";
    let (rc, out, err) = run(&["exec", "-g", &g0, "-g", &g1, "-c", code], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"[gw0] hello from python 3"),
        "stdout:\n{out}"
    );
    assert!(
        lines.contains(&"[gw1] hello from python 2"),
        "stdout:\n{out}"
    );
    // the sent items, as Python reprs
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[gw0] 3") && l.len() == "[gw0] 3xx".len()),
        "no item from gw0:\n{out}"
    );
    assert!(lines.contains(&"[gw1] 207"), "no item from gw1:\n{out}");
    for l in &lines {
        assert!(
            l.starts_with("[gw0] ") || l.starts_with("[gw1] "),
            "unprefixed line {l:?} in:\n{out}"
        );
    }
    no_panic(&err);
}

#[test]
fn exec_runs_gateways_concurrently() {
    let g = py3_spec();
    let code = "import time\n\
                t0 = time.time()\n\
                time.sleep(1)\n\
                print('span %.6f %.6f' % (t0, time.time()))\n";
    let start = Instant::now();
    let (rc, out, err) = run(&["exec", "-g", &g, "-g", &g, "-c", code], None);
    let wall = start.elapsed();
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let spans: Vec<(f64, f64)> = out
        .lines()
        .filter_map(|l| l.split_once("] span "))
        .map(|(_, rest)| {
            let mut it = rest.split(' ').map(|x| x.parse::<f64>().expect("float"));
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    assert_eq!(spans.len(), 2, "stdout:\n{out}");
    // both sleeps overlapped in time: that is what concurrency means here. The run's
    // wall time is not asserted, since starting two interpreters on a loaded 2-core
    // machine can take longer than the second sleep would have.
    assert!(
        spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1,
        "the sleeps did not overlap: {spans:?} (run took {wall:?})"
    );
}

#[test]
fn exec_streams_output_before_the_code_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let go = dir.path().join("go");
    let go_s = go.to_str().expect("utf-8 temp path");
    let code = format!(
        "import os, sys, time\n\
         print('first')\n\
         sys.stdout.flush()\n\
         deadline = time.time() + 30\n\
         while not os.path.exists({go_s:?}) and time.time() < deadline:\n    \
             time.sleep(0.01)\n\
         print(os.path.exists({go_s:?}) and 'second' or 'gave up')\n"
    );
    let g = py3_spec();
    let mut r = Running::spawn(&["exec", "-g", &g, "-c", &code], None);
    let first = r.wait_stdout(20.0, |l| l.contains("first"));
    assert_eq!(
        first.as_deref(),
        Some("[gw0] first"),
        "stdout: {:?}\nstderr: {:?}",
        r.stdout,
        r.stderr
    );
    // the snippet is still waiting for the file: the line came while it ran
    assert!(
        r.child.try_wait().expect("try_wait").is_none(),
        "execdeck exited before the file existed"
    );
    assert!(!r.stdout.iter().any(|l| l.contains("second")));
    std::fs::write(&go, b"").expect("create the file");
    let (status, out, err) = r.finish(30.0);
    assert_eq!(status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["[gw0] first", "[gw0] second"]
    );
}

#[test]
fn exec_json_lines_name_gateway_stream_and_text() {
    let g = py3_spec();
    let code = "import sys\n\
                print('to-stdout')\n\
                sys.stdout.flush()\n\
                sys.stderr.write('to-stderr\\n')\n\
                sys.stderr.flush()\n";
    let (rc, out, err) = run(&["exec", "--json", "-g", &g, "-g", &g, "-c", code], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let mut seen = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}\nstdout:\n{out}"));
        if v["event"] != "output" {
            continue;
        }
        let field = |k: &str| -> String {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_else(|| panic!("no string {k:?} in {line}"))
                .to_string()
        };
        seen.push((field("gateway"), field("stream"), field("text")));
    }
    for gw in ["gw0", "gw1"] {
        let text = |stream: &str| -> String {
            seen.iter()
                .filter(|(g, s, _)| g == gw && s == stream)
                .map(|(_, _, t)| t.as_str())
                .collect()
        };
        assert_eq!(text("stdout"), "to-stdout\n", "{gw}: {seen:?}");
        assert_eq!(text("stderr"), "to-stderr\n", "{gw}: {seen:?}");
    }
    no_panic(&err);
}

/// The metadata keys that `exec --json` (gateway lines), `top --json` and `info --json`
/// all carry.
const META_KEYS: &[&str] = &[
    "gateway",
    "spec",
    "transport",
    "host",
    "via",
    "interpreter",
    "implementation",
    "python_version",
    "pid",
    "platform",
    "executable",
    "cwd",
];

/// Parses every stdout line as a JSON object.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\nstdout:\n{out}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

fn keys(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

/// `exec --json`: a gateway line with the interpreter's own facts before any output of
/// that gateway, output lines, and one exit line last; a gateway that does not start
/// gets an error and an exit line, but no gateway line.
#[test]
fn exec_json_carries_gateway_metadata_and_exit_lines() {
    let g0 = py3_spec();
    let g1 = format!("{}//env:EXECDECK_FAIL=1", py3_spec());
    let mut specs = vec![g0.clone(), g1.clone()];
    let py2 = py27();
    if let Some(py2) = &py2 {
        specs.push(format!("popen//python={py2}"));
    }
    let missing = "popen//python=/nonexistent/python".to_string();
    specs.push(missing.clone());
    // prints what the metadata must say, then fails on gw1
    let code = "import os, sys\n\
                print('facts %s|%s|%s|%s|%d' % (sys.executable, sys.platform, os.getcwd(),\n    \
                    '.'.join(str(x) for x in sys.version_info[:3]), os.getpid()))\n\
                channel.send(1)\n\
                if os.environ.get('EXECDECK_FAIL'):\n    \
                    raise ValueError('boom')\n";
    let mut args = vec!["exec", "--json"];
    for s in &specs {
        args.extend(["-g", s.as_str()]);
    }
    args.extend(["-c", code]);
    let (rc, out, err) = run(&args, None);
    assert_eq!(rc, Some(1), "stdout:\n{out}\nstderr:\n{err}");
    no_panic(&err);
    let lines = json_lines(&out);
    let started: Vec<String> = (0..specs.len() - 1).map(|i| format!("gw{i}")).collect();
    let failed = format!("gw{}", specs.len() - 1);
    for (i, gw) in started.iter().enumerate() {
        let mine: Vec<&serde_json::Value> = lines.iter().filter(|v| v["gateway"] == *gw).collect();
        let ctx = format!("{gw}:\n{out}");
        // first its metadata, last its exit line, output in between
        assert_eq!(
            mine.first().map(|v| &v["event"]),
            Some(&"gateway".into()),
            "{ctx}"
        );
        assert_eq!(
            mine.last().map(|v| &v["event"]),
            Some(&"exit".into()),
            "{ctx}"
        );
        assert!(
            mine[1..mine.len() - 1]
                .iter()
                .all(|v| v["event"] == "output"),
            "{ctx}"
        );
        let meta = mine[0];
        let mut want: std::collections::BTreeSet<String> =
            META_KEYS.iter().map(|k| k.to_string()).collect();
        want.insert("event".into());
        assert_eq!(keys(meta), want, "{ctx}");
        assert_eq!(meta["spec"], specs[i].as_str(), "{ctx}");
        assert_eq!(meta["transport"], "popen", "{ctx}");
        assert_eq!(meta["host"], "local", "{ctx}");
        assert_eq!(meta["via"], serde_json::Value::Null, "{ctx}");
        assert_eq!(meta["implementation"], "CPython", "{ctx}");
        let version = meta["python_version"].as_str().expect("python_version");
        assert_eq!(
            meta["interpreter"],
            format!("CPython {version}").as_str(),
            "{ctx}"
        );
        // the metadata is the interpreter's own view of itself
        let printed: String = mine
            .iter()
            .filter(|v| v["stream"] == "stdout")
            .filter_map(|v| v["text"].as_str())
            .collect();
        let facts = printed
            .trim_end()
            .strip_prefix("facts ")
            .unwrap_or_else(|| panic!("no facts line: {ctx}"));
        let f: Vec<&str> = facts.split('|').collect();
        assert_eq!(f.len(), 5, "{ctx}");
        assert_eq!(meta["executable"], f[0], "{ctx}");
        assert_eq!(meta["platform"], f[1], "{ctx}");
        assert_eq!(meta["cwd"], f[2], "{ctx}");
        assert_eq!(version, f[3], "{ctx}");
        assert_eq!(
            meta["pid"].as_i64().map(|p| p.to_string()).as_deref(),
            Some(f[4]),
            "{ctx}"
        );
        if specs[i].contains("2.7.18") {
            assert_eq!(version, "2.7.18", "{ctx}");
        } else {
            assert!(version.starts_with("3."), "{ctx}");
        }
        // the exit line: gw1 raised, the others ran to the end
        let exit = mine[mine.len() - 1];
        assert_eq!(exit["ok"], *gw != "gw1", "{ctx}");
        assert_eq!(exit["worker"], "exited (exit code 0)", "{ctx}");
        assert_eq!(exit["worker_exit_code"], 0, "{ctx}");
        assert_eq!(exit["worker_signal"], serde_json::Value::Null, "{ctx}");
    }
    assert!(
        lines.iter().any(|v| v["gateway"] == "gw1"
            && v["stream"] == "traceback"
            && v["text"]
                .as_str()
                .is_some_and(|t| t.contains("ValueError: boom"))),
        "no traceback from gw1:\n{out}"
    );
    // the interpreter that does not exist: an error and an exit line, no metadata
    let mine: Vec<&serde_json::Value> = lines.iter().filter(|v| v["gateway"] == *failed).collect();
    let events: Vec<&str> = mine.iter().filter_map(|v| v["event"].as_str()).collect();
    assert_eq!(events, ["output", "exit"], "{failed}:\n{out}");
    assert_eq!(mine[0]["stream"], "error");
    assert!(
        mine[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("/nonexistent/python")),
        "{out}"
    );
    assert_eq!(mine[1]["ok"], false);
    assert_eq!(mine[1]["worker"], "not started");
    // every line has a known event
    for v in &lines {
        assert!(
            ["gateway", "output", "exit"].contains(&v["event"].as_str().unwrap_or("")),
            "{v}"
        );
    }
}

/// `exec --json`, `top --json` and `info --json` describe the same gateway with the same
/// metadata keys and values (only the pid differs: each run has its own worker).
#[test]
fn exec_top_and_info_json_agree_on_gateway_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path().to_str().expect("utf-8 temp path");
    assert!(!cwd.contains("//"));
    let spec = format!("{}//id=meta//chdir={cwd}", py3_spec());
    let (rc, out, err) = run(&["exec", "--json", "-g", &spec, "-c", "pass"], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let exec: Vec<serde_json::Value> = json_lines(&out)
        .into_iter()
        .filter(|v| v["event"] == "gateway")
        .collect();
    assert_eq!(exec.len(), 1, "{out}");
    let mut exec_meta = exec[0].clone();
    exec_meta.as_object_mut().expect("object").remove("event");

    let (rc, out, err) = run(
        &["top", "--json", "--once", "--interval", "0.2", "-g", &spec],
        None,
    );
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let top = json_lines(&out);
    assert_eq!(top.len(), 1, "{out}");
    let (rc, out, err) = run(&["info", "--json", "-g", &spec], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let info = json_lines(&out);
    assert_eq!(info.len(), 1, "{out}");

    let want: std::collections::BTreeSet<String> =
        META_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(keys(&exec_meta), want, "{exec_meta}");
    for (what, other) in [("top", &top[0]), ("info", &info[0])] {
        for k in META_KEYS {
            assert!(
                other.get(*k).is_some(),
                "{what} --json lacks {k:?}: {other}"
            );
            if *k != "pid" {
                assert_eq!(other[*k], exec_meta[*k], "{what} vs exec on {k:?}");
            }
        }
        assert!(other["pid"].as_i64().is_some_and(|p| p > 0), "{other}");
    }
    assert_eq!(exec_meta["gateway"], "meta");
    assert_eq!(exec_meta["spec"], spec.as_str());
    // chdir= applies before the facts are read
    let real = std::fs::canonicalize(cwd).expect("canonicalize");
    assert_eq!(exec_meta["cwd"], real.to_str().expect("utf-8"));
    // top's metrics are still there next to the metadata
    assert!(
        top[0]["rtt_ms"].as_f64().is_some_and(|r| r > 0.0),
        "{}",
        top[0]
    );
    assert!(info[0]["version_info"].is_array(), "{}", info[0]);
}

#[test]
fn exec_prints_remote_traceback_and_fails() {
    let g0 = py3_spec();
    let g1 = format!("{}//env:EXECDECK_FAIL=1", py3_spec());
    let code = "import os\n\
                print('before')\n\
                if os.environ.get('EXECDECK_FAIL'):\n    \
                    raise ValueError('boom')\n\
                print('after')\n";
    let (rc, out, err) = run(&["exec", "-g", &g0, "-g", &g1, "-c", code], None);
    assert_eq!(rc, Some(1), "stdout:\n{out}\nstderr:\n{err}");
    let out_lines: Vec<&str> = out.lines().collect();
    for l in ["[gw0] before", "[gw0] after", "[gw1] before"] {
        assert!(out_lines.contains(&l), "missing {l:?} in stdout:\n{out}");
    }
    assert!(!out_lines.contains(&"[gw1] after"), "stdout:\n{out}");
    let err_lines: Vec<&str> = err.lines().collect();
    assert!(
        err_lines
            .iter()
            .any(|l| l.starts_with("[gw1] ") && l.contains("Traceback")),
        "no traceback from gw1 in stderr:\n{err}"
    );
    assert!(
        err_lines.contains(&"[gw1] ValueError: boom"),
        "stderr:\n{err}"
    );
    assert!(
        !err_lines.iter().any(|l| l.starts_with("[gw0] ")),
        "gw0 did not fail, stderr:\n{err}"
    );
    no_panic(&err);
}

#[test]
fn exec_reads_code_from_file_and_stdin() {
    let g = py3_spec();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("snippet.py");
    std::fs::write(&file, "x = 6 * 7\nprint('from file %d' % x)\n").expect("write");
    let (rc, out, err) = run(
        &["exec", "-g", &g, file.to_str().expect("utf-8 temp path")],
        None,
    );
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.trim_end(), "[gw0] from file 42");

    let (rc, out, err) = run(
        &["exec", "-g", &g, "-"],
        Some("y = 'st' + 'din'\nprint('from ' + y)\n"),
    );
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.trim_end(), "[gw0] from stdin");

    // an unreadable FILE is a usage error, not a crash
    let missing = dir.path().join("nope.py");
    let (rc, _, err) = run(
        &["exec", "-g", &g, missing.to_str().expect("utf-8 temp path")],
        None,
    );
    assert_eq!(rc, Some(2), "stderr:\n{err}");
    assert!(err.contains("nope.py"), "stderr:\n{err}");
    no_panic(&err);
}

#[test]
fn ctrl_c_stops_workers_and_their_children() {
    let spin = format!("{}//env:EXECDECK_ROLE=spin", py3_spec());
    let sleeper = format!("{}//env:EXECDECK_ROLE=sleep", py3_spec());
    let code = "import os, sys, time, subprocess\n\
                if os.environ.get('EXECDECK_ROLE') == 'spin':\n    \
                    print('worker %d' % os.getpid())\n    \
                    sys.stdout.flush()\n    \
                    while True:\n        \
                        pass\n\
                else:\n    \
                    p = subprocess.Popen(['sleep', '1000'])\n    \
                    print('worker %d' % os.getpid())\n    \
                    print('grandchild %d' % p.pid)\n    \
                    sys.stdout.flush()\n    \
                    time.sleep(1000)\n";
    let mut r = Running::spawn(&["exec", "-g", &spin, "-g", &sleeper, "-c", code], None);
    let mut pids = PidGuard(Vec::new());
    let pid_of = |l: &str| -> i32 {
        l.rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {l:?}"))
    };
    for _ in 0..3 {
        let line = r
            .wait_stdout(30.0, |l| l.contains("worker ") || l.contains("grandchild "))
            .unwrap_or_else(|| {
                panic!(
                    "pids not printed; stdout: {:?}\nstderr: {:?}",
                    r.stdout, r.stderr
                )
            });
        pids.0.push(pid_of(&line));
    }
    assert_eq!(pids.0.len(), 3);
    for &pid in &pids.0 {
        assert!(
            matches!(common::proc_state(pid), Some(s) if s != 'Z'),
            "pid {pid} not running before Ctrl+C"
        );
    }
    let sent = Instant::now();
    // SAFETY: plain kill(2) to our own child.
    assert_eq!(unsafe { libc::kill(r.pid(), libc::SIGINT) }, 0);
    let status = r.wait_exit(5.0).unwrap_or_else(|| {
        panic!(
            "execdeck did not exit within 5 s of SIGINT; stderr: {:?}",
            r.stderr
        )
    });
    let took = sent.elapsed();
    let (_, out, err) = r.finish(10.0);
    assert_eq!(
        status.code(),
        Some(130),
        "took {took:?}\nstdout:\n{out}\nstderr:\n{err}"
    );
    let gone = |pid: i32| matches!(common::proc_state(pid), None | Some('Z'));
    let all_gone = common::wait_until(2.0, || pids.0.iter().all(|&p| gone(p)));
    let alive: Vec<(i32, Option<char>)> = pids
        .0
        .iter()
        .map(|&p| (p, common::proc_state(p)))
        .filter(|&(p, _)| !gone(p))
        .collect();
    assert!(all_gone, "still running after Ctrl+C: {alive:?}");
    no_panic(&err);
}

#[test]
fn info_prints_a_table_and_json() {
    let g = py3_spec();
    let (rc, out, err) = run(&["info", "-g", &g], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "header and one row:\n{out}");
    assert!(
        lines[0].starts_with("GATEWAY") && lines[0].contains("INTERPRETER"),
        "header: {:?}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("gw0") && lines[1].contains("CPython 3."),
        "row: {:?}",
        lines[1]
    );

    let (rc, out, err) = run(&["info", "--json", "-g", &g, "-g", &g], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert_eq!(objs.len(), 2, "stdout:\n{out}");
    let mut worker_pids = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        assert_eq!(o["gateway"], format!("gw{i}"), "{o}");
        assert_eq!(o["implementation"], "CPython", "{o}");
        assert!(
            o["executable"].as_str().is_some_and(|s| !s.is_empty()),
            "{o}"
        );
        let pid = o["pid"].as_u64().unwrap_or_else(|| panic!("no pid in {o}"));
        assert!(pid > 0);
        worker_pids.push(pid);
    }
    assert_ne!(worker_pids[0], worker_pids[1], "two gateways, two workers");

    // two gateways, two rows; the 2.7 row names its version
    let Some(py2) = py27() else { return };
    let g2 = format!("popen//python={py2}");
    let (rc, out, err) = run(&["info", "-g", &g, "-g", &g2], None);
    assert_eq!(rc, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows:\n{out}");
    assert!(lines[1].starts_with("gw0") && lines[1].contains("CPython 3."));
    assert!(lines[2].starts_with("gw1") && lines[2].contains("CPython 2.7.18"));
}

#[test]
fn bad_specs_give_one_clear_line_and_exit_2() {
    let cases: &[(&str, &[&str])] = &[
        ("popen//nice=abc", &["nice=abc", "integer"]),
        ("popen//", &["'popen//'", "empty item"]),
        ("", &["empty spec"]),
        ("popen//id=a//id=b", &["id=b", "duplicate"]),
        ("id=x", &["'id=x'", "no transport"]),
        ("popen//execmodel=foo", &["execmodel=foo", "foo"]),
    ];
    for &(spec, needles) in cases {
        for cmd in ["exec", "info"] {
            let mut args = vec![cmd, "-g", spec];
            if cmd == "exec" {
                args.extend(["-c", "pass"]);
            }
            let (rc, out, err) = run(&args, None);
            let ctx = format!("{args:?}\nstdout:\n{out}\nstderr:\n{err}");
            assert_eq!(rc, Some(2), "{ctx}");
            no_panic(&err);
            assert_eq!(err.lines().count(), 1, "not exactly one line: {ctx}");
            for n in needles {
                assert!(err.contains(n), "{n:?} missing: {ctx}");
            }
            assert!(out.is_empty(), "{ctx}");
        }
    }
    // one bad spec among good ones still stops everything before anything starts
    let good = py3_spec();
    let (rc, out, err) = run(
        &[
            "exec",
            "-g",
            &good,
            "-g",
            "popen//nice=abc",
            "-c",
            "print('ran')",
        ],
        None,
    );
    assert_eq!(rc, Some(2), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("ran"), "stdout:\n{out}");
}

#[test]
fn missing_interpreter_is_named() {
    for cmd in ["exec", "info"] {
        let mut args = vec![cmd, "-g", "popen//python=/nonexistent/python"];
        if cmd == "exec" {
            args.extend(["-c", "pass"]);
        }
        let (rc, out, err) = run(&args, None);
        assert_eq!(rc, Some(1), "{cmd}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(
            format!("{out}{err}").contains("python interpreter not found: /nonexistent/python"),
            "{cmd}\nstdout:\n{out}\nstderr:\n{err}"
        );
        no_panic(&err);
    }
}

#[test]
fn help_documents_the_spec_keys() {
    for args in [
        &["--help"][..],
        &["exec", "--help"][..],
        &["info", "--help"][..],
    ] {
        let (rc, out, err) = run(args, None);
        assert_eq!(rc, Some(0), "{args:?}\nstderr:\n{err}");
        for key in [
            "python=",
            "chdir=",
            "env:NAME=VALUE",
            "execmodel=",
            "id=",
            "nice=",
            "dont_write_bytecode",
        ] {
            assert!(out.contains(key), "{args:?} --help lacks {key:?}:\n{out}");
        }
    }
}

#[test]
fn ctrl_c_while_gateways_start_kills_the_starting_worker() {
    // An "interpreter" that never answers the bootstrap: it records its pid and sleeps.
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let pidfile_s = pidfile.to_str().expect("utf-8 temp path");
    assert!(!pidfile_s.contains("//") && !pidfile_s.contains('\''));
    let hang = format!("popen//python=sh -c 'echo $$ > {pidfile_s}; exec sleep 1000' sh");
    let ready = py3_spec();
    let mut r = Running::spawn(
        &[
            "exec",
            "--bootstrap-timeout",
            "60",
            "-g",
            &ready,
            "-g",
            &hang,
            "-c",
            "pass",
        ],
        None,
    );
    let mut pids = PidGuard(Vec::new());
    let mut pid = None;
    common::wait_until(20.0, || {
        pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        pid.is_some()
    });
    let pid = pid.expect("the hanging worker never started");
    pids.0.push(pid);
    assert!(
        matches!(common::proc_state(pid), Some(s) if s != 'Z'),
        "worker {pid} not running"
    );
    // SAFETY: plain kill(2) to our own child.
    assert_eq!(unsafe { libc::kill(r.pid(), libc::SIGINT) }, 0);
    let status = r
        .wait_exit(5.0)
        .expect("execdeck did not exit within 5 s of SIGINT");
    let (_, out, err) = r.finish(10.0);
    assert_eq!(status.code(), Some(130), "stdout:\n{out}\nstderr:\n{err}");
    no_panic(&err);
    let gone = common::wait_until(2.0, || matches!(common::proc_state(pid), None | Some('Z')));
    assert!(
        gone,
        "the worker that was still bootstrapping survived Ctrl+C: pid {pid} state {:?}",
        common::proc_state(pid)
    );
}

/// Items and output of one gateway print in the order the remote produced them.
#[test]
fn exec_keeps_items_and_output_in_order() {
    let code = "for i in range(20):\n    channel.send(i)\n    print('after item %d' % i)\n";
    for _ in 0..3 {
        let (rc, out, err) = run(&["exec", "-g", &py3_spec(), "-c", code], None);
        assert_eq!(rc, Some(0), "{err}");
        let want: Vec<String> = (0..20)
            .flat_map(|i| [format!("[gw0] {i}"), format!("[gw0] after item {i}")])
            .collect();
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got, want, "stdout:\n{out}");
    }
}

#[test]
fn top_once_prints_metrics_as_table_and_json() {
    let (rc, out, err) = run(
        &[
            "top",
            "-g",
            &py3_spec(),
            "-g",
            &py3_spec(),
            "--once",
            "--interval",
            "0.3",
        ],
        None,
    );
    assert_eq!(rc, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("GATEWAY") && lines[0].contains("RTT ms") && lines[0].contains("CPU%"),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    let (rc, out, err) = run(
        &[
            "top",
            "-g",
            &py3_spec(),
            "--once",
            "--json",
            "--interval",
            "0.3",
        ],
        None,
    );
    assert_eq!(rc, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["gateway"], "gw0");
    assert!(v["rtt_ms"].as_f64().expect("rtt") > 0.0);
    assert!(v["rss_bytes"].as_u64().expect("rss") > 1 << 20);
    assert!(v["cpu_percent"].as_f64().is_some());
    assert!(v["messages_in_per_s"].as_f64().is_some());
}

/// Rosetta: Python 2's integer division stands out against three Python 3s.
#[test]
fn rosetta_marks_the_cell_that_differs() {
    let Some(py2) = py27() else { return };
    let py3 = common::python3();
    let args = [
        "rosetta".to_string(),
        "-g".into(),
        format!("popen//python={py2}"),
        "-g".into(),
        format!("popen//python={py3}"),
        "-g".into(),
        "popen//python=/usr/bin/python3".into(),
        "-g".into(),
        format!("popen//python={}", common::pyenv_python("3.13.0")),
        "-c".into(),
        "1/2".into(),
        "--json".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = run(&args, None);
    assert_eq!(rc, Some(0), "{err}");
    let mut rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // a row per gateway as it answers, then the summary naming the odd one
    assert_eq!(rows.len(), 5, "{out}");
    let summary = rows.pop().unwrap_or_default();
    assert_eq!(
        summary["summary"]["differs"],
        serde_json::json!(["gw0"]),
        "{out}"
    );
    assert_eq!(
        summary["summary"]["timed_out"],
        serde_json::json!([]),
        "{out}"
    );
    for r in &rows {
        let (repr, ty) = if r["gateway"] == "gw0" {
            ("0", "int")
        } else {
            ("0.5", "float")
        };
        assert_eq!(
            (&r["repr"], &r["type"]),
            (&repr.into(), &ty.into()),
            "{out}"
        );
        assert_eq!(r["timed_out"], false);
    }
    // an exception is a result too
    let (_, out, _) = run(&["rosetta", "-g", &py3_spec(), "-c", "1/0"], None);
    assert!(out.contains("ZeroDivisionError"), "{out}");
}

/// A worker that stops answering (SIGSTOP) does not freeze `top`: the other gateway's
/// rows keep coming, and the silent one is reported.
#[test]
fn top_keeps_going_when_a_worker_stops_answering() {
    let a = format!("{}//id=a", py3_spec());
    let b = format!("{}//id=b", py3_spec());
    let mut r = Running::spawn(
        &["top", "-g", &a, "-g", &b, "--interval", "0.2", "--json"],
        None,
    );
    let mut pids = PidGuard(Vec::new());
    let line = r
        .wait_stdout(30.0, |l| l.contains("\"gateway\":\"b\""))
        .unwrap_or_else(|| panic!("no row for b; stderr: {:?}", r.stderr));
    let row: serde_json::Value = serde_json::from_str(&line).expect("json");
    let pid = row["pid"].as_i64().expect("pid") as i32;
    pids.0.push(pid);
    // SAFETY: plain kill(2) to a worker of our child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let stopped = Instant::now();
    // rows of a keep coming while b is stopped (one round waits at most 2 s for b)
    let mut rows_of_a = 0;
    while rows_of_a < 2 {
        r.wait_stdout(15.0, |l| l.contains("\"gateway\":\"a\""))
            .unwrap_or_else(|| panic!("top froze; stderr: {:?}", r.stderr));
        rows_of_a += 1;
    }
    let said = r
        .stderr
        .iter()
        .any(|l| l.contains("[b] no answer to STATUS within"));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(said, "stderr: {:?}", r.stderr);
    assert!(stopped.elapsed() < Duration::from_secs(30));
    // SAFETY: SIGINT to our child: it terminates its gateways and exits.
    assert_eq!(unsafe { libc::kill(r.pid(), libc::SIGINT) }, 0);
    let (status, _, err) = r.finish(20.0);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(common::wait_until(5.0, || matches!(
        common::proc_state(pid),
        None | Some('Z')
    )));
}

//! The task farm through the real binary: `N*SPEC`, `execdeck map` over real
//! interpreters (each input exactly once, order, exceptions, a worker killed with
//! SIGKILL mid-map, Python 2.7 and 3.13 together, Ctrl+C).

mod common;

use common::{Pids, bin, pyenv_python, python3, require, wait_until};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `execdeck`, killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("execdeck starts");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
        s
    });
    Running {
        child,
        lines: rx,
        stderr,
    }
}

impl Running {
    /// Every stdout line until the process ends, its exit code and stderr.
    fn finish(mut self, secs: u64) -> (Vec<String>, Option<i32>, String) {
        let mut out = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => out.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    assert!(
                        std::time::Instant::now() < end,
                        "execdeck did not finish in {secs}s; {} lines so far",
                        out.len()
                    );
                }
            }
        }
        let status = wait_exit(&mut self.child, secs);
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        let stderr = stderr.join().unwrap_or_default();
        (out, status, stderr)
    }
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    let mut code = None;
    let ok = wait_until(secs as f64, || match child.try_wait() {
        Ok(Some(s)) => {
            code = s.code().or(Some(-1));
            true
        }
        _ => false,
    });
    assert!(ok, "execdeck did not exit within {secs}s");
    code
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes the farm code and `n` inputs (0..n) into `dir`; returns their paths.
fn setup(dir: &tempfile::TempDir, code: &str, n: usize) -> (String, String) {
    let code_path = dir.path().join("work.py");
    std::fs::write(&code_path, code).expect("write code");
    let in_path = dir.path().join("in.jsonl");
    let mut f = std::fs::File::create(&in_path).expect("inputs");
    for i in 0..n {
        writeln!(f, "{i}").expect("write input");
    }
    (
        code_path.display().to_string(),
        in_path.display().to_string(),
    )
}

fn parse(lines: &[String]) -> Vec<Json> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// index -> result line; panics on an index seen twice.
fn by_index(results: &[Json]) -> HashMap<u64, Json> {
    let mut m = HashMap::new();
    for r in results {
        let i = r["index"].as_u64().expect("index");
        assert!(m.insert(i, r.clone()).is_none(), "index {i} answered twice");
    }
    m
}

fn spec(python: &str) -> String {
    format!("popen//python={python}")
}

const SQUARE: &str =
    "def square(x):\n    if x == 7:\n        raise ValueError('seven is bad')\n    return x * x\n";

#[test]
fn exec_on_3_star_popen_prints_three_different_pids() {
    let g = format!("3*{}", spec(&python3()));
    let r = spawn(&["exec", "-g", &g, "-c", "import os; print(os.getpid())"]);
    let (out, code, err) = r.finish(120);
    assert_eq!(code, Some(0), "stderr: {err}");
    let mut pids: Vec<(String, String)> = out
        .iter()
        .filter_map(|l| {
            let (id, pid) = l.split_once("] ")?;
            Some((id.trim_start_matches('[').to_string(), pid.to_string()))
        })
        .collect();
    pids.sort();
    let ids: Vec<&str> = pids.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(ids, ["gw0", "gw1", "gw2"], "{out:?}");
    let mut distinct: Vec<&String> = pids.iter().map(|(_, p)| p).collect();
    distinct.dedup();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{out:?}");
}

#[test]
fn bad_counts_are_clear_errors() {
    for (g, want) in [
        ("0*popen", "the count before '*' must be 1 to 1024"),
        ("x*popen", "'x' is not a count"),
        ("100000000000000000000*popen", "must be 1 to 1024"),
        ("1025*popen", "must be 1 to 1024"),
        ("2*popen//bogus", "bogus"),
    ] {
        let r = spawn(&["exec", "-g", g, "-c", "pass"]);
        let (_, code, err) = r.finish(60);
        assert_eq!(code, Some(2), "{g}: {err}");
        assert!(err.contains(want), "{g}: {err}");
    }
}

#[test]
fn map_10000_inputs_each_answered_once_unordered_and_ordered() {
    let dir = tmpdir();
    let (code, inputs) = setup(&dir, SQUARE, 10_000);
    let g = format!("2*{}", spec(&python3()));
    for ordered in [false, true] {
        let mut args = vec![
            "map", "-g", &g, "--code", &code, "--call", "square", "--inputs", &inputs,
        ];
        if ordered {
            args.push("--ordered");
        }
        let (out, status, err) = spawn(&args).finish(300);
        assert_eq!(status, Some(1), "one task failed, so exit 1; stderr: {err}");
        let results = parse(&out);
        assert_eq!(results.len(), 10_000, "stderr: {err}");
        let m = by_index(&results);
        for i in 0..10_000u64 {
            let r = &m[&i];
            if i == 7 {
                let e = r["error"].as_str().expect("an error line");
                assert!(e.contains("Traceback"), "{e}");
                assert!(e.contains("ValueError: seven is bad"), "{e}");
                assert!(r["gateway"].as_str().is_some_and(|g| g.starts_with("gw")));
            } else {
                assert_eq!(r["result"].as_u64(), Some(i * i), "{r}");
                assert!(r["seconds"].as_f64().is_some(), "{r}");
            }
        }
        let gateways: std::collections::HashSet<&str> = results
            .iter()
            .filter_map(|r| r["gateway"].as_str())
            .collect();
        assert_eq!(gateways.len(), 2, "both workers took tasks");
        if ordered {
            let order: Vec<u64> = results.iter().filter_map(|r| r["index"].as_u64()).collect();
            assert!(
                order.windows(2).all(|w| w[0] + 1 == w[1]),
                "not in input order"
            );
        }
        assert!(
            err.contains("10000 inputs, 9999 succeeded, 1 failed"),
            "{err}"
        );
    }
}

#[test]
fn kill_9_of_a_worker_mid_map_every_task_answered_once_and_the_loss_named() {
    let dir = tmpdir();
    let code =
        "import os, time\ndef work(x):\n    time.sleep(0.002)\n    return [os.getpid(), x * 3]\n";
    let (code, inputs) = setup(&dir, code, 2000);
    let g = format!("2*{}", spec(&python3()));
    let r = spawn(&[
        "map", "-g", &g, "--code", &code, "--call", "work", "--inputs", &inputs,
    ]);
    let mut out = Vec::new();
    let mut guard = Pids(Vec::new());
    let mut victim: Option<(String, i32)> = None;
    // read until both workers are seen, then kill the one of the latest result
    while victim.is_none() {
        let l = r
            .lines
            .recv_timeout(Duration::from_secs(120))
            .expect("results arrive");
        let j: Json = serde_json::from_str(&l).expect("JSON");
        let pid = j["result"][0].as_i64().expect("pid") as i32;
        if !guard.0.contains(&pid) {
            guard.0.push(pid);
        }
        out.push(l);
        if guard.0.len() == 2 && out.len() >= 100 {
            victim = Some((j["gateway"].as_str().unwrap_or("").to_string(), pid));
        }
    }
    let (victim_gw, victim_pid) = victim.expect("a victim");
    common::kill9(victim_pid);
    let (rest, status, err) = r.finish(300);
    out.extend(rest);
    let results = parse(&out);
    let m = by_index(&results);
    assert_eq!(m.len(), 2000, "every task has one result; stderr: {err}");
    for i in 0..2000u64 {
        assert_eq!(m[&i]["result"][1].as_u64(), Some(i * 3), "{}", m[&i]);
    }
    assert!(
        err.contains(&format!("worker {victim_gw} lost")),
        "the event names the dead worker {victim_gw}: {err}"
    );
    assert!(
        results.len() < 2000 + 10 && results.len() == 2000,
        "no duplicates"
    );
    assert_eq!(status, Some(0), "every task succeeded in the end: {err}");
}

#[test]
fn map_across_python_2_7_and_3_13_returns_right_results_from_both() {
    let (Some(py27), Some(py313)) = (
        require(&pyenv_python("2.7.18"), "CPython 2.7"),
        require(&pyenv_python("3.13.0"), "CPython 3.13"),
    ) else {
        return;
    };
    let dir = tmpdir();
    let code = "import sys\ndef work(x):\n    return {'v': sys.version_info[0], 'sq': x * x, 's': u'\\u00e9' * (x % 3)}\n";
    let (code, inputs) = setup(&dir, code, 400);
    let (g1, g2) = (spec(&py27), spec(&py313));
    let (out, status, err) = spawn(&[
        "map",
        "-g",
        &g1,
        "-g",
        &g2,
        "--code",
        &code,
        "--call",
        "work",
        "--inputs",
        &inputs,
        "--prefetch",
        "1",
    ])
    .finish(300);
    assert_eq!(status, Some(0), "stderr: {err}");
    let m = by_index(&parse(&out));
    assert_eq!(m.len(), 400);
    let mut versions = HashMap::new();
    for i in 0..400u64 {
        let r = &m[&i]["result"];
        assert_eq!(r["sq"].as_u64(), Some(i * i), "{r}");
        assert_eq!(r["s"].as_str(), Some("é".repeat((i % 3) as usize).as_str()));
        let v = r["v"].as_u64().expect("version");
        let gw = m[&i]["gateway"].as_str().unwrap_or("").to_string();
        assert_eq!(*versions.entry(gw).or_insert(v), v);
    }
    let mut seen: Vec<u64> = versions.values().copied().collect();
    seen.sort();
    assert_eq!(seen, [2, 3], "both interpreters answered: {versions:?}");
}

#[test]
fn sigint_cancels_running_tasks_and_leaves_no_worker() {
    let dir = tmpdir();
    let code = "import os, time\ndef work(x):\n    if x < 2:\n        return os.getpid()\n    time.sleep(600)\n";
    let (code, inputs) = setup(&dir, code, 50);
    let g = format!("2*{}", spec(&python3()));
    let r = spawn(&[
        "map",
        "-g",
        &g,
        "--code",
        &code,
        "--call",
        "work",
        "--inputs",
        &inputs,
        "--ordered",
    ]);
    let mut guard = Pids(Vec::new());
    for _ in 0..2 {
        let l = r
            .lines
            .recv_timeout(Duration::from_secs(120))
            .expect("first results");
        let j: Json = serde_json::from_str(&l).expect("JSON");
        guard.0.push(j["result"].as_i64().expect("pid") as i32);
    }
    // the workers are now asleep inside tasks
    // SAFETY: kill(2) of the child we started.
    unsafe {
        libc::kill(r.child.id() as i32, libc::SIGINT);
    }
    let (_, status, err) = r.finish(60);
    assert_eq!(status, Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    // the interrupt reached the sleeping tasks: nobody needed the grace period
    assert!(!err.contains("did not stop"), "{err}");
    for &pid in &guard.0 {
        assert!(
            wait_until(30.0, || common::state_after_reap(pid)
                .is_none_or(|s| s == 'Z')),
            "worker {pid} still running after the cancel"
        );
    }
}

#[test]
fn bad_input_lines_and_missing_functions_are_clear_errors() {
    let dir = tmpdir();
    let (code, _) = setup(&dir, SQUARE, 0);
    let in_path = dir.path().join("bad.jsonl");
    std::fs::write(&in_path, "1\n{not json\n\n3\n").expect("write");
    let inputs = in_path.display().to_string();
    let g = spec(&python3());
    let (out, status, err) = spawn(&[
        "map",
        "-g",
        &g,
        "--code",
        &code,
        "--call",
        "square",
        "--inputs",
        &inputs,
        "--ordered",
    ])
    .finish(120);
    assert_eq!(status, Some(1), "{err}");
    let results = parse(&out);
    assert_eq!(results.len(), 3, "{out:?}");
    assert_eq!(results[0]["result"].as_u64(), Some(1));
    let e = results[1]["error"].as_str().expect("error");
    assert!(e.contains("bad input: line 2: not JSON"), "{e}");
    assert_eq!(results[2]["result"].as_u64(), Some(9));

    let (out, status, err) = spawn(&[
        "map", "-g", &g, "--code", &code, "--call", "nosuch", "--inputs", &inputs,
    ])
    .finish(120);
    assert_eq!(status, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("defines no function 'nosuch'"), "{err}");
}

//! `execdeck rosetta`: code that starts with '-', cells printed as gateways answer, the
//! per-gateway deadline, and the exit code when a gateway dies or is late.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rosetta(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_execdeck"))
        .arg("rosetta")
        .args(["-g", &format!("popen//python={}", common::python3())])
        .args(args)
        .output()
        .expect("run execdeck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repr_of(out: &str) -> String {
    let first = out.lines().next().unwrap_or("");
    let row: serde_json::Value = serde_json::from_str(first).expect("a json row");
    row["repr"].as_str().unwrap_or("").to_string()
}

#[test]
fn code_may_start_with_a_minus() {
    for args in [
        &["-c", "-7//2", "--json"][..],
        &["--code=-7//2", "--json"],
        &["--code", "-7//2", "--json"],
        &["--json", "-c", "--", "-7//2"],
    ] {
        let (rc, out, err) = rosetta(args);
        assert_eq!(rc, Some(0), "{args:?}: {err}");
        assert_eq!(repr_of(&out), "-4", "{args:?}");
    }
    let (rc, out, err) = rosetta(&["-c", "-0.0", "--json"]);
    assert_eq!(rc, Some(0), "{err}");
    assert_eq!(repr_of(&out), "-0.0");
}

fn rows(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json lines"))
        .collect()
}

#[test]
fn a_gateway_that_dies_fails_the_run() {
    let (rc, out, _) = rosetta(&["-c", "import os; os._exit(0)", "--json"]);
    assert_eq!(rc, Some(1), "{out}");
    assert!(out.contains("closed"), "{out}");
    // every gateway of several dies: each gets its row, the run fails
    let py = common::python3();
    let out = Command::new(common::bin())
        .args(["rosetta", "--json", "-c", "import os; os._exit(0)"])
        .args(["-g", &format!("popen//python={py}//id=a")])
        .args(["-g", &format!("popen//python={py}//id=b")])
        .output()
        .expect("run execdeck");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let rows = rows(&text);
    assert_eq!(rows.len(), 3, "two rows and the summary: {text}");
    for row in &rows[..2] {
        assert!(row["repr"].is_null(), "{text}");
        assert!(
            row["error"].as_str().is_some_and(|e| e.contains("closed")),
            "{text}"
        );
    }
}

/// Kills the child execdeck if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_hung_gateway_does_not_hold_back_the_others() {
    let py = common::python3();
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("hung.pid");
    let code = "import os, time\n\
                p = os.environ.get('HANG_PIDFILE')\n\
                if p:\n    open(p, 'w').write(str(os.getpid()))\n    time.sleep(3600)\n\
                6 * 7";
    let started = Instant::now();
    let mut child = Child(
        Command::new(common::bin())
            .args(["rosetta", "--json", "--timeout", "20", "-c", code])
            .args(["-g", &format!("popen//python={py}//id=fast")])
            .args([
                "-g",
                &format!(
                    "popen//python={py}//id=hung//env:HANG_PIDFILE={}",
                    pidfile.display()
                ),
            ])
            .args(["-g", &format!("popen//python={py}//id=quick")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run execdeck"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    // the two answering gateways' rows come while the hung one still runs
    let mut early = Vec::new();
    for _ in 0..2 {
        let line = lines.next().and_then(Result::ok).expect("a row");
        early.push(serde_json::from_str::<serde_json::Value>(&line).expect("json"));
    }
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "execdeck already exited after the early rows {early:?}"
    );
    let mut ids: Vec<&str> = early.iter().filter_map(|r| r["gateway"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["fast", "quick"], "{early:?}");
    for row in &early {
        assert_eq!(row["repr"], "42", "{row}");
        assert_eq!(row["timed_out"], false, "{row}");
    }
    let read_pid =
        || -> Option<i32> { std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok() };
    assert!(
        common::wait_until(20.0, || read_pid().is_some()),
        "the hung gateway wrote no pid"
    );
    let hung_pid = read_pid().unwrap_or_default();
    let _guard = common::Pids(vec![hung_pid]);
    // then the late one, marked, and the summary
    let rest: Vec<serde_json::Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("json"))
        .collect();
    let status = child.0.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(1),
        "a late gateway fails the run: {rest:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "the deadline was kept"
    );
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[0]["gateway"], "hung");
    assert_eq!(rest[0]["timed_out"], true);
    assert_eq!(rest[0]["error"], "timed out after 20 s");
    assert_eq!(rest[1]["summary"]["timed_out"], serde_json::json!(["hung"]));
    // the hung worker was terminated with the group
    assert!(
        common::wait_until(10.0, || common::proc_state(hung_pid)
            .is_none_or(|s| s == 'Z')),
        "the hung worker {hung_pid} still runs"
    );
}

#[test]
fn text_rows_and_the_odd_one_named() {
    let py3 = common::python3();
    let Some(py2) = common::require(&common::pyenv_python("2.7.18"), "CPython 2.7") else {
        return;
    };
    let out = Command::new(common::bin())
        .args(["rosetta", "-c", "7 / 2"])
        .args(["-g", &format!("popen//python={py3}//id=a")])
        .args(["-g", &format!("popen//python={py3}//id=b")])
        .args(["-g", &format!("popen//python={py2}//id=old")])
        .output()
        .expect("run execdeck");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().count(),
        5,
        "header, three rows, the odd one: {text}"
    );
    assert!(text.contains(" 3.5 "), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("* differs from the majority: old"),
        "{text}"
    );
}

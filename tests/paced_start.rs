//! Paced starts (engine::pacer): gateways beyond the start slots wait as `queued`, and
//! their bootstrap timeout starts only when their own start begins.

mod common;

use std::process::Command;

/// Six gateways whose interpreter takes 1 s to start, one start slot, `timeout=5`: the
/// last one waits about 5 s in the queue and still succeeds, because its timeout only
/// runs from its own start.
#[test]
fn queued_gateways_do_not_spend_their_timeout_waiting() {
    let dir = tempfile::tempdir().expect("tmp");
    let slow = dir.path().join("slow-python");
    std::fs::write(
        &slow,
        format!("#!/bin/sh\nsleep 1\nexec {} \"$@\"\n", common::python3()),
    )
    .expect("wrapper");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut cmd = Command::new(common::bin());
    cmd.args(["--start-slots", "1", "exec"]);
    for _ in 0..6 {
        cmd.args([
            "-g",
            &format!("popen//python={}//timeout=5", slow.display()),
        ]);
    }
    cmd.args(["-c", "import os; print('pid', os.getpid())"]);
    let t0 = std::time::Instant::now();
    let out = cmd.output().expect("run execdeck");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let pids: std::collections::HashSet<&str> = stdout
        .lines()
        .filter_map(|l| l.split("pid ").nth(1))
        .collect();
    assert_eq!(pids.len(), 6, "{stdout}");
    // one at a time: six 1 s starts cannot all have run side by side
    assert!(took.as_secs_f64() >= 6.0, "took {took:?}: not paced");
}

#[test]
fn zero_start_slots_is_a_usage_error() {
    let out = Command::new(common::bin())
        .args(["--start-slots", "0", "exec", "-c", "pass"])
        .output()
        .expect("run execdeck");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

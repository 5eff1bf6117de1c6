//! Dead-man checks shared by tests/deadman.rs (popen) and tests/ssh.rs.

use execdeck::engine::process;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn gone(pid: i32) -> bool {
    super::state_after_reap(pid).is_none_or(|s| s == 'Z')
}

const HOG: &str = "import os, subprocess, sys\np = subprocess.Popen(['sleep', '600'])\nq = subprocess.Popen(['setsid', 'sleep', '601'])\nprint('PIDS %d %d %d' % (os.getpid(), p.pid, q.pid))\nsys.stdout.flush()\ntry:\n    r = xrange\nexcept NameError:\n    r = range\ntry:\n    sum(r(10**12))\nexcept OverflowError:  # Jython (which has no GIL)\n    while True:\n        pass";

/// Starts `execdeck exec -g GW -c HOG`, waits for the pids, sends `sig` to execdeck and
/// asserts that the worker, its child and its setsid grandchild all go (bound: 10 s).
pub fn killed_master_leaves_nothing(gw: &str, sig: i32, start_secs: u64) {
    process::become_subreaper();
    let mut child = Command::new(super::bin())
        .args(["exec", "-g", gw, "-c", HOG])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn execdeck");
    let mut guard = super::Pids(vec![child.id() as i32]);
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("PIDS ").nth(1) {
                let pids: Vec<i32> = rest
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                let _ = tx.send(pids);
            }
        }
    });
    let pids = rx
        .recv_timeout(Duration::from_secs(start_secs))
        .unwrap_or_else(|_| panic!("{gw}: no pids within {start_secs} s"));
    assert_eq!(pids.len(), 3, "{pids:?}");
    guard.0.extend(&pids);
    // the worker is inside sum(): the GIL is held from here on (a JVM's main thread
    // only waits, its state says nothing)
    let spins = super::wait_until(5.0, || super::proc_state(pids[0]) == Some('R'));
    assert!(
        spins || gw.contains("jython"),
        "{gw}: the worker does not spin"
    );
    let t0 = Instant::now();
    // SAFETY: signalling the execdeck we started.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let all_gone = super::wait_until(10.0, || pids.iter().all(|&p| gone(p)));
    let took = t0.elapsed();
    let _ = child.wait();
    let left: Vec<(i32, Option<char>)> = pids
        .iter()
        .map(|&p| (p, super::proc_state(p)))
        .filter(|(_, s)| s.is_some())
        .collect();
    // a generous bound: the test must hold on a loaded machine; the README's 2 s is
    // measured by benches/deadman.py against the bare kernel floor
    assert!(all_gone, "{gw}: alive 10 s after signal {sig}: {left:?}");
    eprintln!("{gw}: signal {sig}: worker, child and setsid grandchild gone in {took:?}");
}

//! Termination: nothing of a group survives `terminate`, not even what the remote code
//! started; and workers exit by themselves when the master disappears (dead-man).

mod common;

use execdeck::engine::{Group, TerminateOutcome, Value, process};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gone(pid: i32) -> bool {
    common::state_after_reap(pid).is_none()
}

fn ints(v: &Value) -> Vec<i32> {
    match v {
        Value::Tuple(items) => items
            .iter()
            .filter_map(Value::as_i64)
            .map(|i| i as i32)
            .collect(),
        Value::Int(i) => vec![*i as i32],
        other => panic!("expected pids, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_leaves_no_process_and_no_zombie() {
    let py = common::python3();
    let mut group = Group::new();
    let cases = [
        // spins in Python code
        (
            "spin",
            "import os\nchannel.send(os.getpid())\nwhile True:\n    pass",
        ),
        // blocks in a C call
        (
            "sleep",
            "import os, time\nchannel.send(os.getpid())\ntime.sleep(1000)",
        ),
        // ignores the polite signals
        (
            "stubborn",
            "import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nchannel.send(os.getpid())\nwhile True:\n    pass",
        ),
        // starts a child and a detached grandchild (its parent exits at once)
        (
            "children",
            "import os, subprocess, time\np = subprocess.Popen(['sleep', '1000'])\nq = subprocess.Popen('sleep 1000 & echo $!', shell=True, stdout=subprocess.PIPE)\ngrand = int(q.stdout.readline())\nq.wait()\nchannel.send((os.getpid(), p.pid, grand))\ntime.sleep(1000)",
        ),
        // starts a child from a thread of its own, then spins
        (
            "thread-child",
            "import os, subprocess, threading\nbox = []\nt = threading.Thread(target=lambda: box.append(subprocess.Popen(['sleep', '1000'])))\nt.start(); t.join()\nchannel.send((os.getpid(), box[0].pid))\nwhile True:\n    pass",
        ),
    ];
    let mut pids = common::Pids(Vec::new());
    for (name, code) in cases {
        let gw = group
            .make_gateway(&format!("popen//python={py}//id={name}"))
            .await
            .expect("gateway");
        let ch = gw.remote_exec(code).await.expect("exec");
        let v = ch
            .receive_timeout(Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        pids.0.extend(ints(&v));
    }
    assert_eq!(pids.0.len(), 5 + 2 + 1);
    for &pid in &pids.0 {
        assert!(
            process::is_alive(pid),
            "pid {pid} should run before terminate"
        );
    }
    let t0 = Instant::now();
    let outcomes = group.terminate(Duration::from_millis(1500)).await;
    let took = t0.elapsed();
    assert_eq!(outcomes.len(), 5);
    for (id, o) in &outcomes {
        assert!(
            matches!(o, TerminateOutcome::Exited(_) | TerminateOutcome::Killed),
            "{id}: {o:?}"
        );
    }
    // the ladder is bounded by the timeout plus the cleanup, not by the remote code
    assert!(took < Duration::from_secs(4), "terminate took {took:?}");
    for &pid in &pids.0 {
        assert!(
            common::proc_state(pid).is_none(),
            "pid {pid} survived terminate (state {:?})",
            common::proc_state(pid)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_of_a_dead_gateway_says_so() {
    let py = common::python3();
    let mut group = Group::new();
    let gw = group
        .make_gateway(&format!("popen//python={py}"))
        .await
        .expect("gateway");
    let ch = gw
        .remote_exec("import os\nos._exit(3)")
        .await
        .expect("exec");
    let err = ch
        .receive_timeout(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exit code 3"), "{err}");
    let outcomes = group.terminate(Duration::from_secs(1)).await;
    assert_eq!(
        outcomes,
        vec![(
            "gw0".to_string(),
            TerminateOutcome::AlreadyDead(Some(process::ExitInfo::Code(3)))
        )]
    );
}

/// `kill -9` of the master: every worker exits within 2 s even while its code spins, and
/// takes the processes it started along.
#[test]
fn dead_man_workers_exit_when_master_is_killed() {
    process::become_subreaper();
    let py = common::python3();
    let code = "import os, subprocess, sys\np = subprocess.Popen(['sleep', '1000'])\nprint('PIDS %d %d' % (os.getpid(), p.pid))\nsys.stdout.flush()\nwhile True:\n    pass";
    let mut child = Command::new(common::bin())
        .args(["exec", "-g", &format!("popen//python={py}"), "-g"])
        .arg(format!("popen//python={py}"))
        .args(["-c", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn execdeck");
    let mut guard = common::Pids(vec![child.id() as i32]);
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut pids = Vec::new();
    while pids.len() < 4 {
        let line = lines
            .next()
            .expect("execdeck ended before printing the pids")
            .expect("read");
        if let Some(rest) = line.split("PIDS ").nth(1) {
            pids.extend(
                rest.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    guard.0.extend(&pids);
    let t0 = Instant::now();
    common::kill9(child.id() as i32);
    let _ = child.wait();
    let all_gone = common::wait_until(5.0, || pids.iter().all(|&p| gone(p)));
    let took = t0.elapsed();
    assert!(all_gone, "workers still alive 5 s after kill -9: {pids:?}");
    assert!(
        took <= Duration::from_secs(2),
        "workers took {took:?} to exit after kill -9"
    );
    eprintln!("dead-man: all workers and their children gone {took:?} after kill -9");
}

/// Zombie children of this (subreaper) process.
fn my_zombies() -> Vec<i32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            kids.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .filter(|&p| common::proc_state(p) == Some('Z')),
        );
    }
    out
}

/// Orphans adopted as subreaper are reaped while the gateway runs, and terminate removes
/// a grandchild that left the group with setsid().
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_orphans_are_reaped_and_setsid_grandchildren_terminated() {
    let py = common::python3();
    let mut group = Group::new();
    let gw = group
        .make_gateway(&format!("popen//python={py}"))
        .await
        .expect("gateway");
    let code = "import os, subprocess\nfor i in range(20):\n    subprocess.call('sleep 0.05 &', shell=True)\nq = subprocess.Popen(['setsid', 'sleep', '1000'])\nchannel.send(q.pid)\nchannel.receive()";
    let ch = gw.remote_exec(code).await.expect("exec");
    let v = ch
        .receive_timeout(Duration::from_secs(20))
        .await
        .expect("pid");
    let grand = ints(&v)[0];
    let _guard = common::Pids(vec![grand]);
    // the 20 orphans ended after 50 ms; none may stay a zombie while the gateway runs
    let reaped = common::wait_until(3.0, || my_zombies().is_empty());
    assert!(reaped, "zombies left while running: {:?}", my_zombies());
    assert!(process::is_alive(grand), "the setsid grandchild should run");
    let outcomes = group.terminate(Duration::from_millis(500)).await;
    assert_eq!(outcomes.len(), 1);
    assert!(
        common::wait_until(2.0, || gone(grand)),
        "setsid grandchild {grand} survived terminate"
    );
    assert!(
        common::wait_until(2.0, || my_zombies().is_empty()),
        "zombies after terminate: {:?}",
        my_zombies()
    );
}

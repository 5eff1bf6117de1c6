//! `via=GWID`: a gateway bootstrapped through another one (execnet's proxy protocol
//! shape); terminate removes leaves first; a broken hop is named as the cause.

mod common;

use execdeck::engine::{Group, TerminateOutcome, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn via_a_python2_worker_to_python3_and_back() {
    let Some(py2) = common::require(&common::pyenv_python("2.7.18"), "CPython 2.7") else {
        return;
    };
    let py3 = common::python3();
    let mut group = Group::new();
    let hop = group
        .make_gateway(&format!("popen//python={py2}//id=hop"))
        .await
        .expect("hop");
    let leaf = group
        .make_gateway(&format!("popen//via=hop//python={py3}//id=leaf"))
        .await
        .expect("leaf through hop");
    let hop_pid = hop.pid().expect("hop pid") as i32;
    let facts = leaf.facts().await.expect("facts");
    assert_eq!(facts.version_info.first(), Some(&Value::Int(3)));
    let leaf_pid = facts.pid as i32;
    assert_eq!(
        ppid(leaf_pid),
        Some(hop_pid),
        "the leaf runs on the hop's side"
    );
    let ch = leaf
        .remote_exec("for x in channel:\n    channel.send(x * 2)")
        .await
        .expect("exec");
    for i in 0..100 {
        ch.send(&Value::Bytes(vec![i as u8; 3]))
            .await
            .expect("send");
        assert_eq!(
            ch.receive_timeout(T).await.expect("echo"),
            Value::Bytes(vec![i as u8; 6])
        );
    }
    ch.close().await.expect("close");
    let outcomes = group.terminate(Duration::from_secs(5)).await;
    assert_eq!(
        outcomes[1],
        ("leaf".to_string(), TerminateOutcome::Disconnected)
    );
    assert!(
        matches!(outcomes[0].1, TerminateOutcome::Exited(_)),
        "{outcomes:?}"
    );
    for p in [leaf_pid, hop_pid] {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()),
            "{p} left behind"
        );
    }
}

#[tokio::test]
async fn a_broken_hop_is_named() {
    let py = common::python3();
    let mut group = Group::new();
    let err = group
        .make_gateway(&format!("popen//via=nope//python={py}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("there is no gateway 'nope'"), "{err}");
    let hop = group
        .make_gateway(&format!("popen//python={py}//id=hop"))
        .await
        .expect("hop");
    hop.kill();
    let err = group
        .make_gateway(&format!("popen//via=hop//python={py}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("via hop failed"), "{err}");
    group.terminate(Duration::from_secs(2)).await;
}

//! `Group::start_gateway`: starts reserved without holding the group, run at once; a
//! start whose carrier is still starting waits for it (notified, no polling); a carrier
//! that fails, or none at all, is named.

mod common;

use execdeck::engine::{Group, Spec, Value};
use std::time::Duration;

fn spec(s: &str) -> Spec {
    s.parse().expect("spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_rides_on_a_carrier_that_is_still_starting() {
    let py = common::python3();
    let mut group = Group::new();
    let base = group
        .start_gateway(spec(&format!("popen//python={py}//id=base")))
        .expect("reserve base");
    // base has not started yet: sock and leaf find it among the starts
    let sock = group
        .start_gateway(spec("socket=ignored:0//installvia=base//id=sock"))
        .expect("reserve sock");
    let leaf = group
        .start_gateway(spec(&format!("popen//via=base//python={py}")))
        .expect("reserve leaf");
    assert_eq!(leaf.id(), "gw0");
    assert_eq!(
        group.starting_ids(),
        ["base", "sock", "gw0"].map(String::from)
    );
    // a taken id is refused before anything starts
    let dup = group.start_gateway(spec(&format!("popen//python={py}//id=sock")));
    assert!(dup.is_err(), "duplicate id accepted");
    // the dependents are awaited first: they wait for base's notification
    let (sock, leaf) = (tokio::spawn(sock.open()), tokio::spawn(leaf.open()));
    let base = base.open().await.expect("base");
    let sock = sock.await.expect("join").expect("sock through base");
    let leaf = leaf.await.expect("join").expect("leaf through base");
    assert!(group.get("sock").is_some(), "up before it settles");
    group.settle();
    assert_eq!(group.len(), 3);
    assert!(group.starting_ids().is_empty());
    for gw in [&base, &sock, &leaf] {
        let ch = gw.remote_exec("channel.send(6*7)").await.expect("exec");
        assert_eq!(
            ch.receive_timeout(Duration::from_secs(20))
                .await
                .expect("42"),
            Value::Int(42)
        );
    }
    let outcomes = group.terminate(Duration::from_secs(5)).await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
}

#[tokio::test]
async fn a_carrier_that_fails_or_is_missing_is_named() {
    let py = common::python3();
    let mut group = Group::new();
    let missing = group.start_gateway(spec(&format!("popen//via=nope//python={py}")));
    let err = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("there is no gateway 'nope'"), "{err}");
    let hop = group
        .start_gateway(spec("popen//python=/nonexistent/python//id=hop"))
        .expect("reserve hop");
    let leaf = group
        .start_gateway(spec(&format!("popen//via=hop//python={py}//id=leaf")))
        .expect("reserve leaf");
    let leaf = tokio::spawn(leaf.open());
    assert!(hop.open().await.is_err(), "hop started");
    let err = leaf.await.expect("join").expect_err("leaf without its hop");
    let err = err.to_string();
    assert!(
        err.contains("gateway hop") && err.contains("did not start"),
        "{err}"
    );
    // failed starts free their ids
    group.settle();
    assert!(group.is_empty() && group.starting_ids().is_empty());
    // a dropped start tells the ones waiting for it
    let hop = group
        .start_gateway(spec(&format!("popen//python={py}//id=hop")))
        .expect("reserve hop again");
    let leaf = group
        .start_gateway(spec(&format!("popen//via=hop//python={py}//id=leaf")))
        .expect("reserve leaf again");
    drop(hop);
    let err = leaf.open().await.expect_err("leaf after a dropped hop");
    assert!(err.to_string().contains("abandoned"), "{err}");
}

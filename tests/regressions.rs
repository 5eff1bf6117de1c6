//! Regression tests for faults found in review: each once hung, leaked or lost data.

mod common;

use execdeck::engine::{
    Error, Event, Gateway, GatewayOptions, Spec, Stream, TerminateOutcome, Value,
};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

async fn open() -> Gateway {
    Gateway::open(&format!("popen//python={}", common::python3()))
        .await
        .expect("open")
}

/// `wait_closed` after an unread item used to spin (and hang a current-thread runtime).
#[tokio::test(flavor = "current_thread")]
async fn wait_closed_with_unread_items_does_not_spin() {
    let gw = open().await;
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("import time\nchannel.send(1)\ntime.sleep(0.3)")
        .await
        .expect("exec");
    let t0 = Instant::now();
    ch.wait_closed(Some(T)).await.expect("closes");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(ch.receive().await.expect("item kept"), Value::Int(1));
    // a timeout on a current-thread runtime fires
    let ch = gw
        .remote_exec("channel.send(1)\nchannel.receive()")
        .await
        .expect("exec");
    assert_eq!(ch.receive().await.expect("item"), Value::Int(1));
    let ch2 = gw
        .remote_exec("channel.send(2)\nchannel.receive()")
        .await
        .expect("exec");
    ch2.receive().await.expect("item");
    let r = ch.wait_closed(Some(Duration::from_millis(200))).await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
}

/// A worker that stops reading (here: SIGSTOP) while a big send is blocked: terminate
/// still honours its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_is_bounded_while_a_send_blocks() {
    let gw = open().await;
    let _k = Kill(gw.clone());
    let ch = gw.remote_exec("channel.receive()").await.expect("exec");
    gw.signal(libc::SIGSTOP);
    let sender = {
        let ch = ch.clone();
        tokio::spawn(async move { ch.send(&Value::Bytes(vec![0u8; 8 << 20])).await })
    };
    // let the sender fill the pipe and block
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let outcome = gw.terminate(Duration::from_secs(1)).await;
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(outcome, TerminateOutcome::Killed);
    let r = tokio::time::timeout(T, sender)
        .await
        .expect("sender unblocked");
    assert!(r.expect("join").is_err());
}

/// Channels made after the gateway died end at once instead of waiting forever.
#[tokio::test]
async fn channels_of_a_dead_gateway_are_ended() {
    let gw = open().await;
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("import os\nos._exit(0)")
        .await
        .expect("exec");
    assert!(ch.receive_timeout(T).await.is_err());
    let fresh = gw.new_channel();
    let r = tokio::time::timeout(T, fresh.receive())
        .await
        .expect("no hang");
    assert!(matches!(r, Err(Error::GatewayClosed { .. })), "{r:?}");
    let by_id = gw.channel(42);
    assert!(
        tokio::time::timeout(T, by_id.receive())
            .await
            .expect("no hang")
            .is_err()
    );
    assert!(gw.status().await.is_err());
    assert!(gw.channel_ids().is_empty());
}

/// Finished exec channels are dropped by the worker (STATUS numchannels stays small).
#[tokio::test]
async fn worker_forgets_finished_channels() {
    let gw = open().await;
    let _k = Kill(gw.clone());
    for _ in 0..100 {
        let ch = gw.remote_exec("channel.send(1)").await.expect("exec");
        ch.receive_timeout(T).await.expect("item");
        ch.wait_closed(Some(T)).await.expect("closed");
    }
    let st = gw.status().await.expect("status");
    let n = st
        .get("numchannels")
        .and_then(Value::as_i64)
        .expect("numchannels");
    assert!(n <= 2, "{st}");
    assert!(gw.channel_ids().len() <= 1, "{:?}", gw.channel_ids());
}

/// Text that UTF-8 cannot carry (lone surrogates) is replaced, never dropped.
#[tokio::test]
async fn unencodable_output_is_replaced_not_lost() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let spec: Spec = format!("popen//python={}", common::python3())
        .parse()
        .expect("spec");
    let gw = Gateway::open_spec(
        spec,
        GatewayOptions {
            events: Some(tx),
            ..Default::default()
        },
    )
    .await
    .expect("open");
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("import sys\nsys.stdout.write('partial ')\nprint('bad:', b'\\xff'.decode('utf-8', 'surrogateescape'))")
        .await
        .expect("exec");
    ch.wait_closed(Some(T)).await.expect("done");
    let mut text = String::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Output {
            stream: Stream::Stdout,
            text: t,
            ..
        } = ev
        {
            text.push_str(&t);
        }
    }
    assert!(text.starts_with("partial bad: "), "{text:?}");
    assert!(text.ends_with('\n'), "{text:?}");
}

/// A worker killed from outside: what it started is removed when its end is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grandchildren_of_a_crashed_worker_are_removed() {
    let gw = open().await;
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("import subprocess\np = subprocess.Popen(['sleep', '77'])\nchannel.send(p.pid)\nchannel.receive()")
        .await
        .expect("exec");
    let child = ch
        .receive_timeout(T)
        .await
        .expect("pid")
        .as_i64()
        .expect("int") as i32;
    let _guard = scopeguard(child);
    // SAFETY: kill(2) of our own worker only (not its group).
    unsafe {
        libc::kill(gw.pid().expect("pid") as i32, libc::SIGKILL);
    }
    assert!(ch.receive_timeout(T).await.is_err());
    assert!(
        common::wait_until(5.0, || common::proc_state(child).is_none()),
        "grandchild {child} survived its worker"
    );
}

struct PidGuard(i32);
impl Drop for PidGuard {
    fn drop(&mut self) {
        common::kill9(self.0);
    }
}
fn scopeguard(pid: i32) -> PidGuard {
    PidGuard(pid)
}

/// `textwrap.dedent` semantics: tabs and spaces are different margins.
#[test]
fn dedent_matches_textwrap() {
    use execdeck::engine::gateway::dedent;
    assert_eq!(
        dedent("\tif 1:\n\t\tx = 1\n  y = 2"),
        "\tif 1:\n\t\tx = 1\n  y = 2"
    );
    assert_eq!(dedent("    a\n      b\n\n    c\n"), "a\n  b\n\nc\n");
    assert_eq!(dedent("  a\n   \n  b"), "a\n\nb");
}

//! Memory budgets: a big frame costs a small multiple of its size, channel references
//! from one item are capped, and a channel nobody reads holds a bounded number of bytes.
//! Each test reads its own process's peak RSS (nextest runs every test in a fresh
//! process, and the worker is a separate process), so parallel tests do not interfere.

mod common;

use execdeck::engine::{Gateway, GatewayOptions, Limits, Spec, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(180);
const MB: u64 = 1 << 20;

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM).
fn status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .expect("field")
}

async fn open(limits: Limits) -> Gateway {
    let spec: Spec = format!("popen//python={}", common::python3())
        .parse()
        .expect("spec");
    Gateway::open_spec(
        spec,
        GatewayOptions {
            limits,
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open")
}

/// Peak RSS growth while receiving the item `expr` sends (about 16 MiB on the wire).
async fn peak_growth_for(expr: &str, frame: u64) -> (u64, Result<Value, String>) {
    let gw = open(Limits::default()).await;
    let _k = Kill(gw.clone());
    // the worker prepares the item first, then sends it when told
    let ch = gw
        .remote_exec(&format!(
            "x = {expr}\nchannel.send(1)\nchannel.receive()\nchannel.send(x)"
        ))
        .await
        .expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("ready"), Value::Int(1));
    let base = status_bytes("VmRSS");
    assert!(base < status_bytes("VmHWM") + 1);
    ch.send(&Value::None).await.expect("go");
    let got = ch.receive_timeout(T).await.map_err(|e| e.to_string());
    let peak = status_bytes("VmHWM");
    let growth = peak.saturating_sub(base);
    eprintln!(
        "{expr}: frame ~{} MiB, peak RSS growth {} MiB ({:.1}x)",
        frame / MB,
        growth / MB,
        growth as f64 / frame as f64
    );
    (growth, got)
}

const FRAME: u64 = 16 * MB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_frame_of_ints_costs_under_8x() {
    // 'F' + 4 bytes per item
    let n = FRAME / 5;
    let (growth, got) = peak_growth_for(&format!("tuple(range({n}))"), FRAME).await;
    match got {
        Ok(Value::Tuple(items)) => assert_eq!(items.len() as u64, n),
        other => panic!("{other:?}"),
    }
    assert!(growth < 8 * FRAME, "peak growth {} MiB", growth / MB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_frame_of_dicts_costs_under_8x() {
    // two ints and SETITEM: 11 bytes per entry
    let n = FRAME / 11;
    let (growth, got) = peak_growth_for(&format!("dict((i, i) for i in range({n}))"), FRAME).await;
    match got {
        Ok(Value::Dict(items)) => assert_eq!(items.len() as u64, n),
        other => panic!("{other:?}"),
    }
    assert!(growth < 8 * FRAME, "peak growth {} MiB", growth / MB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_frame_of_channel_refs_is_refused_cheaply() {
    // index, channel, SETITEM: 11 bytes per reference
    let n = FRAME / 11;
    let (growth, got) =
        peak_growth_for(&format!("[channel.gateway.newchannel()] * {n}"), FRAME).await;
    let err = got.expect_err("refused");
    assert!(
        err.contains("exceeds the limit of 1024; raise it with max_channel_refs="),
        "{err}"
    );
    assert!(growth < 8 * FRAME, "peak growth {} MiB", growth / MB);
}

/// 1 GB offered to a channel nobody reads: it ends at 256 MiB unread with an error naming
/// the limit; RSS stays bounded and the gateway and its other channels live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_channel_is_bounded_in_bytes() {
    let gw = open(Limits::default()).await;
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("data = b'x' * 50000\nfor i in range(20000):\n    channel.send(data)")
        .await
        .expect("exec");
    // wait for the end without reading
    let t0 = std::time::Instant::now();
    while !ch.is_closed() {
        assert!(t0.elapsed() < T, "the unread channel never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = status_bytes("VmHWM");
    eprintln!("peak RSS {} MiB", peak / MB);
    assert!(peak < 400 * MB, "peak RSS {} MiB", peak / MB);
    let mut items = 0u64;
    let err = loop {
        match ch.receive_timeout(T).await {
            Ok(_) => items += 1,
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        err.contains("exceeds the limit of 268435456 bytes; raise it with max_unread="),
        "{err}"
    );
    assert_eq!(items, (256 * MB) / 50_006, "items kept before the limit");
    let other = gw.remote_exec("channel.send(7)").await.expect("exec");
    assert_eq!(
        other.receive_timeout(T).await.expect("alive"),
        Value::Int(7)
    );
}

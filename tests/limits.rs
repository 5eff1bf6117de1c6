//! Decoding limits: what execnet delivers arrives intact (deep nesting, millions of
//! items, huge ints, both ways), and an item over a configured limit ends only its own
//! channel while the gateway, its other channels and a console live on.

mod common;

use execdeck::engine::console::{Console, ConsoleEvent};
use execdeck::engine::{Gateway, GatewayOptions, Limits, Spec, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

async fn open(python: &str, limits: Limits) -> Gateway {
    let spec: Spec = format!("popen//python={python}").parse().expect("spec");
    Gateway::open_spec(
        spec,
        GatewayOptions {
            limits,
            bootstrap_timeout: Duration::from_secs(30),
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open")
}

/// Nesting depth of `[[[...]]]` (the innermost list is empty).
fn list_depth(mut v: &Value) -> usize {
    let mut d = 0;
    while let Value::List(items) = v {
        d += 1;
        match items.first() {
            Some(inner) => v = inner,
            None => break,
        }
    }
    d
}

fn nested(depth: usize) -> Value {
    let mut v = Value::List(Vec::new());
    for _ in 1..depth {
        v = Value::List(vec![v]);
    }
    v
}

const HEAVY: &str = "import sys
if hasattr(sys, 'set_int_max_str_digits'):
    sys.set_int_max_str_digits(0)
def nest(n):
    x = []
    for _ in range(n - 1):
        x = [x]
    return x
def depth(x):
    d = 0
    while isinstance(x, list):
        d += 1
        if not x:
            break
        x = x[0]
    return d
channel.send(nest(300))
channel.send(nest(900))
channel.send(list(range(5 * 10**6)))
channel.send(tuple(range(5 * 10**6)))
channel.send(10**5000)
channel.send(channel.receive() == 10**5000)
channel.send(depth(channel.receive()))
";

async fn heavy_payloads_arrive_intact(python: &str) {
    let gw = open(python, Limits::default()).await;
    let _k = Kill(gw.clone());
    let ch = gw.remote_exec(HEAVY).await.expect("exec");
    for want in [300, 900] {
        let v = ch.receive_timeout(T).await.expect("nested list");
        assert_eq!(list_depth(&v), want, "{python}");
    }
    let v = ch.receive_timeout(T).await.expect("5M list");
    match &v {
        Value::List(items) => {
            assert_eq!(items.len(), 5_000_000, "{python}");
            assert_eq!(items[4_999_999], Value::Int(4_999_999), "{python}");
        }
        other => panic!("{python}: not a list: {}", other.type_name()),
    }
    drop(v);
    let v = ch.receive_timeout(T).await.expect("5M tuple");
    match &v {
        Value::Tuple(items) => {
            assert_eq!(items.len(), 5_000_000, "{python}");
            assert_eq!(items[123_456], Value::Int(123_456), "{python}");
        }
        other => panic!("{python}: not a tuple: {}", other.type_name()),
    }
    drop(v);
    let big = format!("1{}", "0".repeat(5000));
    let v = ch.receive_timeout(T).await.expect("10**5000");
    assert_eq!(v, Value::BigInt(big.clone()), "{python}");
    // and back: the stub loads what Python's own int() limit would refuse
    ch.send(&Value::BigInt(big)).await.expect("send big int");
    assert_eq!(
        ch.receive_timeout(T).await.expect("equal"),
        Value::Bool(true),
        "{python}"
    );
    ch.send(&nested(900)).await.expect("send deep");
    assert_eq!(
        ch.receive_timeout(T).await.expect("depth"),
        Value::Int(900),
        "{python}"
    );
    ch.wait_closed(Some(T)).await.expect("closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_payloads_arrive_intact_on_3_13() {
    let Some(py) = common::require(&common::pyenv_python("3.13.0"), "cpython 3.13") else {
        return;
    };
    heavy_payloads_arrive_intact(&py).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_payloads_arrive_intact_on_2_7() {
    let Some(py) = common::require(&common::pyenv_python("2.7.18"), "cpython 2.7") else {
        return;
    };
    heavy_payloads_arrive_intact(&py).await;
}

async fn console_answers(console: &Console, rx: &mut tokio::sync::mpsc::Receiver<ConsoleEvent>) {
    let sid = console.run("print(6*7)").await.expect("run");
    let mut out = String::new();
    loop {
        let ev = tokio::time::timeout(T, rx.recv())
            .await
            .expect("console event")
            .expect("console open");
        match ev {
            ConsoleEvent::Output { snippet, text, .. } if snippet == sid => out.push_str(&text),
            ConsoleEvent::Done { snippet, .. } if snippet == sid => break,
            ConsoleEvent::Closed { reason } => panic!("console closed: {reason}"),
            _ => {}
        }
    }
    assert_eq!(out, "42\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_over_a_limit_ends_only_its_channel() {
    let limits = Limits {
        max_container_len: 1000,
        max_depth: 50,
        max_int_digits: 100,
        ..Limits::default()
    };
    let gw = open(&common::python3(), limits).await;
    let _k = Kill(gw.clone());
    let other = gw
        .remote_exec("while True:\n    channel.send(channel.receive() + 1)")
        .await
        .expect("exec");
    let (console, mut rx) = Console::start(&gw).await.expect("console");
    let cases = [
        (
            "channel.send(list(range(6000)))",
            "list of 6000 items exceeds the limit of 1000; raise it with max_items=",
        ),
        (
            "x = []\nfor _ in range(60): x = [x]\nchannel.send(x)",
            "exceeds the limit of 50; raise it with max_depth=",
        ),
        (
            "channel.send(10**200)",
            "integer of 201 digits exceeds the limit of 100; raise it with max_int_digits=",
        ),
    ];
    for (code, want) in cases {
        let ch = gw
            .remote_exec(&format!("{code}\nchannel.send('after')"))
            .await
            .expect("exec");
        let err = ch.receive_timeout(T).await.unwrap_err().to_string();
        assert!(err.contains(want), "{code}: {err}");
        // the channel stays ended: the item after it is not delivered
        assert!(ch.receive_timeout(T).await.is_err(), "{code}");
        other.send(&Value::Int(41)).await.expect("send");
        assert_eq!(
            other.receive_timeout(T).await.expect("other channel"),
            Value::Int(42)
        );
        console_answers(&console, &mut rx).await;
    }
    let ch = gw
        .remote_exec("channel.send(list(range(1000)))")
        .await
        .expect("exec");
    let v = ch.receive_timeout(T).await.expect("within the limit");
    assert!(matches!(v, Value::List(ref l) if l.len() == 1000));
    assert!(gw.status().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_come_from_spec_keys() {
    let spec: Spec = format!("popen//python={}//max_items=10", common::python3())
        .parse()
        .expect("spec");
    assert!("popen//max_depth=0".parse::<Spec>().is_err());
    let gw = Gateway::open_spec(spec, GatewayOptions::default())
        .await
        .expect("open");
    let _k = Kill(gw.clone());
    let ch = gw
        .remote_exec("channel.send([0] * 11)")
        .await
        .expect("exec");
    let err = ch.receive_timeout(T).await.unwrap_err().to_string();
    assert!(
        err.contains("list of 11 items exceeds the limit of 10; raise it with max_items="),
        "{err}"
    );
}

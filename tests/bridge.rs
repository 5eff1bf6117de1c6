//! Bridges between gateways on real interpreters: Python 2.7 ↔ 3.13, 3 → 3, a chain
//! through Jython into PyPy3, and how each kind of end propagates.

mod common;

use execdeck::engine::bridge::{Bridge, Converted, convert};
use execdeck::engine::{
    Channel, Gateway, GatewayOptions, Spec, StrConfig, Value, codec, events::Event,
};
use std::time::Duration;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(30);

/// Every gateway a test opens; all are killed when the test ends, also on failure.
struct Gws(Vec<Gateway>);

impl Gws {
    fn new() -> Gws {
        Gws(Vec::new())
    }

    async fn open(&mut self, python: &str, id: &str, timeout: u64) -> Gateway {
        let gw = Gateway::open(&format!(
            "popen//python={python}//id={id}//timeout={timeout}"
        ))
        .await
        .unwrap_or_else(|e| panic!("open {id} ({python}): {e}"));
        self.0.push(gw.clone());
        gw
    }

    /// pyenv's 2.7.18 and 3.13.0, opened (None when missing outside strict mode).
    async fn py27_and_py313(&mut self) -> Option<(Gateway, Gateway)> {
        let py27 = common::require(&common::pyenv_python("2.7.18"), "CPython 2.7.18 (pyenv)")?;
        let py313 = common::require(&common::pyenv_python("3.13.0"), "CPython 3.13.0 (pyenv)")?;
        Some((
            self.open(&py27, "py27", 20).await,
            self.open(&py313, "py313", 20).await,
        ))
    }

    /// Two Python 3 gateways, "src" and "dst".
    async fn python3_pair(&mut self) -> (Gateway, Gateway) {
        (
            self.open(&common::python3(), "src", 20).await,
            self.open(&common::python3(), "dst", 20).await,
        )
    }

    async fn terminate(&self) {
        for g in &self.0 {
            g.terminate(Duration::from_secs(5)).await;
        }
    }
}

impl Drop for Gws {
    fn drop(&mut self) {
        for g in &self.0 {
            g.kill();
        }
    }
}

fn lit(s: &str) -> Value {
    Value::parse_literal(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn raw() -> StrConfig {
    StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    }
}

/// Runs on Python 2 and 3: reports each item that arrives on its inbox with its
/// shape (type names, as text, mirroring the containers), then `'end'` when the
/// inbox closes normally or `('error', text)` when it closes with an error.
const CONSUMER: &str = r#"
inbox = channel.receive()
def shape(x):
    t = u'' + type(x).__name__
    if t in (u'tuple', u'list'):
        return type(x)([shape(i) for i in x])
    if t == u'dict':
        return (t, sorted([(shape(k), shape(v)) for k, v in x.items()]))
    if t in (u'set', u'frozenset'):
        return (t, sorted([shape(i) for i in x]))
    return t
try:
    for x in inbox:
        channel.send((x, shape(x)))
    channel.send(u'end')
except channel.RemoteError:
    channel.send((u'error', __import__('sys').exc_info()[1].formatted))
"#;

/// A producer on the source gateway bridged to [`CONSUMER`] on the destination. The
/// producer's code starts with `report = channel.receive()`: that item is the go
/// signal (sent after the bridge started, so the bridge sees every py2 `str` as
/// bytes) and a channel of its own for telling the test what it saw.
struct Pipe {
    producer: Channel,
    report: Channel,
    consumer: Channel,
    inbox: Channel,
    bridge: Bridge,
}

async fn pipe(src: &Gateway, dst: &Gateway, producer_code: &str, consumer_code: &str) -> Pipe {
    let producer = src.remote_exec(producer_code).await.expect("producer");
    let inbox = dst.new_channel();
    let consumer = dst.remote_exec(consumer_code).await.expect("consumer");
    // a Python 2 consumer's native str reaches the test as bytes
    consumer.reconfigure(raw()).await.expect("reconfigure");
    consumer
        .send(&Value::Channel(inbox.id()))
        .await
        .expect("inbox to the consumer");
    let bridge = Bridge::start(producer.clone(), inbox.clone())
        .await
        .expect("bridge start");
    let report = src.new_channel();
    producer
        .send(&Value::Channel(report.id()))
        .await
        .expect("go");
    Pipe {
        producer,
        report,
        consumer,
        inbox,
        bridge,
    }
}

/// What the consumer reported: `(item, shape)` pairs, and the error text if the
/// inbox closed with one (`None` for a normal close).
async fn results(consumer: &Channel) -> (Vec<(Value, Value)>, Option<String>) {
    let mut got = Vec::new();
    loop {
        let v = consumer.receive_timeout(T).await.expect("consumer report");
        match v {
            Value::Str(s) if s == "end" => return (got, None),
            Value::Tuple(t) => match <[Value; 2]>::try_from(t) {
                Ok([Value::Str(tag), Value::Str(text)]) if tag == "error" => {
                    return (got, Some(text));
                }
                Ok([x, shape]) => got.push((x, shape)),
                Err(t) => panic!("unexpected report {t:?}"),
            },
            other => panic!("unexpected report {other}"),
        }
    }
}

fn encoded(items: &[(Value, Value)]) -> u64 {
    items
        .iter()
        .map(|(x, _)| codec::encode(x).expect("encode").len() as u64)
        .sum()
}

async fn wait(bridge: &Bridge) -> String {
    tokio::time::timeout(T, bridge.wait())
        .await
        .unwrap_or_else(|_| panic!("bridge {} did not end", bridge.label()))
}

#[test]
fn convert_between_majors() {
    let mut n = Converted::default();
    let from2 = lit(
        "(b'a', [b'caf\\xc3\\xa9', 'u'], {b'k': b'\\xff'}, {b's'}, frozenset({b'f'}), 1, None)",
    );
    let v = convert(from2.clone(), true, false, &mut n);
    assert_eq!(
        v,
        lit("('a', ['café', 'u'], {'k': 'ÿ'}, {'s'}, frozenset({'f'}), 1, None)")
    );
    assert_eq!(n.strings, 6);

    let mut n = Converted::default();
    let from3 = lit("['text', b'raw', {'k': ('v', 2)}, {'s'}]");
    let v = convert(from3.clone(), false, true, &mut n);
    assert_eq!(v, lit("[b'text', b'raw', {b'k': (b'v', 2)}, {b's'}]"));
    assert_eq!(n.strings, 4);
    let mut n = Converted::default();
    assert_eq!(
        convert(lit("'caf\\xe9'"), false, true, &mut n),
        Value::Bytes("café".as_bytes().to_vec())
    );
    assert_eq!(n.strings, 1);

    // keys a conversion made equal merge as the destination's loader merges them
    let mut n = Converted::default();
    let v = convert(
        lit("{b'\\xe9': 1, '\\xe9': 2, (b'\\xe9',): 3, ('\\xe9',): 4, b'k': {b'a', 'a'}}"),
        true,
        false,
        &mut n,
    );
    assert_eq!(v.to_string(), "{'é': 2, ('é',): 4, 'k': {'a'}}");
    assert_eq!(
        n,
        Converted {
            strings: 4,
            merged: 3
        }
    );

    // same major: untouched and not counted
    let mut n = Converted::default();
    assert_eq!(convert(from2.clone(), true, true, &mut n), from2);
    assert_eq!(convert(from3.clone(), false, false, &mut n), from3);
    assert_eq!(n, Converted::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py27_producer_to_py313_consumer_gets_text() {
    let mut gws = Gws::new();
    let Some((src, dst)) = gws.py27_and_py313().await else {
        return;
    };
    let p = pipe(
        &src,
        &dst,
        r#"
report = channel.receive()
for i in range(3):
    channel.send('tick %d' % i)
channel.send(u'caf\xe9')
channel.send('caf\xc3\xa9')
channel.send(b'\xff')
channel.send(('a', [u'b', 'c'], {'k': u'v'}, set(['s']), frozenset([u'f']), 7, None, 2.5))
channel.send({'\xe9': 1, u'\xe9': 1})
"#,
        CONSUMER,
    )
    .await;
    assert_eq!(p.bridge.label(), format!("py27:1 → py313:{}", p.inbox.id()));
    let (got, error) = results(&p.consumer).await;
    assert_eq!(error, None);
    let want = [
        ("'tick 0'", "'str'"),
        ("'tick 1'", "'str'"),
        ("'tick 2'", "'str'"),
        ("'café'", "'str'"),
        ("'café'", "'str'"),
        ("'ÿ'", "'str'"),
        (
            "('a', ['b', 'c'], {'k': 'v'}, {'s'}, frozenset({'f'}), 7, None, 2.5)",
            "('str', ['str', 'str'], ('dict', [('str', 'str')]), ('set', ['str']), \
             ('frozenset', ['str']), 'int', 'NoneType', 'float')",
        ),
        // two keys on Python 2, one once both are text: merged and counted
        ("{'é': 1}", "('dict', [('str', 'int')])"),
    ]
    .map(|(x, s)| (lit(x), lit(s)));
    assert_eq!(got, want);
    assert_eq!(wait(&p.bridge).await, "source closed");
    assert_eq!(p.bridge.ended().as_deref(), Some("source closed"));
    let stats = p.bridge.stats();
    assert_eq!(stats.items, 8);
    // 'tick %d' x3, 'caf\xc3\xa9', '\xff', 'a', 'c', 'k', 's' in the tuple, '\xe9'
    assert_eq!(stats.conversions, 10);
    assert_eq!(stats.merged, 1);
    assert_eq!(stats.bytes, encoded(&got));
    assert_eq!(p.bridge.stats().elapsed, stats.elapsed, "frozen at the end");
    p.consumer
        .wait_closed(Some(T))
        .await
        .expect("consumer ends");
    p.producer
        .wait_closed(Some(T))
        .await
        .expect("producer ends");
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py313_producer_to_py27_consumer_gets_native_str() {
    let mut gws = Gws::new();
    let Some((dst, src)) = gws.py27_and_py313().await else {
        return;
    };
    let p = pipe(
        &src,
        &dst,
        r#"
report = channel.receive()
channel.send('text')
channel.send('caf\xe9')
channel.send(b'raw')
channel.send(['a', b'b', {'k': 'v'}])
channel.send(42)
"#,
        CONSUMER,
    )
    .await;
    let (got, error) = results(&p.consumer).await;
    assert_eq!(error, None);
    // the consumer's native str reaches the test as bytes: no 'unicode' anywhere
    let want = [
        ("b'text'", "'str'"),
        ("b'caf\\xc3\\xa9'", "'str'"),
        ("b'raw'", "'str'"),
        (
            "[b'a', b'b', {b'k': b'v'}]",
            "['str', 'str', ('dict', [('str', 'str')])]",
        ),
        ("42", "'int'"),
    ]
    .map(|(x, s)| (lit(x), lit(s)));
    assert_eq!(got, want);
    assert_eq!(wait(&p.bridge).await, "source closed");
    let stats = p.bridge.stats();
    assert_eq!(stats.items, 5);
    // 'text', 'café', and 'a', 'k', 'v'; b'raw' and b'b' are already bytes
    assert_eq!(stats.conversions, 5);
    assert_eq!(stats.bytes, encoded(&got));
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_major_passes_items_unchanged() {
    let Some(py313) = common::require(&common::pyenv_python("3.13.0"), "CPython 3.13.0 (pyenv)")
    else {
        return;
    };
    let mut gws = Gws::new();
    let src = gws.open(&common::python3(), "a", 20).await;
    let dst = gws.open(&py313, "b", 20).await;
    let p = pipe(
        &src,
        &dst,
        "report = channel.receive()\nchannel.send('text')\nchannel.send(b'\\xff')\nchannel.send([b'x', 'y'])",
        CONSUMER,
    )
    .await;
    let (got, error) = results(&p.consumer).await;
    assert_eq!(error, None);
    let want = [
        ("'text'", "'str'"),
        ("b'\\xff'", "'bytes'"),
        ("[b'x', 'y']", "['bytes', 'str']"),
    ]
    .map(|(x, s)| (lit(x), lit(s)));
    assert_eq!(got, want);
    assert_eq!(wait(&p.bridge).await, "source closed");
    let stats = p.bridge.stats();
    assert_eq!((stats.items, stats.conversions), (3, 0));
    assert_eq!(stats.bytes, encoded(&got));
    gws.terminate().await;
}

/// CPython 2.7 → Jython 2.7 (same major: unchanged) → PyPy3 (converted); the
/// producer's end closes the relay's inbox, which ends the relay, which closes the
/// consumer's inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_py27_through_jython_into_pypy3() {
    let (Some(py27), Some(jython), Some(pypy3)) = (
        common::require(&common::pyenv_python("2.7.18"), "CPython 2.7.18 (pyenv)"),
        common::require("/usr/bin/jython", "Jython"),
        common::require("/usr/bin/pypy3", "PyPy3"),
    ) else {
        return;
    };
    let mut gws = Gws::new();
    let a = gws.open(&py27, "py27", 20).await;
    let j = gws.open(&jython, "jython", 60).await;
    let y = gws.open(&pypy3, "pypy3", 30).await;
    let producer = a
        .remote_exec(
            "report = channel.receive()\nchannel.send('a')\nchannel.send(u'b')\nchannel.send(7)",
        )
        .await
        .expect("producer");
    let relay_inbox = j.new_channel();
    let relay = j
        .remote_exec(
            "inbox = channel.receive()\nfor x in inbox:\n    channel.send((type(x).__name__, x))",
        )
        .await
        .expect("relay");
    relay
        .send(&Value::Channel(relay_inbox.id()))
        .await
        .expect("relay inbox");
    let inbox = y.new_channel();
    let consumer = y.remote_exec(CONSUMER).await.expect("consumer");
    consumer
        .send(&Value::Channel(inbox.id()))
        .await
        .expect("consumer inbox");
    let first = Bridge::start(producer.clone(), relay_inbox)
        .await
        .expect("py27 → jython");
    let second = Bridge::start(relay.clone(), inbox)
        .await
        .expect("jython → pypy3");
    producer.send(&Value::None).await.expect("go");

    let (got, error) = results(&consumer).await;
    assert_eq!(error, None);
    let want = [
        ("('str', 'a')", "('str', 'str')"),
        ("('unicode', 'b')", "('str', 'str')"),
        ("('int', 7)", "('str', 'int')"),
    ]
    .map(|(x, s)| (lit(x), lit(s)));
    assert_eq!(got, want);
    assert_eq!(wait(&first).await, "source closed");
    assert_eq!(wait(&second).await, "source closed");
    let (s1, s2) = (first.stats(), second.stats());
    assert_eq!((s1.items, s1.conversions), (3, 0));
    // the type names, and the relay's native 'a'
    assert_eq!((s2.items, s2.conversions), (3, 4));
    assert_eq!(s2.bytes, encoded(&got));
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_error_closes_destination_with_the_traceback() {
    let mut gws = Gws::new();
    let (src, dst) = gws.python3_pair().await;
    let p = pipe(
        &src,
        &dst,
        "report = channel.receive()\nchannel.send(1)\n1 / 0",
        CONSUMER,
    )
    .await;
    let (got, error) = results(&p.consumer).await;
    assert_eq!(got, vec![(lit("1"), lit("'int'"))]);
    let reason = "source src:1 failed: ZeroDivisionError: division by zero";
    let error = error.expect("closed with an error");
    assert!(error.starts_with(reason), "{error}");
    assert!(
        error.contains("Traceback (most recent call last)"),
        "{error}"
    );
    assert_eq!(wait(&p.bridge).await, reason);
    assert_eq!(p.bridge.stats().items, 1);
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_gateway_death_closes_destination_with_the_reason() {
    let mut gws = Gws::new();
    let (src, dst) = gws.python3_pair().await;
    let p = pipe(
        &src,
        &dst,
        "report = channel.receive()\nchannel.send(1)\nchannel.receive()",
        CONSUMER,
    )
    .await;
    // the first item went through: the bridge is in flight
    assert_eq!(
        p.consumer.receive_timeout(T).await.expect("first"),
        lit("(1, 'int')")
    );
    assert_eq!(p.bridge.ended(), None);
    common::kill9(src.pid().expect("pid") as i32);
    let (got, error) = results(&p.consumer).await;
    assert!(got.is_empty(), "{got:?}");
    let error = error.expect("closed with an error");
    assert!(error.starts_with("gateway src died: "), "{error}");
    let reason = wait(&p.bridge).await;
    assert_eq!(reason, error);
    gws.terminate().await;
}

/// Sends one item, then waits: the error its channel is closed with goes to `report`.
const PRODUCER_REPORTS_ITS_END: &str = "report = channel.receive()\nchannel.send(1)\ntry:\n    channel.receive()\nexcept channel.RemoteError as e:\n    report.send(e.formatted)";

/// A [`PRODUCER_REPORTS_ITS_END`] bridged to `consumer_code`, which has received the
/// one item.
async fn one_item_through(src: &Gateway, dst: &Gateway, consumer_code: &str) -> Pipe {
    let p = pipe(src, dst, PRODUCER_REPORTS_ITS_END, consumer_code).await;
    assert_eq!(
        p.consumer.receive_timeout(T).await.expect("first"),
        lit("1")
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_close_closes_the_source_with_the_reason() {
    let mut gws = Gws::new();
    let (src, dst) = gws.python3_pair().await;
    let p = one_item_through(
        &src,
        &dst,
        "inbox = channel.receive()\nchannel.send(inbox.receive())\ninbox.close()",
    )
    .await;
    let reason = format!("destination dst:{} closed", p.inbox.id());
    assert_eq!(
        p.report.receive_timeout(T).await.expect("producer's view"),
        Value::Str(reason.clone())
    );
    assert_eq!(wait(&p.bridge).await, reason);
    assert!(p.producer.is_closed());
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_gateway_death_closes_the_source_with_the_reason() {
    let mut gws = Gws::new();
    let (src, dst) = gws.python3_pair().await;
    let p = one_item_through(
        &src,
        &dst,
        "inbox = channel.receive()\nchannel.send(inbox.receive())\nchannel.receive()",
    )
    .await;
    common::kill9(dst.pid().expect("pid") as i32);
    let seen = p.report.receive_timeout(T).await.expect("producer's view");
    let Value::Str(seen) = seen else {
        panic!("report {seen}")
    };
    assert!(seen.starts_with("gateway dst died: "), "{seen}");
    assert_eq!(wait(&p.bridge).await, seen);
    gws.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_references_cross_no_gateway() {
    let mut gws = Gws::new();
    let (src, dst) = gws.python3_pair().await;
    let producer = "report = channel.receive()\nchannel.send(1)\nchannel.send([channel.gateway.newchannel()])\ntry:\n    channel.receive()\nexcept channel.RemoteError as e:\n    report.send(e.formatted)";
    let p = pipe(&src, &dst, producer, CONSUMER).await;
    let (got, error) = results(&p.consumer).await;
    assert_eq!(got, vec![(lit("1"), lit("'int'"))]);
    let why = "cannot forward a channel reference across gateways";
    let error = error.expect("closed with an error");
    assert!(error.starts_with(why), "{error}");
    let seen = p.report.receive_timeout(T).await.expect("producer's view");
    assert_eq!(seen, Value::Str(error.clone()));
    assert_eq!(wait(&p.bridge).await, why);
    assert_eq!(p.bridge.stats().items, 1);

    // on one gateway the reference means the same channel: it is forwarded
    let p = pipe(
        &src,
        &src,
        "report = channel.receive()\nchannel.send(channel.gateway.newchannel())",
        CONSUMER,
    )
    .await;
    let (got, error) = results(&p.consumer).await;
    assert_eq!(error, None);
    assert_eq!(got.len(), 1);
    assert!(matches!(got[0].0, Value::Channel(_)), "{got:?}");
    assert_eq!(got[0].1, lit("'Channel'"));
    assert_eq!(wait(&p.bridge).await, "source closed");
    gws.terminate().await;
}

/// Refusals (itself, twice, event-sink channels), then `stop`: the destination is
/// closed normally, the source stays open and can be bridged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_stop() {
    let mut gws = Gws::new();
    let (tx, _events) = mpsc::channel::<Event>(4096);
    let spec: Spec = format!("popen//python={}//id=src", common::python3())
        .parse()
        .expect("spec");
    let src = Gateway::open_spec(
        spec,
        GatewayOptions {
            events: Some(tx),
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open src");
    gws.0.push(src.clone());
    let dst = gws.open(&common::python3(), "dst", 20).await;
    let p = pipe(
        &src,
        &dst,
        "report = channel.receive()\nchannel.send(1)\nchannel.send(channel.receive() + 1)",
        CONSUMER,
    )
    .await;
    let err = |r: execdeck::engine::Result<Bridge>| match r {
        Ok(b) => panic!("bridge {} started", b.label()),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err(Bridge::start(p.producer.clone(), p.producer.clone()).await),
        "cannot bridge channel src:1 to itself"
    );
    let label = p.bridge.label();
    assert_eq!(
        err(Bridge::start(p.producer.clone(), dst.new_channel()).await),
        format!("channel src:1 is already bridged ({label})")
    );
    assert_eq!(
        err(Bridge::start(src.new_channel(), p.inbox.clone()).await),
        format!("channel dst:{} is already bridged ({label})", p.inbox.id())
    );
    let forwarded = src
        .remote_exec_forwarded("channel.send(1)")
        .await
        .expect("forwarded exec");
    let e = err(Bridge::start(forwarded, dst.new_channel()).await);
    assert!(e.contains("event sink"), "{e}");

    assert_eq!(
        p.consumer.receive_timeout(T).await.expect("first"),
        lit("(1, 'int')")
    );
    assert_eq!(p.bridge.ended(), None);
    p.bridge.stop().await;
    assert_eq!(p.bridge.ended().as_deref(), Some("stopped"));
    let (got, error) = results(&p.consumer).await;
    assert!(got.is_empty() && error.is_none(), "{got:?} {error:?}");
    // the source is still open: the producer's next item waits there for its owner
    assert!(!p.producer.is_closed());
    p.producer.send(&Value::Int(41)).await.expect("send");
    assert_eq!(p.producer.receive_timeout(T).await.expect("42"), lit("42"));
    // and it can be bridged again
    let again = Bridge::start(p.producer.clone(), dst.new_channel())
        .await
        .expect("bridge again");
    assert_eq!(wait(&again).await, "source closed");
    assert_eq!(again.stats().items, 0);
    gws.terminate().await;
}

/// A producer that sends before the bridge exists (as in the cockpit, where the bridge
/// starts once both channels are open): opened with `remote_exec_with_strconfig`, its
/// queued Python 2 `str` items are still bytes when the bridge starts, so each one is
/// converted and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_py27_producer_opened_raw_loses_no_conversion() {
    let mut gws = Gws::new();
    let Some((src, dst)) = gws.py27_and_py313().await else {
        return;
    };
    let producer = src
        .remote_exec_with_strconfig(
            "for i in range(5):\n    channel.send('tick %d' % i)\n",
            raw(),
        )
        .await
        .expect("producer");
    // every item is queued (the task ended) before the bridge starts
    producer.wait_closed(Some(T)).await.expect("producer done");
    let inbox = dst.new_channel();
    let consumer = dst.remote_exec(CONSUMER).await.expect("consumer");
    consumer
        .send(&Value::Channel(inbox.id()))
        .await
        .expect("inbox to the consumer");
    let bridge = Bridge::start(producer, inbox).await.expect("bridge start");
    let (got, error) = results(&consumer).await;
    assert_eq!(error, None);
    assert_eq!(got.len(), 5);
    assert!(
        got.iter().all(|(_, shape)| shape == &lit("'str'")),
        "{got:?}"
    );
    assert_eq!(wait(&bridge).await, "source closed");
    assert_eq!(bridge.stats().items, 5);
    assert_eq!(bridge.stats().conversions, 5);
    gws.terminate().await;
}

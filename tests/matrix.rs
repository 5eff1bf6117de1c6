//! One channel scenario on every interpreter of this machine: CPython 2.7 and 3.6–3.13
//! (pyenv), Debian's python3, PyPy3 and Jython — the same stub source for all.

mod common;

use execdeck::engine::{
    Error, Event, Gateway, GatewayOptions, Spec, StrConfig, Stream, TerminateOutcome, Value,
};
use std::time::Duration;
use tokio::sync::mpsc;

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// What a value looks like after a trip through Python 2 and back with the default
/// strconfig: bytes became a py2 `str`, which decodes as latin-1 text.
fn py2_roundtrip(v: &Value) -> Value {
    let all = |items: &[Value]| items.iter().map(py2_roundtrip).collect::<Vec<_>>();
    match v {
        Value::Bytes(b) => Value::Str(b.iter().map(|&c| char::from(c)).collect()),
        Value::Tuple(x) => Value::Tuple(all(x)),
        Value::List(x) => Value::List(all(x)),
        Value::Set(x) => Value::Set(all(x)),
        Value::FrozenSet(x) => Value::FrozenSet(all(x)),
        Value::Dict(x) => Value::Dict(
            x.iter()
                .map(|(k, v)| (py2_roundtrip(k), py2_roundtrip(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn lit(s: &str) -> Value {
    Value::parse_literal(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn scenario(label: &str, python: &str, timeout: u64) {
    let Some(python) = common::require(python, label) else {
        return;
    };
    let spec: Spec = format!("popen//python={python}//id={label}")
        .parse()
        .expect("spec");
    let (tx, mut events) = mpsc::channel::<Event>(1024);
    let opts = GatewayOptions {
        bootstrap_timeout: Duration::from_secs(timeout),
        events: Some(tx),
        ..GatewayOptions::default()
    };
    let gw = Gateway::open_spec(spec, opts)
        .await
        .unwrap_or_else(|e| panic!("{label}: open failed: {e}"));
    let _guard = Kill(gw.clone());
    let t = Duration::from_secs(timeout);

    // interpreter facts
    let facts = gw.facts().await.expect("facts");
    let py2 = facts.version_info.first() == Some(&Value::Int(2));
    let want_impl = if label.starts_with("pypy") {
        "PyPy"
    } else if label == "jython" {
        "Jython"
    } else {
        "CPython"
    };
    assert_eq!(facts.implementation, want_impl, "{label}: {facts:?}");
    if let Some(ver) = label.strip_prefix("cpython-") {
        assert_eq!(facts.python_version(), ver);
    }
    assert!(facts.pid > 0);
    assert_eq!(Some(facts.pid as u32), gw.pid(), "{label}: pid");

    // echo with the remote type names
    let ch = gw
        .remote_exec("for x in channel:\n    channel.send((x, type(x).__name__))")
        .await
        .expect("remote_exec");
    let (text_t, bytes_t, long_t) = if py2 {
        ("unicode", "str", "long")
    } else {
        ("str", "bytes", "int")
    };
    let cases = [
        ("42", "int"),
        ("-2147483648", "int"),
        ("1180591620717411303424", long_t),
        ("1.5", "float"),
        ("-0.0", "float"),
        ("float('inf')", "float"),
        ("(1+2j)", "complex"),
        ("'h\\xe9llo \\u20ac'", text_t),
        ("'astral \\U0001F600'", text_t),
        ("b'\\x00\\xff'", bytes_t),
        ("None", "NoneType"),
        ("True", "bool"),
        ("(1, 'a', (None,))", "tuple"),
        ("[1, [2, []], {}]", "list"),
        ("{'k': (1, 2.5, b'x', None)}", "dict"),
        ("{3}", "set"),
        ("frozenset({7})", "frozenset"),
    ];
    for (text, ty) in cases {
        let v = lit(text);
        ch.send(&v).await.expect("send");
        let back = ch.receive_timeout(t).await.expect("echo");
        // a Python 2 str comes back as text by default (strconfig py2str_as_py3str)
        let expect = if py2 { py2_roundtrip(&v) } else { v.clone() };
        assert_eq!(
            back,
            Value::Tuple(vec![expect, Value::Str(ty.into())]),
            "{label}: {text}"
        );
    }
    ch.close().await.expect("close");
    assert!(ch.is_closed());
    assert!(matches!(
        ch.send(&Value::None).await,
        Err(Error::ChannelClosed { .. })
    ));

    // a native str of the remote: text by default, bytes after reconfigure (False, False)
    let src = "channel.send('native')";
    let ch = gw.remote_exec(src).await.expect("exec");
    assert_eq!(
        ch.receive_timeout(t).await.expect("native"),
        lit("'native'")
    );
    let ch = gw.new_channel();
    ch.reconfigure(StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    })
    .await
    .expect("reconfigure");
    let runner = gw
        .remote_exec("c = channel.receive()\nc.send('native')\nc.send(u'text')")
        .await
        .expect("exec");
    runner
        .send(&Value::Channel(ch.id()))
        .await
        .expect("pass channel");
    let native = ch.receive_timeout(t).await.expect("native2");
    if py2 {
        assert_eq!(
            native,
            Value::Bytes(b"native".to_vec()),
            "{label}: py2 str as bytes"
        );
    } else {
        assert_eq!(native, lit("'native'"));
    }
    assert_eq!(ch.receive_timeout(t).await.expect("text"), lit("'text'"));
    runner.wait_closed(Some(t)).await.expect("runner");

    // remote side decodes our text as its native str after RECONFIGURE(py3str_as_py2str)
    let ch = gw.new_channel();
    let runner = gw
        .remote_exec("c = channel.receive()\nx = c.receive()\nchannel.send(type(x).__name__)")
        .await
        .expect("exec");
    ch.reconfigure(StrConfig {
        py2str_as_py3str: true,
        py3str_as_py2str: true,
    })
    .await
    .expect("reconfigure");
    runner.send(&Value::Channel(ch.id())).await.expect("pass");
    ch.send(&lit("'abc'")).await.expect("send");
    assert_eq!(
        runner.receive_timeout(t).await.expect("type"),
        Value::Str(bytes_t.into()),
        "{label}: remote decodes text as bytes after reconfigure"
    );

    // remote exception carries the traceback
    let ch = gw
        .remote_exec("def f():\n    raise ValueError('boom')\nf()")
        .await
        .expect("exec");
    match ch.receive_timeout(t).await {
        Err(Error::Remote(e)) => {
            assert!(e.formatted.starts_with("Traceback"), "{label}: {e}");
            assert!(e.formatted.contains("line 2, in f"), "{label}: {e}");
            assert_eq!(e.summary(), "ValueError: boom");
        }
        other => panic!("{label}: expected RemoteError, got {other:?}"),
    }

    // receive with timeout
    let idle = gw.remote_exec("channel.receive()").await.expect("exec");
    match idle.receive_timeout(Duration::from_millis(50)).await {
        Err(Error::Timeout(_)) => {}
        other => panic!("{label}: expected timeout, got {other:?}"),
    }
    // STATUS while that task blocks
    let st = gw.status().await.expect("status");
    assert_eq!(st.get("execmodel"), Some(&lit("'thread'")), "{label}: {st}");
    assert!(
        st.get("numexecuting").and_then(Value::as_i64).unwrap_or(0) >= 1,
        "{label}: {st}"
    );
    assert!(st.get("numchannels").and_then(Value::as_i64).is_some());
    idle.send(&Value::None).await.expect("unblock");
    idle.wait_closed(Some(t)).await.expect("idle ends");

    // a channel created by the remote side
    let ch = gw
        .remote_exec("c = channel.gateway.newchannel()\nchannel.send(c)\nc.send(7)\nc.receive()")
        .await
        .expect("exec");
    let Value::Channel(id) = ch.receive_timeout(t).await.expect("channel ref") else {
        panic!("{label}: expected a channel reference");
    };
    assert_eq!(id % 2, 0, "worker-created channels have even ids");
    let remote_made = gw.channel(id);
    assert_eq!(
        remote_made.receive_timeout(t).await.expect("item"),
        Value::Int(7)
    );
    remote_made.send(&Value::None).await.expect("reply");
    ch.wait_closed(Some(t)).await.expect("done");

    // close with an error: the remote receive() raises RemoteError with our text
    let ch = gw
        .remote_exec(
            "c = channel.receive()\ntry:\n    c.receive()\nexcept c.RemoteError as e:\n    channel.send(u'' + str(e))",
        )
        .await
        .expect("exec");
    let c2 = gw.new_channel();
    ch.send(&Value::Channel(c2.id())).await.expect("pass");
    c2.close_with_error("nope").await.expect("close err");
    assert_eq!(
        ch.receive_timeout(t).await.expect("error text"),
        lit("'nope'")
    );

    // output is attributed to the gateway and to the task's channel
    let ch = gw
        .remote_exec("import sys\nprint('out-line')\nsys.stderr.write('err-line\\n')")
        .await
        .expect("exec");
    ch.wait_closed(Some(t)).await.expect("print task");
    let mut got = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let Event::Output {
            gateway,
            channel,
            stream,
            text,
        } = ev
        {
            got.push((gateway, channel, stream, text));
        }
    }
    let want_out = (
        label.to_string(),
        Some(ch.id()),
        Stream::Stdout,
        "out-line\n".to_string(),
    );
    let want_err = (
        label.to_string(),
        Some(ch.id()),
        Stream::Stderr,
        "err-line\n".to_string(),
    );
    assert!(got.contains(&want_out), "{label}: {got:?}");
    assert!(got.contains(&want_err), "{label}: {got:?}");

    let pid = gw.pid().expect("pid") as i32;
    let outcome = gw.terminate(Duration::from_secs(10)).await;
    assert!(
        matches!(outcome, TerminateOutcome::Exited(_)),
        "{label}: {outcome:?}"
    );
    assert_eq!(
        common::proc_state(pid),
        None,
        "{label}: worker gone and reaped"
    );

    // a second start of the same interpreter runs the cached compiled stub (not Jython:
    // its code objects are JVM classes)
    let spec: Spec = format!("popen//python={python}//id={label}-again")
        .parse()
        .expect("spec");
    let key = execdeck::engine::bootstrap::stub_cache_key(&spec);
    if label != "jython" {
        assert!(
            common::wait_until(5.0, || execdeck::engine::bootstrap::cached_stub(&key)
                .is_some()),
            "{label}: no compiled stub cached"
        );
    }
    let opts = GatewayOptions {
        bootstrap_timeout: Duration::from_secs(timeout),
        ..GatewayOptions::default()
    };
    let again = Gateway::open_spec(spec, opts).await.expect("second start");
    let _guard2 = Kill(again.clone());
    let ch = again
        .remote_exec("channel.send(u'again')")
        .await
        .expect("exec");
    assert_eq!(ch.receive_timeout(t).await.expect("again"), lit("'again'"));
    again.terminate(Duration::from_secs(10)).await;
}

macro_rules! matrix_test {
    ($name:ident, $label:expr, $path:expr, $timeout:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let path: String = $path.into();
            scenario($label, &path, $timeout).await;
        }
    };
}

matrix_test!(
    cpython_2_7,
    "cpython-2.7.18",
    common::pyenv_python("2.7.18"),
    20
);
matrix_test!(
    cpython_3_6,
    "cpython-3.6.15",
    common::pyenv_python("3.6.15"),
    20
);
matrix_test!(
    cpython_3_7,
    "cpython-3.7.16",
    common::pyenv_python("3.7.16"),
    20
);
matrix_test!(
    cpython_3_8,
    "cpython-3.8.18",
    common::pyenv_python("3.8.18"),
    20
);
matrix_test!(
    cpython_3_9,
    "cpython-3.9.18",
    common::pyenv_python("3.9.18"),
    20
);
matrix_test!(
    cpython_3_10,
    "cpython-3.10.13",
    common::pyenv_python("3.10.13"),
    20
);
matrix_test!(
    cpython_3_11,
    "cpython-3.11.7",
    common::pyenv_python("3.11.7"),
    20
);
matrix_test!(
    cpython_3_12,
    "cpython-3.12.1",
    common::pyenv_python("3.12.1"),
    20
);
matrix_test!(
    cpython_3_13,
    "cpython-3.13.0",
    common::pyenv_python("3.13.0"),
    20
);
matrix_test!(debian_python3, "debian-python3", "/usr/bin/python3", 20);
matrix_test!(pypy3, "pypy3", "/usr/bin/pypy3", 30);
matrix_test!(jython, "jython", "/usr/bin/jython", 60);

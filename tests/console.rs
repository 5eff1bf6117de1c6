//! The REPL console on real interpreters: persistent namespace, output, expression
//! results, tracebacks and the interrupt ladder.

mod common;

use execdeck::engine::{Console, ConsoleEvent, Gateway, GatewayOptions, InterruptMode, Spec};
use std::time::Duration;
use tokio::sync::mpsc;

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// Collects events of one snippet until its Done.
async fn until_done(rx: &mut mpsc::Receiver<ConsoleEvent>, sid: u64) -> Vec<ConsoleEvent> {
    let mut out = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("console event in time")
            .expect("console open");
        let done = matches!(ev, ConsoleEvent::Done { snippet, .. } if snippet == sid);
        out.push(ev);
        if done {
            return out;
        }
    }
}

fn text_of(evs: &[ConsoleEvent]) -> String {
    let mut s = String::new();
    for e in evs {
        match e {
            ConsoleEvent::Output { text, .. } => s.push_str(text),
            ConsoleEvent::Result { repr, .. } => {
                s.push_str(repr);
                s.push('\n');
            }
            ConsoleEvent::Error { traceback, .. } => s.push_str(traceback),
            _ => {}
        }
    }
    s
}

async fn scenario(label: &str, python: &str, timeout: u64) {
    let Some(python) = common::require(python, label) else {
        return;
    };
    let spec: Spec = format!("popen//python={python}").parse().expect("spec");
    let gw = Gateway::open_spec(
        spec,
        GatewayOptions {
            bootstrap_timeout: Duration::from_secs(timeout),
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open");
    let _k = Kill(gw.clone());
    let (console, mut rx) = Console::start(&gw).await.expect("console");
    let hello = tokio::time::timeout(Duration::from_secs(timeout), rx.recv())
        .await
        .expect("hello")
        .expect("hello");
    let ConsoleEvent::Hello { interrupt } = hello else {
        panic!("{label}: expected hello, got {hello:?}");
    };
    let sid = console.run("print(6*7)").await.expect("run");
    assert_eq!(text_of(&until_done(&mut rx, sid).await), "42\n", "{label}");
    let sid = console
        .run("x = 20\ndef f(y):\n    return x + y\n")
        .await
        .expect("run");
    assert_eq!(text_of(&until_done(&mut rx, sid).await), "", "{label}");
    let sid = console.run("f(22)").await.expect("run");
    assert_eq!(
        text_of(&until_done(&mut rx, sid).await),
        "42\n",
        "{label}: namespace persists"
    );
    let sid = console
        .run("import sys\nsys.stderr.write('warn\\n')\n{'a': [1, 2]}")
        .await
        .expect("run");
    let evs = until_done(&mut rx, sid).await;
    assert!(
        evs.contains(&ConsoleEvent::Output {
            snippet: sid,
            stderr: true,
            text: "warn\n".into()
        }),
        "{label}: {evs:?}"
    );
    assert!(
        evs.contains(&ConsoleEvent::Result {
            snippet: sid,
            repr: "{'a': [1, 2]}".into()
        }),
        "{label}: {evs:?}"
    );
    let sid = console.run("def g():\n    1/0\ng()").await.expect("run");
    let t = text_of(&until_done(&mut rx, sid).await);
    assert!(t.starts_with("Traceback"), "{label}: {t}");
    assert!(t.contains("ZeroDivisionError"), "{label}: {t}");
    assert!(
        !t.contains("console.py"),
        "{label}: console frames hidden: {t}"
    );
    let sid = console.run("if True print(1)").await.expect("run");
    let t = text_of(&until_done(&mut rx, sid).await);
    assert!(t.contains("SyntaxError"), "{label}: {t}");

    // a non-ASCII message in a traceback (a byte string on Python 2 and Jython)
    let sid = console
        .run("raise ValueError(u'\\u00e9t\\u00e9')")
        .await
        .expect("run");
    let t = text_of(&until_done(&mut rx, sid).await);
    assert!(t.contains("ValueError"), "{label}: {t}");
    // a late interrupt (after its snippet ended) never hits the next snippet
    let sid = console.run("print('done')").await.expect("run");
    assert_eq!(
        text_of(&until_done(&mut rx, sid).await),
        "done\n",
        "{label}"
    );
    console.interrupt().await.expect("late interrupt");
    let sid = console.run("print('next')").await.expect("run");
    assert_eq!(
        text_of(&until_done(&mut rx, sid).await),
        "next\n",
        "{label}"
    );

    if label == "jython" {
        assert_eq!(
            interrupt,
            InterruptMode::None,
            "Jython cannot be interrupted in-band"
        );
        return;
    }
    assert_eq!(interrupt, InterruptMode::InBand, "{label}");
    // step 1: in-band interrupt of a spinning loop
    let sid = console
        .run("print('spinning')\nwhile True:\n    pass")
        .await
        .expect("run");
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(ConsoleEvent::Output { text, .. })) if text.contains("spinning") => break,
            Ok(Some(_)) => {}
            other => panic!("{label}: {other:?}"),
        }
    }
    console.interrupt().await.expect("interrupt");
    let t = text_of(&until_done(&mut rx, sid).await);
    assert!(t.contains("KeyboardInterrupt"), "{label}: {t}");
    // step 2: a blocking sleep needs the signal
    let sid = console
        .run("import time\nprint('sleeping')\ntime.sleep(1000)")
        .await
        .expect("run");
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(ConsoleEvent::Output { text, .. })) if text.contains("sleeping") => break,
            Ok(Some(_)) => {}
            other => panic!("{label}: {other:?}"),
        }
    }
    console.signal_interrupt();
    let t = text_of(&until_done(&mut rx, sid).await);
    assert!(t.contains("KeyboardInterrupt"), "{label}: {t}");
    // the gateway survived both
    let sid = console.run("f(1)").await.expect("run");
    assert_eq!(text_of(&until_done(&mut rx, sid).await), "21\n", "{label}");
    gw.terminate(Duration::from_secs(5)).await;
}

macro_rules! console_test {
    ($name:ident, $label:expr, $path:expr, $timeout:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let path: String = $path.into();
            scenario($label, &path, $timeout).await;
        }
    };
}

console_test!(
    cpython_2_7,
    "cpython-2.7",
    common::pyenv_python("2.7.18"),
    20
);
console_test!(
    cpython_3_6,
    "cpython-3.6",
    common::pyenv_python("3.6.15"),
    20
);
console_test!(
    cpython_3_13,
    "cpython-3.13",
    common::pyenv_python("3.13.0"),
    20
);
console_test!(debian_python3, "debian-python3", "/usr/bin/python3", 20);
console_test!(pypy3, "pypy3", "/usr/bin/pypy3", 30);
console_test!(jython, "jython", "/usr/bin/jython", 60);
console_test!(
    cpython_3_7,
    "cpython-3.7",
    common::pyenv_python("3.7.16"),
    20
);
console_test!(
    cpython_3_8,
    "cpython-3.8",
    common::pyenv_python("3.8.18"),
    20
);
console_test!(
    cpython_3_9,
    "cpython-3.9",
    common::pyenv_python("3.9.18"),
    20
);
console_test!(
    cpython_3_10,
    "cpython-3.10",
    common::pyenv_python("3.10.13"),
    20
);
console_test!(
    cpython_3_11,
    "cpython-3.11",
    common::pyenv_python("3.11.7"),
    20
);
console_test!(
    cpython_3_12,
    "cpython-3.12",
    common::pyenv_python("3.12.1"),
    20
);

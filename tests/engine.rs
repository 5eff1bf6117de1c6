//! Engine behaviour against real interpreters: bootstrap failures, protocol faults,
//! output capture, spec options, execmodels and groups.

mod common;

use execdeck::engine::{
    Error, Event, Gateway, GatewayOptions, GatewayState, Group, Limits, Spec, Stream, Value,
};
use std::time::Duration;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(20);

struct Kill(Vec<Gateway>);
impl Drop for Kill {
    fn drop(&mut self) {
        for g in &self.0 {
            g.kill();
        }
    }
}

async fn open(spec: &str) -> Result<Gateway, Error> {
    Gateway::open(spec).await
}

async fn open_with_events(spec: &str) -> (Gateway, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(4096);
    let spec: Spec = spec.parse().expect("spec");
    let gw = Gateway::open_spec(
        spec,
        GatewayOptions {
            events: Some(tx),
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open");
    (gw, rx)
}

fn outputs(rx: &mut mpsc::Receiver<Event>) -> Vec<(Option<i32>, Stream, String)> {
    let mut v = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Output {
            channel,
            stream,
            text,
            ..
        } = ev
        {
            v.push((channel, stream, text));
        }
    }
    v
}

#[tokio::test]
async fn missing_interpreter_is_named() {
    let err = open("popen//python=/nonexistent/python3")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "python interpreter not found: /nonexistent/python3"
    );
}

#[tokio::test]
async fn interpreter_dying_in_bootstrap_shows_status_and_stderr() {
    let py = common::python3();
    let spec = format!(
        "popen//python={py} -c \"import sys; sys.stderr.write('cannot go on\\n'); sys.exit(5)\""
    );
    let err = open(&spec).await.unwrap_err().to_string();
    assert!(
        err.contains("exited during bootstrap (exit code 5)"),
        "{err}"
    );
    assert!(err.contains("cannot go on"), "{err}");
    assert!(err.starts_with("gateway gw0:"), "{err}");
}

#[tokio::test]
async fn silent_bootstrap_times_out_and_is_killed() {
    let t0 = std::time::Instant::now();
    let err = open("popen//python=sh -c 'echo PID $$ >&2; exec sleep 30' sh//timeout=0.5")
        .await
        .unwrap_err()
        .to_string();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(err.contains("bootstrap timed out after 0.5 s"), "{err}");
    assert!(
        err.contains("`sh -c 'echo PID $$ >&2; exec sleep 30' sh`"),
        "{err}"
    );
    let pid: i32 = err
        .rsplit("PID ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {err}"));
    assert!(
        common::wait_until(2.0, || common::proc_state(pid).is_none()),
        "timed-out interpreter {pid} still there"
    );
}

#[tokio::test]
async fn wrong_ack_is_reported() {
    let err = open("popen//python=sh -c 'printf hello; exec sleep 5' sh")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("bootstrap answered \"hello\""), "{err}");
}

/// Each fault closes only its own gateway, with a reason naming the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_one_gateway_only() {
    let py = common::python3();
    let cases: &[(&str, &str)] = &[
        // unknown message code
        (
            "b'\\x09\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00'",
            "unknown message code 9",
        ),
        // negative payload length
        (
            "b'\\x04\\x00\\x00\\x00\\x01\\xff\\xff\\xff\\xff'",
            "negative payload length",
        ),
        // payload beyond the limit (no allocation happens)
        (
            "b'\\x04\\x00\\x00\\x00\\x01\\x7f\\xff\\xff\\xff'",
            "exceeds the limit",
        ),
        // bad serializer opcode on the exec channel
        (
            "b'\\x04\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x02ZQ'",
            "unknown opcode 'Z'",
        ),
        // a container that wants more items than the stack holds (a nesting bomb is
        // no protocol fault: it is over a limit and ends only its channel, tests/limits.rs)
        (
            "b'\\x04\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x06@\\x00\\x00\\x00\\x03Q'",
            "container wants 3 items but the stack has 0",
        ),
        // truncated frame followed by EOF of the stream
        ("b'\\x04\\x00\\x00'", "expected 9 bytes, got 3"),
    ];
    let mut group = Group::new();
    let healthy = group
        .make_gateway(&format!("popen//python={py}//id=healthy"))
        .await
        .expect("healthy");
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let gw = group
            .make_gateway(&format!("popen//python={py}//id=bad{i}"))
            .await
            .expect("open");
        let pending = gw.remote_exec("channel.receive()").await.expect("exec");
        // write raw bytes into the protocol stream, then close it if the frame is partial
        let code = format!(
            "channel.gateway._write({bytes})\nimport os\nif len({bytes}) < 9:\n    os._exit(0)\nimport time\ntime.sleep(60)"
        );
        let _ = gw.remote_exec(&code).await.expect("exec");
        let err = pending.receive_timeout(T).await.unwrap_err().to_string();
        assert!(err.contains(want), "case {i}: {err}");
        match gw.state() {
            GatewayState::Dead(reason) => assert!(reason.contains(want), "case {i}: {reason}"),
            other => panic!("case {i}: state {other:?}"),
        }
        let pid = gw.pid().expect("pid") as i32;
        assert!(
            common::wait_until(3.0, || common::proc_state(pid).is_none()),
            "case {i}: faulty worker {pid} not removed"
        );
        // the others carry on
        let ch = healthy
            .remote_exec("channel.send(1)")
            .await
            .expect("healthy exec");
        assert_eq!(ch.receive_timeout(T).await.expect("healthy"), Value::Int(1));
    }
    group.terminate(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn frame_limit_is_configurable() {
    let py = common::python3();
    let spec: Spec = format!("popen//python={py}").parse().expect("spec");
    let gw = Gateway::open_spec(
        spec,
        GatewayOptions {
            limits: Limits {
                max_frame: 1000,
                ..Limits::default()
            },
            ..GatewayOptions::default()
        },
    )
    .await
    .expect("open");
    let _k = Kill(vec![gw.clone()]);
    let ch = gw
        .remote_exec("channel.send(b'x' * 2000)")
        .await
        .expect("exec");
    let err = ch.receive_timeout(T).await.unwrap_err().to_string();
    assert!(
        err.contains("payload of 2006 bytes exceeds the limit of 1000"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_attributed_and_fd_writes_are_captured() {
    let py = common::python3();
    let (gw, mut rx) = open_with_events(&format!("popen//python={py}")).await;
    let _k = Kill(vec![gw.clone()]);
    let code = "import os, sys, threading\n\
        print('from task')\n\
        os.system('echo from-shell')\n\
        os.write(1, b'raw fd1\\n')\n\
        os.write(2, b'raw fd2\\n')\n\
        t = threading.Thread(target=lambda: sys.stdout.write('from thread\\n'))\n\
        t.start(); t.join()\n\
        sys.stdout.write('partial')\n\
        channel.send('done')";
    let ch = gw.remote_exec(code).await.expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("done"),
        Value::Str("done".into())
    );
    ch.wait_closed(Some(T)).await.expect("closed");
    let id = Some(ch.id());
    let mut got = Vec::new();
    // fd 2 arrives on its own pipe: poll until everything is in
    let want_fd2 = (None, Stream::Fd2, "raw fd2\n".to_string());
    let all_in = common::wait_until(5.0, || {
        got.extend(outputs(&mut rx));
        got.contains(&want_fd2)
    });
    assert!(all_in, "{got:?}");
    let text_of = |stream: Stream, chan: Option<i32>| -> String {
        got.iter()
            .filter(|(c, s, _)| *s == stream && *c == chan)
            .map(|(_, _, t)| t.as_str())
            .collect()
    };
    assert_eq!(text_of(Stream::Stdout, id), "from task\npartial");
    assert_eq!(text_of(Stream::Stdout, None), "from thread\n");
    assert_eq!(text_of(Stream::Fd1, None), "from-shell\nraw fd1\n");
    // the protocol survived all of it
    let ch = gw.remote_exec("channel.send(2)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("after"), Value::Int(2));
}

#[tokio::test]
async fn spec_options_apply_remotely() {
    let py = common::python3();
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("made by chdir");
    // a python path with a space in it
    let spaced = dir.path().join("my python");
    std::os::unix::fs::symlink(&py, &spaced).expect("symlink");
    let spec = format!(
        "popen//python='{}'//chdir={}//nice=3//env:EXECDECK_T=v=1//dont_write_bytecode",
        spaced.display(),
        target.display()
    );
    let gw = open(&spec).await.expect("open");
    let _k = Kill(vec![gw.clone()]);
    let ch = gw
        .remote_exec("import os, sys\nchannel.send((os.getcwd(), os.nice(0), os.environ['EXECDECK_T'], sys.dont_write_bytecode))")
        .await
        .expect("exec");
    let v = ch.receive_timeout(T).await.expect("reply");
    assert_eq!(
        v,
        Value::Tuple(vec![
            Value::Str(target.display().to_string()),
            Value::Int(3),
            Value::Str("v=1".into()),
            Value::Bool(true),
        ])
    );
    // several words: a wrapper command in front of the interpreter
    let gw2 = open(&format!("popen//python=nice -n 4 {py}"))
        .await
        .expect("nice");
    let _k2 = Kill(vec![gw2.clone()]);
    let ch = gw2
        .remote_exec("import os\nchannel.send(os.nice(0))")
        .await
        .expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("nice"), Value::Int(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execmodels() {
    let py = common::python3();
    let gw = open(&format!("popen//python={py}//execmodel=main_thread_only"))
        .await
        .expect("open");
    let thr = open(&format!("popen//python={py}")).await.expect("open");
    let _k = Kill(vec![gw.clone(), thr.clone()]);
    let st = gw.status().await.expect("status");
    assert_eq!(
        st.get("execmodel"),
        Some(&Value::Str("main_thread_only".into()))
    );
    let busy = gw.remote_exec("channel.receive()").await.expect("exec");
    let second = gw.remote_exec("channel.send(1)").await.expect("exec");
    let err = second.receive_timeout(T).await.unwrap_err().to_string();
    assert!(
        err.contains("concurrent remote_exec would cause deadlock"),
        "{err}"
    );
    busy.send(&Value::None).await.expect("unblock");
    busy.wait_closed(Some(T)).await.expect("busy done");
    // thread model: tasks run side by side (each waits for the other's item)
    let a = thr
        .remote_exec(
            "import threading\nchannel.send(threading.current_thread().name)\nchannel.receive()",
        )
        .await
        .expect("a");
    let b = thr
        .remote_exec(
            "import threading\nchannel.send(threading.current_thread().name)\nchannel.receive()",
        )
        .await
        .expect("b");
    assert_eq!(
        a.receive_timeout(T).await.expect("a"),
        Value::Str("MainThread".into())
    );
    let bname = b.receive_timeout(T).await.expect("b");
    assert_ne!(bname, Value::Str("MainThread".into()));
    let st = thr.status().await.expect("status");
    assert_eq!(st.get("numexecuting"), Some(&Value::Int(2)), "{st}");
    a.send(&Value::None).await.expect("a");
    b.send(&Value::None).await.expect("b");
    a.wait_closed(Some(T)).await.expect("a done");
    b.wait_closed(Some(T)).await.expect("b done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ids_and_merged_stream() {
    let py = common::python3();
    let mut group = Group::new();
    for spec in [
        format!("popen//python={py}"),
        format!("popen//python={py}//id=custom"),
        format!("popen//python={py}"),
    ] {
        group.make_gateway(&spec).await.expect("open");
    }
    let ids: Vec<&str> = group.gateways().iter().map(Gateway::id).collect();
    assert_eq!(ids, ["gw0", "custom", "gw1"]);
    // a duplicate id is refused before anything starts
    let err = group
        .make_gateway(&format!("popen//python={py}//id=custom"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gateway id 'custom' is already in use in this group"
    );
    assert_eq!(group.len(), 3);
    let mut rx = group
        .remote_exec_merged("channel.send(1)\nchannel.send(2)")
        .await
        .expect("merged");
    let mut seen: Vec<(String, Option<i64>)> = Vec::new();
    while let Some(item) = rx.recv().await {
        let v = item.item.expect("no error");
        seen.push((item.gateway, v.and_then(|v| v.as_i64())));
    }
    seen.sort();
    let mut want = Vec::new();
    for id in ["custom", "gw0", "gw1"] {
        want.push((id.to_string(), None));
        want.push((id.to_string(), Some(1)));
        want.push((id.to_string(), Some(2)));
    }
    want.sort();
    assert_eq!(seen, want);
    let outcomes = group.terminate(Duration::from_secs(2)).await;
    assert_eq!(outcomes.len(), 3);
}

#[tokio::test]
async fn non_ascii_ids_and_code_work() {
    let py = common::python3();
    let gw = open(&format!("popen//python={py}//id=wörker-é"))
        .await
        .expect("open");
    let _k = Kill(vec![gw.clone()]);
    let ch = gw
        .remote_exec("channel.send(u'naïve ☃ \\U0001F600' + str(len('ü')))")
        .await
        .expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("reply"),
        Value::Str("naïve ☃ 😀1".into())
    );
}

#[tokio::test]
async fn eof_error_in_user_code_is_not_swallowed() {
    let py = common::python3();
    let gw = open(&format!("popen//python={py}")).await.expect("open");
    let _k = Kill(vec![gw.clone()]);
    let ch = gw
        .remote_exec("raise EOFError('really')")
        .await
        .expect("exec");
    let err = ch.receive_timeout(T).await.unwrap_err().to_string();
    assert!(err.contains("EOFError: really"), "{err}");
    // but a task ending because we closed its channel is a normal end
    let ch = gw
        .remote_exec("channel.receive()\nchannel.receive()")
        .await
        .expect("exec");
    ch.send(&Value::None).await.expect("send");
    ch.close().await.expect("close");
    let st = gw.status().await.expect("status");
    assert!(st.get("numexecuting").is_some());
}

/// The compiled stub is cached per interpreter; a stale entry (other magic) is
/// detected by the interpreter and the bootstrap falls back to the source.
#[tokio::test]
async fn stub_cache_is_used_and_stale_entries_recover() {
    use execdeck::engine::bootstrap;
    let dir = tempfile::tempdir().expect("tempdir");
    // nextest runs every test in its own process, so this affects only this test
    // SAFETY: no other thread of this test process reads the environment concurrently.
    unsafe {
        std::env::set_var("XDG_CACHE_HOME", dir.path());
        std::env::remove_var("EXECDECK_NO_STUB_CACHE");
    }
    let py = common::python3();
    let spec_text = format!("popen//python={py}");
    let spec: Spec = spec_text.parse().expect("spec");
    let key = bootstrap::stub_cache_key(&spec);
    assert!(bootstrap::cached_stub(&key).is_none());
    let gw = open(&spec_text).await.expect("cold open");
    // the worker offers its bytecode right after the ack
    let ch = gw.remote_exec("channel.send(1)").await.expect("exec");
    ch.receive_timeout(T).await.expect("reply");
    assert!(common::wait_until(5.0, || bootstrap::cached_stub(&key).is_some()));
    gw.terminate(Duration::from_secs(2)).await;
    let warm = open(&spec_text).await.expect("warm open");
    let ch = warm.remote_exec("channel.send(2)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("warm"), Value::Int(2));
    warm.terminate(Duration::from_secs(2)).await;
    // poison the entry with a wrong magic number: the open still works
    bootstrap::store_stub(
        &key,
        bootstrap::StubCode {
            magic: b"\x00\x00\r\n".to_vec(),
            code: b"junk".to_vec(),
        },
    );
    let gw = open(&spec_text).await.expect("open after stale cache");
    let ch = gw.remote_exec("channel.send(3)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("stale"), Value::Int(3));
    gw.terminate(Duration::from_secs(2)).await;
}

/// `Channel::items()` streams every item, then ends; an error ending is the last item.
#[tokio::test]
async fn items_stream_ends_with_the_channel() {
    use futures_lite::StreamExt;
    let py = common::python3();
    let gw = open(&format!("popen//python={py}")).await.expect("open");
    let _k = Kill(vec![gw.clone()]);
    let ch = gw
        .remote_exec("for i in range(5):\n    channel.send(i)")
        .await
        .expect("exec");
    let got: Vec<Value> = ch
        .items()
        .map(|r| r.expect("item"))
        .collect::<Vec<_>>()
        .await;
    assert_eq!(got, (0..5).map(Value::Int).collect::<Vec<_>>());
    let ch = gw
        .remote_exec("channel.send(1)\nraise KeyError('k')")
        .await
        .expect("exec");
    let all: Vec<Result<Value, Error>> = ch.items().collect::<Vec<_>>().await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].as_ref().expect("first"), &Value::Int(1));
    match &all[1] {
        Err(Error::Remote(e)) => assert_eq!(e.summary(), "KeyError: 'k'"),
        other => panic!("expected the remote error last, got {other:?}"),
    }
}

/// The sampler sees a busy worker's CPU and the round trip stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_samples_cpu_and_rtt() {
    use execdeck::engine::monitor::Sampler;
    let gw = open(&format!("popen//python={}", common::python3()))
        .await
        .expect("open");
    let _k = Kill(vec![gw.clone()]);
    let spin = gw
        .remote_exec("import time\nt = time.time()\nwhile time.time() - t < 60:\n    pass")
        .await
        .expect("exec");
    let mut s = Sampler::new(gw.clone());
    s.sample().await.expect("first");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = s.sample().await.expect("second");
    // a spinning worker on a machine shared with builds may get far less than a core:
    // what matters is that its CPU is seen at all (an idle worker reads about 0 %)
    assert!(m.cpu_percent.expect("cpu") > 5.0, "{m:?}");
    assert!(m.tasks_executing >= 1, "{m:?}");
    assert!(m.rtt < Duration::from_secs(1), "{m:?}");
    assert!(m.rss_bytes.expect("rss") > 1 << 20);
    drop(spin);
}

//! Socket gateways against `execdeck socketserver` on 127.0.0.1: the right token works
//! for several gateways at once; a wrong or missing token is refused and nothing runs.

mod common;

use execdeck::engine::{Gateway, Group, TerminateOutcome, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

struct Server {
    child: Child,
    port: u16,
    token_file: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        // the server and every worker it forked (each leads its own group)
        common::kill9(self.child.id() as i32);
        let _ = self.child.wait();
    }
}

fn start_server(token: &str) -> Server {
    let mut token_file = tempfile::NamedTempFile::new().expect("tempfile");
    writeln!(token_file, "{token}").expect("write token");
    let mut child = Command::new(common::bin())
        .args([
            "socketserver",
            "--listen",
            "127.0.0.1:0",
            "--python",
            &common::python3(),
        ])
        .env("EXECDECK_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().expect("server output").expect("read");
    let port: u16 = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    // keep draining the server's log so it never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        port,
        token_file,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_token_serves_several_gateways_at_once() {
    let server = start_server("correct-horse-battery");
    let spec = format!(
        "socket=127.0.0.1:{}//token_file={}",
        server.port,
        server.token_file.path().display()
    );
    let mut group = Group::new();
    let specs: Vec<_> = (0..3).map(|_| spec.parse().expect("spec")).collect();
    let mut pids = Vec::new();
    for (id, r) in group.make_gateways(&specs).await {
        let gw = r.unwrap_or_else(|e| panic!("{id}: {e}"));
        let facts = gw.facts().await.expect("facts");
        assert_ne!(
            facts.pid,
            i64::from(server.child.id()),
            "each gateway runs in its own process"
        );
        pids.push(facts.pid as i32);
        let ch = gw
            .remote_exec("for x in channel:\n    channel.send(x * 2)")
            .await
            .expect("exec");
        ch.send(&Value::Int(21)).await.expect("send");
        assert_eq!(ch.receive_timeout(T).await.expect("reply"), Value::Int(42));
        ch.close().await.expect("close");
        let st = gw.status().await.expect("status");
        assert!(st.get("numexecuting").is_some());
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three workers at once");
    let outcomes = group.terminate(Duration::from_secs(5)).await;
    for (id, o) in outcomes {
        assert_eq!(o, TerminateOutcome::Disconnected, "{id}");
    }
    for p in pids {
        assert!(
            common::wait_until(5.0, || common::proc_state(p).is_none()
                || common::proc_state(p) == Some('Z')),
            "worker {p} still running after terminate"
        );
    }
}

#[tokio::test]
async fn wrong_or_missing_token_is_refused() {
    let server = start_server("correct-horse-battery");
    let mut wrong = tempfile::NamedTempFile::new().expect("tempfile");
    writeln!(wrong, "not-the-right-token").expect("write");
    let err = Gateway::open(&format!(
        "socket=127.0.0.1:{}//token_file={}",
        server.port,
        wrong.path().display()
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("refused our token (authentication failed)"),
        "{err}"
    );
    // without any token the client says what is missing (EXECDECK_TOKEN unset here)
    // SAFETY: nextest runs each test in its own process.
    unsafe {
        std::env::remove_var("EXECDECK_TOKEN");
    }
    let err = Gateway::open(&format!("socket=127.0.0.1:{}", server.port))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("need the server's token"), "{err}");
}

/// A peer that skips the proof and sends code anyway: nothing of it runs.
#[test]
fn code_without_the_proof_never_runs() {
    let server = start_server("correct-horse-battery");
    let marker = tempfile::tempdir().expect("tempdir").keep().join("ran");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut greeting = [0u8; 15];
    s.read_exact(&mut greeting).expect("greeting");
    assert_eq!(&greeting, b"EXECDECK-AUTH2 ");
    let code = format!("open({:?}, 'w').write('x')", marker.display().to_string());
    let line = format!("{} {}\n{:?}\n", "ab".repeat(24), "0".repeat(64), code);
    s.write_all(line.as_bytes()).expect("send");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("DENIED"), "{text:?}");
    // the connection is closed by the server: its worker process has exited
    assert!(!marker.exists(), "code ran without authentication");
}

#[test]
fn server_refuses_to_start_without_a_token() {
    let out = Command::new(common::bin())
        .args([
            "socketserver",
            "--listen",
            "127.0.0.1:0",
            "--python",
            &common::python3(),
        ])
        .env_remove("EXECDECK_TOKEN")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no token"), "{err}");
}

/// installvia=GWID: a one-connection server started through an existing gateway, with
/// a fresh token; the gateway works and everything ends with the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installvia_starts_a_server_through_a_gateway() {
    let py = common::python3();
    let mut group = Group::new();
    group
        .make_gateway(&format!("popen//python={py}//id=base"))
        .await
        .expect("base");
    let gw = group
        .make_gateway("socket=ignored:0//installvia=base//id=sock")
        .await
        .expect("installvia");
    let facts = gw.facts().await.expect("facts");
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("reply"), Value::Int(42));
    let outcomes = group.terminate(Duration::from_secs(5)).await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        common::wait_until(5.0, || common::proc_state(facts.pid as i32).is_none()),
        "socket worker left"
    );
}

//! Socket gateways under attack, on 127.0.0.1: a relaying rogue listener cannot run
//! its code; frames flipped, dropped, replayed or injected after the handshake, in
//! either direction, end the connection with an error naming the failed integrity
//! check, and nothing injected runs.

mod common;

use execdeck::engine::bootstrap::SOCKETSERVER_SOURCE;
use execdeck::engine::codec;
use execdeck::engine::frame::{MsgCode, write_frame};
use execdeck::engine::{Gateway, GatewayState, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "correct-horse-battery";

struct Server {
    child: Child,
    port: u16,
    token_file: tempfile::NamedTempFile,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        common::kill9(self.child.id() as i32);
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
    fn spec(&self, port: u16, timeout: u64) -> String {
        format!(
            "socket=127.0.0.1:{port}//token_file={}//timeout={timeout}",
            self.token_file.path().display()
        )
    }
}

fn drain(r: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(mut l) = log.lock() {
                l.push_str(&line);
                l.push('\n');
            }
        }
    });
}

fn start_server(python: &str) -> Server {
    let mut cmd = Command::new(common::bin());
    cmd.args([
        "socketserver",
        "--listen",
        "127.0.0.1:0",
        "--python",
        python,
    ]);
    start_server_cmd(cmd)
}

/// A server for one connection, in the interpreter's own process (`--one`, as
/// installvia= starts it): the shape that runs on Jython, which cannot fork.
fn start_server_one(python: &str) -> Server {
    let mut cmd = Command::new(python);
    cmd.args(["-u", "-c", SOCKETSERVER_SOURCE, "127.0.0.1:0", "--one"]);
    start_server_cmd(cmd)
}

fn start_server_cmd(mut cmd: Command) -> Server {
    let mut token_file = tempfile::NamedTempFile::new().expect("tempfile");
    writeln!(token_file, "{TOKEN}").expect("write token");
    let mut child = cmd
        .env("EXECDECK_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("server output");
    let port: u16 = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    let log = Arc::new(Mutex::new(first.clone()));
    drain(out, log.clone());
    drain(child.stderr.take().expect("stderr"), log.clone());
    Server {
        child,
        port,
        token_file,
        log,
    }
}

fn read_line(mut s: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).unwrap_or(0) == 1 {
        out.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    out
}

fn marker() -> std::path::PathBuf {
    tempfile::tempdir().expect("tempdir").keep().join("ran")
}

fn exec_frame(channel: i32, source: &str) -> Vec<u8> {
    let payload = codec::encode(&Value::Tuple(vec![
        Value::Str(source.into()),
        Value::None,
        Value::None,
        Value::Dict(vec![]),
    ]))
    .expect("encode");
    let mut out = Vec::new();
    write_frame(&mut out, MsgCode::ChannelExec, channel, &payload);
    out
}

async fn echo_works(spec: &str) {
    let gw = Gateway::open(spec).await.expect("legitimate client");
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    let v = ch.receive_timeout(Duration::from_secs(30)).await;
    assert_eq!(v.expect("reply"), Value::Int(42));
}

/// The attack of issue 10: a rogue forwards the handshake between the victim and the
/// real server, then sends its own bootstrap line. Nothing of it runs, the victim
/// reports the failure and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaying_rogue_cannot_run_code() {
    let server = start_server(&common::python3());
    let rogue = TcpListener::bind("127.0.0.1:0").expect("bind");
    let rogue_port = rogue.local_addr().expect("addr").port();
    let ran = marker();
    let code = format!("open({:?}, 'w').write('x')", ran.display().to_string());
    let real = server.port;
    let relay = std::thread::spawn(move || {
        let (mut victim, _) = rogue.accept().expect("accept");
        let mut srv = TcpStream::connect(("127.0.0.1", real)).expect("connect");
        srv.set_read_timeout(Some(Duration::from_secs(20))).ok();
        victim.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let greeting = read_line(&mut srv);
        victim.write_all(&greeting).expect("greeting");
        let answer = read_line(&mut victim);
        srv.write_all(&answer).expect("answer");
        let verdict = read_line(&mut srv);
        victim.write_all(&verdict).expect("verdict");
        // the rogue's own bootstrap line, with and without a made-up tag
        let line = format!("{} {:?}\n", "0".repeat(64), code);
        srv.write_all(line.as_bytes()).expect("bootstrap");
        let mut rest = Vec::new();
        let _ = srv.read_to_end(&mut rest);
        drop(victim);
        (verdict, String::from_utf8_lossy(&rest).into_owned())
    });
    let err = Gateway::open(&server.spec(rogue_port, 20))
        .await
        .map(|_| ())
        .expect_err("the victim must not get a gateway");
    let (verdict, rest) = relay.join().expect("relay");
    assert!(
        verdict.starts_with(b"OK "),
        "the relay got through the handshake"
    );
    assert!(rest.contains("DENIED"), "server answered {rest:?}");
    let err = err.to_string();
    assert!(err.contains("socket=127.0.0.1"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!ran.exists(), "the rogue's code ran");
    assert!(
        server
            .log()
            .contains("bootstrap line failed its integrity check"),
        "{}",
        server.log()
    );
    // a rogue that answers with its own nonce cannot reuse the victim's proof either,
    // and the server still serves a legitimate client
    echo_works(&server.spec(server.port, 20)).await;
}

/// A client that meets a server which does not know the token stops before sending
/// the bootstrap line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_a_server_without_the_proof() {
    let rogue = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = rogue.local_addr().expect("addr").port();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = rogue.accept().expect("accept");
        s.write_all(format!("EXECDECK-AUTH2 {}\n", "ab".repeat(32)).as_bytes())
            .expect("greet");
        let _ = read_line(&mut s);
        s.write_all(format!("OK {}\n", "00".repeat(32)).as_bytes())
            .expect("ok");
        let mut rest = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    let mut tf = tempfile::NamedTempFile::new().expect("tempfile");
    writeln!(tf, "{TOKEN}").expect("write");
    let err = Gateway::open(&format!(
        "socket=127.0.0.1:{port}//token_file={}",
        tf.path().display()
    ))
    .await
    .map(|_| ())
    .expect_err("must refuse")
    .to_string();
    assert!(err.contains("could not prove it knows the token"), "{err}");
    assert!(fake.join().expect("fake").is_empty(), "bootstrap line sent");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Attack {
    Flip,
    Drop,
    Replay,
    Inject,
}

/// Which way the relay tampers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    ToServer,
    ToClient,
}

/// Copies lines (the handshake) then frames with their tags, tampering with the
/// `at`-th frame of one direction.
fn pump(
    from: TcpStream,
    to: TcpStream,
    lines: usize,
    raw: usize,
    tamper: Option<(Attack, usize, Vec<u8>)>,
) {
    pump_frames(&from, &to, lines, raw, tamper);
    // this direction ended: pass the end on (a half close, so that the other direction
    // still carries what was sent before, like the server's last word)
    let _ = to.shutdown(std::net::Shutdown::Write);
    let _ = from.shutdown(std::net::Shutdown::Read);
}

fn pump_frames(
    mut from: &TcpStream,
    mut to: &TcpStream,
    lines: usize,
    raw: usize,
    tamper: Option<(Attack, usize, Vec<u8>)>,
) {
    for _ in 0..lines {
        let l = read_line(&mut from);
        if l.is_empty() || to.write_all(&l).is_err() {
            return;
        }
    }
    let mut ack = vec![0u8; raw];
    if from.read_exact(&mut ack).is_err() || to.write_all(&ack).is_err() {
        return;
    }
    let mut prev: Vec<u8> = Vec::new();
    for n in 0usize.. {
        let mut header = [0u8; 9];
        if from.read_exact(&mut header).is_err() {
            return;
        }
        let len = i32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let mut frame = header.to_vec();
        frame.resize(9 + len + 32, 0);
        if from.read_exact(&mut frame[9..]).is_err() {
            return;
        }
        let mut out = Vec::new();
        match &tamper {
            Some((Attack::Flip, at, _)) if *at == n => {
                let mut f = frame.clone();
                let i = 9 + len / 2;
                f[i] ^= 0x01;
                out.extend_from_slice(&f);
            }
            Some((Attack::Drop, at, _)) if *at == n => {}
            Some((Attack::Replay, at, _)) if *at == n => {
                out.extend_from_slice(&prev);
                out.extend_from_slice(&frame);
            }
            Some((Attack::Inject, at, forged)) if *at == n => {
                out.extend_from_slice(forged);
                out.extend_from_slice(&frame);
            }
            _ => out.extend_from_slice(&frame),
        }
        prev = frame;
        if to.write_all(&out).is_err() {
            return;
        }
    }
}

/// A relay between client and server that tampers with one frame.
fn tampering_relay(server_port: u16, attack: Attack, dir: Dir, forged: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((client, _)) = l.accept() else { return };
        let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
            return;
        };
        let (c2, s2) = match (client.try_clone(), server.try_clone()) {
            (Ok(c), Ok(s)) => (c, s),
            _ => return,
        };
        // client → server: the answer line, the tagged bootstrap line
        let t_up = (dir == Dir::ToServer).then(|| (attack, 2, forged.clone()));
        // server → client: greeting, verdict, then the raw "1"
        let t_down = (dir == Dir::ToClient).then_some((attack, 2, forged));
        let up = std::thread::spawn(move || pump(client, server, 2, 0, t_up));
        pump(s2, c2, 2, 1, t_down);
        let _ = up.join();
    });
    port
}

async fn attack_one(server: Server, label: &str, attack: Attack, dir: Dir, timeout: u64) {
    let ran = marker();
    let code = format!("open({:?}, 'w').write('x')", ran.display().to_string());
    let mut forged = exec_frame(99, &code);
    forged.extend_from_slice(&[0u8; 32]);
    let port = tampering_relay(server.port, attack, dir, forged);
    let what = format!("{label} {attack:?} {dir:?}");
    let t0 = std::time::Instant::now();
    let gw = Gateway::open(&server.spec(port, timeout))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let ch = gw
        .remote_exec("for x in channel:\n    channel.send(x)")
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    // everything at once: a dropped frame shows when the next one arrives
    let mut failed = None;
    for i in 0..20i64 {
        if let Err(e) = ch.send(&Value::Int(i)).await {
            failed = Some(e.to_string());
            break;
        }
    }
    for i in 0..20i64 {
        if failed.is_some() {
            break;
        }
        match ch.receive_timeout(Duration::from_secs(20)).await {
            Ok(v) => assert_eq!(v, Value::Int(i), "{what}"),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    let err = failed.unwrap_or_else(|| panic!("{what}: tampering went unnoticed"));
    let named = "integrity check failed on frame";
    // the side that detects it names it; the client names it in both directions
    // (the server's authenticated last word says which frame of ours failed)
    common::wait_until(10.0, || matches!(gw.state(), GatewayState::Dead(_)));
    let reason = match gw.state() {
        GatewayState::Dead(r) => r,
        other => format!("{other:?}"),
    };
    assert!(
        err.contains(named) || reason.contains(named),
        "{what}: {err} / {reason}"
    );
    if dir == Dir::ToServer {
        assert!(
            format!("{err} {reason}").contains("from the client"),
            "{what}: {err} / {reason}"
        );
        assert!(
            common::wait_until(10.0, || server.log().contains(named)),
            "{what}: {err}\nserver log:\n{}",
            server.log()
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!ran.exists(), "{what}: injected code ran");
    eprintln!("{what}: detected in {:?}: {err}", t0.elapsed());
}

async fn attack_all(python: &str, label: &str, timeout: u64) {
    let Some(py) = common::require(python, label) else {
        return;
    };
    let cases: Vec<(Attack, Dir)> = [Dir::ToServer, Dir::ToClient]
        .into_iter()
        .flat_map(|d| {
            [Attack::Flip, Attack::Drop, Attack::Replay, Attack::Inject].map(move |a| (a, d))
        })
        .collect();
    if label.contains("jython") {
        // one-connection servers (no fork on Jython), started side by side: a JVM
        // start takes many seconds on a loaded machine
        let starts: Vec<_> = cases
            .iter()
            .map(|_| {
                let py = py.clone();
                std::thread::spawn(move || start_server_one(&py))
            })
            .collect();
        let servers: Vec<Server> = starts
            .into_iter()
            .map(|t| t.join().expect("server start"))
            .collect();
        for ((attack, dir), server) in cases.into_iter().zip(servers) {
            attack_one(server, label, attack, dir, timeout).await;
        }
    } else {
        for (attack, dir) in cases {
            attack_one(start_server(&py), label, attack, dir, timeout).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_cpython_3_13() {
    attack_all(&common::pyenv_python("3.13.0"), "cpython 3.13", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_cpython_2_7() {
    attack_all(&common::pyenv_python("2.7.18"), "cpython 2.7", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_cpython_3_6() {
    attack_all(&common::pyenv_python("3.6.15"), "cpython 3.6", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_pypy3() {
    attack_all("/usr/bin/pypy3", "pypy3", 30).await;
}

/// Jython cannot fork: its socket workers come from a one-connection server (`--one`,
/// the installvia= shape), one per attack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_jython() {
    attack_all("/usr/bin/jython", "jython", 120).await;
}

//! The socket server under load and misuse: a connection cap, one handshake deadline,
//! a failed fork survived, addresses and paths parsed as what they are, token files
//! that others can read refused, and no secret in a worker's environment.

mod common;

use execdeck::engine::{Gateway, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "correct-horse-battery";

struct Server {
    child: Child,
    port: u16,
    token_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        common::kill9(self.child.id() as i32);
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (a server command line whose last word list this adds to) and reads
/// the port from its first line.
fn start(mut cmd: Command, dir: tempfile::TempDir, token_file: std::path::PathBuf) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("server output");
    let port: u16 = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    std::thread::spawn(move || for _ in out.lines() {});
    Server {
        child,
        port,
        token_file,
        _dir: dir,
    }
}

fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("token:with:colons");
    std::fs::write(&p, format!("{TOKEN}\n")).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

fn server(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let tf = token_file(dir.path());
    let mut cmd = Command::new(common::bin());
    cmd.args(["socketserver", "--listen", "127.0.0.1:0", "--python"])
        .arg(common::python3())
        .arg("--token-file")
        .arg(&tf)
        .args(extra)
        .env_remove("EXECDECK_TOKEN");
    start(cmd, dir, tf)
}

fn spec(s: &Server) -> String {
    format!(
        "socket=127.0.0.1:{}//token_file={}//timeout=30",
        s.port,
        s.token_file.display()
    )
}

/// Socket fds of the server process plus its worker processes.
fn connections(pid: u32) -> usize {
    let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .map(|l| l.to_string_lossy().starts_with("socket:"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0);
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|c| c.split_whitespace().count())
        .unwrap_or(0);
    sockets.saturating_sub(1) + children
}

async fn echo(spec: &str) {
    let gw = Gateway::open(spec).await.expect("legitimate client");
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    let v = ch.receive_timeout(Duration::from_secs(30)).await;
    assert_eq!(v.expect("reply"), Value::Int(42));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_connections_stay_under_the_cap() {
    let cap = 64;
    let srv = server(&["--max-clients", "64", "--handshake-timeout", "3"]);
    let pid = srv.child.id();
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", srv.port)) {
            idle.push(s);
        }
    }
    let port = srv.port;
    let slow: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return None;
                };
                let t0 = Instant::now();
                // one byte every 0.5 s, never a newline; ends when the server drops us
                while t0.elapsed() < Duration::from_secs(20) {
                    if s.write_all(b"a").is_err() {
                        return Some(t0.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                None
            })
        })
        .collect();
    let mut most = 0;
    let t0 = Instant::now();
    echo(&spec(&srv)).await;
    let served = t0.elapsed();
    while t0.elapsed() < Duration::from_secs(2) {
        most = most.max(connections(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("legitimate client served in {served:?}; most connections seen {most}");
    assert!(most <= cap, "{most} connections > cap {cap}");
    assert!(served < Duration::from_secs(5), "served after {served:?}");
    for t in slow {
        let dropped = t.join().expect("slowloris");
        let d = dropped.expect("a slowloris connection outlived the handshake deadline");
        assert!(d < Duration::from_secs(10), "dropped after {d:?}");
    }
    // idle connections are closed too (read gives EOF after the greeting)
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut buf = Vec::new();
        if s.read_to_end(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 300, "idle connections left open");
    assert!(common::proc_state(pid as i32).is_some(), "server died");
}

/// Root ignores RLIMIT_NPROC: the server runs as nobody with room for no child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_survives_a_failed_fork() {
    let (Some(prlimit), Some(setpriv)) = (
        common::require("/usr/bin/prlimit", "prlimit (util-linux)"),
        common::require("/usr/bin/setpriv", "setpriv (util-linux)"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = dir.path().join("server.py");
    std::fs::write(&script, execdeck::engine::bootstrap::SOCKETSERVER_SOURCE).expect("write");
    let tf = token_file(dir.path());
    // SAFETY: plain chown(2) on our own file.
    let c = std::ffi::CString::new(tf.to_string_lossy().as_bytes()).expect("path");
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let mut cmd = Command::new(prlimit);
    cmd.args([
        "--nproc=1:1",
        &setpriv,
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ])
    .args(["/usr/bin/python3", "-u"])
    .arg(&script)
    .args(["127.0.0.1:0", "--token-file"])
    .arg(&tf);
    let srv = start(cmd, dir, tf);
    let err = Gateway::open(&spec(&srv))
        .await
        .map(|_| ())
        .expect_err("fork must fail");
    eprintln!("client saw: {err}");
    // still serving: a new connection gets the greeting
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("server still listening");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut g = [0u8; 15];
    s.read_exact(&mut g).expect("greeting");
    assert_eq!(&g, b"EXECDECK-AUTH2 ");
}

#[test]
fn listen_takes_a_port_and_paths_are_never_addresses() {
    for listen in ["0", ":0"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let tf = token_file(dir.path());
        let mut cmd = Command::new(common::bin());
        cmd.args(["socketserver", "--listen", listen, "--python"])
            .arg(common::python3())
            .arg("--token-file")
            .arg(&tf);
        let srv = start(cmd, dir, tf);
        assert_ne!(srv.port, 8888, "--listen {listen} fell back to a default");
        assert_ne!(srv.port, 0);
    }
    let out = Command::new(common::bin())
        .args(["socketserver", "--listen", "nonsense", "--python"])
        .arg(common::python3())
        .env("EXECDECK_TOKEN", TOKEN)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected HOST:PORT, :PORT or PORT"), "{err}");
}

#[test]
fn token_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tf = token_file(dir.path());
    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new(common::bin())
        .args(["socketserver", "--listen", "127.0.0.1:0", "--python"])
        .arg(common::python3())
        .arg("--token-file")
        .arg(&tf)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Permissions 0644 for"), "{err}");
    assert!(err.contains("are too open"), "{err}");
    // the client refuses it too, before it connects anywhere (port 1: nobody there)
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let out = Command::new(common::bin())
            .args(["exec", "-g"])
            .arg(format!("socket=127.0.0.1:1//token_file={}", tf.display()))
            .args(["-c", "pass"])
            .env_remove("EXECDECK_TOKEN")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(&format!("Permissions 0{mode:o} for")), "{err}");
        assert!(
            err.contains("It is required that your token file is NOT accessible by others"),
            "{err}"
        );
        assert!(
            !err.contains("connection refused"),
            "it connected first: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_workers_see_no_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tf = token_file(dir.path());
    let mut cmd = Command::new(common::bin());
    cmd.args(["socketserver", "--listen", "127.0.0.1:0", "--python"])
        .arg(common::python3())
        .env("EXECDECK_TOKEN", TOKEN)
        .env("EXECDECK_SSH_PASSWORD", "hunter2");
    let srv = start(cmd, dir, tf);
    let gw = Gateway::open(&spec(&srv)).await.expect("open");
    let ch = gw
        .remote_exec(
            "import os\nchannel.send([k for k in ('EXECDECK_TOKEN', 'EXECDECK_SSH_PASSWORD') if k in os.environ])",
        )
        .await
        .expect("exec");
    let v = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .expect("reply");
    assert_eq!(v, Value::List(vec![]), "{v:?}");
    let _ = std::io::stdout().flush();
}

/// A popen worker started while the secrets are set does not see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popen_workers_see_no_secrets() {
    // SAFETY: nextest runs each test in its own process.
    unsafe {
        std::env::set_var("EXECDECK_TOKEN", TOKEN);
        std::env::set_var("EXECDECK_SSH_PASSWORD", "hunter2");
    }
    let gw = Gateway::open(&format!("popen//python={}", common::python3()))
        .await
        .expect("open");
    let ch = gw
        .remote_exec(
            "import os\nchannel.send([k for k in ('EXECDECK_TOKEN', 'EXECDECK_SSH_PASSWORD') if k in os.environ])",
        )
        .await
        .expect("exec");
    let v = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .expect("reply");
    assert_eq!(v, Value::List(vec![]), "{v:?}");
}

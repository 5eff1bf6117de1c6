//! Socket gateways over TLS: `execdeck socketserver --tls-cert --tls-key` with a
//! self-signed certificate made here with the openssl CLI; the client pins its SHA-256
//! fingerprint (`tls_fingerprint=`). A wrong pin is refused before anything of ours is
//! sent, and the server never starts a worker for it.

mod common;

use execdeck::engine::{Gateway, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "tls-test-token-0123";

struct Server {
    child: Child,
    port: u16,
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

fn start(python: &str, tls: Option<(&Path, &Path)>) -> Server {
    let mut cmd = Command::new(common::bin());
    cmd.args([
        "socketserver",
        "--listen",
        "127.0.0.1:0",
        "--python",
        python,
    ]);
    if let Some((cert, key)) = tls {
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
    }
    let mut child = cmd
        .env("EXECDECK_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("server output");
    let port = first
        .split_whitespace()
        .find_map(|w| w.rsplit(':').next().and_then(|p| p.parse().ok()))
        .unwrap_or(0);
    let log = Arc::new(Mutex::new(first.clone()));
    drain(out, log.clone());
    drain(child.stderr.take().expect("stderr"), log.clone());
    let server = Server { child, port, log };
    assert!(server.port > 0, "no port in {first:?}: {}", server.log());
    server
}

/// A self-signed certificate and its key (0600), made with the openssl CLI; returns
/// (cert, key, SHA-256 fingerprint as openssl prints it).
fn make_cert(dir: &Path) -> (PathBuf, PathBuf, String) {
    common::require("/usr/bin/openssl", "the openssl CLI");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=execdeck-test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(made.success(), "openssl req failed");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout);
    let fp = text
        .trim()
        .rsplit('=')
        .next()
        .map(str::to_string)
        .expect("fingerprint");
    assert_eq!(fp.len(), 95, "fingerprint {text:?}");
    (cert, key, fp)
}

fn spec(port: u16, extra: &str) -> String {
    if extra.contains("timeout=") {
        format!("socket=127.0.0.1:{port}{extra}")
    } else {
        format!("socket=127.0.0.1:{port}//timeout=30{extra}")
    }
}

async fn echo(spec: &str) -> Result<Value, String> {
    let gw = Gateway::open(spec).await.map_err(|e| e.to_string())?;
    let ch = gw
        .remote_exec("import ssl\nchannel.send(6 * 7)")
        .await
        .map_err(|e| e.to_string())?;
    let v = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string());
    gw.terminate(Duration::from_secs(5)).await;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_pinned_certificate() {
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("EXECDECK_TOKEN", TOKEN) };
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, fp) = make_cert(dir.path());
    for (label, py) in [
        ("cpython 3.13", common::pyenv_python("3.13.0")),
        ("cpython 2.7", common::pyenv_python("2.7.18")),
    ] {
        let Some(py) = common::require(&py, label) else {
            continue;
        };
        let server = start(&py, Some((&cert, &key)));
        assert!(server.log().contains("(TLS)"), "{}", server.log());
        // the right pin (with colons, as openssl prints it, and without)
        let pin = format!("//tls_fingerprint={fp}");
        assert_eq!(
            echo(&spec(server.port, &pin)).await,
            Ok(Value::Int(42)),
            "{label}"
        );
        let bare = format!("//tls_fingerprint={}", fp.replace(':', "").to_lowercase());
        assert_eq!(
            echo(&spec(server.port, &bare)).await,
            Ok(Value::Int(42)),
            "{label}"
        );
        let workers = server.log().matches("gateway for").count();
        assert_eq!(workers, 2, "{label}: {}", server.log());
        // a wrong pin: refused in the TLS handshake, before any bootstrap
        let mut wrong = fp.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).expect("ascii");
        let err = echo(&spec(server.port, &format!("//tls_fingerprint={wrong}")))
            .await
            .expect_err("a wrong pin must be refused");
        assert!(err.contains("not the pinned"), "{label}: {err}");
        assert!(
            err.contains(&fp),
            "{label}: names the certificate seen: {err}"
        );
        // no plain client gets through a TLS server; the message points at the pin
        let err = echo(&spec(server.port, "//timeout=3"))
            .await
            .expect_err("plain client to a TLS server");
        assert!(err.contains("tls_fingerprint="), "{label}: {err}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            server.log().matches("gateway for").count(),
            workers,
            "{label}: a worker started for a refused client: {}",
            server.log()
        );
        // the server still serves
        assert_eq!(
            echo(&spec(server.port, &pin)).await,
            Ok(Value::Int(42)),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_against_a_plain_server_and_a_key_others_can_read() {
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("EXECDECK_TOKEN", TOKEN) };
    let py = common::python3();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, fp) = make_cert(dir.path());
    let plain = start(&py, None);
    let err = echo(&spec(plain.port, &format!("//tls_fingerprint={fp}")))
        .await
        .expect_err("a pin to a plain server");
    assert!(err.contains("TLS handshake failed"), "{err}");
    // a malformed pin is a spec error
    let err = Gateway::open("socket=127.0.0.1:1//tls_fingerprint=abc")
        .await
        .map(|_| ())
        .expect_err("malformed pin")
        .to_string();
    assert!(err.contains("64 hex digits"), "{err}");
    // the key readable by others: the server refuses to start
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new(common::bin())
        .args(["socketserver", "--listen", "127.0.0.1:0", "--python", &py])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("EXECDECK_TOKEN", TOKEN)
        .output()
        .expect("server");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("Permissions 0644") && text.contains("too open"),
        "{text}"
    );
}

//! The socket transport: connect to an execdeck socket server (`execdeck
//! socketserver`, or one started through another gateway with `installvia=`), prove
//! the shared token by challenge-response, then bootstrap over the connection.

use crate::codec::StrConfig;
use crate::error::{Error, Result};
use crate::gateway::handle::Gateway;
use crate::spec::{Spec, Transport};
use crate::transport::link::{CloseReason, Link, expand_home, too_open};
use crate::transport::sealed::{self, Session};
use crate::transport::start::Start;
use crate::value::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The socket server program (`execdeck socketserver`; also sent for `installvia=`).
pub const SOCKETSERVER_SOURCE: &str = include_str!("../../remote_stub/socketserver.py");

/// Connects to `socket=HOST:PORT`, or with `installvia=GWID` first starts a
/// one-connection server through that gateway and connects to it.
pub(crate) async fn start(req: &Start<'_>, addr: &str) -> Result<Link> {
    match (&req.spec.installvia, req.via) {
        (Some(_), Some(via)) => {
            let server = install_socketserver(via, req.id).await?;
            let spec = via.spec();
            if spec.transport == Transport::Popen && spec.via.is_none() && spec.installvia.is_none()
            {
                // the carrier runs on this machine: its 127.0.0.1 is ours
                let addr = format!("127.0.0.1:{}", server.port);
                connect(req, &addr, Some(server.token)).await
            } else {
                // elsewhere (ssh, socket, via): the server listens on that host's
                // 127.0.0.1, reached through a tunnel on the carrier
                tunnel(req, via, server).await
            }
        }
        _ => connect(req, addr, None).await,
    }
}

/// A fresh random token (hex) for a server installed through a gateway.
pub fn random_token() -> Result<String> {
    let mut b = [0u8; 24];
    let mut f = std::fs::File::open("/dev/urandom").map_err(Error::Io)?;
    std::io::Read::read_exact(&mut f, &mut b).map_err(Error::Io)?;
    Ok(hex::encode(b))
}

/// The shared secret for socket servers: `token_file=` of the spec, else the
/// `EXECDECK_TOKEN` environment variable.
fn socket_token(spec: &Spec) -> Result<Vec<u8>> {
    let token = match &spec.token_file {
        Some(path) => {
            let full = expand_home(path);
            if let Some(why) = too_open(&full, "token file") {
                return Err(Error::Unsupported(why));
            }
            std::fs::read(&full)
                .map_err(|e| Error::Unsupported(format!("cannot read token_file {path}: {e}")))?
        }
        None => std::env::var("EXECDECK_TOKEN")
            .unwrap_or_default()
            .into_bytes(),
    };
    let token = token.trim_ascii().to_vec();
    if token.len() < 8 {
        return Err(Error::Unsupported(
            "socket gateways need the server's token: token_file=PATH in the spec or EXECDECK_TOKEN (8 bytes or more)".into(),
        ));
    }
    Ok(token)
}

/// What a socket gateway speaks over: plain TCP, TLS over TCP, or a tunnel through
/// the gateway that installed the server.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn for T {}

/// TLS with the server's certificate pinned by its SHA-256 fingerprint: any other
/// certificate ends the TLS handshake, before anything of ours is sent.
async fn tls_wrap(
    tcp: tokio::net::TcpStream,
    pin: [u8; 32],
) -> std::result::Result<tokio_openssl::SslStream<tokio::net::TcpStream>, String> {
    use openssl::hash::MessageDigest;
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let seen_cb = seen.clone();
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| e.to_string())?;
    b.set_verify_callback(SslVerifyMode::PEER, move |_preverified, ctx| {
        if ctx.error_depth() != 0 {
            return true; // the pin is on the server's own certificate
        }
        let Some(digest) = ctx
            .current_cert()
            .and_then(|c| c.digest(MessageDigest::sha256()).ok())
        else {
            return false;
        };
        if let Ok(mut s) = seen_cb.lock() {
            *s = Some(digest.to_vec());
        }
        sealed::same(&digest, &pin)
    });
    let mut cfg = b.build().configure().map_err(|e| e.to_string())?;
    cfg.set_verify_hostname(false);
    cfg.set_use_server_name_indication(false);
    let ssl = cfg.into_ssl("execdeck").map_err(|e| e.to_string())?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    match std::pin::Pin::new(&mut stream).connect().await {
        Ok(()) => Ok(stream),
        Err(e) => {
            let seen = seen.lock().ok().and_then(|s| s.clone());
            Err(match seen {
                Some(d) if !sealed::same(&d, &pin) => format!(
                    "the server's TLS certificate has SHA-256 fingerprint {}, not the pinned {}: refused before anything was sent",
                    colon_hex(&d),
                    colon_hex(&pin)
                ),
                _ => format!("TLS handshake failed (does the server run with --tls-cert?): {e}"),
            })
        }
    }
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

async fn read_line<R: AsyncRead + Unpin>(r: &mut R, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if r.read(&mut b).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if b[0] == b'\n' {
            return Ok(out);
        }
        out.push(b[0]);
        if out.len() > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
    }
}

/// Connects to an execdeck socket server (over TLS with `tls_fingerprint=`), proves
/// the token (challenge-response), sends the bootstrap line and waits for the `1`.
async fn connect(req: &Start<'_>, addr: &str, token: Option<Vec<u8>>) -> Result<Link> {
    let fail =
        |what: String| Error::Unsupported(format!("gateway {}: socket={addr}: {what}", req.id));
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| fail("expected socket=HOST:PORT".into()))?;
    // the token first: a token file others can read is refused before any connection
    let token = match token {
        Some(t) => t,
        None => socket_token(req.spec)?,
    };
    let pin = req.spec.tls_fingerprint;
    let open = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| fail(format!("cannot resolve host '{host}': {e}")))?
            .collect();
        let first = addrs
            .first()
            .ok_or_else(|| fail(format!("host '{host}' has no address")))?;
        let stream = tokio::net::TcpStream::connect(first).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                fail(format!(
                    "connection refused by {first} (is the socket server running?)"
                ))
            } else {
                fail(format!("cannot connect to {first}: {e}"))
            }
        })?;
        let _ = stream.set_nodelay(true);
        let conn: Box<dyn Conn> = match pin {
            Some(pin) => Box::new(tls_wrap(stream, pin).await.map_err(fail)?),
            None => Box::new(stream),
        };
        Ok::<_, Error>(conn)
    };
    let conn = match tokio::time::timeout(req.timeout, open).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(fail(format!(
                "no connection within {:.1} s (raise it with timeout=SECONDS)",
                req.timeout.as_secs_f64()
            )));
        }
    };
    authenticate(req, conn, token, &fail).await
}

/// The handshake and bootstrap over an open connection; the link it gives is sealed
/// (every frame carries its HMAC).
async fn authenticate<C: Conn>(
    req: &Start<'_>,
    mut stream: C,
    token: Vec<u8>,
    fail: &(dyn Fn(String) -> Error + Sync),
) -> Result<Link> {
    let (line, timeout) = (req.line, req.timeout);
    let tls = req.spec.tls_fingerprint.is_some();
    let greeted = std::sync::atomic::AtomicBool::new(false);
    let steps = async {
        let greeting = read_line(&mut stream, 200).await;
        greeted.store(true, std::sync::atomic::Ordering::Relaxed);
        let greeting = greeting.map_err(|e| {
            fail(if tls {
                format!("no greeting from the server: {e}")
            } else {
                format!(
                    "no greeting from the server: {e} (if it serves TLS, pin its certificate with tls_fingerprint=)"
                )
            })
        })?;
        let server_nonce = greeting
            .strip_prefix(b"EXECDECK-AUTH2 ")
            .filter(|n| n.len() == 64 && n.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| {
                fail("the peer is not an execdeck socket server (or an older one)".into())
            })?
            .to_vec();
        let client_nonce = random_token()?.into_bytes();
        let session = Session::derive(&token, &server_nonce, &client_nonce);
        let answer = format!(
            "{} {}\n",
            String::from_utf8_lossy(&client_nonce),
            hex::encode(session.client_proof)
        );
        stream
            .write_all(answer.as_bytes())
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        stream
            .flush()
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        let verdict = read_line(&mut stream, 100)
            .await
            .map_err(|e| fail(format!("no answer to the token: {e}")))?;
        let server_proof = match verdict.strip_prefix(b"OK ") {
            Some(p) => p,
            None if verdict == b"DENIED" => {
                return Err(fail(
                    "the server refused our token (authentication failed)".into(),
                ));
            }
            None => return Err(fail("the server sent no proof of the token".into())),
        };
        let want = hex::encode(session.server_proof);
        if !sealed::same(server_proof, want.as_bytes()) {
            return Err(fail(
                "the server could not prove it knows the token (wrong token, or a relay in between): nothing was sent"
                    .into(),
            ));
        }
        // the bootstrap line is the client's frame number 0: tag first, then the line
        let tag = sealed::frame_tag(&session.key, 0, sealed::CLIENT, line);
        let mut first = Vec::with_capacity(65 + line.len());
        first.extend_from_slice(hex::encode(tag).as_bytes());
        first.push(b' ');
        first.extend_from_slice(line);
        stream
            .write_all(&first)
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        stream
            .flush()
            .await
            .map_err(|e| fail(format!("write failed: {e}")))?;
        let mut ack = [0u8; 1];
        let n = stream
            .read(&mut ack)
            .await
            .map_err(|e| fail(format!("bootstrap failed: {e}")))?;
        match (n, ack[0]) {
            (1, b'1') => Ok(session.key),
            (0, _) => Err(fail(
                "the worker closed the connection during bootstrap".into(),
            )),
            (_, other) => Err(fail(format!(
                "bootstrap answered {:?} instead of \"1\"",
                other as char
            ))),
        }
    };
    let key = match tokio::time::timeout(timeout, steps).await {
        Ok(r) => r?,
        Err(_) => {
            let hint = if tls || greeted.load(std::sync::atomic::Ordering::Relaxed) {
                ""
            } else {
                "; no greeting came: if the server serves TLS, pin its certificate with tls_fingerprint="
            };
            return Err(fail(format!(
                "no answer within {:.1} s (raise it with timeout=SECONDS){hint}",
                timeout.as_secs_f64()
            )));
        }
    };
    let (r, w) = tokio::io::split(stream);
    let why = CloseReason::default();
    let (reader, writer) = sealed::seal(r, w, key, 1, why.clone());
    Ok(Link::remote(reader, writer, why))
}

/// A one-connection server started through another gateway.
struct Installed {
    /// The port it listens on, on the carrier's 127.0.0.1.
    port: i64,
    /// The fresh token it expects.
    token: Vec<u8>,
}

/// installvia=: starts a one-connection socket server through `via`.
async fn install_socketserver(via: &Gateway, id: &str) -> Result<Installed> {
    let hop =
        |e: Error| Error::Unsupported(format!("gateway {id}: installvia {} failed: {e}", via.id()));
    let token = random_token()?;
    let ch = via.remote_exec(SOCKETSERVER_SOURCE).await.map_err(hop)?;
    ch.send(&Value::Tuple(vec![
        Value::Str("127.0.0.1".into()),
        Value::Str(token.clone()),
        Value::Str(SOCKETSERVER_SOURCE.into()),
    ]))
    .await
    .map_err(hop)?;
    let reply = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .map_err(hop)?;
    let port = match &reply {
        Value::Tuple(t) if t.len() == 2 => t[1].as_i64(),
        _ => None,
    }
    .ok_or_else(|| hop(Error::Protocol(format!("unexpected reply {reply}"))))?;
    Ok(Installed {
        port,
        token: token.into_bytes(),
    })
}

/// Carries bytes between a channel and 127.0.0.1:PORT on the carrier. The link inside
/// stays sealed end to end: the carrier cannot read the token or alter a frame.
const TUNNEL_SOURCE: &str = r#"
import socket, threading
port = channel.receive()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("127.0.0.1", port))
try:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
except Exception:
    pass
def up():
    try:
        while True:
            d = s.recv(262144)
            if not d:
                break
            channel.send(d)
    except Exception:
        pass
    try:
        channel.send(None)
    except Exception:
        pass
t = threading.Thread(target=up)
t.daemon = True
t.start()
try:
    while True:
        d = channel.receive()
        if d is None:
            break
        s.sendall(d)
finally:
    try:
        s.shutdown(socket.SHUT_WR)
    except Exception:
        pass
t.join()
"#;

/// installvia= through a carrier on another host: a tunnel task there connects to the
/// installed server; the handshake and the sealed link run through it.
async fn tunnel(req: &Start<'_>, via: &Gateway, server: Installed) -> Result<Link> {
    let id = req.id;
    let hop =
        |e: Error| Error::Unsupported(format!("gateway {id}: installvia {} failed: {e}", via.id()));
    let ch = via.remote_exec(TUNNEL_SOURCE).await.map_err(hop)?;
    // bytes stay bytes, also from a Python 2 carrier
    ch.reconfigure(StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    })
    .await
    .map_err(hop)?;
    ch.send(&Value::Int(server.port)).await.map_err(hop)?;
    let (ours, theirs) = tokio::net::UnixStream::pair().map_err(Error::Io)?;
    let (mut our_r, mut our_w) = ours.into_split();
    let up = ch.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 18];
        loop {
            match our_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up.send(&Value::Bytes(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up.send(&Value::None).await;
    });
    tokio::spawn(async move {
        while let Ok(Some(Value::Bytes(b))) = ch.next().await {
            if our_w.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = our_w.shutdown().await;
    });
    let addr = format!("127.0.0.1:{} on {}", server.port, via.id());
    let fail = |what: String| Error::Unsupported(format!("gateway {id}: socket={addr}: {what}"));
    authenticate(req, theirs, server.token, &fail).await
}

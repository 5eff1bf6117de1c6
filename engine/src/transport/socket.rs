//! The socket transport: connect to an execdeck socket server (`execdeck
//! socketserver`, or one started through another gateway with `installvia=`), prove
//! the shared token by challenge-response, then bootstrap over the connection.

use crate::error::{Error, Result};
use crate::gateway::handle::Gateway;
use crate::spec::{Spec, Transport};
use crate::transport::link::{CloseReason, Link, expand_home};
use crate::transport::sealed::{self, Session};
use crate::transport::ssh::Target;
use crate::transport::start::Start;
use crate::value::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The socket server program (`execdeck socketserver`; also sent for `installvia=`).
pub const SOCKETSERVER_SOURCE: &str = include_str!("../../remote_stub/socketserver.py");

/// Connects to `socket=HOST:PORT`, or with `installvia=GWID` first starts a
/// one-connection server through that gateway and connects to it.
pub(crate) async fn start(req: &Start<'_>, addr: &str) -> Result<Link> {
    match (&req.spec.installvia, req.via) {
        (Some(_), Some(via)) => {
            let server = install_socketserver(via, req.id).await?;
            connect(req, &server.addr, Some(server.token)).await
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
        Some(path) => std::fs::read(expand_home(path))
            .map_err(|e| Error::Unsupported(format!("cannot read token_file {path}: {e}")))?,
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

/// Connects to an execdeck socket server, proves the token (challenge-response), sends
/// the bootstrap line and waits for the `1`.
async fn connect(req: &Start<'_>, addr: &str, token: Option<Vec<u8>>) -> Result<Link> {
    let (id, line, timeout) = (req.id, req.line, req.timeout);
    let token = match token {
        Some(t) => t,
        None => socket_token(req.spec)?,
    };
    let fail = |what: String| Error::Unsupported(format!("gateway {id}: socket={addr}: {what}"));
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| fail("expected socket=HOST:PORT".into()))?;
    let steps = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| fail(format!("cannot resolve host '{host}': {e}")))?
            .collect();
        let first = addrs
            .first()
            .ok_or_else(|| fail(format!("host '{host}' has no address")))?;
        let mut stream = tokio::net::TcpStream::connect(first).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                fail(format!(
                    "connection refused by {first} (is the socket server running?)"
                ))
            } else {
                fail(format!("cannot connect to {first}: {e}"))
            }
        })?;
        let _ = stream.set_nodelay(true);
        let greeting = read_line(&mut stream, 200)
            .await
            .map_err(|e| fail(format!("no greeting from the server: {e}")))?;
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
        let mut ack = [0u8; 1];
        let n = stream
            .read(&mut ack)
            .await
            .map_err(|e| fail(format!("bootstrap failed: {e}")))?;
        match (n, ack[0]) {
            (1, b'1') => Ok((stream, session.key)),
            (0, _) => Err(fail(
                "the worker closed the connection during bootstrap".into(),
            )),
            (_, other) => Err(fail(format!(
                "bootstrap answered {:?} instead of \"1\"",
                other as char
            ))),
        }
    };
    let (stream, key) = match tokio::time::timeout(timeout, steps).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(fail(format!(
                "no answer within {:.1} s (raise it with timeout=SECONDS)",
                timeout.as_secs_f64()
            )));
        }
    };
    let (r, w) = stream.into_split();
    let why = CloseReason::default();
    let (reader, writer) = sealed::seal(r, w, key, 1, why.clone());
    Ok(Link::remote(reader, writer, why))
}

/// A one-connection server started through another gateway.
struct Installed {
    /// `HOST:PORT` to connect to.
    addr: String,
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
    // the server listens on the via gateway's host
    let host = match &via.spec().transport {
        Transport::Ssh(t) => Target::parse(t)
            .map(|t| t.host)
            .unwrap_or_else(|_| "127.0.0.1".into()),
        _ => "127.0.0.1".into(),
    };
    Ok(Installed {
        addr: format!("{host}:{port}"),
        token: token.into_bytes(),
    })
}

//! Session keys and per-frame integrity for socket gateways.
//!
//! The handshake (in [`socket`](super::socket)) gives both sides two fresh nonces; from
//! them and the shared token come the two proofs and the session key. After it, every
//! frame on the wire is followed by a 32-byte tag: HMAC-SHA256(session key, sequence
//! number (8 bytes, big-endian) ‖ direction label ‖ frame). Sequence numbers count each
//! direction's frames from 0 (the client's bootstrap line is its number 0), so an
//! altered, dropped, replayed, reordered or injected frame fails the check before
//! anything decodes it.
//!
//! Only socket links pay for this: two pump tasks sit between the TCP stream and the
//! gateway, which keeps reading and writing plain frames.

use crate::frame::HEADER_LEN;
use crate::transport::link::{CloseReason, Reader, Writer};
use hmac::{KeyInit, Mac};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Length of one frame's tag.
pub const TAG_LEN: usize = 32;
/// Direction label of what the client (execdeck) sends.
pub const CLIENT: &[u8] = b"client";
/// Direction label of what the server (the worker) sends.
pub const SERVER: &[u8] = b"server";

/// Frame code of the server's last word on a sealed link (never a gateway message):
/// its payload says why the server ends the connection, e.g. a frame of ours that
/// failed its integrity check.
pub const ALERT: u8 = 127;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of every length; new_from_slice cannot fail here
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// HMAC-SHA256 over the parts, in order.
pub fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The handshake's values, all bound to both nonces (hex text as sent on the wire).
pub struct Session {
    pub client_proof: [u8; 32],
    pub server_proof: [u8; 32],
    pub key: [u8; 32],
}

impl Session {
    pub fn derive(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Session {
        let f = |label: &[u8]| {
            hmac_parts(
                token,
                &[
                    b"execdeck-auth2 ",
                    label,
                    b"\n",
                    server_nonce,
                    b"\n",
                    client_nonce,
                ],
            )
        };
        Session {
            client_proof: f(b"client"),
            server_proof: f(b"server"),
            key: f(b"key"),
        }
    }
}

/// The tag of frame number `seq` sent in direction `dir`.
pub fn frame_tag(key: &[u8], seq: u64, dir: &[u8], frame: &[u8]) -> [u8; 32] {
    hmac_parts(key, &[&seq.to_be_bytes(), dir, frame])
}

/// Constant-time comparison.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Wraps an authenticated TCP stream: returns the plain-frame reader and writer the
/// gateway uses. `first_out` is the next sequence number of our direction (the
/// bootstrap line used 0). An integrity failure ends the link and is stored in `why`.
pub fn seal<R, W>(
    tcp_r: R,
    tcp_w: W,
    key: [u8; 32],
    first_out: u64,
    why: CloseReason,
) -> (Reader, Writer)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    const PIPE: usize = 1 << 18;
    let (gw_reader, in_w) = tokio::io::duplex(PIPE);
    let (out_r, gw_writer) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        if let Err(e) = verify_pump(tcp_r, in_w, &key).await {
            why.set(e);
        }
    });
    tokio::spawn(async move {
        let _ = sign_pump(out_r, tcp_w, &key, first_out).await;
    });
    (Box::new(gw_reader), Box::new(gw_writer))
}

/// Reads one frame (header and payload) into `buf`; Ok(false) at a clean end.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<bool, String> {
    buf.clear();
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err("connection closed inside a frame header".into()),
            Ok(n) => got += n,
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
    let len = i32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    let len = u64::try_from(len)
        .map_err(|_| format!("malformed frame: negative payload length {len}"))?;
    buf.extend_from_slice(&header);
    // grows with what actually arrives: a forged length allocates nothing up front
    let n = (&mut *r)
        .take(len)
        .read_to_end(buf)
        .await
        .map_err(|e| format!("read error: {e}"))?;
    if (n as u64) < len {
        return Err("connection closed inside a frame".into());
    }
    Ok(true)
}

async fn verify_pump<R, W>(mut tcp: R, mut out: W, key: &[u8]) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut r = tokio::io::BufReader::with_capacity(1 << 16, &mut tcp);
    let mut buf = Vec::new();
    let mut seq: u64 = 0;
    loop {
        if !read_frame(&mut r, &mut buf).await? {
            return Ok(());
        }
        let mut tag = [0u8; TAG_LEN];
        r.read_exact(&mut tag)
            .await
            .map_err(|_| format!("connection closed before the tag of frame {seq}"))?;
        if !same(&tag, &frame_tag(key, seq, SERVER, &buf)) {
            return Err(format!(
                "integrity check failed on frame {seq} from the server: \
                 it was altered, injected, replayed, reordered or a frame was dropped"
            ));
        }
        seq += 1;
        if buf.first() == Some(&ALERT) {
            // the server's authenticated last word: why it ends the connection
            let why = String::from_utf8_lossy(&buf[HEADER_LEN..]);
            return Err(format!("the server ended the connection: {why}"));
        }
        if out.write_all(&buf).await.is_err() {
            return Ok(()); // the gateway is gone
        }
    }
}

async fn sign_pump<R, W>(
    mut from_gw: R,
    mut tcp: W,
    key: &[u8],
    mut seq: u64,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut r = tokio::io::BufReader::with_capacity(1 << 16, &mut from_gw);
    let mut buf = Vec::new();
    while let Ok(true) = read_frame(&mut r, &mut buf).await {
        buf.extend_from_slice(&frame_tag(key, seq, CLIENT, &buf));
        seq += 1;
        tcp.write_all(&buf).await?;
        tcp.flush().await?;
    }
    tcp.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_bound_to_both_nonces_and_the_direction() {
        let a = Session::derive(b"token-123", b"aa", b"bb");
        let b = Session::derive(b"token-123", b"aa", b"bc");
        assert!(!same(&a.client_proof, &b.client_proof));
        assert!(!same(&a.client_proof, &a.server_proof));
        assert!(!same(&a.key, &b.key));
        assert_ne!(
            frame_tag(&a.key, 1, CLIENT, b"x"),
            frame_tag(&a.key, 1, SERVER, b"x")
        );
        assert_ne!(
            frame_tag(&a.key, 1, CLIENT, b"x"),
            frame_tag(&a.key, 2, CLIENT, b"x")
        );
    }
}

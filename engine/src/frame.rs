//! Message framing: a 9-byte big-endian header (`!bii`: code, channel, length) and a payload.

use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The eight message codes of execnet's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgCode {
    Status = 0,
    Reconfigure = 1,
    GatewayTerminate = 2,
    ChannelExec = 3,
    ChannelData = 4,
    ChannelClose = 5,
    ChannelCloseError = 6,
    ChannelLastMessage = 7,
}

impl MsgCode {
    pub fn from_byte(b: u8) -> Option<MsgCode> {
        Some(match b {
            0 => MsgCode::Status,
            1 => MsgCode::Reconfigure,
            2 => MsgCode::GatewayTerminate,
            3 => MsgCode::ChannelExec,
            4 => MsgCode::ChannelData,
            5 => MsgCode::ChannelClose,
            6 => MsgCode::ChannelCloseError,
            7 => MsgCode::ChannelLastMessage,
            _ => return None,
        })
    }
}

/// One framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub code: MsgCode,
    pub channel: i32,
    pub payload: Vec<u8>,
}

pub const HEADER_LEN: usize = 9;

impl Message {
    pub fn new(code: MsgCode, channel: i32, payload: Vec<u8>) -> Self {
        Message {
            code,
            channel,
            payload,
        }
    }

    /// Appends header and payload to `out` (one contiguous write).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_frame(out, self.code, self.channel, &self.payload);
    }
}

/// Appends a frame for `payload` to `out`.
pub fn write_frame(out: &mut Vec<u8>, code: MsgCode, channel: i32, payload: &[u8]) {
    out.reserve(HEADER_LEN + payload.len());
    out.push(code as u8);
    out.extend_from_slice(&channel.to_be_bytes());
    // payload sizes are checked against i32 by the sender before framing
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// Clean end of stream at a frame boundary.
    Eof,
    /// The stream ended inside a frame.
    Truncated {
        expected: usize,
        got: usize,
    },
    /// A header that no well-behaved peer sends.
    Malformed(String),
    Io(std::io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Eof => f.write_str("connection closed"),
            FrameError::Truncated { expected, got } => {
                write!(
                    f,
                    "connection closed inside a frame: expected {expected} bytes, got {got}"
                )
            }
            FrameError::Malformed(m) => write!(f, "malformed frame: {m}"),
            FrameError::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

async fn read_full<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> Result<usize, std::io::Error> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Reads one frame, refusing unknown codes and payloads over `max_payload` bytes
/// before allocating for them.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    max_payload: usize,
) -> Result<Message, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(r, &mut header).await.map_err(FrameError::Io)?;
    if got == 0 {
        return Err(FrameError::Eof);
    }
    if got < HEADER_LEN {
        return Err(FrameError::Truncated {
            expected: HEADER_LEN,
            got,
        });
    }
    let code = MsgCode::from_byte(header[0]).ok_or_else(|| {
        FrameError::Malformed(format!("unknown message code {}", header[0] as i8))
    })?;
    let channel = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let len = i32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    let len = usize::try_from(len)
        .map_err(|_| FrameError::Malformed(format!("negative payload length {len}")))?;
    if len > max_payload {
        return Err(FrameError::Malformed(format!(
            "payload of {len} bytes exceeds the limit of {max_payload}"
        )));
    }
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload).await.map_err(FrameError::Io)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(Message {
        code,
        channel,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_faults() {
        let mut buf = Vec::new();
        for code in 0..8u8 {
            let m = Message::new(
                MsgCode::from_byte(code).unwrap(),
                42 - code as i32,
                vec![code; code as usize],
            );
            m.write_to(&mut buf);
        }
        let mut r = &buf[..];
        for code in 0..8u8 {
            let m = read_message(&mut r, 100).await.unwrap();
            assert_eq!(m.code as u8, code);
            assert_eq!(m.channel, 42 - code as i32);
            assert_eq!(m.payload, vec![code; code as usize]);
        }
        assert!(matches!(
            read_message(&mut r, 100).await,
            Err(FrameError::Eof)
        ));

        // malformed input: each names what is wrong
        let faults: &[(&[u8], &str)] = &[
            (
                b"\x09\0\0\0\x01\0\0\0\0",
                "malformed frame: unknown message code 9",
            ),
            (b"\x04\0\0\0\x01\xff\xff\xff\xff", "negative"),
            (b"\x04\0\0\0\x01\x7f\xff\xff\xff", "exceeds"),
            (b"\x04\0\0", "expected 9 bytes, got 3"),
            (b"\x04\0\0\0\x01\0\0\0\x05ab", "expected 5 bytes, got 2"),
        ];
        for (bytes, want) in faults {
            let mut r: &[u8] = bytes;
            let e = read_message(&mut r, 100).await.unwrap_err().to_string();
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
    }
}

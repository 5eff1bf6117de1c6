//! The frame reader over a stream delivered in fuzz-chosen pieces: it reads frames
//! until it stops with an error, never allocates past its payload limit, and every frame
//! it returns writes back to exactly the bytes it consumed.
#![no_main]

use execdeck_engine::frame::{self, FrameError};
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// A reader that hands out at most `chunk` bytes per read (short reads, as pipes do).
struct Pieces<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.data.len().min(self.chunk).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(sel % 16) + 1;
    let max_payload = if sel & 0x80 != 0 { 64 } else { 1 << 20 };
    let mut r = Pieces {
        data: stream,
        chunk,
    };
    let mut rewritten = Vec::new();
    loop {
        match futures_lite::future::block_on(frame::read_message(&mut r, max_payload)) {
            Ok(m) => {
                assert!(m.payload.len() <= max_payload);
                m.write_to(&mut rewritten);
            }
            Err(FrameError::Eof) => {
                assert_eq!(rewritten, stream, "frames do not write back to the stream");
                break;
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(stream.starts_with(&rewritten));
                assert!(stream.len() - rewritten.len() > 0);
                break;
            }
        }
    }
});

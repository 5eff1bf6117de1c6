//! Engine → observer notifications: small values, no UI types.

use crate::process::TerminateOutcome;
use crate::value::Value;

/// Where a piece of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `sys.stdout` writes.
    Stdout,
    /// `sys.stderr` writes.
    Stderr,
    /// Writes straight to file descriptor 1 (C extensions, `os.system`).
    Fd1,
    /// Writes straight to file descriptor 2 (also the interpreter's own errors).
    Fd2,
}

impl Stream {
    pub fn from_name(s: &str) -> Stream {
        match s {
            "out" => Stream::Stdout,
            "err" => Stream::Stderr,
            "fd1" => Stream::Fd1,
            _ => Stream::Fd2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Fd1 => "fd1",
            Stream::Fd2 => "fd2",
        }
    }

    /// Whether this is error output (stderr or fd 2).
    pub fn is_err(self) -> bool {
        matches!(self, Stream::Stderr | Stream::Fd2)
    }
}

/// What a gateway reports to its observer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The gateway waits for a start slot (see [`crate::pacer`]); its bootstrap timeout
    /// has not started yet.
    GatewayQueued {
        gateway: String,
    },
    GatewayReady {
        gateway: String,
        pid: Option<u32>,
    },
    /// Output written by remote code; `channel` is the exec channel of the task that
    /// wrote it, `None` for writes from other threads or straight to a file descriptor.
    Output {
        gateway: String,
        channel: Option<i32>,
        stream: Stream,
        text: String,
    },
    /// An item of a channel opened with `remote_exec_forwarded`, in wire order with
    /// the output events.
    Item {
        gateway: String,
        channel: i32,
        value: Value,
    },
    /// A forwarded channel ended; `error` is the remote traceback or why the gateway
    /// went away.
    ChannelEnded {
        gateway: String,
        channel: i32,
        error: Option<String>,
    },
    GatewayDied {
        gateway: String,
        reason: String,
    },
    GatewayTerminated {
        gateway: String,
        outcome: TerminateOutcome,
    },
}

//! Errors of the engine. Each says what failed and where.

use super::codec::EncodeError;
use super::process::ExitInfo;
use super::spec::SpecError;
use std::fmt;
use std::time::Duration;

/// An exception raised in remote code, with the remote traceback text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    pub formatted: String,
}

impl RemoteError {
    /// The last line of the traceback, e.g. `KeyError: 'k'`.
    pub fn summary(&self) -> &str {
        self.formatted.trim_end().lines().last().unwrap_or("")
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.formatted.trim_end())
    }
}

impl std::error::Error for RemoteError {}

#[derive(Debug)]
pub enum Error {
    Spec(SpecError),
    /// The interpreter program does not exist.
    InterpreterNotFound {
        path: String,
    },
    /// The interpreter could not be started for another reason.
    Spawn {
        command: String,
        error: std::io::Error,
    },
    /// The interpreter exited (or closed its output) before acknowledging the bootstrap.
    BootstrapDied {
        gateway: String,
        command: String,
        exit: Option<ExitInfo>,
        stderr: String,
    },
    /// No acknowledgement within the bootstrap timeout.
    BootstrapTimeout {
        gateway: String,
        command: String,
        timeout: Duration,
        stderr: String,
    },
    /// The first byte from the worker was not `1`.
    BootstrapBadAck {
        gateway: String,
        got: Vec<u8>,
        stderr: String,
    },
    /// The interpreter refused the cached compiled stub (handled inside `open`).
    StaleStubCache,
    /// A spec asks for something this build cannot do yet.
    Unsupported(String),
    /// A gateway id is already taken in the group.
    DuplicateId(String),
    /// The gateway is gone: terminated, died, or closed for a protocol fault.
    GatewayClosed {
        gateway: String,
        reason: String,
    },
    /// The channel was closed by the remote side with no error.
    ChannelClosed {
        gateway: String,
        channel: i32,
    },
    /// The remote code failed.
    Remote(RemoteError),
    /// Nothing arrived in time.
    Timeout(Duration),
    Encode(EncodeError),
    /// The peer answered with something unexpected.
    Protocol(String),
    Io(std::io::Error),
}

fn stderr_tail(stderr: &str) -> String {
    let s = stderr.trim_end();
    if s.is_empty() {
        String::new()
    } else {
        format!("; its stderr:\n{s}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec(e) => write!(f, "{e}"),
            Error::InterpreterNotFound { path } => {
                write!(f, "python interpreter not found: {path}")
            }
            Error::Spawn { command, error } => write!(f, "cannot start `{command}`: {error}"),
            Error::BootstrapDied {
                gateway,
                command,
                exit,
                stderr,
            } => {
                let how = match exit {
                    Some(e) => format!("exited during bootstrap ({e})"),
                    None => "closed its output during bootstrap".to_string(),
                };
                write!(
                    f,
                    "gateway {gateway}: `{command}` {how}{}",
                    stderr_tail(stderr)
                )
            }
            Error::BootstrapTimeout {
                gateway,
                command,
                timeout,
                stderr,
            } => write!(
                f,
                "gateway {gateway}: bootstrap timed out after {:.1} s: `{command}` did not answer (raise it with timeout=SECONDS in the spec){}",
                timeout.as_secs_f64(),
                stderr_tail(stderr)
            ),
            Error::BootstrapBadAck {
                gateway,
                got,
                stderr,
            } => write!(
                f,
                "gateway {gateway}: bootstrap answered {:?} instead of \"1\" (is something printing on stdout at interpreter start?){}",
                String::from_utf8_lossy(got),
                stderr_tail(stderr)
            ),
            Error::StaleStubCache => {
                f.write_str("cached compiled stub does not match the interpreter")
            }
            Error::Unsupported(m) => f.write_str(m),
            Error::DuplicateId(id) => {
                write!(f, "gateway id '{id}' is already in use in this group")
            }
            Error::GatewayClosed { gateway, reason } => {
                write!(f, "gateway {gateway} is closed: {reason}")
            }
            Error::ChannelClosed { gateway, channel } => {
                write!(f, "channel {channel} of gateway {gateway} is closed")
            }
            Error::Remote(e) => write!(f, "{e}"),
            Error::Timeout(d) => write!(f, "no item within {:.3} s", d.as_secs_f64()),
            Error::Encode(e) => write!(f, "{e}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Error::Spec(e)
    }
}
impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}
impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Self {
        Error::Remote(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

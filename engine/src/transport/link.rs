//! What every transport hands back: the byte stream to the worker and the means to
//! control and watch it. Shared by the transport files; depends on none of them.

use crate::events::{Event, Stream};
use crate::process::ProcessHandle;
use crate::spec::Spec;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// The worker's input, as the gateway writes frames to it.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
/// The worker's output, as the gateway reads frames from it.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// execnet's bootstrap one-liner, run with `-c` by every transport that starts an
/// interpreter: it reads one line, evaluates it to source text and runs that.
pub const ONE_LINER: &str = "import sys;exec(eval(sys.stdin.readline()))";

/// Environment variables holding execdeck's secrets: no worker inherits them.
pub const SECRET_ENV: &[&str] = &[
    "EXECDECK_TOKEN",
    "EXECDECK_SSH_PASSWORD",
    "EXECDECK_SUDO_PASSWORD",
];

/// Asks the user for a secret: the text is the question, the answer `None` when the
/// user declines. Called from the SSH thread; it may block until the answer comes.
/// The flag says whether the answer is a secret (not echoed, masked).
pub type Prompter = Arc<dyn Fn(&str, bool) -> Option<String> + Send + Sync>;

/// How much of the worker's stderr is kept for error messages.
const STDERR_TAIL: usize = 8192;

/// The last few KiB the worker wrote to its stderr (shared by a transport's reader
/// and the gateway that reports it).
#[derive(Clone, Debug, Default)]
pub struct StderrTail(Arc<Mutex<String>>);

impl StderrTail {
    /// Appends text, dropping the oldest beyond the limit (on a char boundary).
    pub fn push(&self, text: &str) {
        if let Ok(mut t) = self.0.lock() {
            t.push_str(text);
            if t.len() > STDERR_TAIL {
                let mut cut = t.len() - STDERR_TAIL;
                while !t.is_char_boundary(cut) {
                    cut += 1;
                }
                t.drain(..cut);
            }
        }
    }

    /// What is kept now.
    pub fn text(&self) -> String {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Why a transport's connection ended, when it knows better than "connection closed"
/// (e.g. an SSH link that stopped answering keepalives).
#[derive(Clone, Debug, Default)]
pub struct CloseReason(Arc<Mutex<Option<String>>>);

impl CloseReason {
    pub fn set(&self, reason: String) {
        if let Ok(mut r) = self.0.lock() {
            *r = Some(reason);
        }
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|r| r.clone())
    }
}

/// Keeps `text` in `tail` and sends it as the gateway's `Fd2` output.
pub async fn report_stderr(
    tail: &StderrTail,
    events: Option<&mpsc::Sender<Event>>,
    gateway: &str,
    text: String,
) {
    tail.push(&text);
    if let Some(tx) = events {
        let _ = tx
            .send(Event::Output {
                gateway: gateway.to_string(),
                channel: None,
                stream: Stream::Fd2,
                text,
            })
            .await;
    }
}

/// A bootstrapped worker as a transport delivers it: one shape for all transports.
pub struct Link {
    /// Frames to the worker.
    pub writer: Writer,
    /// Frames from the worker.
    pub reader: Reader,
    /// Process control (wait, signal, kill) when the worker is a local child.
    pub process: Option<ProcessHandle>,
    /// Liveness: set when the transport knows why the connection ended.
    pub close_reason: CloseReason,
}

impl Link {
    /// A link over a byte stream with no local process (socket, via, ssh).
    pub fn remote(reader: Reader, writer: Writer, close_reason: CloseReason) -> Link {
        Link {
            writer,
            reader,
            process: None,
            close_reason,
        }
    }
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// The command line a remote shell runs for a spec: `python=` or python3, falling back
/// to python, then pypy3, with `-u [-B] -c ONE_LINER` (ssh, and the container tools without
/// `python=`).
pub fn shell_command(spec: &Spec) -> String {
    let b = if spec.dont_write_bytecode { " -B" } else { "" };
    let tail = format!(
        "-u{b} -c {}",
        crate::spec::shell_join(&[ONE_LINER.to_string()])
    );
    // no execdeck secret reaches the worker, even one the remote environment sets
    let unset = format!("unset {}; ", SECRET_ENV.join(" "));
    match &spec.python {
        Some(words) => format!("{unset}exec {} {tail}", crate::spec::shell_join(words)),
        None => format!(
            "{unset}if command -v python3 >/dev/null 2>&1; then exec python3 {tail}; elif command -v python >/dev/null 2>&1; then exec python {tail}; else exec pypy3 {tail}; fi"
        ),
    }
}

/// OpenSSH's refusal of a secret file (token, private key) that group or others may
/// read or write; `None` when the file is private (or cannot be read: the caller's
/// own open names that error).
pub fn too_open(path: &std::path::Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "Permissions 0{mode:03o} for '{}' are too open.\n\
             It is required that your {what} is NOT accessible by others.\n\
             This {what} will be ignored (chmod 600 it to use it).",
            path.display()
        )
    })
}

/// The interpreter command of a spec as a shell would write it (for messages).
pub fn python_label(spec: &Spec) -> String {
    spec.python
        .as_ref()
        .map(|p| crate::spec::shell_join(p))
        .unwrap_or_else(|| "python3".into())
}

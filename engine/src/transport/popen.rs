//! The popen transport: a local interpreter as a child process in its own session
//! (so terminate can signal everything it starts), talking over its stdin/stdout.

use crate::error::{Error, Result};
use crate::events::Event;
use crate::process::{ProcessHandle, become_subreaper};
use crate::spec::Spec;
use crate::transport::link::{
    CloseReason, Link, ONE_LINER, StderrTail, python_label, report_stderr,
};
use crate::transport::start::Start;
use crate::transport::sudo;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The argv for a popen worker: `python -u [-B] -c ONE_LINER`.
pub fn popen_argv(spec: &Spec) -> Vec<String> {
    let mut argv = spec
        .python
        .clone()
        .unwrap_or_else(|| vec!["python3".to_string()]);
    // `python=~/.pyenv/...`: the home directory, as a shell would expand it
    if let Some(first) = argv.first_mut()
        && let Some(rest) = first.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        *first = std::path::Path::new(&home)
            .join(rest)
            .to_string_lossy()
            .into_owned();
    }
    argv.push("-u".into());
    if spec.dont_write_bytecode {
        argv.push("-B".into());
    }
    argv.push("-c".into());
    argv.push(ONE_LINER.into());
    argv
}

/// Starts `python -u -c ONE_LINER` as a child in its own session, sends the bootstrap
/// line and waits for the `1`. A failure says what the interpreter printed to stderr.
pub(crate) async fn start(req: &Start<'_>) -> Result<Link> {
    let token = crate::process::new_worker_token();
    let mut argv = popen_argv(req.spec);
    if let Some(user) = &req.spec.sudo {
        argv = sudo::wrap_argv(user, &argv);
    }
    start_command(req, argv, python_label(req.spec), token).await
}

/// Starts `argv` as a local child in its own session that ends in an interpreter
/// reading the bootstrap line (popen, and the container tools' `exec -i`), sends the
/// line and waits for the `1`. `token` is the child's `EXECDECK_WORKER`.
pub(crate) async fn start_command(
    req: &Start<'_>,
    argv: Vec<String>,
    command: String,
    token: String,
) -> Result<Link> {
    let (id, line, timeout) = (req.id, req.line, req.timeout);
    become_subreaper();
    let Some(program) = argv.first() else {
        return Err(Error::Protocol("empty command".into()));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        // inherited by everything the worker starts, even after setsid(): what terminate
        // and the stub's watchdog look for in /proc/PID/environ
        .env("EXECDECK_WORKER", &token);
    for k in crate::transport::link::SECRET_ENV {
        cmd.env_remove(k);
    }
    let parent = std::process::id() as i32;
    // SAFETY: worker_pre_exec makes only async-signal-safe calls: the child leads a new
    // session and process group (so terminate can signal everything it starts) and gets
    // SIGKILL when this process dies, even while its interpreter holds the GIL.
    unsafe {
        cmd.pre_exec(move || crate::process::worker_pre_exec(parent));
    }
    let mut child = match crate::process::spawn_from_spawner_thread(cmd).await {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && req.spec.transport.is_container() => {
            return Err(Error::Unsupported(format!(
                "gateway {id}: `{program}` is not installed (the {} transport runs it)",
                req.spec.transport.name()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InterpreterNotFound {
                path: program.clone(),
            });
        }
        Err(e) => return Err(Error::Spawn { command, error: e }),
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::Protocol("child pipes missing".into()));
    };
    enlarge_pipes(&stdin, &stdout);
    let process = ProcessHandle::watch(child).with_token(token);
    // If this future is dropped half-way (e.g. Ctrl+C while starting), kill the worker.
    let mut guard = KillOnDrop(Some(process.clone()));
    let tail = req.stderr_tail.clone();
    tokio::spawn(stderr_task(
        stderr,
        id.to_string(),
        req.events.clone(),
        tail.clone(),
    ));
    if let Some(user) = &req.spec.sudo
        && let Err(e) = sudo_dialog(req, user, &mut stdin, &mut stdout).await
    {
        process.signal_group(libc::SIGKILL);
        process.wait(Some(Duration::from_secs(2))).await;
        return Err(e);
    }
    let handshake = async {
        stdin.write_all(line).await?;
        stdin.flush().await?;
        let mut ack = [0u8; 1];
        let n = stdout.read(&mut ack).await?;
        Ok::<_, std::io::Error>((n, ack[0]))
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok((1, b'1'))) => {
            guard.0 = None;
            Ok(Link {
                writer: Box::new(stdin),
                reader: Box::new(stdout),
                process: Some(process),
                close_reason: CloseReason::default(),
            })
        }
        Ok(Ok((1, b'2'))) => {
            process.wait(Some(Duration::from_secs(2))).await;
            process.signal_group(libc::SIGKILL);
            Err(Error::StaleStubCache)
        }
        Ok(Ok((1, other))) => {
            process.signal_group(libc::SIGKILL);
            let mut rest = vec![other];
            let mut more = [0u8; 200];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), stdout.read(&mut more)).await
            {
                rest.extend_from_slice(&more[..n]);
            }
            process.wait(Some(Duration::from_secs(2))).await;
            Err(Error::BootstrapBadAck {
                gateway: id.to_string(),
                got: rest,
                stderr: tail.text(),
            })
        }
        Ok(_) => {
            // EOF or a broken pipe: the interpreter died.
            let exit = process.wait(Some(Duration::from_secs(2))).await;
            // give the stderr reader a moment to collect the last words
            tokio::time::sleep(Duration::from_millis(20)).await;
            process.signal_group(libc::SIGKILL);
            process.clear_group(Duration::from_secs(1)).await;
            Err(Error::BootstrapDied {
                gateway: id.to_string(),
                command,
                exit,
                stderr: tail.text(),
            })
        }
        Err(_) => {
            process.signal_group(libc::SIGKILL);
            process.wait(Some(Duration::from_secs(2))).await;
            process.clear_group(Duration::from_secs(1)).await;
            Err(Error::BootstrapTimeout {
                gateway: id.to_string(),
                command,
                timeout,
                stderr: tail.text(),
            })
        }
    }
}

/// Where a local command runs, for messages: `this machine`, `docker web`.
fn place(spec: &Spec) -> String {
    if spec.transport.is_container() {
        format!("{} {}", spec.transport.name(), spec.transport.target())
    } else {
        "this machine".into()
    }
}

/// sudo's side of a `sudo=` start: answers its password prompt (asked through the
/// prompter, off the runtime's workers) until the wrapped command says it runs. Each
/// read waits at most the bootstrap timeout; the user's typing does not count.
async fn sudo_dialog(
    req: &Start<'_>,
    user: &str,
    stdin: &mut tokio::process::ChildStdin,
    stdout: &mut tokio::process::ChildStdout,
) -> Result<()> {
    let at = place(req.spec);
    let fail = |what: String| Error::Unsupported(format!("gateway {}: {what}", req.id));
    let mut dialog = sudo::Dialog::default();
    let mut buf = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout(req.timeout, stdout.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(fail(format!("sudo to {user} on {at}: {e}"))),
            Err(_) => {
                return Err(fail(format!(
                    "sudo to {user} on {at}: no answer within {:.1} s ({})",
                    req.timeout.as_secs_f64(),
                    dialog.said()
                )));
            }
        };
        if n == 0 {
            return Err(fail(format!(
                "sudo to {user} on {at} failed: {}",
                dialog.said()
            )));
        }
        match dialog.feed(&buf[..n]) {
            sudo::Step::More => {}
            sudo::Step::Ready => return Ok(()),
            sudo::Step::Wrong => return Err(fail(sudo::wrong_password(req.spec, &at))),
            sudo::Step::Password => {
                let (p, u, w) = (req.prompter.clone(), user.to_string(), at.clone());
                let pw = tokio::task::spawn_blocking(move || sudo::ask(p.as_ref(), &u, &w))
                    .await
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        fail(format!(
                            "sudo to {user} on {at} needs a password and none was given"
                        ))
                    })?;
                let mut answer = pw.0.as_bytes().to_vec();
                answer.push(b'\n');
                let sent = stdin.write_all(&answer).await;
                answer.fill(0);
                drop(pw);
                sent.map_err(|e| fail(format!("sudo to {user} on {at}: {e}")))?;
            }
        }
    }
}

/// Larger pipe buffers (Linux) mean fewer wake-ups per megabyte moved.
fn enlarge_pipes(stdin: &tokio::process::ChildStdin, stdout: &tokio::process::ChildStdout) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        for fd in [stdin.as_raw_fd(), stdout.as_raw_fd()] {
            // SAFETY: fcntl on a pipe we own; failure (e.g. a low pipe-max-size) is harmless.
            unsafe {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
            }
        }
    }
}

/// Kills a half-started worker's process group when dropped while armed.
struct KillOnDrop(Option<ProcessHandle>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = &self.0
            && p.exit_info().is_none()
        {
            p.signal_group(libc::SIGKILL);
        }
    }
}

/// Forwards the worker's fd 2 as `Fd2` output and keeps the last few KiB.
async fn stderr_task(
    mut stderr: tokio::process::ChildStderr,
    id: String,
    events: Option<mpsc::Sender<Event>>,
    tail: StderrTail,
) {
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        let eof = n == 0;
        if eof && pending.is_empty() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        // keep incomplete UTF-8 sequences for the next read
        let valid = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            // at EOF an incomplete sequence is shown (replaced), not dropped
            Err(e) if e.error_len().is_none() && !eof => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
        pending.drain(..valid);
        if text.is_empty() {
            continue;
        }
        report_stderr(&tail, events.as_ref(), &id, text).await;
    }
}

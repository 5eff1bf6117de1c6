//! `exec` honours SIGINT and SIGTERM while its stdout is blocked: the output goes into
//! a FIFO that a reader holds open and never reads, so every write blocks once the
//! pipe buffer is full. execdeck must still exit (130) at once and leave no worker.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the worker if the test fails before it is gone.
struct Pid(i32);

impl Drop for Pid {
    fn drop(&mut self) {
        if self.0 > 0 {
            common::kill9(self.0);
        }
    }
}

fn blocked_stdout_then(sig: i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("out");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("path");
    // SAFETY: mkfifo(3) on a path in our own temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // the reader: open (so that the writer's open does not wait), never read
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .expect("open the FIFO for reading");
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the FIFO for writing");
    let py = common::python3();
    let code = "import os, sys\nsys.stderr.write('worker %d\\n' % os.getpid())\nsys.stderr.flush()\n\
                line = 'x' * 1000\nwhile True:\n    print(line)\n";
    let mut child = Command::new(common::bin())
        .args(["exec", "-g", &format!("popen//python={py}"), "-c", code])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn execdeck");
    let kill_child = Pid(child.id() as i32);
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let mut worker = Pid(0);
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(p) = line.trim().strip_prefix("[gw0] worker ") {
            worker = Pid(p.parse().expect("pid"));
            break;
        }
        line.clear();
    }
    assert!(worker.0 > 0, "no worker pid on stderr: {line:?}");
    // let the output fill the FIFO (64 KiB) and block execdeck's writes
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        matches!(common::proc_state(kill_child.0), Some(s) if s != 'Z'),
        "execdeck ended before the signal"
    );
    let t0 = Instant::now();
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let mut status = None;
    common::wait_until(10.0, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let took = t0.elapsed();
    let status = status.unwrap_or_else(|| panic!("execdeck ignored signal {sig} for 10 s"));
    assert_eq!(status.code(), Some(130), "signal {sig}: {status:?}");
    assert!(
        common::wait_until(10.0, || common::state_after_reap(worker.0).is_none()),
        "worker {} left behind",
        worker.0
    );
    eprintln!("signal {sig}: exited in {took:?}, worker gone");
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

#[test]
fn sigint_while_stdout_blocks() {
    blocked_stdout_then(libc::SIGINT);
}

#[test]
fn sigterm_while_stdout_blocks() {
    blocked_stdout_then(libc::SIGTERM);
}

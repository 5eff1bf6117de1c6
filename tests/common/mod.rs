//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod deadman;
pub mod sshd;

use std::path::PathBuf;

/// In CI (`EXECDECK_STRICT=1`, set by the README's test command) a missing dependency
/// fails the test; elsewhere the test says why and passes without running.
pub fn strict() -> bool {
    std::env::var("EXECDECK_STRICT").is_ok_and(|v| v == "1")
}

/// Returns the path if it exists; otherwise panics in strict mode, or prints a notice
/// and returns None. Either way the text says what is missing, where the test looked
/// and how to get it.
pub fn require(path: &str, what: &str) -> Option<String> {
    if std::path::Path::new(path).exists() {
        return Some(path.to_string());
    }
    let how = how_to_get(path);
    if strict() {
        panic!("missing test dependency: {what}: there is no {path}; {how}");
    }
    eprintln!("SKIPPED (not strict): missing {what}: there is no {path}; {how}");
    None
}

/// How to get a missing test dependency (docs/fresh-machine.md has the details).
fn how_to_get(path: &str) -> String {
    let root = pyenv_root();
    let version = path
        .strip_prefix(&format!("{root}/versions/"))
        .and_then(|rest| rest.split('/').next());
    if let Some(version) = version {
        return format!(
            "pyenv interpreters are not installed by the test command: run `pyenv install {version}` \
             (PYENV_ROOT, else ~/.pyenv, is where the tests look; see docs/fresh-machine.md)"
        );
    }
    if path.starts_with("/usr/") {
        return "`bash scripts/setup.sh --tests` installs the Debian packages the tests use \
                (scripts/test.sh runs it)"
            .into();
    }
    "`bash scripts/test.sh` creates .venv-test with execnet 2.1.2; or set \
     EXECDECK_EXECNET_PYTHON to a Python that has execnet"
        .into()
}

pub fn pyenv_root() -> String {
    std::env::var("PYENV_ROOT").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.pyenv")
    })
}

pub fn pyenv_python(version: &str) -> String {
    format!("{}/versions/{version}/bin/python", pyenv_root())
}

/// The CPython used by most tests: a fast-starting pyenv 3.12, else /usr/bin/python3.
pub fn python3() -> String {
    let p = pyenv_python("3.12.1");
    if std::path::Path::new(&p).exists() {
        p
    } else {
        "/usr/bin/python3".into()
    }
}

pub const PYENV_VERSIONS: &[&str] = &[
    "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0",
];

/// Every interpreter of the matrix: (label, path, bootstrap timeout seconds).
pub fn matrix() -> Vec<(String, String, u64)> {
    let mut v: Vec<(String, String, u64)> = PYENV_VERSIONS
        .iter()
        .map(|ver| (format!("cpython-{ver}"), pyenv_python(ver), 20))
        .collect();
    v.push(("debian-python3".into(), "/usr/bin/python3".into(), 20));
    v.push(("pypy3".into(), "/usr/bin/pypy3".into(), 30));
    v.push(("jython".into(), "/usr/bin/jython".into(), 60));
    v
}

/// Python of the venv with execnet (created by the test command).
pub fn execnet_python() -> Option<String> {
    let p = std::env::var("EXECDECK_EXECNET_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv-test/bin/python", env!("CARGO_MANIFEST_DIR")));
    require(&p, "venv with execnet (EXECDECK_EXECNET_PYTHON)")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_execdeck"))
}

/// Polls `cond` every 10 ms until it holds or `secs` pass.
pub fn wait_until(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// State letter of a pid from /proc ('R', 'S', 'Z', ...), None if it is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.chars().next()
}

/// Kills a pid with SIGKILL (cleanup helper for tests).
pub fn kill9(pid: i32) {
    // SAFETY: plain kill(2).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// A private tmux server for one test (its own socket), killed on drop. The session
/// is `t`; `start` runs a shell command line in it.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("{name}-{}", std::process::id()),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts session `t` of `cols` x `rows` running `sh -c script`.
    pub fn start(&self, cols: u16, rows: u16, script: &str) {
        let (c, r) = (cols.to_string(), rows.to_string());
        self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &c,
            "-y",
            &r,
            "-e",
            "TERM=xterm-256color",
            "sh",
            "-c",
            script,
        ]);
    }

    /// Replaces what runs in the pane with `sh -c script`.
    pub fn respawn(&self, script: &str) {
        self.cmd(&["respawn-pane", "-k", "-t", "t", "sh", "-c", script]);
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    /// Types text literally.
    pub fn text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Polls the screen until `pred` holds; panics with the screen after `secs`.
    pub fn wait(&self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if std::time::Instant::now() > end {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Kills the listed pids when dropped, so a failed test leaves nothing running.
pub struct Pids(pub Vec<i32>);

impl Drop for Pids {
    fn drop(&mut self) {
        for &p in &self.0 {
            kill9(p);
        }
    }
}

/// Every `pid N` on a screen, sorted, once each.
pub fn pids_on(screen: &str) -> Vec<i32> {
    let mut v: Vec<i32> = screen
        .split("pid ")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|s| s.parse().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Runs `script` in `python` (isolated mode) with `input` on stdin and returns its
/// stdout; the input is written from a thread so a large exchange cannot deadlock.
/// Panics when the interpreter cannot start or the script fails.
pub fn python_filter(python: &str, script: &str, input: String) -> String {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(python)
        .args(["-I", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("python's output is UTF-8");
    writer.join().expect("writer").expect("write to python");
    assert!(
        child.wait().expect("wait").success(),
        "the python script failed"
    );
    out
}

/// The state of `pid` after reaping it if this (subreaper) test process adopted it:
/// `None` when it is gone.
pub fn state_after_reap(pid: i32) -> Option<char> {
    // SAFETY: waitpid with WNOHANG on a specific pid.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
    }
    proc_state(pid)
}

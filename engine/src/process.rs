//! Local child processes: each popen worker leads its own process group so that
//! terminate can remove everything the remote code started, and this process is made a
//! child subreaper so orphans of that group are reaped here rather than left as zombies.

use std::fmt;
use std::sync::Once;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal(i32),
}

impl ExitInfo {
    pub fn from_status(st: std::process::ExitStatus) -> ExitInfo {
        use std::os::unix::process::ExitStatusExt;
        match (st.code(), st.signal()) {
            (Some(c), _) => ExitInfo::Code(c),
            (None, Some(s)) => ExitInfo::Signal(s),
            _ => ExitInfo::Code(-1),
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit code {c}"),
            ExitInfo::Signal(s) => write!(f, "killed by signal {s} ({})", signal_name(*s)),
        }
    }
}

static SUBREAPER: Once = Once::new();

/// Makes this process adopt orphaned descendants (Linux), so that the grandchildren of
/// terminated workers can be reaped instead of lingering as zombies.
pub fn become_subreaper() {
    SUBREAPER.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a process attribute.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        #[cfg(target_os = "linux")]
        {
            let reaper = std::thread::Builder::new()
                .name("execdeck-reaper".into())
                .spawn(|| {
                    loop {
                        reap_adopted();
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            if let Err(e) = reaper {
                eprintln!("execdeck: no reaper thread ({e}); adopted zombies wait for terminate");
            }
        }
    });
}

/// Pids of local workers whose status tokio collects: never reaped behind its back.
static TRACKED: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn tracked() -> std::sync::MutexGuard<'static, Vec<i32>> {
    TRACKED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reaps zombies this process adopted as subreaper. Only children in another session
/// than ours qualify (popen workers start their own, so everything below them does),
/// and never a tracked worker: `waitpid(-1)` would steal the statuses of tokio's and
/// std's own children.
pub fn reap_adopted() -> usize {
    let me = std::process::id() as i32;
    // SAFETY: getsid(0) only reads our own session id.
    let my_sid = unsafe { libc::getsid(0) };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{me}/task")) else {
        return 0;
    };
    let mut reaped = 0;
    for task in tasks.flatten() {
        let path = task.path().join("children");
        let Ok(children) = std::fs::read_to_string(path) else {
            continue;
        };
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(after) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
                continue;
            };
            let f: Vec<&str> = after.split_whitespace().take(4).collect();
            let zombie = f.first() == Some(&"Z");
            let sid = f.get(3).and_then(|s| s.parse::<i32>().ok());
            if zombie && sid.is_some_and(|s| s != my_sid) && !tracked().contains(&pid) {
                // SAFETY: reaping one adopted zombie by pid, without blocking.
                if unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == pid {
                    reaped += 1;
                }
            }
        }
    }
    reaped
}

/// A token unique to one local worker, set as `EXECDECK_WORKER` in its environment.
pub fn new_worker_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}.{n}", std::process::id())
}

/// A job for the spawner thread.
type SpawnJob = Box<dyn FnOnce() + Send>;

static SPAWNER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<SpawnJob>>> =
    std::sync::OnceLock::new();

/// Spawns `cmd` from one thread that lives as long as this process. `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked the child ends, not the process: forking from a
/// runtime worker or a blocking-pool thread (which ends after idling) would kill healthy
/// workers. The runtime of the caller is entered, so tokio still reaps the child.
pub async fn spawn_from_spawner_thread(
    mut cmd: tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: SpawnJob = Box::new(move || {
        let _entered = handle.enter();
        // tracked before the reaper can see it exit
        let mut tracked = tracked();
        let child = cmd.spawn();
        if let Ok(c) = &child
            && let Some(pid) = c.id()
        {
            tracked.push(pid as i32);
        }
        drop(tracked);
        let _ = tx.send(child);
    });
    let sender = SPAWNER.get_or_init(|| {
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<SpawnJob>();
        let spawned = std::thread::Builder::new()
            .name("execdeck-spawner".into())
            .spawn(move || {
                for job in jobs_rx {
                    job();
                }
            });
        if let Err(e) = spawned {
            eprintln!("execdeck: no spawner thread ({e}); workers are forked from the caller");
        }
        std::sync::Mutex::new(jobs_tx)
    });
    let sent = match sender.lock() {
        Ok(s) => s.send(job),
        Err(poisoned) => poisoned.into_inner().send(job),
    };
    if let Err(std::sync::mpsc::SendError(job)) = sent {
        job(); // no spawner thread: fork from here
    }
    rx.await
        .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread ended")))
}

/// Runs between fork and exec of a local worker: a new session (its own process group),
/// and SIGKILL when the spawning thread (which lives as long as this process) dies. If
/// this process died before the setting took effect, exits at once.
///
/// # Safety
/// Only async-signal-safe calls: setsid, prctl, getppid, _exit.
pub unsafe fn worker_pre_exec(parent: i32) -> std::io::Result<()> {
    // SAFETY: all calls are async-signal-safe and touch only the child's own attributes.
    unsafe {
        libc::setsid();
        #[cfg(target_os = "linux")]
        {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
        }
    }
    let _ = parent;
    Ok(())
}

/// A local process leading its own process group, with its exit status published.
#[derive(Clone, Debug)]
pub struct ProcessHandle {
    pub pid: u32,
    pub status: watch::Receiver<Option<ExitInfo>>,
    /// The worker's `EXECDECK_WORKER` token: every process that inherited it is ours,
    /// even one that left the group with setsid().
    pub token: Option<String>,
}

impl ProcessHandle {
    /// Takes ownership of `child` (spawned with its own process group) and waits on it
    /// in a task.
    pub fn watch(mut child: tokio::process::Child) -> ProcessHandle {
        let pid = child.id().unwrap_or(0);
        let (tx, rx) = watch::channel(None);
        if !tracked().contains(&(pid as i32)) {
            tracked().push(pid as i32);
        }
        tokio::spawn(async move {
            let st = match child.wait().await {
                Ok(st) => ExitInfo::from_status(st),
                Err(_) => ExitInfo::Code(-1),
            };
            tracked().retain(|&p| p != pid as i32);
            let _ = tx.send(Some(st));
        });
        ProcessHandle {
            pid,
            status: rx,
            token: None,
        }
    }

    /// The same, for a worker started with `EXECDECK_WORKER=token` in its environment.
    pub fn with_token(mut self, token: String) -> ProcessHandle {
        self.token = Some(token);
        self
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.status.borrow()
    }

    /// Sends `sig` to the whole process group.
    pub fn signal_group(&self, sig: i32) {
        if self.pid > 0 {
            // SAFETY: kill(2) on our own child's process group.
            unsafe {
                libc::kill(-(self.pid as i32), sig);
            }
        }
    }

    /// Waits until the process has exited, up to `timeout`.
    pub async fn wait(&self, timeout: Option<Duration>) -> Option<ExitInfo> {
        let mut rx = self.status.clone();
        let fut = async {
            loop {
                if let Some(st) = *rx.borrow_and_update() {
                    return Some(st);
                }
                if rx.changed().await.is_err() {
                    return *rx.borrow();
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.ok().flatten(),
            None => fut.await,
        }
    }

    /// Kills every process left in the group and reaps those adopted by us, waiting up to
    /// `timeout` until the group is empty. Returns how many were killed.
    pub async fn clear_group(&self, timeout: Duration) -> usize {
        let pgid = self.pid as i32;
        if pgid <= 0 {
            return 0;
        }
        // SAFETY: probing our worker's process group with signal 0.
        if self.token.is_none() && unsafe { libc::kill(-pgid, 0) } != 0 {
            return 0; // ESRCH: nobody left in the group, no need to scan /proc
        }
        let deadline = Instant::now() + timeout;
        let mut killed = 0;
        loop {
            let members = group_members(pgid, self.token.as_deref());
            let me = std::process::id() as i32;
            // zombies of other parents are theirs to reap, not ours to wait for
            let others: Vec<&Member> = members
                .iter()
                .filter(|m| m.pid != pgid && (m.state != 'Z' || m.ppid == me))
                .collect();
            if others.is_empty() {
                return killed;
            }
            for m in &others {
                if m.state == 'Z' {
                    if m.ppid == me {
                        // SAFETY: reaping an adopted zombie that belongs to our worker's group.
                        unsafe {
                            libc::waitpid(m.pid, std::ptr::null_mut(), libc::WNOHANG);
                        }
                    }
                } else {
                    killed += 1;
                    // SAFETY: kill(2) of a process in our worker's group.
                    unsafe {
                        libc::kill(m.pid, libc::SIGKILL);
                    }
                }
            }
            if Instant::now() >= deadline {
                return killed;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[derive(Debug)]
struct Member {
    pid: i32,
    ppid: i32,
    state: char,
}

/// Processes whose process group is `pgid`, or that carry `EXECDECK_WORKER=token` in
/// their environment (descendants that called setsid()), read from /proc.
fn group_members(pgid: i32, token: Option<&str>) -> Vec<Member> {
    let marker = token.map(|t| format!("EXECDECK_WORKER={t}").into_bytes());
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(m) = parse_stat(pid, &stat) else {
            continue;
        };
        let carries_token = || {
            marker.as_ref().is_some_and(|marker| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == &marker[..]))
            })
        };
        if m.1 == pgid || carries_token() {
            out.push(Member {
                pid,
                ppid: m.0,
                state: m.2,
            });
        }
    }
    out
}

/// (ppid, pgrp, state) from a /proc/PID/stat line.
fn parse_stat(_pid: i32, stat: &str) -> Option<(i32, i32, char)> {
    let after = &stat[stat.rfind(')')? + 2..];
    let mut it = after.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    let pgrp = it.next()?.parse().ok()?;
    Some((ppid, pgrp, state))
}

/// Whether a pid names a live (non-zombie) process.
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(pid, &stat).is_some_and(|(_, _, st)| st != 'Z' && st != 'X'),
        Err(_) => false,
    }
}

/// Whether a pid exists at all (alive or zombie).
pub fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// What `terminate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminateOutcome {
    /// The worker exited by itself after GATEWAY_TERMINATE.
    Exited(ExitInfo),
    /// It did not exit within the timeout and was killed.
    Killed,
    /// It was already gone.
    AlreadyDead(Option<ExitInfo>),
    /// A remote worker (socket) closed its connection after GATEWAY_TERMINATE.
    Disconnected,
    /// A remote worker kept its connection open past the timeout; we dropped it.
    TimedOut,
}

impl fmt::Display for TerminateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminateOutcome::Exited(e) => write!(f, "exited ({e})"),
            TerminateOutcome::Killed => f.write_str("killed after timeout"),
            TerminateOutcome::AlreadyDead(Some(e)) => write!(f, "already dead ({e})"),
            TerminateOutcome::AlreadyDead(None) => f.write_str("already dead"),
            TerminateOutcome::Disconnected => f.write_str("closed its connection"),
            TerminateOutcome::TimedOut => {
                f.write_str("no answer within the timeout; connection dropped")
            }
        }
    }
}

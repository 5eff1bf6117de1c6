//! SSH gateways against a real OpenSSH server on 127.0.0.1 that each test starts (and
//! kills) itself: key auth, host key checks, interpreter selection, error texts.

mod common;

use common::sshd::{Sshd, free_port, keygen, start_sshd, start_sshd_with};

use execdeck::engine::{Gateway, TerminateOutcome, Value};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const T: Duration = Duration::from_secs(20);

/// A login user made for one test (useradd + chpasswd) and removed with its
/// processes when dropped.
struct TempUser(String);

impl TempUser {
    fn create(prefix: &str, password: &str) -> TempUser {
        let name = format!("{prefix}{}", std::process::id() % 100_000);
        let made = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(made.success(), "useradd {name}");
        let user = TempUser(name);
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        if let Some(stdin) = chpasswd.stdin.as_mut() {
            use std::io::Write;
            writeln!(stdin, "{}:{password}", user.0).expect("write");
        }
        assert!(chpasswd.wait().expect("chpasswd").success());
        user
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("pkill").args(["-9", "-u", &self.0]).status();
        let _ = Command::new("userdel")
            .args(["-r", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_runs_code_on_several_interpreters() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    for ver in ["2.7.18", "3.13.0"] {
        let py = common::pyenv_python(ver);
        let gw = Gateway::open(&sshd.spec(&format!("//python={py}")))
            .await
            .unwrap_or_else(|e| panic!("{ver}: {e}"));
        let facts = gw.facts().await.expect("facts");
        assert_eq!(facts.python_version(), ver);
        let ch = gw
            .remote_exec("for x in channel:\n    channel.send(x * 2)")
            .await
            .expect("exec");
        ch.send(&Value::Int(21)).await.expect("send");
        assert_eq!(ch.receive_timeout(T).await.expect("echo"), Value::Int(42));
        ch.close().await.expect("close");
        let pid = facts.pid as i32;
        let outcome = gw.terminate(Duration::from_secs(5)).await;
        assert_eq!(outcome, TerminateOutcome::Disconnected, "{ver}");
        assert!(
            common::wait_until(5.0, || common::proc_state(pid).is_none()),
            "{ver}: remote interpreter {pid} left behind"
        );
    }
}

#[tokio::test]
async fn unknown_host_key_needs_consent_and_is_recorded() {
    let Some(sshd) = start_sshd() else { return };
    let py = common::python3();
    let err = Gateway::open(&sshd.spec(&format!("//python={py}")))
        .await
        .unwrap_err()
        .to_string();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sshd.dir.path().join("host_ed25519.pub"))
        .output()
        .expect("ssh-keygen -l");
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    assert!(err.contains("unknown host key"), "{err}");
    assert!(
        err.contains(&fp),
        "shows the SHA256 fingerprint {fp}: {err}"
    );
    let gw = Gateway::open(&sshd.spec(&format!("//python={py}//accept_new_host_key")))
        .await
        .expect("accepted");
    gw.terminate(Duration::from_secs(5)).await;
    let kh = std::fs::read_to_string(sshd.dir.path().join("known_hosts")).expect("recorded");
    assert!(kh.contains(&format!("[127.0.0.1]:{}", sshd.port)), "{kh}");
    // now known: no consent needed
    let gw = Gateway::open(&sshd.spec(&format!("//python={py}")))
        .await
        .expect("known");
    gw.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn changed_host_key_is_refused_even_with_consent() {
    let Some(sshd) = start_sshd() else { return };
    let other = sshd.dir.path().join("other_host");
    keygen(&other);
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let parts: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        sshd.dir.path().join("known_hosts"),
        format!("[127.0.0.1]:{} {} {}\n", sshd.port, parts[0], parts[1]),
    )
    .expect("known_hosts");
    let err = Gateway::open(&sshd.spec("//accept_new_host_key"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HOST KEY CHANGED"), "{err}");
}

#[tokio::test]
async fn errors_say_what_failed_and_where() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let err = Gateway::open(&sshd.spec("//python=/nonexistent/python"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the remote interpreter did not start"),
        "{err}"
    );
    assert!(err.contains("/nonexistent/python"), "{err}");
    assert!(err.contains("127"), "exit status: {err}");
    // a key the server does not know: the methods tried are listed
    let wrong = sshd.dir.path().join("host_ed25519");
    let spec = sshd.spec("").replace(
        &sshd.dir.path().join("client_key").display().to_string(),
        &wrong.display().to_string(),
    );
    let err = Gateway::open(&spec).await.unwrap_err().to_string();
    assert!(
        err.contains("authentication failed for user root: tried publickey"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{}", sshd.port)), "{err}");
    // refused
    let closed = free_port();
    let err = Gateway::open(&format!("ssh=root@127.0.0.1:{closed}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("connection refused by 127.0.0.1:{closed}")),
        "{err}"
    );
    // DNS
    let err = Gateway::open("ssh=root@no-such-host.invalid")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot resolve host 'no-such-host.invalid'"),
        "{err}"
    );
}

/// A TCP relay on 127.0.0.1 that can stall (stop forwarding, keep the sockets) or cut
/// (close both sides) the link on command.
struct Relay {
    port: u16,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

const FORWARD: u8 = 0;
const STALL: u8 = 1;
const CUT: u8 = 2;

async fn pipe(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, m: Arc<AtomicU8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16384];
    loop {
        match m.load(Ordering::Relaxed) {
            CUT => return,
            STALL => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            _ => {}
        }
        let n = tokio::select! {
            r = r.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
        };
        if m.load(Ordering::Relaxed) != FORWARD {
            // stalled (or cut) while reading: hold the bytes back until forwarding
            while m.load(Ordering::Relaxed) == STALL {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if m.load(Ordering::Relaxed) == CUT {
                return;
            }
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, m.clone()));
                tokio::spawn(pipe(sr, cw, m.clone()));
            }
        });
        Relay { port, mode, task }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.set(CUT);
        self.task.abort();
    }
}

async fn via_relay(sshd: &Sshd, relay: &Relay) -> Gateway {
    let spec = sshd
        .spec(&format!(
            "//python={}//alive_interval=0.5",
            common::python3()
        ))
        .replace(&format!(":{}//", sshd.port), &format!(":{}//", relay.port));
    // the relay's port is another [host]:port for known_hosts
    let kh = std::fs::read_to_string(sshd.dir.path().join("known_hosts")).expect("kh");
    std::fs::write(
        sshd.dir.path().join("known_hosts"),
        format!(
            "{kh}{}",
            kh.replace(&format!("]:{} ", sshd.port), &format!("]:{} ", relay.port))
        ),
    )
    .expect("kh");
    Gateway::open(&spec).await.expect("open through the relay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_detected_within_the_interval() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let relay = Relay::start(sshd.port).await;
    let gw = via_relay(&sshd, &relay).await;
    let remote_pid = gw.facts().await.expect("facts").pid as i32;
    let pending = gw.remote_exec("channel.receive()").await.expect("exec");
    relay.set(STALL);
    let t0 = std::time::Instant::now();
    let err = pending
        .receive_timeout(Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    let took = t0.elapsed();
    assert!(err.contains("connection lost"), "{err}");
    assert!(
        took < Duration::from_secs(4),
        "detected after {took:?} (interval 0.5 s x 3)"
    );
    // once the link really goes away, the remote interpreter exits by itself
    relay.set(CUT);
    drop(relay);
    assert!(
        common::wait_until(10.0, || common::proc_state(remote_pid).is_none()),
        "remote interpreter {remote_pid} stayed behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_is_reported_and_nothing_stays_behind() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let relay = Relay::start(sshd.port).await;
    let gw = via_relay(&sshd, &relay).await;
    let remote_pid = gw.facts().await.expect("facts").pid as i32;
    let pending = gw.remote_exec("channel.receive()").await.expect("exec");
    relay.set(CUT);
    let err = pending
        .receive_timeout(Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("gateway gw0 is closed"), "{err}");
    match gw.state() {
        execdeck::engine::GatewayState::Dead(r) => assert!(r.contains("connection lost"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(
        common::wait_until(10.0, || common::proc_state(remote_pid).is_none()),
        "remote interpreter {remote_pid} stayed behind"
    );
}

/// Dead-man over ssh: a worker stuck in a C call that holds the GIL, with a child and a
/// setsid() grandchild, is gone after `kill -9` or SIGINT of execdeck (the stub's
/// forked watchdog sees the session end).
#[test]
fn gil_holder_over_ssh_dies_with_master() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    for version in ["3.13.0", "2.7.18"] {
        let Some(py) = common::require(&common::pyenv_python(version), "CPython") else {
            continue;
        };
        let gw = sshd.spec(&format!("//python={py}"));
        common::deadman::killed_master_leaves_nothing(&gw, libc::SIGKILL, 30);
        common::deadman::killed_master_leaves_nothing(&gw, libc::SIGINT, 30);
    }
}

/// A bootstrap that floods stderr: the error shows its tail, and memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stderr_flood_during_setup_is_bounded() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let spec = sshd.spec("//python=sh -c 'printf x; exec yes >&2'");
    let err = match Gateway::open(&spec).await {
        Ok(_) => panic!("a flood is no interpreter"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("did not start"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.contains("y\ny\ny"), "{}", &err[..err.len().min(500)]);
    assert!(err.len() < 70 << 10, "the error holds {} bytes", err.len());
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    eprintln!(
        "stderr flood: peak RSS {} MB, error {} bytes",
        hwm_kb / 1024,
        err.len()
    );
    assert!(hwm_kb < 100 << 10, "peak RSS {hwm_kb} kB");
}

/// A Host alias from an ssh config file: HostName, User, Port, IdentityFile,
/// UserKnownHostsFile, ServerAliveInterval apply; unsupported directives are reported.
#[tokio::test]
async fn ssh_config_aliases_apply_and_unsupported_directives_are_named() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let d = sshd.dir.path();
    let cfg = d.join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host devbox\n  HostName 127.0.0.1\n  User root\n  Port {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {}\n  ServerAliveInterval 2\n  ForwardAgent yes\nHost *\n  Compression yes\n",
            sshd.port,
            d.join("client_key").display(),
            d.join("known_hosts").display()
        ),
    )
    .expect("config");
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let spec: execdeck::engine::Spec = format!(
        "ssh=devbox//ssh_config={}//python={}",
        cfg.display(),
        common::python3()
    )
    .parse()
    .expect("spec");
    let gw = Gateway::open_spec(
        spec,
        execdeck::engine::GatewayOptions {
            events: Some(tx),
            ..Default::default()
        },
    )
    .await
    .expect("alias resolves and connects");
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("reply"), Value::Int(42));
    gw.terminate(Duration::from_secs(5)).await;
    let mut warnings = String::new();
    while let Ok(ev) = rx.try_recv() {
        if let execdeck::engine::Event::Output { text, .. } = ev {
            warnings.push_str(&text);
        }
    }
    assert!(warnings.contains("line 9: ForwardAgent yes"), "{warnings}");
    assert!(warnings.contains("line 11: Compression yes"), "{warnings}");
}

/// Authentication through an ssh-agent the test starts (and stops).
#[tokio::test]
async fn agent_auth() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let d = sshd.dir.path();
    let sock = d.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    struct AgentGuard(i32);
    impl Drop for AgentGuard {
        fn drop(&mut self) {
            common::kill9(self.0);
        }
    }
    let _g = AgentGuard(agent.id() as i32);
    assert!(common::wait_until(5.0, || sock.exists()), "agent socket");
    let added = Command::new("ssh-add")
        .arg(d.join("client_key"))
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .expect("ssh-add");
    assert!(added.success());
    // SAFETY: nextest runs each test in its own process.
    unsafe {
        std::env::set_var("SSH_AUTH_SOCK", &sock);
        std::env::set_var("HOME", d); // no default key files: only the agent can log in
    }
    let spec = format!(
        "ssh=root@127.0.0.1:{}//known_hosts={}//python={}",
        sshd.port,
        d.join("known_hosts").display(),
        common::python3()
    );
    let gw = Gateway::open(&spec).await.expect("agent login");
    let ch = gw.remote_exec("channel.send(1)").await.expect("exec");
    assert_eq!(ch.receive_timeout(T).await.expect("reply"), Value::Int(1));
    gw.terminate(Duration::from_secs(5)).await;
    let _ = agent.kill();
    let _ = agent.wait();
}

/// An encrypted key: the passphrase is asked on the CLI's terminal (echo off) and in a
/// masked cockpit prompt; neither shows it.
#[test]
fn passphrase_prompts_on_the_terminal_and_in_the_cockpit() {
    let Some(sshd) = start_sshd() else { return };
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    // no trust(): the host key is unknown, and the CLI asks about it first
    let d = sshd.dir.path();
    let key = d.join("locked_key");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "sesame-42", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let mut ak = std::fs::read_to_string(d.join("authorized_keys")).expect("ak");
    ak.push_str(&pubkey);
    std::fs::write(d.join("authorized_keys"), ak).expect("ak");
    let spec = format!(
        "ssh=root@127.0.0.1:{}//identity={}//known_hosts={}//python={}",
        sshd.port,
        key.display(),
        d.join("known_hosts").display(),
        common::python3()
    );
    let tmux = common::Tmux::new("execdeck-ssh");
    // the CLI asks on its terminal
    let script = format!(
        "SSH_AUTH_SOCK= '{}' exec -g '{spec}' -c 'print(\"logged in\", 6*7)'; echo EXIT=$?; sleep 30",
        common::bin().display()
    );
    tmux.start(150, 30, &script);
    let s = tmux.wait(20, "host key question", |s| {
        s.contains("Unknown host key for 127.0.0.1")
    });
    assert!(s.contains("SHA256:"), "the fingerprint is shown: {s}");
    tmux.text("yes");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "passphrase prompt", |s| {
        s.contains("Passphrase for key")
    });
    tmux.text("sesame-42");
    tmux.keys(&["Enter"]);
    let s = tmux.wait(20, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("[gw0] logged in 42"), "{s}");
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("sesame"), "the passphrase was echoed:\n{s}");
    let kh = std::fs::read_to_string(d.join("known_hosts")).expect("recorded");
    assert!(kh.contains(&format!("[127.0.0.1]:{}", sshd.port)), "{kh}");
    // the cockpit asks in a masked prompt
    let script = format!(
        "SSH_AUTH_SOCK= '{}' -g '{spec}'; echo EXIT=$?; sleep 30",
        common::bin().display()
    );
    // forget the host again: the cockpit asks about it in its prompt line
    std::fs::remove_file(d.join("known_hosts")).expect("rm known_hosts");
    tmux.respawn(&script);
    tmux.wait(20, "host key question", |s| {
        s.contains("Unknown host key for 127.0.0.1") && s.contains("SHA256:")
    });
    tmux.text("yes");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "masked prompt", |s| {
        s.contains("Passphrase for key") && s.contains("Esc declines")
    });
    tmux.text("sesame-42");
    let s = tmux.wait(20, "masked input", |s| s.contains("•••••••••"));
    assert!(!s.contains("sesame"), "the passphrase is shown:\n{s}");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "ready", |s| s.contains("gw0 ready"));
    tmux.keys(&["C-q"]);
    let s = tmux.wait(20, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// Password login as a user the test creates (and removes): through
/// EXECDECK_SSH_PASSWORD, and a wrong one is refused naming the methods tried.
#[tokio::test]
async fn password_auth_with_a_temporary_user() {
    let Some(sshd) =
        start_sshd_with("PasswordAuthentication yes\nKbdInteractiveAuthentication yes\n")
    else {
        return;
    };
    sshd.trust();
    let _user = TempUser::create("edk", "open-sesame-7");
    let user = _user.0.clone();
    let spec = format!(
        "ssh={user}@127.0.0.1:{}//known_hosts={}//identity=/nonexistent//python=/usr/bin/python3",
        sshd.port,
        sshd.dir.path().join("known_hosts").display()
    );
    // SAFETY: nextest runs each test in its own process.
    unsafe {
        std::env::remove_var("SSH_AUTH_SOCK");
        std::env::set_var("EXECDECK_SSH_PASSWORD", "wrong-password");
    }
    let err = Gateway::open(&spec).await.unwrap_err().to_string();
    assert!(
        err.contains("tried password (EXECDECK_SSH_PASSWORD)"),
        "{err}"
    );
    assert!(err.contains("the server offers"), "{err}");
    assert!(
        !err.contains("wrong-password"),
        "a secret in an error: {err}"
    );
    unsafe {
        std::env::set_var("EXECDECK_SSH_PASSWORD", "open-sesame-7");
    }
    let gw = Gateway::open(&spec).await.expect("password login");
    let ch = gw
        .remote_exec("import getpass\nchannel.send(getpass.getuser())")
        .await
        .expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("user"),
        Value::Str(user.clone())
    );
    gw.terminate(Duration::from_secs(5)).await;
}

/// ProxyJump: one and two jump hosts (the same sshd, reached through itself), from the
/// spec and from the config file; a broken hop is named as the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_through_one_and_two_hops() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let hop = format!("root@127.0.0.1:{}", sshd.port);
    for jumps in [hop.clone(), format!("{hop},{hop}")] {
        let spec = sshd.spec(&format!(
            "//python={}//proxy_jump={jumps}",
            common::python3()
        ));
        let gw = Gateway::open(&spec)
            .await
            .unwrap_or_else(|e| panic!("{jumps}: {e}"));
        let ch = gw
            .remote_exec("for x in channel:\n    channel.send(x + 1)")
            .await
            .expect("exec");
        for i in 0..50 {
            ch.send(&Value::Int(i)).await.expect("send");
            assert_eq!(
                ch.receive_timeout(T).await.expect("echo"),
                Value::Int(i + 1)
            );
        }
        ch.close().await.expect("close");
        let pid = gw.facts().await.expect("facts").pid as i32;
        assert_eq!(
            gw.terminate(Duration::from_secs(5)).await,
            TerminateOutcome::Disconnected
        );
        assert!(
            common::wait_until(5.0, || common::proc_state(pid).is_none()),
            "{jumps}: remote interpreter left"
        );
    }
    // from the config file
    let d = sshd.dir.path();
    let cfg = d.join("jump_config");
    std::fs::write(
        &cfg,
        format!(
            "Host target\n  HostName 127.0.0.1\n  Port {0}\n  User root\n  ProxyJump bastion\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {0}\n  User root\n",
            sshd.port
        ),
    )
    .expect("cfg");
    let spec = format!(
        "ssh=target//ssh_config={}//identity={}//known_hosts={}//python={}",
        cfg.display(),
        d.join("client_key").display(),
        d.join("known_hosts").display(),
        common::python3()
    );
    let gw = Gateway::open(&spec).await.expect("config ProxyJump");
    gw.terminate(Duration::from_secs(5)).await;
    // a jump host that refuses the onward connection is named as the cause
    let closed = free_port();
    let spec = format!(
        "ssh=root@127.0.0.1:{closed}//identity={}//known_hosts={}//proxy_jump={hop}",
        d.join("client_key").display(),
        d.join("known_hosts").display()
    );
    let err = Gateway::open(&spec).await.unwrap_err().to_string();
    assert!(err.contains("jump host 1 of 1"), "{err}");
    assert!(
        err.contains(&format!("cannot reach 127.0.0.1:{closed}")),
        "{err}"
    );
}

/// A server that accepts the connection but never speaks: the timeout says so.
#[tokio::test]
async fn a_silent_server_times_out_with_that_said() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(3));
        drop(conn);
    });
    let t0 = std::time::Instant::now();
    let err = Gateway::open(&format!("ssh=root@127.0.0.1:{port}//timeout=0.5"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    assert!(err.contains("timed out after 0.5 s"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    let _ = hold.join();
}

/// The cockpit's masked password prompt, in tmux, for a temporary user.
#[test]
fn password_prompt_in_the_cockpit() {
    let Some(sshd) =
        start_sshd_with("PasswordAuthentication yes\nKbdInteractiveAuthentication no\n")
    else {
        return;
    };
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    sshd.trust();
    let _user = TempUser::create("edp", "pw-for-tmux-9");
    let user = _user.0.clone();
    let spec = format!(
        "ssh={user}@127.0.0.1:{}//known_hosts={}//identity=/nonexistent//python=/usr/bin/python3",
        sshd.port,
        sshd.dir.path().join("known_hosts").display()
    );
    let tmux = common::Tmux::new("execdeck-pw");
    let script = format!(
        "SSH_AUTH_SOCK= EXECDECK_SSH_PASSWORD= '{}' -g '{spec}'; echo EXIT=$?; sleep 30",
        common::bin().display()
    );
    tmux.start(150, 30, &script);
    tmux.wait(20, "password prompt", |s| {
        s.contains(&format!("Password for {user}@127.0.0.1"))
    });
    tmux.text("pw-for-tmux-9");
    let s = tmux.wait(20, "masked", |s| s.contains("•••••••••••••"));
    assert!(!s.contains("pw-for-tmux"), "the password is shown:\n{s}");
    tmux.keys(&["Enter"]);
    tmux.wait(20, "ready", |s| s.contains("gw0 ready"));
    tmux.keys(&["C-q"]);
    let s = tmux.wait(20, "exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// known_hosts like OpenSSH: a malformed line is skipped (with a warning), comments stay
/// byte for byte when a key is recorded, and a key marked `@revoked` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_hosts_revoked_malformed_and_comments() {
    let Some(sshd) = start_sshd() else { return };
    let py = common::python3();
    let kh = sshd.dir.path().join("known_hosts");
    let before = "# kept comment\nthis line is malformed\n[127.0.0.1]:1 ssh-ed25519 AAAA\n";
    std::fs::write(&kh, before).expect("known_hosts");
    let gw = Gateway::open(&sshd.spec(&format!("//python={py}//accept_new_host_key")))
        .await
        .expect("a malformed line is skipped");
    gw.terminate(Duration::from_secs(5)).await;
    let after = std::fs::read_to_string(&kh).expect("recorded");
    assert!(after.starts_with(before), "{after}");
    assert!(
        after[before.len()..].starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{after}"
    );
    let pubkey = std::fs::read_to_string(sshd.dir.path().join("host_ed25519.pub")).expect("pub");
    let parts: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        &kh,
        format!("{after}@revoked * {} {}\n", parts[0], parts[1]),
    )
    .expect("revoke");
    let err = Gateway::open(&sshd.spec(&format!("//python={py}//accept_new_host_key")))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("REVOKED HOST KEY"), "{err}");
}

/// SIGINT and SIGTERM while an ssh setup waits for a silent server: the CLI exits
/// within 1 s, not when the blocking setup gives up.
#[test]
fn a_signal_during_a_slow_setup_exits_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut child = Command::new(common::bin())
            .args(["exec", "-g"])
            .arg(format!("ssh=root@127.0.0.1:{port}//timeout=30"))
            .args(["-c", "pass"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn execdeck");
        // the TCP connection is made (the backlog accepts it), the handshake waits
        let connected = common::wait_until(10.0, || {
            std::fs::read_to_string("/proc/net/tcp")
                .is_ok_and(|t| t.contains(&format!(":{port:04X} 0100007F")))
        });
        let t0 = std::time::Instant::now();
        // SAFETY: signalling the execdeck we started.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let exited = common::wait_until(5.0, || matches!(child.try_wait(), Ok(Some(_))));
        let took = t0.elapsed();
        common::kill9(child.id() as i32);
        let _ = child.wait();
        assert!(connected, "execdeck never connected");
        assert!(exited, "signal {sig}: still running after 5 s");
        assert!(
            took < Duration::from_secs(1),
            "signal {sig}: exit took {took:?}"
        );
        eprintln!("signal {sig} during a slow ssh setup: exited in {took:?}");
    }
    drop(listener);
}

/// A remote interpreter that takes longer to start than the keepalive interval still
/// starts: keepalives must not cap the wait for the bootstrap's answer (under load, a
/// 0.5 s interval used to fail the start with "Timed out waiting on socket" after ~1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_interpreter_start_is_not_cut_by_keepalives() {
    let Some(sshd) = start_sshd() else { return };
    sshd.trust();
    let slow = sshd.dir.path().join("slow-python");
    std::fs::write(
        &slow,
        format!("#!/bin/sh\nsleep 3\nexec {} \"$@\"\n", common::python3()),
    )
    .expect("wrapper");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let spec = sshd.spec(&format!(
        "//python={}//alive_interval=0.5//timeout=30",
        slow.display()
    ));
    let gw = Gateway::open(&spec)
        .await
        .expect("a 3 s start fits a 30 s timeout");
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    let got = ch
        .receive_timeout(Duration::from_secs(30))
        .await
        .expect("42");
    assert_eq!(got, Value::Int(42));
    gw.terminate(Duration::from_secs(5)).await;
}

//! Multi-host tests against the docker lab (`bash scripts/lab.sh up`; scripts/test.sh
//! brings it up before the tests and down after): ssh to each host, ProxyJump through
//! the bastion, a via= chain, the container transport, a cut link, a frozen host, a
//! restarted host, a Rosetta grid and a bridge across Python 2.7 and 3.13, and sudo
//! hops. The tests of this binary run one at a time (.config/nextest.toml): they cut
//! and freeze hosts the others use. Every fault a test makes is undone by a guard, also
//! when the test fails.

mod common;

use execdeck::engine::bridge::Bridge;
use execdeck::engine::{Gateway, GatewayState, Group, Value, rosetta};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
/// What our workers look like in a process list (execnet's one-liner).
const WORKER: &str = "exec(eval(sys.stdin.readline()))";

struct Lab {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Lab {
    /// The lab that scripts/lab.sh brought up; in strict mode a missing docker or lab
    /// fails the test.
    fn get() -> Option<Lab> {
        let dir = std::env::var("EXECDECK_LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".lab"));
        let missing = |what: String| {
            let how = "run `bash scripts/lab.sh up` (scripts/test.sh does it before the tests)";
            assert!(!common::strict(), "missing test dependency: {what}; {how}");
            eprintln!("SKIPPED (not strict): {what}; {how}");
            None
        };
        if Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return missing("docker (Docker Engine) does not answer".into());
        }
        let Ok(text) = std::fs::read_to_string(dir.join("lab.env")) else {
            return missing(format!(
                "the lab is not up (no {})",
                dir.join("lab.env").display()
            ));
        };
        let env: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let running = docker(&[
            "ps",
            "-q",
            "--filter",
            "label=execdeck-lab",
            "--filter",
            "status=running",
        ]);
        if running.lines().count() < 4 {
            return missing(format!(
                "the lab's 4 hosts are not all running ({running:?})"
            ));
        }
        Some(Lab { dir, env })
    }

    fn config(&self) -> String {
        self.dir.join("ssh_config").display().to_string()
    }

    /// An ssh spec for a lab host (internal hosts go through the bastion: the lab's
    /// ssh_config says ProxyJump).
    fn ssh(&self, host: &str, extra: &str) -> String {
        format!(
            "ssh={host}//ssh_config={}//timeout=30{extra}",
            self.config()
        )
    }

    fn password(&self) -> String {
        std::fs::read_to_string(self.dir.join("sudo_password"))
            .expect("the lab's sudo password")
            .trim()
            .to_string()
    }

    fn var(&self, k: &str) -> String {
        self.env
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing from lab.env"))
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The lines of `docker top` for a lab host that are ours: workers and what the tests'
/// code started (`marker`).
fn ours(host: &str, marker: &str) -> Vec<String> {
    docker(&["top", &format!("execdeck-lab-{host}"), "-eo", "pid,args"])
        .lines()
        .filter(|l| l.contains(WORKER) || l.contains(marker))
        .map(str::to_string)
        .collect()
}

fn assert_nothing_left(host: &str, marker: &str, secs: f64) {
    let clean = common::wait_until(secs, || ours(host, marker).is_empty());
    assert!(clean, "left on {host}: {:?}", ours(host, marker));
}

async fn wait_dead(gw: &Gateway, secs: u64) -> Option<String> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let GatewayState::Dead(r) = gw.state() {
            return Some(r);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Reconnects a host to a network when dropped (a cut link is always mended).
struct Reconnect {
    host: String,
    network: String,
    ip: String,
}

impl Drop for Reconnect {
    fn drop(&mut self) {
        let c = format!("execdeck-lab-{}", self.host);
        let _ = docker_ok(&["network", "connect", "--ip", &self.ip, &self.network, &c]);
    }
}

/// Unpauses a host when dropped.
struct Unpause(String);

impl Drop for Unpause {
    fn drop(&mut self) {
        let _ = docker_ok(&["unpause", &format!("execdeck-lab-{}", self.0)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_to_each_host_and_proxy_jump_through_the_bastion() {
    let Some(lab) = Lab::get() else { return };
    let mut group = Group::new();
    let want = [
        ("bastion", "CPython", "3.11"),
        ("py27", "CPython", "2.7"),
        ("py313", "CPython", "3.13"),
        ("pypy", "PyPy", "3."),
    ];
    for (host, _, _) in want {
        group
            .make_gateway(&lab.ssh(host, &format!("//id={host}")))
            .await
            .unwrap_or_else(|e| panic!("ssh to {host}: {e}"));
    }
    for (host, implementation, version) in want {
        let gw = group.get(host).expect("gateway");
        let facts = gw.facts().await.expect("facts");
        assert_eq!(facts.implementation, implementation, "{host}");
        let ch = gw
            .remote_exec("import socket, sys\nchannel.send((socket.gethostname(), '%d.%d' % sys.version_info[:2]))")
            .await
            .expect("exec");
        let v = ch.receive_timeout(T).await.expect("reply");
        let Value::Tuple(t) = v else { panic!("{v}") };
        assert_eq!(t[0], Value::Str(host.into()), "{host}");
        let Value::Str(ver) = &t[1] else {
            panic!("{t:?}")
        };
        assert!(ver.starts_with(version), "{host}: {ver}");
    }
    // the internal hosts have only their own interpreter
    let ch = group
        .get("py27")
        .expect("py27")
        .remote_exec("import os\nchannel.send(sorted(n for n in os.listdir('/usr/bin') if n.startswith(('python', 'pypy'))))")
        .await
        .expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("ls"),
        Value::List(vec![])
    );
    // ProxyJump as a spec key, to an address only the bastion can reach
    let ip = lab.var("EXECDECK_LAB_PY313");
    let gw = group
        .make_gateway(&format!(
            "ssh=root@{ip}//proxy_jump=bastion//ssh_config={}//known_hosts={}/known_hosts//identity={}/id_ed25519//python=python3.13//timeout=30//id=jump",
            lab.config(),
            lab.dir.display(),
            lab.dir.display()
        ))
        .await
        .expect("proxy_jump to py313 by address");
    let ch = gw
        .remote_exec("import socket\nchannel.send(socket.gethostname())")
        .await
        .expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("name"),
        Value::Str("py313".into())
    );
    // this machine has no address on the back network (checked without sending a
    // packet: a connect attempt would leave by the default route)
    let back = ip
        .rsplit_once('.')
        .map(|(net, _)| format!("inet {net}."))
        .expect("ip");
    let addrs = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("ip addr");
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        !addrs.contains(&back),
        "this machine is on the back network:\n{addrs}"
    );
    group.terminate(Duration::from_secs(10)).await;
    for h in ["py27", "py313", "pypy"] {
        assert_nothing_left(h, "\u{0}", 20.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn via_chain_bastion_to_internal_host_to_its_interpreter() {
    let Some(lab) = Lab::get() else { return };
    let mut group = Group::new();
    let host = group
        .make_gateway(&lab.ssh("py27", "//id=host"))
        .await
        .expect("ssh py27 through the bastion");
    let host_pid = host.facts().await.expect("facts").pid;
    let leaf = group
        .make_gateway("popen//via=host//python=python2.7//id=leaf")
        .await
        .expect("via host");
    let ch = leaf
        .remote_exec("import os, socket, sys\nchannel.send((socket.gethostname(), sys.version_info[0], os.getppid()))")
        .await
        .expect("exec");
    let v = ch.receive_timeout(T).await.expect("reply");
    assert_eq!(
        v,
        Value::Tuple(vec![
            Value::Str("py27".into()),
            Value::Int(2),
            Value::Int(host_pid)
        ]),
        "the leaf is a child of the host's worker, in the py27 container"
    );
    group.terminate(Duration::from_secs(10)).await;
    assert_nothing_left("py27", "\u{0}", 20.0);
}

#[test]
fn docker_transport_from_the_cli_and_nothing_left_after_terminate_or_kill() {
    let Some(_lab) = Lab::get() else { return };
    let out = Command::new(common::bin())
        .args([
            "exec",
            "-g",
            "docker=execdeck-lab-bastion//python=python3",
            "-g",
            "docker=execdeck-lab-py27//user=lab",
            "-c",
            "import os, socket, subprocess\nsubprocess.Popen(['sh', '-c', 'setsid sleep 3001 &'])\nprint('%s %d' % (socket.gethostname(), os.getuid()))",
        ])
        .output()
        .expect("execdeck exec");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("[gw0] bastion 0"), "{text}");
    assert!(text.contains("[gw1] py27 1000"), "{text}");
    assert_nothing_left("bastion", "sleep 3001", 10.0);
    assert_nothing_left("py27", "sleep 3001", 10.0);
    // the dead-man: execdeck killed with SIGKILL leaves nothing in the container
    let mut child = Command::new(common::bin())
        .args([
            "exec",
            "-g",
            "docker=execdeck-lab-bastion",
            "-c",
            "import subprocess, time\nsubprocess.Popen(['sleep', '3002'])\nprint('started')\ntime.sleep(300)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _guard = common::Pids(vec![child.id() as i32]);
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
    assert!(line.contains("started"), "{line}");
    assert!(
        ours("bastion", "sleep 3002").len() >= 2,
        "{:?}",
        ours("bastion", "sleep 3002")
    );
    common::kill9(child.id() as i32);
    let _ = child.wait();
    assert_nothing_left("bastion", "sleep 3002", 10.0);
    // a missing container is named
    let out = Command::new(common::bin())
        .args(["exec", "-g", "docker=execdeck-lab-nope", "-c", "1"])
        .output()
        .expect("exec");
    let err =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("No such container: execdeck-lab-nope"),
        "{err}"
    );
    // podman= runs the same code; this machine has no podman, which is said plainly
    if which("podman").is_none() {
        let out = Command::new(common::bin())
            .args(["exec", "-g", "podman=execdeck-lab-bastion", "-c", "1"])
            .output()
            .expect("exec");
        let err = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("gateway gw0: `podman` is not installed (the podman transport runs it)"),
            "{err}"
        );
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(program))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_cut_mid_snippet_names_the_hop_and_leaves_nothing() {
    let Some(lab) = Lab::get() else { return };
    let interval = 2u64;
    let mut group = Group::new();
    let gw = group
        .make_gateway(&lab.ssh("py313", &format!("//alive_interval={interval}")))
        .await
        .expect("ssh py313");
    let _ch = gw
        .remote_exec("import subprocess, time\nsubprocess.Popen(['sleep', '3003'])\nfor i in range(3000):\n    print(i)\n    time.sleep(0.1)")
        .await
        .expect("exec");
    assert!(common::wait_until(10.0, || ours("py313", "sleep 3003")
        .len()
        >= 2));
    let ip = lab.var("EXECDECK_LAB_PY313");
    let cut = Reconnect {
        host: "py313".into(),
        network: "execdeck-lab-back".into(),
        ip,
    };
    assert!(docker_ok(&[
        "network",
        "disconnect",
        "execdeck-lab-back",
        "execdeck-lab-py313"
    ]));
    let t0 = Instant::now();
    let reason = wait_dead(&gw, 60).await.expect("the gateway goes dead");
    let took = t0.elapsed();
    eprintln!(
        "link cut detected after {:.2} s (keepalive {interval} s): {reason}",
        took.as_secs_f64()
    );
    // three silent intervals, and a second of grace for a loaded machine
    assert!(
        took <= Duration::from_secs(3 * interval + 1),
        "detected after {took:?}, budget {} s",
        3 * interval
    );
    assert!(
        reason.contains("the link from jump host bastion (root@")
            && reason.contains(":22) to root@py313:22 broke (the jump host still answers)"),
        "{reason}"
    );
    drop(cut);
    group.terminate(Duration::from_secs(5)).await;
    // once the link is back, the host learns that its session is gone: nothing is left
    assert_nothing_left("py313", "sleep 3003", 90.0);
}

#[test]
fn a_frozen_host_is_detected_and_the_cli_does_not_hang() {
    let Some(lab) = Lab::get() else { return };
    let mut child = Command::new(common::bin())
        .args([
            "exec",
            "-g",
            &lab.ssh("py27", "//alive_interval=1"),
            "-c",
            "import subprocess, time\nsubprocess.Popen(['sleep', '3004'])\nprint('started')\ntime.sleep(120)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _guard = common::Pids(vec![child.id() as i32]);
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
    assert!(line.contains("started"), "{line}");
    let frozen = Unpause("py27".into());
    assert!(docker_ok(&["pause", "execdeck-lab-py27"]));
    let t0 = Instant::now();
    let exited = common::wait_until(30.0, || child.try_wait().ok().flatten().is_some());
    let took = t0.elapsed();
    assert!(exited, "the CLI hangs on a frozen host");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    eprintln!(
        "frozen host detected after {:.2} s (keepalive 1 s)",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(3 + 2), "took {took:?}");
    assert!(
        err.contains("connection lost") && err.contains("py27"),
        "{err}"
    );
    assert!(!child.wait().expect("status").success());
    drop(frozen);
    assert_nothing_left("py27", "sleep 3004", 90.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_is_dead_then_a_fresh_gateway_works() {
    let Some(lab) = Lab::get() else { return };
    let mut group = Group::new();
    let gw = group
        .make_gateway(&lab.ssh("pypy", "//id=old"))
        .await
        .expect("ssh pypy");
    assert!(docker_ok(&["restart", "-t", "1", "execdeck-lab-pypy"]));
    let reason = wait_dead(&gw, 30).await.expect("dead after the restart");
    eprintln!("after restart: {reason}");
    // sshd comes back with the container; a new gateway to it works
    let end = Instant::now() + Duration::from_secs(60);
    let fresh = loop {
        match Gateway::open(&lab.ssh("pypy", "//id=fresh")).await {
            Ok(g) => break g,
            Err(e) if Instant::now() < end => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("no fresh gateway after the restart: {e}"),
        }
    };
    assert_eq!(fresh.facts().await.expect("facts").implementation, "PyPy");
    fresh.terminate(Duration::from_secs(5)).await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rosetta_and_a_bridge_across_python_27_and_313_hosts() {
    let Some(lab) = Lab::get() else { return };
    let mut group = Group::new();
    let py27 = group
        .make_gateway(&lab.ssh("py27", "//id=py27"))
        .await
        .expect("py27");
    let py313 = group
        .make_gateway(&lab.ssh("py313", "//id=py313"))
        .await
        .expect("py313");
    let cells = rosetta::run(
        &[py27.clone(), py313.clone()],
        "import socket\n(socket.gethostname(), 7 / 2, type(b'') is str)",
    )
    .await;
    assert_eq!(
        cells[0].repr.as_deref(),
        Some("('py27', 3, True)"),
        "{cells:?}"
    );
    assert_eq!(
        cells[1].repr.as_deref(),
        Some("('py313', 3.5, False)"),
        "{cells:?}"
    );
    // a bridge: Python 2 native str on py27 arrives as str on py313
    let producer = py27
        .remote_exec("import sys\nchannel.receive()\nfor i in range(5):\n    channel.send('tick %d from %s' % (i, sys.version.split()[0]))")
        .await
        .expect("producer");
    let inbox = py313.new_channel();
    let consumer = py313
        .remote_exec("import sys\ninbox = channel.receive()\nfor x in inbox:\n    channel.send('%s %s on %d.%d' % (type(x).__name__, x, sys.version_info[0], sys.version_info[1]))\nchannel.send('end')")
        .await
        .expect("consumer");
    consumer
        .send(&Value::Channel(inbox.id()))
        .await
        .expect("inbox");
    let bridge = Bridge::start(producer.clone(), inbox.clone())
        .await
        .expect("bridge");
    producer.send(&Value::None).await.expect("go");
    let mut got = Vec::new();
    loop {
        match consumer.receive_timeout(T).await.expect("consumer") {
            Value::Str(s) if s == "end" => break,
            Value::Str(s) => got.push(s),
            other => panic!("{other}"),
        }
    }
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], "str tick 0 from 2.7.18 on 3.13");
    assert_eq!(bridge.stats().conversions, 5);
    group.terminate(Duration::from_secs(10)).await;
}

#[test]
fn sudo_hops_with_a_wrong_password_and_from_the_environment() {
    let Some(lab) = Lab::get() else { return };
    let cfg = lab.config();
    let run = |pw: &str| {
        Command::new(common::bin())
            .args([
                "exec",
                "-g",
                "docker=execdeck-lab-py27//user=lab//sudo=svc",
                "-g",
                &format!("ssh=lab@py313//ssh_config={cfg}//sudo=svc"),
                "-c",
                "import os\nprint(os.getuid())\nos.write(2, b'fd two\\n')",
            ])
            .env("EXECDECK_SUDO_PASSWORD", pw)
            .stdin(Stdio::null())
            .output()
            .expect("exec")
    };
    let out = run(&lab.password());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("[gw0] 1001") && text.contains("[gw1] 1001"),
        "{text}"
    );
    assert!(
        text.contains("[gw0] fd two"),
        "fd 2 of a sudo worker is captured: {text}"
    );
    let out = run("not-the-password");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("gateway gw0: sudo to svc on docker execdeck-lab-py27: wrong password"),
        "{text}"
    );
    assert!(
        text.contains("sudo to svc on lab@py313:22: wrong password"),
        "{text}"
    );
    assert_nothing_left("py27", "\u{0}", 10.0);
    assert_nothing_left("py313", "\u{0}", 20.0);
}

/// The acceptance case: a sudo hop in the cockpit, the password typed into its masked
/// prompt in tmux; the password shows on no screen and lands in no file.
#[test]
fn sudo_password_typed_in_the_cockpit_is_never_shown_or_written() {
    let Some(lab) = Lab::get() else { return };
    if common::require("/usr/bin/tmux", "tmux").is_none() {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let pw = lab.password();
    let spec = format!(
        "ssh=lab@py313//ssh_config={}//sudo=svc//id=hop",
        lab.config()
    );
    let tmux = common::Tmux::new("execdeck-lab-sudo");
    let script = format!(
        "HOME='{}' XDG_CONFIG_HOME= XDG_DATA_HOME= XDG_CACHE_HOME= '{}' -g '{spec}'; echo EXIT=$?; sleep 30",
        home.path().display(),
        common::bin().display()
    );
    tmux.start(150, 35, &script);
    let mut screens = Vec::new();
    screens.push(tmux.wait(30, "masked sudo prompt", |s| {
        s.contains("sudo password for svc on lab@py313:22")
    }));
    tmux.text(&pw);
    screens.push(tmux.wait(10, "masked input", |s| s.contains("•••")));
    tmux.keys(&["Enter"]);
    screens.push(tmux.wait(30, "ready", |s| s.contains("hop ready")));
    tmux.keys(&["Enter"]);
    tmux.text("import os; os.getuid(), os.getgid()");
    tmux.keys(&["F5"]);
    screens.push(tmux.wait(30, "uid", |s| s.contains("(1001, 1001)")));
    tmux.keys(&["C-q"]);
    screens.push(tmux.wait(20, "exit", |s| s.contains("EXIT=")));
    assert!(
        screens.last().is_some_and(|s| s.contains("EXIT=0")),
        "{screens:?}"
    );
    for s in &screens {
        assert!(!s.contains(&pw), "the password is on the screen:\n{s}");
    }
    // no file the cockpit wrote (config, history, cache) holds it
    let out = Command::new("grep")
        .args(["-rlF", "--", &pw])
        .arg(home.path())
        .output()
        .expect("grep");
    assert!(
        out.stdout.is_empty(),
        "the password is in {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

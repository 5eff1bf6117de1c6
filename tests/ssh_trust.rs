//! Trust over ssh, against a real OpenSSH server on 127.0.0.1: an ssh worker sees no
//! execdeck secret (not ours, not one the server's environment hands it), and
//! `installvia=` through an ssh gateway reaches the server it installed through a
//! tunnel on that gateway (the server listens on the ssh host's own 127.0.0.1).

mod common;

use common::sshd::start_sshd_with;
use execdeck::engine::{Group, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_workers_see_no_secrets() {
    // the server's own environment carries them too (sshd_config SetEnv)
    let Some(sshd) = start_sshd_with(
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         SetEnv EXECDECK_TOKEN=from-sshd EXECDECK_SSH_PASSWORD=from-sshd OTHER_VAR=kept\n",
    ) else {
        return;
    };
    sshd.trust();
    // SAFETY: set before this test starts any thread that reads the environment.
    unsafe {
        std::env::set_var("EXECDECK_TOKEN", "master-token-123");
        std::env::set_var("EXECDECK_SSH_PASSWORD", "master-password");
    }
    for ver in ["3.13.0", "2.7.18"] {
        let Some(py) = common::require(&common::pyenv_python(ver), "CPython") else {
            continue;
        };
        let mut group = Group::new();
        let gw = group
            .make_gateway(&sshd.spec(&format!("//python={py}")))
            .await
            .unwrap_or_else(|e| panic!("{ver}: {e}"));
        let ch = gw
            .remote_exec(
                "import os, subprocess\n\
                 child = subprocess.Popen(['sh', '-c', 'echo ${EXECDECK_TOKEN-}${EXECDECK_SSH_PASSWORD-}'], stdout=subprocess.PIPE).communicate()[0]\n\
                 channel.send((sorted(k for k in os.environ if k.startswith('EXECDECK_') and k != 'EXECDECK_WORKER'), os.environ.get('OTHER_VAR'), child.strip()))",
            )
            .await
            .expect("exec");
        let v = ch.receive_timeout(T).await.expect("reply");
        let Value::Tuple(t) = v else {
            panic!("{ver}: {v}")
        };
        assert_eq!(t[0], Value::List(vec![]), "{ver}: secrets in the worker");
        assert_eq!(
            t[1],
            Value::Str("kept".into()),
            "{ver}: the rest of the environment stays"
        );
        assert!(
            matches!(&t[2], Value::Bytes(b) if b.is_empty())
                || matches!(&t[2], Value::Str(s) if s.is_empty()),
            "{ver}: secrets in a child: {}",
            t[2]
        );
        group.terminate(Duration::from_secs(5)).await;
    }
}

/// Ports of the established TCP sockets a process holds: (local, remote).
const PORTS: &str = r#"import os
ino = set()
for fd in os.listdir('/proc/self/fd'):
    try:
        l = os.readlink('/proc/self/fd/' + fd)
    except OSError:
        continue
    if l.startswith('socket:['):
        ino.add(l[8:-1])
out = []
for line in open('/proc/net/tcp').readlines()[1:]:
    f = line.split()
    if f[9] in ino and f[3] == '01':
        out.append((int(f[1].split(':')[1], 16), int(f[2].split(':')[1], 16)))
channel.send(out)
"#;

fn ports(v: Value) -> Vec<(i64, i64)> {
    let Value::List(items) = v else { panic!("{v}") };
    items
        .into_iter()
        .filter_map(|p| match p {
            Value::Tuple(t) if t.len() == 2 => Some((t[0].as_i64()?, t[1].as_i64()?)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installvia_through_ssh_tunnels_through_the_carrier() {
    let Some(sshd) =
        start_sshd_with("PasswordAuthentication no\nKbdInteractiveAuthentication no\n")
    else {
        return;
    };
    sshd.trust();
    let py = common::python3();
    let mut group = Group::new();
    let carrier = group
        .make_gateway(&format!(
            "{}//id=carrier",
            sshd.spec(&format!("//python={py}"))
        ))
        .await
        .expect("ssh carrier");
    let sock = group
        .make_gateway("socket=ignored:0//installvia=carrier//id=sock")
        .await
        .expect("socket gateway through the carrier");
    let ch = sock
        .remote_exec("import os\nchannel.send((os.getpid(), 6 * 7))")
        .await
        .expect("exec");
    let v = ch.receive_timeout(T).await.expect("reply");
    let Value::Tuple(t) = &v else { panic!("{v}") };
    assert_eq!(t[1], Value::Int(42));
    // the worker's peer is the tunnel inside the ssh carrier, not this process
    let worker = ports(
        sock.remote_exec(PORTS)
            .await
            .expect("exec")
            .receive_timeout(T)
            .await
            .expect("ports"),
    );
    let held = ports(
        carrier
            .remote_exec(PORTS)
            .await
            .expect("exec")
            .receive_timeout(T)
            .await
            .expect("ports"),
    );
    assert!(
        worker
            .iter()
            .any(|(local, peer)| held.contains(&(*peer, *local))),
        "the socket worker's connection {worker:?} does not end in the carrier {held:?}"
    );
    // the sealed link works through the tunnel, both ways, with bulk
    let ch = sock
        .remote_exec("for x in channel:\n    channel.send(x)")
        .await
        .expect("exec");
    let blob = Value::Bytes(vec![5u8; 3 << 20]);
    ch.send(&blob).await.expect("send");
    assert_eq!(ch.receive_timeout(T).await.expect("echo"), blob);
    group.terminate(Duration::from_secs(5)).await;
}

//! An OpenSSH server on 127.0.0.1 that a test starts (and kills) itself, with a fresh
//! host key and client key (tests/ssh.rs, tests/ssh_trust.rs).

use std::process::{Child, Command, Stdio};

pub struct Sshd {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        super::kill9(self.child.id() as i32);
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn keygen(path: &std::path::Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
}

pub fn start_sshd() -> Option<Sshd> {
    start_sshd_with("PasswordAuthentication no\nKbdInteractiveAuthentication no\n")
}

pub fn start_sshd_with(auth: &str) -> Option<Sshd> {
    super::require("/usr/sbin/sshd", "openssh-server")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(&d.join("host_ed25519"));
    keygen(&d.join("client_key"));
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("copy");
    let port = free_port();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_ed25519\nPidFile {0}/sshd.pid\n\
             AuthorizedKeysFile {0}/authorized_keys\nPermitRootLogin prohibit-password\n\
             {auth}UsePAM no\nStrictModes no\n",
            d.display()
        ),
    )
    .expect("config");
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd");
    let up = super::wait_until(10.0, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "sshd did not start");
    Some(Sshd { child, port, dir })
}

impl Sshd {
    pub fn spec(&self, extra: &str) -> String {
        let d = self.dir.path();
        format!(
            "ssh=root@127.0.0.1:{}//identity={}//known_hosts={}{extra}",
            self.port,
            d.join("client_key").display(),
            d.join("known_hosts").display()
        )
    }

    /// Records the server's real key, as an earlier accepted connection would have.
    pub fn trust(&self) {
        let pubkey =
            std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).expect("pub");
        let parts: Vec<&str> = pubkey.split_whitespace().take(2).collect();
        std::fs::write(
            self.dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{} {} {}\n", self.port, parts[0], parts[1]),
        )
        .expect("known_hosts");
    }
}

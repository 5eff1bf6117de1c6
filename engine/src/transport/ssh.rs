//! SSH gateways over libssh2 (the `ssh2` crate): every blocking libssh2 call runs on a
//! dedicated thread, never on the async runtime's workers. The exec channel is bridged
//! to the gateway through a pair of local sockets.

use crate::error::{Error, Result};
use crate::events::Event;
pub use crate::transport::link::Prompter;
use crate::transport::link::{
    CloseReason, Link, StderrTail, expand_home, report_stderr, shell_command,
};
use crate::transport::ssh_config::{self, Directive, HostConfig};
use crate::transport::ssh_hops::{HopWatch, lost_reason};
use crate::transport::start::Start;
use crate::transport::sudo;
use base64::Engine as _;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How much of a failed bootstrap's remote stderr is kept (its tail).
const STDERR_TAIL_BYTES: usize = 64 << 10;
/// How long a failed bootstrap's remote stderr is read (a flood never ends).
const STDERR_GRACE_MS: u32 = 500;

/// The last `STDERR_TAIL_BYTES` of the channel's stderr, read until EOF or for `grace`.
fn bounded_stderr(channel: &mut ssh2::Channel, grace: Duration) -> String {
    let until = Instant::now() + grace;
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    let mut stderr = channel.stderr();
    while Instant::now() < until {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
        }
    }
    if tail.len() > STDERR_TAIL_BYTES {
        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        let text = String::from_utf8_lossy(&tail);
        return format!("[… earlier output dropped; the last 64 KiB:]\n{text}");
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn parse(s: &str) -> std::result::Result<Target, String> {
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (u.to_string(), r),
            Some(_) => return Err(format!("ssh={s}: empty user name")),
            None => (
                std::env::var("USER")
                    .or_else(|_| std::env::var("LOGNAME"))
                    .unwrap_or_else(|_| "root".into()),
                s,
            ),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("ssh={s}: bad port '{p}'"))?,
            ),
            None => (rest.to_string(), 22),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("ssh={s}: bad host name"));
        }
        Ok(Target { user, host, port })
    }

    /// Applies an alias's `HostName`, and its `User` and `Port` where `written` (the
    /// target as the user wrote it) names none.
    fn apply_config(&mut self, cfg: &HostConfig, written: &str) {
        if let Some(h) = cfg.get(Directive::HostName) {
            self.host = h.to_string();
        }
        if !written.contains('@')
            && let Some(u) = cfg.get(Directive::User)
        {
            self.user = u.to_string();
        }
        if !written.contains(':')
            && let Some(p) = cfg.number(Directive::Port)
        {
            self.port = p;
        }
    }

    fn display(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

fn fail(id: &str, t: &Target, what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("gateway {id}: ssh {}: {what}", t.display()))
}

use super::known_hosts;

fn host_key_check(
    session: &ssh2::Session,
    t: &Target,
    id: &str,
    known_hosts: &std::path::Path,
    accept_new: bool,
    prompter: Option<&Prompter>,
) -> Result<()> {
    let (key, key_type) = session
        .host_key()
        .ok_or_else(|| fail(id, t, "the server sent no host key"))?;
    let fingerprint = session
        .host_key_hash(ssh2::HashType::Sha256)
        // OpenSSH prints SHA256 fingerprints as unpadded base64
        .map(|h| {
            format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)
            )
        })
        .unwrap_or_else(|| "SHA256:?".into());
    let text = match std::fs::read(known_hosts) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(fail(
                id,
                t,
                format!("cannot read {}: {e}", known_hosts.display()),
            ));
        }
    };
    let verdict = known_hosts::check(&text, known_hosts, &t.host, t.port, key, &mut |w| {
        eprintln!("execdeck: warning: {w}")
    });
    match verdict {
        known_hosts::Verdict::Match => Ok(()),
        known_hosts::Verdict::Revoked(line) => Err(fail(
            id,
            t,
            format!(
                "REVOKED HOST KEY ({fingerprint}): it is marked @revoked in {}:{line}. Refusing to connect",
                known_hosts.display()
            ),
        )),
        known_hosts::Verdict::Mismatch(lines) => Err(fail(
            id,
            t,
            format!(
                "HOST KEY CHANGED ({fingerprint}) — it does not match {} (line {}). Refusing to connect: \
                 this can be an attack; if the host really changed its key, remove the old entry",
                known_hosts.display(),
                lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        known_hosts::Verdict::NotFound
            if !accept_new
                && !prompter.is_some_and(|ask| {
                    ask(
                        &format!(
                            "Unknown host key for {}:{} ({fingerprint}). Type yes to trust it and record it in {}",
                            t.host,
                            t.port,
                            known_hosts.display()
                        ),
                        false,
                    )
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case("yes"))
                }) =>
        {
            Err(fail(
            id,
            t,
            format!(
                "unknown host key {fingerprint} (not in {}): accept it with --accept-new-host-keys \
                 (or accept_new_host_key in the spec) after checking the fingerprint",
                known_hosts.display()
            ),
            ))
        }
        known_hosts::Verdict::NotFound => {
            let keytype = match key_type {
                ssh2::HostKeyType::Rsa => "ssh-rsa",
                ssh2::HostKeyType::Dss => "ssh-dss",
                ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
                ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
                ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
                ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
                ssh2::HostKeyType::Unknown => {
                    return Err(fail(id, t, "cannot record a host key of unknown type"));
                }
            };
            let name = known_hosts::host_name(&t.host, t.port);
            known_hosts::record(known_hosts, &name, keytype, key).map_err(|e| {
                fail(
                    id,
                    t,
                    format!("cannot record the host key in {}: {e}", known_hosts.display()),
                )
            })
        }
    }
}

/// A secret that is wiped from memory when dropped.
struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: overwriting with zero bytes keeps the string valid UTF-8.
        unsafe { self.0.as_bytes_mut().fill(0) };
    }
}

struct KbdPrompt<'a> {
    prompter: &'a Prompter,
    target: String,
}

impl ssh2::KeyboardInteractivePrompt for KbdPrompt<'_> {
    fn prompt<'b>(
        &mut self,
        _user: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'b>],
    ) -> Vec<String> {
        prompts
            .iter()
            .map(|p| {
                (self.prompter)(&format!("{} ({})", p.text.trim(), self.target), !p.echo)
                    .unwrap_or_default()
            })
            .collect()
    }
}

fn key_is_encrypted(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    // the new OpenSSH format names the cipher inside its base64 body
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    decode_b64(&body)
        .map(|raw| {
            raw.windows(10).any(|w| w == b"aes256-ctr") || raw.windows(6).any(|w| w == b"bcrypt")
        })
        .unwrap_or(false)
}

/// Base64 text as key files hold it: padded or not.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(s.trim()).ok()
}

fn authenticate(
    session: &ssh2::Session,
    t: &Target,
    id: &str,
    identities: &[PathBuf],
    use_agent: bool,
    prompter: Option<&Prompter>,
) -> Result<()> {
    let mut tried: Vec<String> = Vec::new();
    if use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        tried.push("agent".into());
        if session.userauth_agent(&t.user).is_ok() && session.authenticated() {
            return Ok(());
        }
    }
    for path in identities {
        if !path.exists() {
            continue;
        }
        if let Some(why) = crate::transport::link::too_open(path, "private key") {
            // OpenSSH ignores such a key, and says so
            tried.push(format!("publickey ignored: {}", why.replace('\n', " ")));
            continue;
        }
        tried.push(format!("publickey {}", path.display()));
        if session
            .userauth_pubkey_file(&t.user, None, path, None)
            .is_ok()
            && session.authenticated()
        {
            return Ok(());
        }
        if let Some(ask) = prompter
            && key_is_encrypted(path)
        {
            for _ in 0..3 {
                let Some(pass) =
                    ask(&format!("Passphrase for key {}", path.display()), true).map(Secret)
                else {
                    break;
                };
                if session
                    .userauth_pubkey_file(&t.user, None, path, Some(&pass.0))
                    .is_ok()
                    && session.authenticated()
                {
                    return Ok(());
                }
            }
        }
    }
    let offered = session.auth_methods(&t.user).unwrap_or("").to_string();
    if let Some(pw) = std::env::var("EXECDECK_SSH_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        tried.push("password (EXECDECK_SSH_PASSWORD)".into());
        let pw = Secret(pw);
        if session.userauth_password(&t.user, &pw.0).is_ok() && session.authenticated() {
            return Ok(());
        }
    } else if let Some(ask) = prompter {
        if offered.contains("password") {
            tried.push("password".into());
            for _ in 0..3 {
                let Some(pw) =
                    ask(&format!("Password for {}@{}", t.user, t.host), true).map(Secret)
                else {
                    break;
                };
                if session.userauth_password(&t.user, &pw.0).is_ok() && session.authenticated() {
                    return Ok(());
                }
            }
        }
        if !session.authenticated() && offered.contains("keyboard-interactive") {
            tried.push("keyboard-interactive".into());
            let mut kp = KbdPrompt {
                prompter: ask,
                target: format!("{}@{}", t.user, t.host),
            };
            if session
                .userauth_keyboard_interactive(&t.user, &mut kp)
                .is_ok()
                && session.authenticated()
            {
                return Ok(());
            }
        }
    }
    Err(fail(
        id,
        t,
        format!(
            "authentication failed for user {}: tried {}; the server offers {offered}",
            t.user,
            if tried.is_empty() {
                "nothing (no agent, no key files)".to_string()
            } else {
                tried.join(", ")
            }
        ),
    ))
}

/// Connects, checks the host key, authenticates, starts the interpreter and bootstraps
/// it; then a pump thread carries bytes between the channel and the gateway.
#[allow(clippy::too_many_arguments)]
/// Logs in (through the jump hosts, if any), runs the interpreter, sends the bootstrap
/// line and waits for the `1`; then a pump thread carries the bytes.
pub(crate) async fn start(req: &Start<'_>, target: &str) -> Result<Link> {
    let (spec, id, timeout) = (req.spec, req.id, req.timeout);
    let line = req.line.to_vec();
    let accept_new = req.accept_new_host_keys;
    let prompter = req.prompter.clone();
    let events = req.events.clone();
    let tail = req.stderr_tail.clone();
    let mut t = Target::parse(target).map_err(Error::Unsupported)?;
    // ~/.ssh/config (or ssh_config=PATH): the spec's own values win
    let config_path = expand_home(spec.ssh.config.as_deref().unwrap_or("~/.ssh/config"));
    let alias = t.host.clone();
    let cfg = ssh_config::load(&config_path, &alias);
    t.apply_config(&cfg, target);
    if let Some(tx) = &events {
        for what in &cfg.unsupported {
            let text = format!("execdeck: ssh config directive not supported, ignored: {what}\n");
            report_stderr(&StderrTail::default(), Some(tx), id, text).await;
        }
    }
    let known_hosts = spec
        .ssh
        .known_hosts
        .as_deref()
        .or(cfg.get(Directive::UserKnownHostsFile))
        .map(expand_home)
        .unwrap_or_else(|| expand_home("~/.ssh/known_hosts"));
    let configured: Vec<PathBuf> = cfg.identity_files().map(expand_home).collect();
    let identities: Vec<PathBuf> = match (&spec.ssh.identity, configured.is_empty()) {
        (Some(p), _) => vec![expand_home(p)],
        (None, false) => configured,
        (None, true) => ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"]
            .iter()
            .map(|p| expand_home(p))
            .collect(),
    };
    let use_agent = !cfg.flag(Directive::IdentitiesOnly) && spec.ssh.identity.is_none();
    let sudo_user = spec.sudo.clone();
    let command = match &sudo_user {
        Some(user) => sudo::wrap_shell(user, &shell_command(spec)),
        None => shell_command(spec),
    };
    let sudo_spec = spec.clone();
    let alive_interval = spec.ssh.alive_interval.unwrap_or(Duration::from_secs(
        cfg.number::<u64>(Directive::ServerAliveInterval)
            .filter(|s| *s > 0)
            .unwrap_or(15),
    ));
    let alive_count_max = cfg
        .number::<u32>(Directive::ServerAliveCountMax)
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let timeout = cfg
        .number::<u64>(Directive::ConnectTimeout)
        .map(Duration::from_secs)
        .filter(|_| spec.timeout.is_none())
        .unwrap_or(timeout);
    let id_s = id.to_string();
    let accept = accept_new
        || spec.ssh.accept_new_host_key
        || matches!(
            cfg.get(Directive::StrictHostKeyChecking),
            Some("accept-new" | "no")
        );
    // each hop as written (an alias) and where it leads, for messages
    let hop_names: Vec<String> = spec
        .proxy_jump
        .as_deref()
        .or(cfg.get(Directive::ProxyJump))
        .filter(|l| !l.eq_ignore_ascii_case("none"))
        .map(|l| l.split(',').map(|h| h.trim().to_string()).collect())
        .unwrap_or_default();
    let hops: Vec<Target> = match spec.proxy_jump.as_deref().or(cfg.get(Directive::ProxyJump)) {
        Some(list) if !list.eq_ignore_ascii_case("none") => list
            .split(',')
            .map(|h| {
                let mut hop = Target::parse(h.trim()).map_err(Error::Unsupported)?;
                // a hop may be an alias of the config file too
                hop.apply_config(&ssh_config::load(&config_path, &hop.host), h.trim());
                Ok(hop)
            })
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let setup = tokio::task::spawn_blocking(
        move || -> Result<(ssh2::Session, ssh2::Channel, Carrier, Vec<HopWatch>, String)> {
            let t2 = t.clone();
            let first = hops.first().unwrap_or(&t).clone();
            let addrs: Vec<_> = (first.host.as_str(), first.port)
                .to_socket_addrs()
                .map_err(|e| {
                    fail(
                        &id_s,
                        &first,
                        format!("cannot resolve host '{}': {e}", first.host),
                    )
                })?
                .collect();
            let addr = addrs
                .first()
                .ok_or_else(|| fail(&id_s, &first, "the host name has no address"))?;
            let tcp = TcpStream::connect_timeout(addr, timeout).map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    fail(&id_s, &first, format!("connection refused by {addr}"))
                }
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => fail(
                    &id_s,
                    &first,
                    format!(
                        "connect to {addr} timed out after {:.1} s",
                        timeout.as_secs_f64()
                    ),
                ),
                _ => fail(&id_s, &first, format!("cannot connect to {addr}: {e}")),
            })?;
            let _ = tcp.set_nodelay(true);
            let mut carrier = Carrier::Tcp(tcp);
            let login = |c: &Carrier, who: &Target, what: &str| -> Result<ssh2::Session> {
                let fail_here = |e: String| {
                    if what.is_empty() {
                        fail(&id_s, who, e)
                    } else {
                        fail(&id_s, who, format!("{what}: {e}"))
                    }
                };
                let mut session = ssh2::Session::new().map_err(|e| fail_here(e.to_string()))?;
                match c.try_clone().map_err(|e| fail_here(e.to_string()))? {
                    Carrier::Tcp(s) => session.set_tcp_stream(s),
                    Carrier::Unix(s) => session.set_tcp_stream(s),
                }
                session.set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
                session.handshake().map_err(|e| {
                    if e.code() == ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) {
                        fail_here(format!(
                            "SSH handshake timed out after {:.1} s: the server did not answer",
                            timeout.as_secs_f64()
                        ))
                    } else {
                        fail_here(format!("SSH handshake failed: {e}"))
                    }
                })?;
                // these errors already name the gateway and host: add only the hop
                let rewrap = |e: Error| {
                    if what.is_empty() {
                        return e;
                    }
                    let text = e.to_string();
                    let prefix = format!("gateway {}: ssh {}: ", id_s, who.display());
                    fail_here(text.strip_prefix(&prefix).unwrap_or(&text).to_string())
                };
                host_key_check(
                    &session,
                    who,
                    &id_s,
                    &known_hosts,
                    accept,
                    prompter.as_ref(),
                )
                .map_err(rewrap)?;
                authenticate(
                    &session,
                    who,
                    &id_s,
                    &identities,
                    use_agent,
                    prompter.as_ref(),
                )
                .map_err(rewrap)?;
                Ok(session)
            };
            // each jump host opens a direct-tcpip channel to the next one
            let mut watches: Vec<HopWatch> = Vec::new();
            for (n, hop) in hops.iter().enumerate() {
                let what = format!("jump host {} of {}", n + 1, hops.len());
                let jump = login(&carrier, hop, &what)?;
                let next = hops.get(n + 1).unwrap_or(&t);
                let channel = jump
                    .channel_direct_tcpip(&next.host, next.port, None)
                    .map_err(|e| {
                        fail(
                            &id_s,
                            hop,
                            format!("{what}: cannot reach {}:{}: {e}", next.host, next.port),
                        )
                    })?;
                let (near, far) = UnixStream::pair().map_err(Error::Io)?;
                let jump_carrier = std::mem::replace(&mut carrier, Carrier::Unix(far));
                let watch = HopWatch {
                    name: match hop_names.get(n) {
                        Some(alias) if *alias != hop.display() => {
                            format!("{alias} ({})", hop.display())
                        }
                        _ => hop.display(),
                    },
                    alive: alive_interval,
                    last: std::sync::Arc::new(std::sync::Mutex::new(Instant::now())),
                };
                watches.push(watch.clone());
                // after the blocking setup of this hop (see the target's keepalive below)
                jump.set_keepalive(true, alive_interval.as_secs().max(1) as u32);
                std::thread::Builder::new()
                    .name(format!("ssh-jump-{n}"))
                    .spawn(move || forward(jump, channel, jump_carrier, near, watch))
                    .map_err(Error::Io)?;
            }
            let session = login(&carrier, &t2, "")?;
            let mut channel = session
                .channel_session()
                .map_err(|e| fail(&id_s, &t, format!("cannot open a session channel: {e}")))?;
            channel
                .exec(&command)
                .map_err(|e| fail(&id_s, &t, format!("cannot run the interpreter: {e}")))?;
            if let Some(user) = &sudo_user {
                sudo_dialog(&mut channel, user, &t, &id_s, prompter.as_ref(), &sudo_spec)?;
            }
            channel
                .write_all(&line)
                .and_then(|_| channel.flush())
                .map_err(|e| fail(&id_s, &t, format!("bootstrap write failed: {e}")))?;
            let mut ack = [0u8; 1];
            let read = channel.read(&mut ack);
            if !matches!(read, Ok(1)) || ack[0] != b'1' {
                // a failed read is the session timeout (under load, or a slow interpreter):
                // not an exit, whatever exit_status() says before the channel closed
                let timed_out = matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::TimedOut
                    || e.to_string().contains("timed out"));
                session.set_timeout(STDERR_GRACE_MS);
                let err =
                    bounded_stderr(&mut channel, Duration::from_millis(STDERR_GRACE_MS as u64));
                let what = if timed_out {
                    format!(
                        "the remote interpreter did not answer within {:.1} s (`{command}`; raise it with timeout=SECONDS in the spec; {})",
                        timeout.as_secs_f64(),
                        read.as_ref().err().map_or(String::new(), |e| e.to_string())
                    )
                } else {
                    let closed = channel.eof() && channel.wait_close().is_ok();
                    match channel.exit_status() {
                        Ok(status) if closed => format!(
                            "the remote interpreter did not start (`{command}` exited with {status})"
                        ),
                        _ => format!(
                            "the remote interpreter did not start (`{command}` answered {:?} and did not exit)",
                            String::from_utf8_lossy(&ack[..read.as_ref().map_or(0, |n| *n)])
                        ),
                    }
                };
                let _ = channel.close();
                return Err(fail(
                    &id_s,
                    &t,
                    format!("{what}; remote stderr:\n{}", err.trim_end()),
                ));
            }
            // keepalives only now: with them on, a blocking libssh2 read gives up after
            // one keepalive interval ("Timed out waiting on socket"), which a slow
            // bootstrap on a loaded machine exceeds; the pump sends them from here on
            session.set_keepalive(true, alive_interval.as_secs().max(1) as u32);
            Ok((session, channel, carrier, watches, t2.display()))
        },
    );
    let (session, channel, carrier, hops, target_name) = setup
        .await
        .map_err(|e| Error::Protocol(format!("ssh setup task failed: {e}")))??;
    let (out_local, out_gw) = UnixStream::pair().map_err(Error::Io)?;
    let (in_local, in_gw) = UnixStream::pair().map_err(Error::Io)?;
    let id_s = id.to_string();
    let handle = tokio::runtime::Handle::current();
    let close_reason = CloseReason::default();
    let pump_io = PumpIo {
        out: out_local,
        input: in_local,
        id: id_s,
        events,
        tail,
        rt: handle,
        alive: alive_interval,
        alive_max: alive_count_max,
        close_reason: close_reason.clone(),
        hops,
        target: target_name,
    };
    std::thread::Builder::new()
        .name(format!("ssh-{id}"))
        .spawn(move || pump(session, channel, carrier, pump_io))
        .map_err(Error::Io)?;
    out_gw.set_nonblocking(true).map_err(Error::Io)?;
    in_gw.set_nonblocking(true).map_err(Error::Io)?;
    let reader = tokio::net::UnixStream::from_std(out_gw).map_err(Error::Io)?;
    let writer = tokio::net::UnixStream::from_std(in_gw).map_err(Error::Io)?;
    Ok(Link::remote(
        Box::new(reader),
        Box::new(writer),
        close_reason,
    ))
}

/// sudo's side of a `sudo=` start over the exec channel (blocking, on the setup thread).
fn sudo_dialog(
    channel: &mut ssh2::Channel,
    user: &str,
    t: &Target,
    id: &str,
    prompter: Option<&Prompter>,
    spec: &crate::spec::Spec,
) -> Result<()> {
    let ch = std::cell::RefCell::new(channel);
    sudo::run_blocking(
        user,
        &t.display(),
        prompter,
        spec,
        |buf| ch.borrow_mut().read(buf),
        |bytes| {
            let mut c = ch.borrow_mut();
            c.write_all(bytes).and_then(|_| c.flush())
        },
    )
    .map_err(|e| {
        let _ = ch.borrow_mut().close();
        fail(id, t, e)
    })
}

struct PumpIo {
    out: UnixStream,
    input: UnixStream,
    id: String,
    events: Option<mpsc::Sender<Event>>,
    tail: StderrTail,
    rt: tokio::runtime::Handle,
    alive: Duration,
    /// Intervals without an answer before the link counts as lost (ServerAliveCountMax).
    alive_max: u32,
    close_reason: CloseReason,
    /// The jump hosts in order, watched by their forwarders.
    hops: Vec<HopWatch>,
    /// `user@host:port` of the target, for the reason of a lost link.
    target: String,
}

/// libssh2: a blocking call ran past the session's timeout.
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
/// libssh2's "would block" in non-blocking mode: try again.
const LIBSSH2_ERROR_EAGAIN: i32 = -37;

/// What a session runs over: TCP, or a local socket bridged to a jump host's channel.
enum Carrier {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Carrier {
    fn try_clone(&self) -> std::io::Result<Carrier> {
        Ok(match self {
            Carrier::Tcp(s) => Carrier::Tcp(s.try_clone()?),
            Carrier::Unix(s) => Carrier::Unix(s.try_clone()?),
        })
    }

    fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Carrier::Tcp(s) => s.as_raw_fd(),
            Carrier::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// Carries a jump host's direct-tcpip channel to a local socket, both ways.
fn forward(
    session: ssh2::Session,
    mut channel: ssh2::Channel,
    carrier: Carrier,
    mut local: UnixStream,
    hop: HopWatch,
) {
    session.set_blocking(false);
    let mut last_keepalive = Instant::now();
    let _ = local.set_nonblocking(true);
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut progressed = false;
        match channel.read(&mut buf) {
            Ok(0) if channel.eof() => break,
            Ok(0) => {}
            Ok(n) => {
                let mut off = 0;
                while off < n {
                    match local.write(&buf[off..n]) {
                        Ok(k) => off += k,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            wait_fds(&[local.as_raw_fd()], libc::POLLOUT, 20);
                        }
                        Err(_) => return,
                    }
                }
                progressed = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        if pending.is_empty() {
            match local.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    progressed = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !pending.is_empty() {
            match write_pending(&mut channel, &mut pending) {
                Ok(p) => progressed |= p,
                Err(()) => break,
            }
        }
        if last_keepalive.elapsed() >= hop.alive {
            let _ = session.keepalive_send();
            last_keepalive = Instant::now();
        }
        if progressed {
            hop.heard();
        } else {
            let ev = wait_fds(&[carrier.fd(), local.as_raw_fd()], libc::POLLIN, 20);
            if ev.first().is_some_and(|e| *e & libc::POLLIN != 0) {
                hop.heard();
            }
        }
    }
    let _ = channel.close();
}

/// Writes what it can of `pending` to the channel: Ok(true) when bytes went out,
/// Ok(false) when it would block, Err on a broken channel.
fn write_pending(
    channel: &mut ssh2::Channel,
    pending: &mut Vec<u8>,
) -> std::result::Result<bool, ()> {
    match channel.write(pending) {
        Ok(n) => {
            pending.drain(..n);
            Ok(n > 0)
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
        Err(_) => Err(()),
    }
}

fn wait_fds(fds: &[std::os::fd::RawFd], events: i16, ms: i32) -> Vec<i16> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: poll(2) on descriptors owned by the caller for the duration of the call.
    unsafe {
        libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms);
    }
    p.iter().map(|x| x.revents).collect()
}

/// Moves bytes both ways in non-blocking mode until the channel or the gateway closes.
fn pump(session: ssh2::Session, mut channel: ssh2::Channel, tcp: Carrier, io: PumpIo) {
    let PumpIo {
        mut out,
        mut input,
        id,
        events,
        tail,
        rt,
        alive,
        alive_max,
        close_reason,
        hops,
        target,
    } = io;
    let mut last_rx = Instant::now();
    session.set_blocking(false);
    let _ = input.set_nonblocking(true);
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    let mut input_open = true;
    let mut last_keepalive = Instant::now();
    loop {
        let mut progressed = false;
        match channel.read(&mut buf) {
            Ok(0) => {
                if channel.eof() {
                    break;
                }
            }
            Ok(n) => {
                if out.write_all(&buf[..n]).is_err() {
                    break;
                }
                progressed = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        match channel.stderr().read(&mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                rt.block_on(report_stderr(&tail, events.as_ref(), &id, text));
                progressed = true;
            }
            _ => {}
        }
        if pending.is_empty() && input_open {
            match input.read(&mut buf) {
                Ok(0) => {
                    input_open = false;
                    // our side closed its input: the remote stub sees EOF and exits
                    while let Err(e) = channel.send_eof() {
                        if e.code() != ssh2::ErrorCode::Session(LIBSSH2_ERROR_EAGAIN) {
                            break;
                        }
                        wait_socket(&tcp, &input, 10);
                    }
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    progressed = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => input_open = false,
            }
        }
        if !pending.is_empty() {
            match write_pending(&mut channel, &mut pending) {
                Ok(p) => progressed |= p,
                Err(()) => break,
            }
        }
        if last_keepalive.elapsed() >= alive {
            let _ = session.keepalive_send();
            last_keepalive = Instant::now();
        }
        if progressed {
            last_rx = Instant::now();
        } else if wait_socket(&tcp, &input, 20) {
            // the server sent something (data or a keepalive answer)
            last_rx = Instant::now();
        }
        if last_rx.elapsed() > alive * alive_max {
            close_reason.set(lost_reason(
                &target,
                last_rx.elapsed(),
                &hops,
                alive * alive_max,
            ));
            break;
        }
    }
    let _ = channel.close();
    // dropping `out` gives the gateway its EOF
}

/// Sleeps until the SSH socket or the gateway's side has data, or `ms` pass; true when
/// the SSH socket is readable.
fn wait_socket(tcp: &Carrier, input: &UnixStream, ms: i32) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: tcp.fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: input.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: poll(2) on two valid descriptors owned by this thread.
    unsafe {
        libc::poll(fds.as_mut_ptr(), 2, ms);
    }
    fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

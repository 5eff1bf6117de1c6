//! Gateway spec strings in execnet's grammar: `key[=value]` items joined by `//`.
//!
//! ```
//! use execdeck_engine::Spec;
//! let s: Spec = "popen//python=nice -n 5 python3//id=w1//env:A=1".parse().unwrap();
//! assert_eq!(s.python.as_deref(), Some(&["nice".to_string(), "-n".into(), "5".into(), "python3".into()][..]));
//! assert_eq!(s.id.as_deref(), Some("w1"));
//! let err = "popen//nice=abc".parse::<Spec>().unwrap_err();
//! assert_eq!(err.to_string(), "bad spec 'popen//nice=abc': in 'nice=abc': nice must be an integer");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the gateway reaches its interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Popen,
    Ssh(String),
    Socket(String),
    VagrantSsh(String),
    /// `docker=CONTAINER`: `docker exec -i` into a running container.
    Docker(String),
    /// `podman=CONTAINER`: the same through `podman exec -i`.
    Podman(String),
    /// `kubectl=POD[/CONTAINER]`: `kubectl exec -i` into a pod.
    Kubectl(String),
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Popen => "popen",
            Transport::Ssh(_) => "ssh",
            Transport::Socket(_) => "socket",
            Transport::VagrantSsh(_) => "vagrant_ssh",
            Transport::Docker(_) => "docker",
            Transport::Podman(_) => "podman",
            Transport::Kubectl(_) => "kubectl",
        }
    }

    /// Where the interpreter runs, as the spec names it: `local` for popen, else the
    /// host, address, container or pod.
    pub fn target(&self) -> &str {
        match self {
            Transport::Popen => "local",
            Transport::Ssh(t)
            | Transport::Socket(t)
            | Transport::VagrantSsh(t)
            | Transport::Docker(t)
            | Transport::Podman(t)
            | Transport::Kubectl(t) => t,
        }
    }

    /// True for the transports that run an interpreter through a container tool.
    pub fn is_container(&self) -> bool {
        matches!(
            self,
            Transport::Docker(_) | Transport::Podman(_) | Transport::Kubectl(_)
        )
    }
}

/// The worker's execution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecModel {
    /// First task on the main thread, concurrent tasks on new threads.
    Thread,
    /// Every task on the main thread, one at a time.
    MainThreadOnly,
}

impl ExecModel {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecModel::Thread => "thread",
            ExecModel::MainThreadOnly => "main_thread_only",
        }
    }
}

/// A parsed gateway spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The original text.
    pub raw: String,
    pub transport: Transport,
    /// `python=`: the interpreter command, split into words like a POSIX shell would.
    pub python: Option<Vec<String>>,
    pub id: Option<String>,
    pub via: Option<String>,
    pub installvia: Option<String>,
    /// `chdir=`, `nice=`, `env:`: applied in the worker after it started.
    pub setup: WorkerSetup,
    pub dont_write_bytecode: bool,
    pub execmodel: Option<ExecModel>,
    /// `timeout=SECONDS`: how long the bootstrap may take (our extension).
    pub timeout: Option<Duration>,
    /// `token_file=PATH`: the socket server's shared secret (else `EXECDECK_TOKEN`).
    pub token_file: Option<String>,
    /// `tls_fingerprint=HEX`: speak TLS to the socket server and accept only the
    /// certificate with this SHA-256 fingerprint (64 hex digits, `:` allowed).
    pub tls_fingerprint: Option<[u8; 32]>,
    /// `identity=`, `known_hosts=`, `accept_new_host_key`, `alive_interval=`,
    /// `ssh_config=`.
    pub ssh: SshOptions,
    /// `proxy_jump=[user@]host[:port][,...]`: SSH jump hosts, in order (ProxyJump).
    pub proxy_jump: Option<String>,
    /// Decoding limits set by `max_frame=`, `max_depth=`, `max_items=`,
    /// `max_int_digits=`, `max_unread=` (over the [`GatewayOptions`] ones).
    ///
    /// [`GatewayOptions`]: crate::gateway::GatewayOptions
    pub limits: LimitKeys,
    /// `user=`, `namespace=`: for the container transports.
    pub container: ContainerOptions,
    /// `sudo=USER`: run the interpreter as USER through sudo (on any transport that
    /// starts one).
    pub sudo: Option<String>,
}

/// How a container transport enters its container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    /// `user=NAME|UID`: `docker exec -u` / `podman exec -u`.
    pub user: Option<String>,
    /// `namespace=NS`: `kubectl exec -n`.
    pub namespace: Option<String>,
}

/// The limit keys a spec sets (name, value), in spec order; each replaces the option's
/// value ([`crate::codec::limit_key`] names them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitKeys(pub Vec<(&'static str, usize)>);

/// A setter of one [`Limits`](crate::codec::Limits) field.
type LimitField = fn(&mut crate::codec::Limits) -> &mut usize;

/// The limit keys, each with the field it sets.
const LIMIT_FIELDS: &[(&str, LimitField)] = &[
    ("max_frame", |l| &mut l.max_frame),
    ("max_depth", |l| &mut l.max_depth),
    ("max_items", |l| &mut l.max_container_len),
    ("max_int_digits", |l| &mut l.max_int_digits),
    ("max_channel_refs", |l| &mut l.max_channel_refs),
    ("max_unread", |l| &mut l.max_unread),
];

impl LimitKeys {
    /// `base` with every limit this spec sets.
    pub fn apply(&self, base: &crate::codec::Limits) -> crate::codec::Limits {
        let mut l = base.clone();
        for (name, n) in &self.0 {
            if let Some((_, field)) = LIMIT_FIELDS.iter().find(|(k, _)| k == name) {
                *field(&mut l) = *n;
            }
        }
        l
    }

    /// Limits given by name (e.g. config.toml's `[limits]`): unknown names are an error
    /// that lists the known ones.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, usize)>,
    ) -> Result<LimitKeys, String> {
        let mut out = Vec::new();
        for (name, n) in pairs {
            let key = Self::known(name).ok_or_else(|| {
                let known: Vec<&str> = LIMIT_FIELDS.iter().map(|(k, _)| *k).collect();
                format!("unknown limit '{name}' (known: {})", known.join(", "))
            })?;
            if n == 0 {
                return Err(format!("limit {name} must be at least 1"));
            }
            out.push((key, n));
        }
        Ok(LimitKeys(out))
    }

    /// The static name of a limit key, if `key` is one.
    fn known(key: &str) -> Option<&'static str> {
        LIMIT_FIELDS.iter().map(|(k, _)| *k).find(|k| *k == key)
    }
}

/// What the worker does right after it started, in this order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerSetup {
    /// `chdir=PATH` (created if missing).
    pub chdir: Option<String>,
    /// `nice=N`: `os.nice(N)`.
    pub nice: Option<i32>,
    /// `env:NAME=value` items in the order given.
    pub env: Vec<(String, String)>,
}

impl WorkerSetup {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.chdir.is_none() && self.nice.is_none() && self.env.is_empty()
    }
}

/// How an SSH gateway logs in and watches its link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshOptions {
    /// `identity=PATH`: the private key to use (else ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
    pub identity: Option<String>,
    /// `known_hosts=PATH`: known hosts file (else ~/.ssh/known_hosts).
    pub known_hosts: Option<String>,
    /// `accept_new_host_key`: record an unknown host key (never a changed one).
    pub accept_new_host_key: bool,
    /// `alive_interval=SECONDS`: keepalive interval; the link counts as lost after
    /// three intervals without any answer (ServerAliveInterval / CountMax 3).
    pub alive_interval: Option<Duration>,
    /// `ssh_config=PATH`: the config file (else ~/.ssh/config).
    pub config: Option<String>,
}

/// A spec string that could not be parsed: names the spec, the item and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub spec: String,
    pub part: Option<String>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.part {
            Some(p) => write!(f, "bad spec '{}': in '{}': {}", self.spec, p, self.message),
            None => write!(f, "bad spec '{}': {}", self.spec, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// One spec key: its name, how it is written, and one line of help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecKey {
    /// The key as the parser matches it (`python`, `env:`).
    pub name: &'static str,
    /// How it is written (`python=CMD`).
    pub usage: &'static str,
    /// What it does; a `\n` continues the help on the next line.
    pub help: &'static str,
}

const fn key(name: &'static str, usage: &'static str, help: &'static str) -> SpecKey {
    SpecKey { name, usage, help }
}

/// Every key the parser understands, in `--help` order: the one list that feeds
/// validation ([`Spec::from_str`] matches these names), the "did you mean" hint and the
/// command line's `--help` ([`keys_help`]).
pub const KEYS: &[SpecKey] = &[
    key("popen", "popen", "local subprocess (the transport)"),
    key(
        "python",
        "python=CMD",
        "interpreter command, split like a shell:\npython=/opt/my\\ py/bin/python3, python=nice -n 5 python3\n(default: python3)",
    ),
    key("id", "id=NAME", "gateway id (default gw0, gw1, ...)"),
    key(
        "chdir",
        "chdir=PATH",
        "change directory after start (created if missing)",
    ),
    key("nice", "nice=N", "os.nice(N) after start"),
    key(
        "env:",
        "env:NAME=VALUE",
        "set an environment variable after start",
    ),
    key(
        "dont_write_bytecode",
        "dont_write_bytecode",
        "pass -B to the interpreter",
    ),
    key(
        "execmodel",
        "execmodel=thread|main_thread_only",
        "run tasks on threads (default) or only on the main thread",
    ),
    key(
        "timeout",
        "timeout=SECONDS",
        "bootstrap timeout (default 10; Jython needs several seconds)",
    ),
    key(
        "socket",
        "socket=HOST:PORT",
        "an execdeck socket server (execdeck socketserver)",
    ),
    key(
        "token_file",
        "token_file=PATH",
        "its shared token (else EXECDECK_TOKEN)",
    ),
    key(
        "tls_fingerprint",
        "tls_fingerprint=SHA256",
        "TLS to the socket server, pinned to its certificate's SHA-256 fingerprint",
    ),
    key(
        "ssh",
        "ssh=[USER@]HOST[:PORT]",
        "a remote host over SSH (agent, key files, EXECDECK_SSH_PASSWORD)",
    ),
    key(
        "identity",
        "identity=PATH",
        "SSH private key (else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)",
    ),
    key(
        "known_hosts",
        "known_hosts=PATH",
        "SSH known hosts (else ~/.ssh/known_hosts)",
    ),
    key(
        "accept_new_host_key",
        "accept_new_host_key",
        "record an unknown host key (see --accept-new-host-keys)",
    ),
    key(
        "proxy_jump",
        "proxy_jump=HOST[,HOST]",
        "SSH jump hosts (like ProxyJump)",
    ),
    key(
        "ssh_config",
        "ssh_config=PATH",
        "SSH config file (else ~/.ssh/config)",
    ),
    key(
        "alive_interval",
        "alive_interval=SECONDS",
        "SSH keepalive; 3 silent intervals = connection lost",
    ),
    key(
        "docker",
        "docker=CONTAINER",
        "a running container through `docker exec -i` (zero-install)",
    ),
    key(
        "podman",
        "podman=CONTAINER",
        "the same through `podman exec -i`",
    ),
    key(
        "kubectl",
        "kubectl=POD[/CONTAINER]",
        "a pod through `kubectl exec -i` (with namespace=NS)",
    ),
    key(
        "user",
        "user=NAME|UID",
        "docker=/podman=: the user in the container (exec -u)",
    ),
    key(
        "namespace",
        "namespace=NS",
        "kubectl=: the pod's namespace (kubectl exec -n)",
    ),
    key(
        "sudo",
        "sudo=USER",
        "run the interpreter as USER through sudo; a password is asked\n(on the terminal or in the cockpit), never stored",
    ),
    key(
        "via",
        "via=GWID",
        "start through another gateway of the group",
    ),
    key(
        "installvia",
        "installvia=GWID",
        "with socket=: start a one-connection server through GWID",
    ),
    key(
        "max_frame",
        "max_frame=BYTES",
        "largest frame accepted from the worker (default 512 MiB)",
    ),
    key(
        "max_depth",
        "max_depth=N",
        "deepest nesting of a received item (default 1000)",
    ),
    key(
        "max_items",
        "max_items=N",
        "most items in one received container (default: what fits the frame)",
    ),
    key(
        "max_int_digits",
        "max_int_digits=N",
        "most digits of a received int (default 1000000)",
    ),
    key(
        "max_channel_refs",
        "max_channel_refs=N",
        "most channel references in one received item (default 1024)",
    ),
    key(
        "max_unread",
        "max_unread=BYTES",
        "most bytes of unread items on one channel (default 256 MiB)",
    ),
    key(
        "vagrant_ssh",
        "vagrant_ssh=BOX",
        "execnet's Vagrant transport: parsed, not supported yet",
    ),
];

/// The spec keys as `--help` lists them: usage in a column, help beside it.
pub fn keys_help() -> String {
    const COLUMN: usize = 30;
    let mut out = String::new();
    for k in KEYS {
        let mut lines = k.help.split('\n');
        if k.usage.len() < COLUMN {
            out.push_str(&format!(
                "  {:<COLUMN$}{}\n",
                k.usage,
                lines.next().unwrap_or("")
            ));
        } else {
            out.push_str(&format!("  {}\n", k.usage));
        }
        for l in lines {
            out.push_str(&format!("  {:COLUMN$}{l}\n", ""));
        }
    }
    out
}

/// The closest known key to a misspelt one, if it is close enough to be a typo.
fn did_you_mean(unknown: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| k.name.trim_end_matches(':'))
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .min()
        .filter(|(d, _)| *d <= 2)
        .map(|(_, k)| k)
}

/// Splits a command like a POSIX shell: quotes, backslashes, whitespace (the `shlex`
/// crate). A NUL byte is refused: no program can take it as an argument.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    if s.contains('\0') {
        return Err("a NUL byte cannot be part of a command".into());
    }
    shlex::split(s).ok_or_else(|| "unterminated quote or trailing backslash".into())
}

/// Joins words back into a command line a POSIX shell would split the same way.
pub fn shell_join(words: &[String]) -> String {
    // words come from shell_split or our own constants, so they hold no NUL byte;
    // were one there, the plain join still names the command in a message
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// A user, namespace or similar name: one word that no tool can take for an option.
fn plain_word(v: String, key: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && !v.starts_with('-')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':'));
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "{key}= takes a plain name (letters, digits, _ - . @ :), not '{v}'"
        ))
    }
}

/// A positive number of seconds below a day.
fn seconds(v: &str) -> Option<Duration> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(raw: &str) -> Result<Spec, SpecError> {
        let fail = |part: Option<&str>, msg: String| SpecError {
            spec: raw.to_string(),
            part: part.map(str::to_string),
            message: msg,
        };
        if raw.trim().is_empty() {
            return Err(fail(None, "empty spec (try 'popen')".into()));
        }
        let mut spec = Spec {
            raw: raw.to_string(),
            transport: Transport::Popen,
            python: None,
            id: None,
            via: None,
            installvia: None,
            setup: WorkerSetup::default(),
            dont_write_bytecode: false,
            execmodel: None,
            timeout: None,
            token_file: None,
            tls_fingerprint: None,
            ssh: SshOptions::default(),
            proxy_jump: None,
            limits: LimitKeys::default(),
            container: ContainerOptions::default(),
            sudo: None,
        };
        let mut transport: Option<Transport> = None;
        let mut seen: Vec<String> = Vec::new();
        for (idx, item) in raw.split("//").enumerate() {
            if item.is_empty() {
                let msg = if idx == 0 {
                    "empty item at the start".to_string()
                } else {
                    format!("empty item after item {idx} (a stray '//'?)")
                };
                return Err(fail(None, msg));
            }
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            let part = Some(item);
            if key.is_empty() {
                return Err(fail(part, "item has no key before '='".into()));
            }
            let dup_key = if let Some(name) = key.strip_prefix("env:") {
                if name.is_empty() {
                    return Err(fail(
                        part,
                        "env: needs a variable name (env:NAME=value)".into(),
                    ));
                }
                key.to_string()
            } else {
                key.to_string()
            };
            if seen.contains(&dup_key) {
                return Err(fail(part, format!("duplicate key '{key}'")));
            }
            seen.push(dup_key);
            let need = |v: Option<&str>| -> Result<String, SpecError> {
                match v {
                    Some(v) if !v.is_empty() => Ok(v.to_string()),
                    _ => Err(fail(part, format!("'{key}' needs a value ({key}=...)"))),
                }
            };
            if let Some(name) = key.strip_prefix("env:") {
                let v = value.ok_or_else(|| {
                    fail(part, format!("env:{name} needs a value (env:{name}=VALUE)"))
                })?;
                spec.setup.env.push((name.to_string(), v.to_string()));
                continue;
            }
            let set_transport =
                |t: Transport, cur: &mut Option<Transport>| -> Result<(), SpecError> {
                    if let Some(old) = cur {
                        return Err(fail(
                            part,
                            format!(
                                "more than one transport ('{}' and '{}')",
                                old.name(),
                                t.name()
                            ),
                        ));
                    }
                    *cur = Some(t);
                    Ok(())
                };
            match key {
                "popen" => {
                    if value.is_some_and(|v| !v.is_empty()) {
                        return Err(fail(part, "popen takes no value".into()));
                    }
                    set_transport(Transport::Popen, &mut transport)?;
                }
                "ssh" => set_transport(Transport::Ssh(need(value)?), &mut transport)?,
                "socket" => set_transport(Transport::Socket(need(value)?), &mut transport)?,
                "docker" | "podman" => {
                    let v = plain_word(need(value)?, key).map_err(|e| fail(part, e))?;
                    let t = if key == "docker" {
                        Transport::Docker(v)
                    } else {
                        Transport::Podman(v)
                    };
                    set_transport(t, &mut transport)?
                }
                "kubectl" => {
                    let v = need(value)?;
                    let words: Vec<&str> = v.split('/').collect();
                    if words.len() > 2
                        || words
                            .iter()
                            .any(|w| plain_word(w.to_string(), key).is_err())
                    {
                        return Err(fail(
                            part,
                            format!("kubectl= takes POD or POD/CONTAINER (plain names), not '{v}'"),
                        ));
                    }
                    set_transport(Transport::Kubectl(v), &mut transport)?
                }
                "user" | "namespace" | "sudo" => {
                    let v = plain_word(need(value)?, key).map_err(|e| fail(part, e))?;
                    match key {
                        "user" => spec.container.user = Some(v),
                        "namespace" => spec.container.namespace = Some(v),
                        _ => spec.sudo = Some(v),
                    }
                }
                "vagrant_ssh" => {
                    set_transport(Transport::VagrantSsh(need(value)?), &mut transport)?
                }
                "python" => {
                    let v = need(value)?;
                    let words = shell_split(&v).map_err(|e| fail(part, e))?;
                    if words.is_empty() {
                        return Err(fail(part, "python= needs a command".into()));
                    }
                    spec.python = Some(words);
                }
                "id" => {
                    let v = need(value)?;
                    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(fail(part, "id must not contain whitespace".into()));
                    }
                    spec.id = Some(v);
                }
                "via" => spec.via = Some(need(value)?),
                "installvia" => spec.installvia = Some(need(value)?),
                "chdir" => spec.setup.chdir = Some(need(value)?),
                "ssh_config" => spec.ssh.config = Some(need(value)?),
                "token_file" => spec.token_file = Some(need(value)?),
                "tls_fingerprint" => {
                    let v = need(value)?;
                    let hexdigits: String = v.chars().filter(|c| *c != ':').collect();
                    let pin = hex::decode(&hexdigits)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| {
                            fail(
                                part,
                                "tls_fingerprint takes a SHA-256 fingerprint: 64 hex digits (openssl x509 -noout -fingerprint -sha256)".into(),
                            )
                        })?;
                    spec.tls_fingerprint = Some(pin);
                }
                "identity" => spec.ssh.identity = Some(need(value)?),
                "known_hosts" => spec.ssh.known_hosts = Some(need(value)?),
                "accept_new_host_key" => spec.ssh.accept_new_host_key = true,
                "proxy_jump" => spec.proxy_jump = Some(need(value)?),
                "alive_interval" => {
                    spec.ssh.alive_interval = Some(seconds(&need(value)?).ok_or_else(|| {
                        fail(
                            part,
                            "alive_interval must be a positive number of seconds".into(),
                        )
                    })?);
                }
                "nice" => {
                    let v = need(value)?;
                    let n: i32 = v
                        .trim()
                        .parse()
                        .map_err(|_| fail(part, "nice must be an integer".into()))?;
                    spec.setup.nice = Some(n);
                }
                "timeout" => {
                    spec.timeout = Some(seconds(&need(value)?).ok_or_else(|| {
                        fail(part, "timeout must be a positive number of seconds".into())
                    })?);
                }
                "execmodel" => {
                    spec.execmodel = Some(match need(value)?.as_str() {
                        "thread" => ExecModel::Thread,
                        "main_thread_only" => ExecModel::MainThreadOnly,
                        other => {
                            return Err(fail(
                                part,
                                format!(
                                    "unknown execmodel '{other}' (use thread or main_thread_only)"
                                ),
                            ));
                        }
                    })
                }
                "dont_write_bytecode" => spec.dont_write_bytecode = true,
                limit if LimitKeys::known(limit).is_some() => {
                    let v = need(value)?;
                    let n: usize =
                        v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            fail(part, format!("{limit} must be a positive integer"))
                        })?;
                    if let Some(name) = LimitKeys::known(limit) {
                        spec.limits.0.push((name, n));
                    }
                }
                other => {
                    let hint = did_you_mean(other)
                        .map(|k| format!(" (did you mean '{k}'?)"))
                        .unwrap_or_default();
                    return Err(fail(part, format!("unknown key '{other}'{hint}")));
                }
            }
        }
        match transport {
            Some(t) => spec.transport = t,
            None => {
                return Err(fail(
                    None,
                    "no transport: add 'popen', 'ssh=HOST', 'socket=HOST:PORT' or 'docker=CONTAINER'".into(),
                ));
            }
        }
        let t = spec.transport.name();
        if spec.container.user.is_some()
            && !matches!(spec.transport, Transport::Docker(_) | Transport::Podman(_))
        {
            let hint = if spec.sudo.is_none() {
                " (sudo=USER changes the user on any transport)"
            } else {
                ""
            };
            return Err(fail(
                None,
                format!("user= works with docker= and podman= only, not {t}{hint}"),
            ));
        }
        if spec.container.namespace.is_some() && !matches!(spec.transport, Transport::Kubectl(_)) {
            return Err(fail(
                None,
                format!("namespace= works with kubectl= only, not {t}"),
            ));
        }
        if spec.sudo.is_some()
            && matches!(
                spec.transport,
                Transport::Socket(_) | Transport::VagrantSsh(_)
            )
        {
            return Err(fail(
                None,
                format!("sudo= needs a transport that starts the interpreter, not {t}"),
            ));
        }
        if spec.sudo.is_some() && spec.via.is_some() {
            return Err(fail(None, "sudo= cannot be combined with via= yet".into()));
        }
        if matches!(spec.transport, Transport::Socket(_)) && spec.python.is_some() {
            return Err(fail(None, "python= cannot be used with socket=".into()));
        }
        Ok(spec)
    }
}

/// The most gateways one `N*SPEC` may ask for.
pub const MAX_REPLICAS: usize = 1024;

impl Spec {
    /// Parses a spec that may start with `N*` (`4*popen`, as execnet's and
    /// pytest-xdist's `--tx 4*popen`): N copies of the spec. Without `id=` the copies
    /// get the group's next automatic ids (`gw0`, `gw1`, ...); with `id=NAME` they are
    /// `NAME0`, `NAME1`, .... Every place that takes a spec string goes through here.
    ///
    /// ```
    /// use execdeck_engine::Spec;
    /// let specs = Spec::parse_many("3*popen//python=python3//id=w").unwrap();
    /// let ids: Vec<_> = specs.iter().map(|s| s.id.clone().unwrap()).collect();
    /// assert_eq!(ids, ["w0", "w1", "w2"]);
    /// assert_eq!(specs[1].raw, "popen//python=python3//id=w1");
    /// assert_eq!(Spec::parse_many("popen").unwrap().len(), 1);
    /// let err = Spec::parse_many("0*popen").unwrap_err().to_string();
    /// assert_eq!(err, "bad spec '0*popen': in '0*': the count before '*' must be 1 to 1024");
    /// ```
    pub fn parse_many(text: &str) -> Result<Vec<Spec>, SpecError> {
        let Some((count, rest)) = text
            .split_once('*')
            .filter(|(c, _)| !c.contains("//") && !c.contains('='))
        else {
            return Ok(vec![text.parse()?]);
        };
        let fail = |msg: String| SpecError {
            spec: text.to_string(),
            part: Some(format!("{count}*")),
            message: msg,
        };
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail(format!(
                "'{count}' is not a count (write N*SPEC, e.g. 4*popen)"
            )));
        }
        let n = count
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_REPLICAS).contains(n))
            .ok_or_else(|| fail(format!("the count before '*' must be 1 to {MAX_REPLICAS}")))?;
        let base: Spec = rest.parse()?;
        Ok((0..n)
            .map(|i| {
                let mut s = base.clone();
                if let Some(id) = &base.id {
                    let new_id = format!("{id}{i}");
                    s.raw = rest
                        .split("//")
                        .map(|item| match item.strip_prefix("id=") {
                            Some(_) => format!("id={new_id}"),
                            None => item.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("//");
                    s.id = Some(new_id);
                } else {
                    s.raw = rest.to_string();
                }
                s
            })
            .collect())
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<Spec>().unwrap_err().to_string()
    }

    #[test]
    fn grammar() {
        let s: Spec = "popen//python=/opt/my python/bin/python3//id=a//chdir=x=y//nice=5//env:A=1=2//dont_write_bytecode//execmodel=main_thread_only".parse().unwrap();
        assert_eq!(s.transport, Transport::Popen);
        assert_eq!(
            s.python,
            Some(vec!["/opt/my".to_string(), "python/bin/python3".into()])
        );
        assert_eq!(s.setup.chdir.as_deref(), Some("x=y"));
        assert_eq!(s.setup.nice, Some(5));
        assert_eq!(s.setup.env, vec![("A".to_string(), "1=2".to_string())]);
        assert!(s.dont_write_bytecode);
        assert_eq!(s.execmodel, Some(ExecModel::MainThreadOnly));
        let s: Spec = "popen//python='/opt/my python/bin/python3'"
            .parse()
            .unwrap();
        assert_eq!(
            s.python,
            Some(vec!["/opt/my python/bin/python3".to_string()])
        );
        let s: Spec = "popen//python=nice -n 5 python3".parse().unwrap();
        assert_eq!(s.python.unwrap().len(), 4);
        let s: Spec = "ssh=user@host:22".parse().unwrap();
        assert_eq!(s.transport, Transport::Ssh("user@host:22".into()));
        assert_eq!(s.to_string(), "ssh=user@host:22");
    }

    #[test]
    fn errors_name_the_part() {
        assert_eq!(err(""), "bad spec '': empty spec (try 'popen')");
        assert_eq!(
            err("popen//"),
            "bad spec 'popen//': empty item after item 1 (a stray '//'?)"
        );
        assert_eq!(
            err("popen////id=a"),
            "bad spec 'popen////id=a': empty item after item 1 (a stray '//'?)"
        );
        assert_eq!(
            err("=x"),
            "bad spec '=x': in '=x': item has no key before '='"
        );
        assert_eq!(
            err("popen//id=a//id=b"),
            "bad spec 'popen//id=a//id=b': in 'id=b': duplicate key 'id'"
        );
        assert_eq!(
            err("popen//env:A=1//env:A=2"),
            "bad spec 'popen//env:A=1//env:A=2': in 'env:A=2': duplicate key 'env:A'"
        );
        assert_eq!(
            err("id=x"),
            "bad spec 'id=x': no transport: add 'popen', 'ssh=HOST', 'socket=HOST:PORT' or 'docker=CONTAINER'"
        );
        assert_eq!(
            err("popen//nice=abc"),
            "bad spec 'popen//nice=abc': in 'nice=abc': nice must be an integer"
        );
        assert_eq!(
            err("popen//execmodel=gevent"),
            "bad spec 'popen//execmodel=gevent': in 'execmodel=gevent': unknown execmodel 'gevent' (use thread or main_thread_only)"
        );
        assert_eq!(
            err("popen//pyhton=x"),
            "bad spec 'popen//pyhton=x': in 'pyhton=x': unknown key 'pyhton' (did you mean 'python'?)"
        );
        assert_eq!(
            err("popen//python="),
            "bad spec 'popen//python=': in 'python=': 'python' needs a value (python=...)"
        );
        assert_eq!(
            err("popen//python='a"),
            "bad spec 'popen//python='a': in 'python='a': unterminated quote or trailing backslash"
        );
        assert_eq!(
            err("popen//ssh=h"),
            "bad spec 'popen//ssh=h': in 'ssh=h': more than one transport ('popen' and 'ssh')"
        );
        assert_eq!(
            err("popen//env:A"),
            "bad spec 'popen//env:A': in 'env:A': env:A needs a value (env:A=VALUE)"
        );
        assert_eq!(
            err("popen//timeout=-1"),
            "bad spec 'popen//timeout=-1': in 'timeout=-1': timeout must be a positive number of seconds"
        );
        for e in [err(""), err("popen//"), err("x//y")] {
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split(r#"a "b c" 'd e' f\ g"#).unwrap(),
            vec!["a", "b c", "d e", "f g"]
        );
        assert_eq!(shell_split("").unwrap(), Vec::<String>::new());
        assert!(shell_split("\"x").is_err());
        let words = vec!["a b".to_string(), "it's".into(), "plain".into()];
        assert_eq!(shell_split(&shell_join(&words)).unwrap(), words);
    }

    #[test]
    fn every_listed_key_is_parsed() {
        for k in KEYS {
            let item = match k.name {
                "env:" => "env:A=1".to_string(),
                name => format!("{name}=1"),
            };
            let text = if ["popen", "ssh", "socket", "vagrant_ssh"].contains(&k.name) {
                item
            } else {
                format!("popen//{item}")
            };
            if let Err(e) = text.parse::<Spec>() {
                assert!(!e.to_string().contains("unknown key"), "{k:?}: {e}");
            }
        }
        assert!(keys_help().contains("\n  via=GWID"));
    }
}

//! The part of `~/.ssh/config` that execdeck applies: Host blocks (patterns with `*`,
//! `?` and `!`), first value wins, as OpenSSH does. Directives it does not support are
//! reported, never silently ignored.

use std::path::Path;

/// A directive execdeck applies to SSH gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    HostName,
    User,
    Port,
    /// Accumulates: every value counts, in order.
    IdentityFile,
    IdentitiesOnly,
    UserKnownHostsFile,
    /// yes / no / accept-new / ask
    StrictHostKeyChecking,
    ServerAliveInterval,
    ServerAliveCountMax,
    ConnectTimeout,
    ProxyJump,
}

/// The supported directives by their lower-case name; anything else that applies to
/// a host is reported in [`HostConfig::unsupported`].
pub const SUPPORTED: &[(&str, Directive)] = &[
    ("hostname", Directive::HostName),
    ("user", Directive::User),
    ("port", Directive::Port),
    ("identityfile", Directive::IdentityFile),
    ("identitiesonly", Directive::IdentitiesOnly),
    ("userknownhostsfile", Directive::UserKnownHostsFile),
    ("stricthostkeychecking", Directive::StrictHostKeyChecking),
    ("serveraliveinterval", Directive::ServerAliveInterval),
    ("serveralivecountmax", Directive::ServerAliveCountMax),
    ("connecttimeout", Directive::ConnectTimeout),
    ("proxyjump", Directive::ProxyJump),
];

/// Settings for one host alias: the values of the supported directives that applied
/// (the first one of each; every `IdentityFile`), as written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostConfig {
    values: Vec<(Directive, String)>,
    /// "FILE line N: Directive" for everything that applied to this host but is not
    /// supported (Match, ProxyCommand, ...; ProxyJump is supported).
    pub unsupported: Vec<String>,
}

impl HostConfig {
    /// The value of a directive (`HostName` with `%h` replaced by the alias).
    pub fn get(&self, d: Directive) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == d)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric value; one that does not parse counts as absent.
    pub fn number<T: std::str::FromStr>(&self, d: Directive) -> Option<T> {
        self.get(d)?.parse().ok()
    }

    /// A yes/no value: true only for `yes`.
    pub fn flag(&self, d: Directive) -> bool {
        self.get(d).is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }

    /// Every `IdentityFile`, in order.
    pub fn identity_files(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(|(k, _)| *k == Directive::IdentityFile)
            .map(|(_, v)| v.as_str())
    }
}

/// `*` and `?` globbing.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn host_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, host) {
                return false;
            }
        } else if glob(p, host) {
            matched = true;
        }
    }
    matched
}

/// Applies the file's text to `alias`; `file` names it in messages.
pub fn resolve(text: &str, file: &str, alias: &str) -> HostConfig {
    let mut c = HostConfig::default();
    // before any Host line, directives apply to every host
    let mut active = true;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (
                k.to_ascii_lowercase(),
                v.trim_start_matches(|c: char| c.is_whitespace() || c == '=')
                    .trim(),
            ),
            None => (line.to_ascii_lowercase(), ""),
        };
        let value = value.trim_matches('"');
        if key == "host" {
            let patterns: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            active = host_matches(&patterns, alias);
            continue;
        }
        if key == "match" {
            active = false;
            c.unsupported.push(format!(
                "{file} line {}: Match (the block is skipped)",
                n + 1
            ));
            continue;
        }
        if !active {
            continue;
        }
        let Some(&(_, d)) = SUPPORTED.iter().find(|(name, _)| *name == key) else {
            c.unsupported
                .push(format!("{file} line {}: {}", n + 1, raw.trim()));
            continue;
        };
        // first value wins, except IdentityFile which accumulates
        if d != Directive::IdentityFile && c.get(d).is_some() {
            continue;
        }
        let value = match d {
            Directive::HostName => value.replace("%h", alias),
            Directive::UserKnownHostsFile => {
                value.split_whitespace().next().unwrap_or("").to_string()
            }
            Directive::StrictHostKeyChecking => value.to_ascii_lowercase(),
            _ => value.to_string(),
        };
        c.values.push((d, value));
    }
    c
}

/// Reads and applies a config file; a missing file gives the defaults.
pub fn load(path: &Path, alias: &str) -> HostConfig {
    match std::fs::read_to_string(path) {
        Ok(text) => resolve(&text, &path.display().to_string(), alias),
        Err(_) => HostConfig::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_blocks_patterns_and_first_value_wins() {
        let text = "# comment\nHost web* !web3\n  HostName 10.0.0.%h\n  User deploy\n  Port 2200\n  ForwardAgent yes\n\
                    Host *\n  User nobody\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n  ServerAliveInterval 5\n  ProxyJump bastion\n";
        let c = resolve(text, "cfg", "web1");
        assert_eq!(c.get(Directive::HostName), Some("10.0.0.web1"));
        assert_eq!(c.get(Directive::User), Some("deploy"));
        assert_eq!(c.number::<u16>(Directive::Port), Some(2200));
        assert_eq!(
            c.identity_files().collect::<Vec<_>>(),
            vec!["~/.ssh/a", "~/.ssh/b"]
        );
        assert_eq!(c.number::<u64>(Directive::ServerAliveInterval), Some(5));
        assert_eq!(c.unsupported, vec!["cfg line 6: ForwardAgent yes"]);
        assert_eq!(c.get(Directive::ProxyJump), Some("bastion"));
        let c = resolve(text, "cfg", "web3");
        assert_eq!(c.get(Directive::User), Some("nobody"));
        assert_eq!(c.get(Directive::HostName), None);
        assert!(glob("a*b?c", "axxbyc"));
        assert!(!glob("a*b?c", "axxbc"));
        let c = resolve("Port=2222\nUser = x\n", "cfg", "any");
        assert_eq!(
            (c.number::<u16>(Directive::Port), c.get(Directive::User)),
            (Some(2222), Some("x"))
        );
    }
}

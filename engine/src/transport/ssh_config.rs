//! The part of `~/.ssh/config` that execdeck applies: Host blocks (patterns with `*`,
//! `?` and `!`), first value wins, as OpenSSH does. Directives it does not support are
//! reported, never silently ignored.

use std::collections::HashMap;
use std::path::Path;

/// Directives applied to SSH gateways.
pub const SUPPORTED: &[&str] = &[
    "hostname",
    "user",
    "port",
    "identityfile",
    "identitiesonly",
    "userknownhostsfile",
    "stricthostkeychecking",
    "serveraliveinterval",
    "serveralivecountmax",
    "connecttimeout",
    "proxyjump",
];

/// Settings for one host alias.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub identities_only: bool,
    pub known_hosts: Option<String>,
    /// yes / no / accept-new / ask
    pub strict_host_key_checking: Option<String>,
    pub server_alive_interval: Option<u64>,
    pub server_alive_count_max: Option<u32>,
    pub connect_timeout: Option<u64>,
    pub proxy_jump: Option<String>,
    /// "FILE line N: Directive" for everything that applied to this host but is not
    /// supported (Match, ProxyCommand, ...; ProxyJump is supported).
    pub unsupported: Vec<String>,
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
    let mut seen: HashMap<String, ()> = HashMap::new();
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
        if !SUPPORTED.contains(&key.as_str()) {
            c.unsupported
                .push(format!("{file} line {}: {}", n + 1, raw.trim()));
            continue;
        }
        // first value wins, except IdentityFile which accumulates
        if key != "identityfile" && seen.insert(key.clone(), ()).is_some() {
            continue;
        }
        match key.as_str() {
            "hostname" => c.hostname = Some(value.replace("%h", alias)),
            "user" => c.user = Some(value.to_string()),
            "port" => c.port = value.parse().ok(),
            "identityfile" => c.identity_files.push(value.to_string()),
            "identitiesonly" => c.identities_only = value.eq_ignore_ascii_case("yes"),
            "userknownhostsfile" => {
                c.known_hosts = value.split_whitespace().next().map(str::to_string)
            }
            "stricthostkeychecking" => {
                c.strict_host_key_checking = Some(value.to_ascii_lowercase())
            }
            "serveraliveinterval" => c.server_alive_interval = value.parse().ok(),
            "serveralivecountmax" => c.server_alive_count_max = value.parse().ok(),
            "connecttimeout" => c.connect_timeout = value.parse().ok(),
            "proxyjump" => c.proxy_jump = Some(value.to_string()),
            _ => {}
        }
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
        assert_eq!(c.hostname.as_deref(), Some("10.0.0.web1"));
        assert_eq!(c.user.as_deref(), Some("deploy"));
        assert_eq!(c.port, Some(2200));
        assert_eq!(c.identity_files, vec!["~/.ssh/a", "~/.ssh/b"]);
        assert_eq!(c.server_alive_interval, Some(5));
        assert_eq!(c.unsupported, vec!["cfg line 6: ForwardAgent yes"]);
        assert_eq!(c.proxy_jump.as_deref(), Some("bastion"));
        let c = resolve(text, "cfg", "web3");
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.hostname, None);
        assert!(glob("a*b?c", "axxbyc"));
        assert!(!glob("a*b?c", "axxbc"));
        let c = resolve("Port=2222\nUser = x\n", "cfg", "any");
        assert_eq!((c.port, c.user.as_deref()), (Some(2222), Some("x")));
    }
}

//! Files of the cockpit: `config.toml`, sessions (groups + specs) and per-gateway
//! console history, under the platform's config and data directories.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where files live: `~/.config/execdeck` and `~/.local/share/execdeck` on Linux.
/// `EXECDECK_CONFIG_DIR` / `EXECDECK_DATA_DIR` override them (tests use this).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EXECDECK_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "execdeck").map(|d| d.config_dir().to_path_buf())
}

pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EXECDECK_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "execdeck").map(|d| d.data_dir().to_path_buf())
}

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Lines kept per console (default 10,000).
    pub scrollback: usize,
    /// The spec the cockpit opens when given none (default `popen//python=python3`).
    pub default_spec: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scrollback: 10_000,
            default_spec: "popen//python=python3".into(),
        }
    }
}

/// Turns a TOML error into "FILE: line N: problem".
pub fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| {
            format!(
                "line {}: ",
                text[..s.start.min(text.len())].matches('\n').count() + 1
            )
        })
        .unwrap_or_default();
    format!("{file}: {line}{}", e.message())
}

impl Config {
    pub fn parse(text: &str, file: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        if c.scrollback == 0 || c.scrollback > 10_000_000 {
            return Err(format!("{file}: scrollback must be between 1 and 10000000"));
        }
        c.default_spec
            .parse::<crate::engine::Spec>()
            .map_err(|e| format!("{file}: default_spec: {e}"))?;
        Ok(c)
    }

    /// Loads `config.toml`; a missing file gives defaults, a bad one an error text
    /// (and the caller uses defaults).
    pub fn load() -> (Config, Option<String>) {
        let Some(dir) = config_dir() else {
            return (Config::default(), None);
        };
        let path = dir.join("config.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => match Config::parse(&text, &path.display().to_string()) {
                Ok(c) => (c, None),
                Err(e) => (Config::default(), Some(format!("{e} — using defaults"))),
            },
            Err(_) => (Config::default(), None),
        }
    }
}

/// A saved set of groups and their gateway specs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    #[serde(default)]
    pub groups: Vec<SessionGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionGroup {
    pub name: String,
    pub specs: Vec<String>,
}

impl Session {
    pub fn parse(text: &str, file: &str) -> Result<Session, String> {
        let s: Session = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        for g in &s.groups {
            if g.name.trim().is_empty() {
                return Err(format!("{file}: a group has an empty name"));
            }
            for spec in &g.specs {
                spec.parse::<crate::engine::Spec>()
                    .map_err(|e| format!("{file}: group '{}': {e}", g.name))?;
            }
        }
        Ok(s)
    }

    pub fn read(path: &Path) -> Result<Session, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Session::parse(&text, &path.display().to_string())
    }

    /// The file of a named session in the config dir.
    pub fn path_for(name: &str) -> Result<PathBuf, String> {
        let name = name.strip_suffix(".toml").unwrap_or(name);
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(format!(
                "bad session name '{name}': use letters, digits, - and _"
            ));
        }
        let dir = config_dir().ok_or("no config directory on this system")?;
        Ok(dir.join("sessions").join(format!("{name}.toml")))
    }

    /// Opens a session by name (config dir) or by path (contains '/' or ends in .toml).
    pub fn open(name_or_path: &str) -> Result<Session, String> {
        if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
            Session::read(Path::new(name_or_path))
        } else {
            Session::read(&Session::path_for(name_or_path)?)
        }
    }

    pub fn save(&self, name: &str) -> Result<PathBuf, String> {
        let path = Session::path_for(name)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let text = toml::to_string(self).map_err(|e| format!("cannot write session: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Console history per gateway spec: one JSON string per line, newest last.
pub fn history_path(spec: &str) -> Option<PathBuf> {
    Some(
        data_dir()?
            .join("history")
            .join(format!("{:016x}.jsonl", fnv64(spec))),
    )
}

pub const HISTORY_MAX: usize = 1000;

pub fn load_history(spec: &str) -> Vec<String> {
    let Some(p) = history_path(spec) else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(p) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<String>(l).ok())
        .collect()
}

/// Appends one entry (several gateways with the same spec never overwrite each other);
/// the file is trimmed to the newest [`HISTORY_MAX`] entries when it grows past twice that.
pub fn append_history(spec: &str, entry: &str) -> Result<(), String> {
    use std::io::Write as _;
    let p = history_path(spec).ok_or("no data directory on this system")?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    writeln!(f, "{}", serde_json::Value::String(entry.to_string()))
        .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    drop(f);
    let all = load_history(spec);
    if all.len() > 2 * HISTORY_MAX {
        save_history(spec, &all)?;
    }
    Ok(())
}

pub fn save_history(spec: &str, entries: &[String]) -> Result<(), String> {
    let p = history_path(spec).ok_or("no data directory on this system")?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let start = entries.len().saturating_sub(HISTORY_MAX);
    let mut out = String::new();
    for e in &entries[start..] {
        out.push_str(&serde_json::Value::String(e.clone()).to_string());
        out.push('\n');
    }
    std::fs::write(&p, out).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_file_line_and_problem() {
        assert_eq!(Config::parse("", "c.toml").unwrap(), Config::default());
        assert_eq!(
            Config::parse("scrollback = 50\n", "c.toml")
                .unwrap()
                .scrollback,
            50
        );
        let e = Config::parse("scrollback = 50\ncolour = 1\n", "c.toml").unwrap_err();
        assert!(
            e.starts_with("c.toml: line 2: unknown field `colour`"),
            "{e}"
        );
        let e = Config::parse("scrollback = \"x\"\n", "c.toml").unwrap_err();
        assert!(e.starts_with("c.toml: line 1: "), "{e}");
        let e = Config::parse("default_spec = \"popen//nice=x\"\n", "c.toml").unwrap_err();
        assert!(e.contains("nice must be an integer"), "{e}");
    }

    #[test]
    fn sessions_round_trip_and_validate() {
        let s = Session {
            groups: vec![SessionGroup {
                name: "local".into(),
                specs: vec!["popen//python=python3".into(), "popen//id=x".into()],
            }],
        };
        let text = toml::to_string(&s).unwrap();
        assert_eq!(Session::parse(&text, "s.toml").unwrap(), s);
        let e = Session::parse(
            "[[groups]]\nname = \"g\"\nspecs = [\"popen//\"]\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(
            e.starts_with("s.toml: group 'g': bad spec 'popen//'"),
            "{e}"
        );
        assert!(Session::path_for("../x").is_err());
    }
}

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
    /// Live metrics: sampling interval and the thresholds that colour a row.
    pub monitor: MonitorConfig,
    /// `q` asks first when a gateway is busy or holds state (default true).
    pub confirm_quit: bool,
    /// `[limits]`: decoding limits for every gateway, by the spec keys' names
    /// (`max_frame`, `max_depth`, `max_items`, `max_int_digits`, `max_channel_refs`,
    /// `max_unread`); a spec's own keys win over these.
    pub limits: std::collections::BTreeMap<String, usize>,
}

/// The limits of config.toml, set once at start ([`set_limits`]) for every gateway the
/// cockpit or a subcommand opens.
static LIMITS: std::sync::OnceLock<crate::engine::codec::Limits> = std::sync::OnceLock::new();

/// Makes `limits` the base of every gateway's limits (first call wins).
pub fn set_limits(limits: crate::engine::codec::Limits) {
    let _ = LIMITS.set(limits);
}

/// The base limits for a new gateway: config.toml's, else the defaults.
pub fn limits() -> crate::engine::codec::Limits {
    LIMITS.get().cloned().unwrap_or_default()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scrollback: 10_000,
            default_spec: "popen//python=python3".into(),
            monitor: MonitorConfig::default(),
            confirm_quit: true,
            limits: Default::default(),
        }
    }
}

/// `[monitor]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Seconds between two samples of a gateway (STATUS ping); 0 turns sampling off.
    pub interval: f64,
    /// Round-trip time in milliseconds: [warn, critical].
    pub rtt_ms: [f64; 2],
    /// Remote CPU, percent of one core: [warn, critical].
    pub cpu: [f64; 2],
    /// Remote resident memory in MiB: [warn, critical].
    pub rss_mb: [f64; 2],
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: 2.0,
            rtt_ms: [100.0, 1000.0],
            cpu: [50.0, 90.0],
            rss_mb: [512.0, 2048.0],
        }
    }
}

impl MonitorConfig {
    pub fn check(&self, file: &str) -> Result<(), String> {
        if !(0.0..=3600.0).contains(&self.interval) || self.interval.is_nan() {
            return Err(format!(
                "{file}: monitor.interval must be between 0 (off) and 3600 seconds"
            ));
        }
        if self.interval > 0.0 && self.interval < 0.1 {
            return Err(format!(
                "{file}: monitor.interval below 0.1 s would load the workers; use 0 to turn sampling off"
            ));
        }
        for (name, [warn, crit]) in [
            ("rtt_ms", self.rtt_ms),
            ("cpu", self.cpu),
            ("rss_mb", self.rss_mb),
        ] {
            if warn.is_nan() || crit.is_nan() || warn < 0.0 || crit < warn {
                return Err(format!(
                    "{file}: monitor.{name} must be [warn, critical] with 0 <= warn <= critical"
                ));
            }
        }
        Ok(())
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
        c.monitor.check(file)?;
        c.gateway_limits(file)?;
        Ok(c)
    }

    /// `[limits]` over the defaults; an unknown name or a 0 is an error.
    pub fn gateway_limits(&self, file: &str) -> Result<crate::engine::codec::Limits, String> {
        let keys = crate::engine::spec::LimitKeys::from_pairs(
            self.limits.iter().map(|(k, v)| (k.as_str(), *v)),
        )
        .map_err(|e| format!("{file}: [limits]: {e}"))?;
        Ok(keys.apply(&crate::engine::codec::Limits::default()))
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The view shown at start: "console" (default), "monitor", "tail", "rosetta",
    /// "channels".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    #[serde(default)]
    pub groups: Vec<SessionGroup>,
    /// Channels opened once their gateway is ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<SessionChannel>,
    /// Bridges between named channels, made once both are open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<SessionBridge>,
    /// A Rosetta grid run once its gateways are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rosetta: Option<SessionRosetta>,
}

/// `[[channels]]`: a channel running `code` on a gateway (remote_exec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionChannel {
    pub name: String,
    /// The gateway's group (default: the session's first group).
    #[serde(default)]
    pub group: Option<String>,
    pub gateway: String,
    pub code: String,
}

/// `[[bridges]]`: items of channel `from` flow into channel `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBridge {
    pub from: String,
    pub to: String,
}

/// `[rosetta]`: one snippet on several gateways, shown as a grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRosetta {
    #[serde(default)]
    pub group: Option<String>,
    /// Gateway ids (default: every gateway of the group).
    #[serde(default)]
    pub gateways: Vec<String>,
    pub code: String,
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
                crate::engine::Spec::parse_many(spec)
                    .map_err(|e| format!("{file}: group '{}': {e}", g.name))?;
            }
        }
        s.check_links(file)?;
        Ok(s)
    }

    /// The group a channel or grid names, or the first group.
    pub fn group_or_first<'a>(&'a self, group: &'a Option<String>) -> Option<&'a str> {
        group
            .as_deref()
            .or_else(|| self.groups.first().map(|g| g.name.as_str()))
    }

    /// Channels, bridges, the grid and the view must name things that exist.
    fn check_links(&self, file: &str) -> Result<(), String> {
        const VIEWS: &[&str] = &["console", "monitor", "tail", "rosetta", "channels"];
        if let Some(v) = &self.view
            && !VIEWS.contains(&v.as_str())
        {
            return Err(format!(
                "{file}: view '{v}' is not one of {}",
                VIEWS.join(", ")
            ));
        }
        let ids = |group: &str| -> Vec<String> {
            self.groups
                .iter()
                .filter(|g| g.name == group)
                .flat_map(|g| g.specs.iter())
                .filter_map(|s| crate::engine::Spec::parse_many(s).ok())
                .flatten()
                .enumerate()
                .map(|(n, s)| s.id.unwrap_or_else(|| format!("gw{n}")))
                .collect()
        };
        let mut names: Vec<&str> = Vec::new();
        for c in &self.channels {
            let group = self.group_or_first(&c.group).unwrap_or_default();
            if !ids(group).contains(&c.gateway) {
                return Err(format!(
                    "{file}: channel '{}': no gateway '{}' in group '{group}'",
                    c.name, c.gateway
                ));
            }
            if names.contains(&c.name.as_str()) {
                return Err(format!("{file}: two channels are named '{}'", c.name));
            }
            names.push(&c.name);
        }
        let mut sources: Vec<&str> = Vec::new();
        for b in &self.bridges {
            for end in [&b.from, &b.to] {
                if !names.contains(&end.as_str()) {
                    return Err(format!(
                        "{file}: bridge {} -> {}: no channel named '{end}'",
                        b.from, b.to
                    ));
                }
            }
            if b.from == b.to {
                return Err(format!("{file}: bridge from '{}' to itself", b.from));
            }
            if sources.contains(&b.from.as_str()) {
                return Err(format!(
                    "{file}: channel '{}' is the source of two bridges",
                    b.from
                ));
            }
            sources.push(&b.from);
        }
        if let Some(r) = &self.rosetta {
            let group = self.group_or_first(&r.group).unwrap_or_default();
            let known = ids(group);
            for g in &r.gateways {
                if !known.contains(g) {
                    return Err(format!(
                        "{file}: rosetta: no gateway '{g}' in group '{group}'"
                    ));
                }
            }
        }
        Ok(())
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
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// Console history per gateway spec: one JSON string per line, newest last. The file
/// is named after the spec's 64-bit FNV-1a hash (the names of existing files depend on
/// it: keep the hash).
pub fn history_path(spec: &str) -> Option<PathBuf> {
    use std::hash::Hasher as _;
    let mut h = fnv::FnvHasher::default();
    h.write(spec.as_bytes());
    Some(
        data_dir()?
            .join("history")
            .join(format!("{:016x}.jsonl", h.finish())),
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
    let mut f = open_private(&p, true)?;
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
    write_private(&p, out.as_bytes())
}

/// Opens a file that only its owner may read (0600; an existing file is narrowed too):
/// histories and sessions can hold commands, hosts and secrets.
pub fn open_private(path: &Path, append: bool) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    Ok(f)
}

/// Writes `data` to a private (0600) file.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    open_private(path, false)?
        .write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
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
    fn limits_section_sets_the_base_limits() {
        let c = Config::parse("[limits]\nmax_items = 1000\nmax_unread = 4096\n", "c.toml").unwrap();
        let l = c.gateway_limits("c.toml").unwrap();
        assert_eq!(l.max_container_len, 1000);
        assert_eq!(l.max_unread, 4096);
        assert_eq!(
            l.max_depth,
            crate::engine::codec::Limits::default().max_depth
        );
        let e = Config::parse("[limits]\nmax_itmes = 1\n", "c.toml").unwrap_err();
        assert!(e.contains("unknown limit 'max_itmes'"), "{e}");
        assert!(e.contains("max_items"), "{e}");
        let e = Config::parse("[limits]\nmax_depth = 0\n", "c.toml").unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn monitor_section_and_its_errors() {
        let c = Config::parse("[monitor]\ninterval = 1\ncpu = [20, 40]\n", "c.toml").unwrap();
        assert_eq!(c.monitor.interval, 1.0);
        assert_eq!(c.monitor.cpu, [20.0, 40.0]);
        assert_eq!(c.monitor.rtt_ms, MonitorConfig::default().rtt_ms);
        let e = Config::parse("[monitor]\ninterval = 0.01\n", "c.toml").unwrap_err();
        assert!(e.contains("monitor.interval below 0.1 s"), "{e}");
        let e = Config::parse("[monitor]\nrss_mb = [100, 10]\n", "c.toml").unwrap_err();
        assert_eq!(
            e,
            "c.toml: monitor.rss_mb must be [warn, critical] with 0 <= warn <= critical"
        );
        let e = Config::parse("[monitor]\ninterval = -1\n", "c.toml").unwrap_err();
        assert!(e.contains("between 0 (off) and 3600"), "{e}");
        let e = Config::parse("[monitor]\nintervall = 1\n", "c.toml").unwrap_err();
        assert!(
            e.starts_with("c.toml: line 2: unknown field `intervall`"),
            "{e}"
        );
    }

    #[test]
    fn session_channels_bridges_and_grid_must_name_what_exists() {
        let base = "[[groups]]\nname = \"g\"\nspecs = [\"popen//id=a\", \"popen\"]\n";
        let ok = format!(
            "{base}[[channels]]\nname = \"p\"\ngateway = \"a\"\ncode = \"x\"\n[[channels]]\nname = \"c\"\ngateway = \"gw1\"\ncode = \"y\"\n[[bridges]]\nfrom = \"p\"\nto = \"c\"\n[rosetta]\ngateways = [\"a\", \"gw1\"]\ncode = \"1\"\n"
        );
        let s = Session::parse(&ok, "s.toml").unwrap();
        assert_eq!(s.channels.len(), 2);
        assert_eq!(s.bridges.len(), 1);
        let bad = [
            (
                format!("{base}[[channels]]\nname = \"p\"\ngateway = \"zz\"\ncode = \"x\"\n"),
                "s.toml: channel 'p': no gateway 'zz' in group 'g'",
            ),
            (
                format!("{base}[[bridges]]\nfrom = \"p\"\nto = \"c\"\n"),
                "s.toml: bridge p -> c: no channel named 'p'",
            ),
            (
                format!("{base}[rosetta]\ngateways = [\"nope\"]\ncode = \"1\"\n"),
                "s.toml: rosetta: no gateway 'nope' in group 'g'",
            ),
            (
                format!("view = \"grid\"\n{base}"),
                "s.toml: view 'grid' is not one of console, monitor, tail, rosetta, channels",
            ),
        ];
        for (text, want) in bad {
            assert_eq!(Session::parse(&text, "s.toml").unwrap_err(), want);
        }
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("h.jsonl");
        std::fs::write(&p, "old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        for append in [true, false] {
            drop(open_private(&p, append).expect("open"));
            let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        write_private(&dir.path().join("s.toml"), b"x").expect("write");
        let mode = std::fs::metadata(dir.path().join("s.toml"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn history_file_names_stay_fnv1a_64() {
        // names of files written by earlier versions (FNV-1a 64 of the spec, hex)
        let name = |spec: &str| {
            history_path(spec).map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        };
        if data_dir().is_some() {
            assert_eq!(name("").as_deref(), Some("cbf29ce484222325.jsonl"));
            assert_eq!(name("a").as_deref(), Some("af63dc4c8601ec8c.jsonl"));
        }
    }

    #[test]
    fn sessions_round_trip_and_validate() {
        let s = Session {
            groups: vec![SessionGroup {
                name: "local".into(),
                specs: vec!["popen//python=python3".into(), "popen//id=x".into()],
            }],
            ..Session::default()
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

//! The cockpit. `terminal` guards the terminal, `event_loop` turns keys and engine
//! messages into `Action`s and draws when something changed, `effects` carries the
//! app's `Effect`s to the engine, `gateways` and `channels` are the background tasks
//! that follow gateways, channels and bridges, and `runtime` is the one value they
//! share.

pub mod app;
pub mod keymap;
pub mod monitor;
pub mod panels;
pub mod views;

mod channels;
mod effects;
mod event_loop;
mod gateways;
mod runtime;
mod terminal;

use crate::engine::Spec;
use keymap::Keymap;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use runtime::Runtime;
use terminal::TerminalGuard;

/// What the cockpit opens at start: (group, spec) pairs.
pub struct Startup {
    pub gateways: Vec<(String, Spec)>,
    /// A session file's channels, bridges, grid and view (its groups are in `gateways`).
    pub setup: Option<crate::config::Session>,
    /// Metrics sampling and thresholds.
    pub monitor: crate::config::MonitorConfig,
    /// Lines kept per console.
    pub scrollback: usize,
    /// `q` asks first when a gateway is busy or holds state.
    pub confirm_quit: bool,
    /// A problem with the config or keymap file, shown at start (defaults are used).
    pub notice: Option<String>,
    pub keymap: Keymap,
    /// `--accept-new-host-keys`: record unknown SSH host keys (never changed ones).
    pub accept_new_host_keys: bool,
}

/// Loads the user's keymap override from the config dir; a bad file gives a notice and
/// the defaults.
pub fn load_keymap() -> (Keymap, Option<String>) {
    let Some(dir) = crate::config::config_dir() else {
        return (Keymap::defaults(), None);
    };
    let path = dir.join("keymap.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => match Keymap::with_overrides(&text, &path.display().to_string()) {
            Ok(km) => (km, None),
            Err(e) => (
                Keymap::defaults(),
                Some(format!("{e} — using the default keys")),
            ),
        },
        Err(_) => (Keymap::defaults(), None),
    }
}

/// Runs the cockpit until the user quits; returns the exit code.
pub async fn run(startup: Startup) -> i32 {
    let (rt, rx) = Runtime::new(startup.accept_new_host_keys, startup.monitor.interval);
    let guard = match TerminalGuard::enter(&rt) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("execdeck: cannot set up the terminal: {e}");
            return 1;
        }
    };
    let mut terminal = match Terminal::new(CrosstermBackend::new(std::io::stdout())) {
        Ok(t) => t,
        Err(e) => {
            drop(guard);
            eprintln!("execdeck: cannot set up the terminal: {e}");
            return 1;
        }
    };
    let code = event_loop::run(&mut terminal, startup, rt, rx).await;
    drop(terminal);
    drop(guard);
    code
}

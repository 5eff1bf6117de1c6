//! The cockpit: terminal guard, event loop (draw only when something changed), and the
//! glue that carries `Effect`s to the engine and engine events back as `Action`s.

pub mod app;
pub mod keymap;
pub mod monitor;
pub mod panels;
pub mod views;

use crate::engine::{Console, Event, Gateway, GatewayOptions, Spec, Stream};
use app::{Action, App, Effect, EngineMsg};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_lite::StreamExt;
use keymap::Keymap;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::collections::HashMap;
use std::io::Stdout;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the cockpit opens at start: (group, spec) pairs.
pub struct Startup {
    pub gateways: Vec<(String, Spec)>,
    /// A session file's channels, bridges, grid and view (its groups are in `gateways`).
    pub setup: Option<crate::config::Session>,
    /// Metrics sampling and thresholds.
    pub monitor: crate::config::MonitorConfig,
    /// Lines kept per console.
    pub scrollback: usize,
    /// A problem with the config or keymap file, shown at start (defaults are used).
    pub notice: Option<String>,
    pub keymap: Keymap,
}

/// Restores the terminal however we leave: drop, error, or panic.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        enable_raw_mode()?;
        let mut out = std::io::stdout();
        if let Err(e) = execute!(
            out,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        ) {
            restore();
            return Err(e);
        }
        // Ctrl+Enter is distinct only with the kitty keyboard protocol (not in tmux)
        if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
            let _ = execute!(
                out,
                crossterm::event::PushKeyboardEnhancementFlags(
                    crossterm::event::KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES
                )
            );
            ENHANCED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(TerminalGuard)
    }
}

static ENHANCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn restore() {
    if ENHANCED.swap(false, std::sync::atomic::Ordering::Relaxed) {
        let _ = execute!(
            std::io::stdout(),
            crossterm::event::PopKeyboardEnhancementFlags
        );
    }
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
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

#[derive(Default)]
struct Handle {
    gw: Option<Gateway>,
    console: Option<Console>,
    channels: HashMap<i32, crate::engine::Channel>,
    /// Whether a channel's watcher leaves its items alone (a bridge reads them).
    holds: HashMap<i32, tokio::sync::watch::Sender<bool>>,
    group: String,
}

/// The metrics sampling interval in seconds (0: off); samplers follow its changes.
fn interval_watch() -> &'static tokio::sync::watch::Sender<f64> {
    static W: std::sync::OnceLock<tokio::sync::watch::Sender<f64>> = std::sync::OnceLock::new();
    W.get_or_init(|| tokio::sync::watch::channel(0.0).0)
}

/// Samples a gateway's metrics at the configured interval until it goes away.
async fn sample_metrics(key: usize, gw: Gateway, tx: mpsc::Sender<EngineMsg>) {
    let mut rx = interval_watch().subscribe();
    let mut sampler = crate::engine::monitor::Sampler::new(gw.clone());
    let mut first = true;
    loop {
        let secs = *rx.borrow_and_update();
        if secs <= 0.0 {
            // sampling is off: wake for a change, and now and then to let a dead
            // gateway go
            tokio::select! {
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    if gw.state() != crate::engine::GatewayState::Ready {
                        return;
                    }
                }
            }
            continue;
        }
        if !first {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        first = false;
        if gw.state() != crate::engine::GatewayState::Ready {
            return;
        }
        if let Ok(Ok(metrics)) =
            tokio::time::timeout(Duration::from_secs(30), sampler.sample()).await
            && tx.send(EngineMsg::Metrics { key, metrics }).await.is_err()
        {
            return;
        }
    }
}

type Handles = Arc<Mutex<HashMap<usize, Handle>>>;

/// Where the answer to the SSH thread's current question goes.
type PendingSecret = Arc<Mutex<Option<std::sync::mpsc::Sender<Option<String>>>>>;

static PENDING_SECRET: std::sync::OnceLock<PendingSecret> = std::sync::OnceLock::new();

fn pending_secret() -> &'static PendingSecret {
    PENDING_SECRET.get_or_init(|| Arc::new(Mutex::new(None)))
}

/// Asks through the cockpit: a masked prompt; blocks the SSH thread until answered.
fn cockpit_prompter(tx: mpsc::Sender<EngineMsg>) -> crate::engine::ssh::Prompter {
    static ONE: Mutex<()> = Mutex::new(());
    Arc::new(move |question: &str, secret: bool| {
        let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
        let (reply_tx, reply_rx) = std::sync::mpsc::channel();
        if let Ok(mut slot) = pending_secret().lock() {
            *slot = Some(reply_tx);
        }
        tx.blocking_send(EngineMsg::SecretPrompt {
            question: question.to_string(),
            secret,
        })
        .ok()?;
        reply_rx
            .recv_timeout(Duration::from_secs(300))
            .ok()
            .flatten()
    })
}

fn handles_lock(h: &Handles) -> std::sync::MutexGuard<'_, HashMap<usize, Handle>> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the cockpit until the user quits; returns the exit code.
pub async fn run(startup: Startup) -> i32 {
    // panics restore the terminal before the message is printed
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        prev(info);
    }));
    let guard = match TerminalGuard::enter() {
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
    let code = event_loop(&mut terminal, startup).await;
    drop(terminal);
    drop(guard);
    code
}

async fn event_loop(terminal: &mut Terminal<CrosstermBackend<Stdout>>, startup: Startup) -> i32 {
    let mut app = App::new(startup.keymap);
    app.scrollback = startup.scrollback;
    interval_watch().send_replace(startup.monitor.interval);
    app.monitor.config = startup.monitor;
    app.toast = startup.notice;
    let (tx, mut rx) = mpsc::channel::<EngineMsg>(4096);
    let handles: Handles = Arc::new(Mutex::new(HashMap::new()));
    for (group, spec) in startup.gateways {
        match app.add_gateway(&group, spec) {
            Ok(eff) => execute_effect(eff, &tx, &handles),
            Err(e) => app.toast = Some(e),
        }
    }
    app.selected = 0;
    if let Some(first) = app.groups.first() {
        app.current_group = first.clone();
    }
    if let Some(setup) = &startup.setup {
        app.apply_setup(setup);
    }
    let mut events = EventStream::new();
    let mut signals = Signals::new();
    let frame = Duration::from_millis(16);
    let mut last_draw = Instant::now() - frame;
    loop {
        if app.dirty {
            let wait = frame.saturating_sub(last_draw.elapsed());
            if wait.is_zero() {
                if terminal.draw(|f| views::draw(f, &mut app)).is_err() {
                    break;
                }
                app.dirty = false;
                last_draw = Instant::now();
            }
        }
        let deadline = if app.dirty {
            Some(tokio::time::Instant::now() + frame.saturating_sub(last_draw.elapsed()))
        } else {
            None
        };
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => Some(Action::Key(k)),
                Some(Ok(TermEvent::Paste(p))) => Some(Action::Paste(p)),
                Some(Ok(TermEvent::Mouse(m))) => Some(Action::Mouse(m)),
                Some(Ok(TermEvent::Resize(..))) => Some(Action::Resize),
                Some(Ok(_)) => None,
                Some(Err(_)) | None => { app.quitting = true; Some(Action::Resize) }
            },
            Some(msg) = rx.recv() => Some(Action::Engine(msg)),
            _ = signals.recv() => { app.quitting = true; Some(Action::Resize) }
            _ = sleep_until(deadline) => None,
        };
        if let Some(a) = action {
            for eff in app.update(a) {
                execute_effect(eff, &tx, &handles);
            }
        }
        // drain what else is queued before drawing (bursts coalesce into one frame)
        let mut n = 0;
        while n < 10_000 {
            match rx.try_recv() {
                Ok(msg) => {
                    for eff in app.update(Action::Engine(msg)) {
                        execute_effect(eff, &tx, &handles);
                    }
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if app.quitting {
            break;
        }
    }
    // quitting terminates everything and leaves no process behind
    app.toast = Some("terminating all gateways…".into());
    app.dirty = true;
    let _ = terminal.draw(|f| views::draw(f, &mut app));
    let gws: Vec<Gateway> = handles_lock(&handles)
        .values()
        .filter_map(|h| h.gw.clone())
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for gw in gws {
        set.spawn(async move { gw.terminate(Duration::from_secs(2)).await });
    }
    while set.join_next().await.is_some() {}
    0
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM / SIGHUP end the cockpit cleanly.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    async fn recv(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.hup) => {}
        }
    }
}

fn execute_effect(eff: Effect, tx: &mpsc::Sender<EngineMsg>, handles: &Handles) {
    match eff {
        Effect::Open {
            key,
            id,
            spec,
            group,
        } => {
            handles_lock(handles).insert(
                key,
                Handle {
                    group,
                    ..Handle::default()
                },
            );
            let htx = tx.clone();
            let raw = spec.raw.clone();
            tokio::task::spawn_blocking(move || {
                let entries = crate::config::load_history(&raw);
                if !entries.is_empty() {
                    let _ = htx.blocking_send(EngineMsg::History { key, entries });
                }
            });
            tokio::spawn(open_gateway(key, id, *spec, tx.clone(), handles.clone()));
        }
        Effect::Run { key, code } => {
            let console = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.console.clone());
            let tx = tx.clone();
            tokio::spawn(async move {
                let msg = match console {
                    Some(c) => match c.run(&code).await {
                        Ok(snippet) => EngineMsg::Started { key, snippet },
                        Err(e) => EngineMsg::Died {
                            key,
                            reason: e.to_string(),
                        },
                    },
                    None => EngineMsg::Failed {
                        key,
                        error: "the console is not ready yet".into(),
                    },
                };
                let _ = tx.send(msg).await;
            });
        }
        Effect::Interrupt { key } => {
            let console = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.console.clone());
            if let Some(c) = console {
                tokio::spawn(async move {
                    let _ = c.interrupt().await;
                });
            }
        }
        Effect::Signal { key } => {
            if let Some(c) = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.console.clone())
            {
                c.signal_interrupt();
            }
        }
        Effect::Terminate { keys } => {
            for key in keys {
                let gw = handles_lock(handles).get(&key).and_then(|h| h.gw.clone());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome = match gw {
                        Some(gw) => gw.terminate(Duration::from_secs(2)).await,
                        None => crate::engine::TerminateOutcome::AlreadyDead(None),
                    };
                    let _ = tx.send(EngineMsg::Terminated { key, outcome }).await;
                });
            }
        }
        Effect::SaveHistory { spec, entry } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = crate::config::append_history(&spec, &entry) {
                    let _ = tx.blocking_send(EngineMsg::Notice(format!("history not saved: {e}")));
                }
            });
        }
        Effect::SaveSession { name, session } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let msg = match session.save(&name) {
                    Ok(p) => format!("session '{name}' saved to {}", p.display()),
                    Err(e) => e,
                };
                let _ = tx.blocking_send(EngineMsg::Notice(msg));
            });
        }
        Effect::OpenSession { name } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let msg = match crate::config::Session::open(&name) {
                    Ok(s) => EngineMsg::Session(s),
                    Err(e) => EngineMsg::Notice(e),
                };
                let _ = tx.blocking_send(msg);
            });
        }
        Effect::SaveOutput { path, text } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let msg = match std::fs::write(&path, text) {
                    Ok(()) => format!("output saved to {path}"),
                    Err(e) => format!("cannot save to {path}: {e}"),
                };
                let _ = tx.blocking_send(EngineMsg::Notice(msg));
            });
        }
        Effect::OpenChannel {
            key,
            code,
            name,
            hold,
        } => {
            let gw = handles_lock(handles).get(&key).and_then(|h| h.gw.clone());
            let Some(gw) = gw else { return };
            let (tx, handles) = (tx.clone(), handles.clone());
            tokio::spawn(async move {
                // a bridge source gets Python 2 `str` as bytes from its first item on
                let opened = if hold {
                    let raw = crate::engine::StrConfig {
                        py2str_as_py3str: false,
                        py3str_as_py2str: false,
                    };
                    gw.remote_exec_with_strconfig(&code, raw).await
                } else {
                    gw.remote_exec(&code).await
                };
                match opened {
                    Ok(ch) => {
                        let w = Watch {
                            key,
                            opener: "here",
                            name,
                            hold,
                        };
                        watch_channel(w, ch, tx, handles).await
                    }
                    Err(e) => {
                        let _ = tx
                            .send(EngineMsg::ChannelOpenFailed {
                                key,
                                name,
                                error: e.to_string(),
                            })
                            .await;
                    }
                }
            });
        }
        Effect::ChannelSend {
            key,
            channel,
            value,
        } => {
            let ch = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.channels.get(&channel).cloned());
            let tx = tx.clone();
            tokio::spawn(async move {
                let msg = match ch {
                    Some(ch) => match ch.send(&value).await {
                        Ok(()) => EngineMsg::ChannelSent {
                            key,
                            channel,
                            repr: value.to_string(),
                        },
                        Err(e) => EngineMsg::Notice(format!("send failed: {e}")),
                    },
                    None => EngineMsg::Notice(format!("channel {channel} is gone")),
                };
                let _ = tx.send(msg).await;
            });
        }
        Effect::ChannelClose { key, channel } => {
            let ch = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.channels.get(&channel).cloned());
            if let Some(ch) = ch {
                tokio::spawn(async move {
                    let _ = ch.close().await;
                });
            }
        }
        Effect::ReleaseChannel { key, channel } => {
            if let Some(hold) = handles_lock(handles)
                .get(&key)
                .and_then(|h| h.holds.get(&channel))
            {
                hold.send_replace(false);
            }
        }
        Effect::Bridge { src, dst } => {
            let (a, b, hold) = {
                let hs = handles_lock(handles);
                let get =
                    |(k, c): (usize, i32)| hs.get(&k).and_then(|h| h.channels.get(&c).cloned());
                let hold = hs.get(&src.0).and_then(|h| h.holds.get(&src.1).cloned());
                (get(src), get(dst), hold)
            };
            let tx = tx.clone();
            let (Some(a), Some(b)) = (a, b) else {
                let _ = tx.try_send(EngineMsg::BridgeFailed {
                    src,
                    dst,
                    error: "the channel is gone".into(),
                });
                return;
            };
            // the source's watcher stops reading: its items are the bridge's now (and
            // its own again if the bridge cannot start)
            if let Some(hold) = &hold {
                hold.send_replace(true);
            }
            tokio::spawn(run_bridge(src, dst, a, b, hold, tx));
        }
        Effect::Rosetta { run, keys, code } => {
            let gws: Vec<Gateway> = {
                let hs = handles_lock(handles);
                keys.iter()
                    .filter_map(|k| hs.get(k).and_then(|h| h.gw.clone()))
                    .collect()
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let cells = crate::engine::rosetta::run(&gws, &code).await;
                let _ = tx.send(EngineMsg::RosettaDone { run, cells }).await;
            });
        }
        Effect::MonitorInterval(secs) => {
            interval_watch().send_replace(secs);
        }
        Effect::SecretReply(answer) => {
            let sender = pending_secret().lock().ok().and_then(|mut s| s.take());
            if let Some(s) = sender {
                let _ = s.send(answer);
            }
        }
        Effect::Quit => {}
    }
}

/// Forwards a bridge's counters to the app a few times a second, and its end.
async fn run_bridge(
    src: (usize, i32),
    dst: (usize, i32),
    a: crate::engine::Channel,
    b: crate::engine::Channel,
    hold: Option<tokio::sync::watch::Sender<bool>>,
    tx: mpsc::Sender<EngineMsg>,
) {
    let bridge = match crate::engine::bridge::Bridge::start(a, b).await {
        Ok(b) => b,
        Err(e) => {
            if let Some(hold) = hold {
                hold.send_replace(false);
            }
            let _ = tx
                .send(EngineMsg::BridgeFailed {
                    src,
                    dst,
                    error: e.to_string(),
                })
                .await;
            return;
        }
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        let ended = tokio::select! {
            reason = bridge.wait() => Some(reason),
            _ = tokio::time::sleep(Duration::from_millis(500)) => None,
        };
        let st = bridge.stats();
        let dt = last.0.elapsed().as_secs_f64();
        let per_s = if dt > 0.0 {
            st.items.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        last = (Instant::now(), st.items);
        let done = ended.is_some();
        let msg = EngineMsg::Bridge {
            src,
            dst,
            items: st.items,
            conversions: st.conversions,
            per_s: if done { 0.0 } else { per_s },
            ended,
        };
        if tx.send(msg).await.is_err() || done {
            return;
        }
    }
}

/// How a channel is followed.
struct Watch {
    key: usize,
    /// "here" or "remote".
    opener: &'static str,
    name: Option<String>,
    /// Do not read items (a bridge will): only announce the channel and its end.
    hold: bool,
}

/// Follows one channel: announces it, forwards its items (and the channels they carry)
/// and its end.
fn watch_channel(
    w: Watch,
    ch: crate::engine::Channel,
    tx: mpsc::Sender<EngineMsg>,
    handles: Handles,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let key = w.key;
        let channel = ch.id();
        let (hold_tx, mut hold) = tokio::sync::watch::channel(w.hold);
        if let Some(h) = handles_lock(&handles).get_mut(&key) {
            h.channels.insert(channel, ch.clone());
            h.holds.insert(channel, hold_tx);
        }
        let _ = tx
            .send(EngineMsg::ChannelOpened {
                key,
                channel,
                opener: w.opener.into(),
                name: w.name,
            })
            .await;
        // false once nobody can change the hold any more
        let mut watching = true;
        loop {
            let held = *hold.borrow_and_update();
            let next = tokio::select! {
                // a bridge reads the items: only the end is ours to report
                r = ch.wait_closed(None), if held => r.map(|()| None),
                r = ch.next(), if !held => r,
                changed = hold.changed(), if watching => {
                    watching = changed.is_ok();
                    continue;
                }
            };
            match next {
                Ok(Some(v)) => {
                    if let crate::engine::Value::Channel(id) = v {
                        // a channel made by the remote side: follow it too
                        let sub = ch.gateway().channel(id);
                        let opener = if id % 2 == 0 { "remote" } else { "here" };
                        let w = Watch {
                            key,
                            opener,
                            name: None,
                            hold: false,
                        };
                        tokio::spawn(watch_channel(w, sub, tx.clone(), handles.clone()));
                    }
                    let repr = v.to_string();
                    if tx
                        .send(EngineMsg::ChannelItem { key, channel, repr })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = tx
                        .send(EngineMsg::ChannelEnded {
                            key,
                            channel,
                            error: None,
                        })
                        .await;
                    return;
                }
                Err(e) => {
                    let error = Some(match e {
                        crate::engine::Error::Remote(r) => r.formatted,
                        other => other.to_string(),
                    });
                    let _ = tx
                        .send(EngineMsg::ChannelEnded {
                            key,
                            channel,
                            error,
                        })
                        .await;
                    return;
                }
            }
        }
    })
}

async fn open_gateway(
    key: usize,
    id: String,
    spec: Spec,
    tx: mpsc::Sender<EngineMsg>,
    handles: Handles,
) {
    let (etx, mut erx) = mpsc::channel::<Event>(4096);
    // via=: the named gateway of the same group (it may still be starting)
    let find_via = |v: &str| {
        let hs = handles_lock(&handles);
        let group = hs.get(&key).map(|h| h.group.clone()).unwrap_or_default();
        hs.values()
            .filter(|h| h.group == group)
            .filter_map(|h| h.gw.clone())
            .find(|g| g.id() == v)
    };
    let mut via = None;
    if let Some(v) = &spec.via {
        let end = Instant::now() + Duration::from_secs(60);
        while via.is_none() && Instant::now() < end {
            via = find_via(v);
            if via.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let opts = GatewayOptions {
        id: Some(id),
        via,
        events: Some(etx),
        accept_new_host_keys: crate::cli::accept_new_host_keys(),
        prompter: Some(cockpit_prompter(tx.clone())),
        ..GatewayOptions::default()
    };
    // forward output and deaths while the gateway lives
    let ftx = tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = erx.recv().await {
            let msg = match ev {
                Event::Output { stream, text, .. } => EngineMsg::Output { key, stream, text },
                Event::GatewayDied { reason, .. } => EngineMsg::Died { key, reason },
                _ => continue,
            };
            if ftx.send(msg).await.is_err() {
                return;
            }
        }
    });
    let gw = match Gateway::open_spec(spec, opts).await {
        Ok(gw) => gw,
        Err(e) => {
            let _ = tx
                .send(EngineMsg::Failed {
                    key,
                    error: e.to_string(),
                })
                .await;
            return;
        }
    };
    handles_lock(&handles).entry(key).or_default().gw = Some(gw.clone());
    let facts = gw.facts().await;
    let interpreter = match &facts {
        Ok(f) => f.interpreter(),
        Err(e) => format!("unknown interpreter ({e})"),
    };
    let _ = tx
        .send(EngineMsg::Ready {
            key,
            id: gw.id().to_string(),
            // remote workers (ssh, socket, via) report their pid in the facts
            pid: gw
                .pid()
                .or_else(|| facts.as_ref().ok().and_then(|f| u32::try_from(f.pid).ok())),
            interpreter,
        })
        .await;
    tokio::spawn(sample_metrics(key, gw.clone(), tx.clone()));
    match Console::start(&gw).await {
        Ok((console, mut crx)) => {
            handles_lock(&handles).entry(key).or_default().console = Some(console);
            while let Some(event) = crx.recv().await {
                if tx.send(EngineMsg::Console { key, event }).await.is_err() {
                    return;
                }
            }
        }
        Err(e) => {
            let _ = tx
                .send(EngineMsg::Output {
                    key,
                    stream: Stream::Fd2,
                    text: format!("cannot start the console: {e}\n"),
                })
                .await;
        }
    }
}

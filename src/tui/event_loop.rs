//! The event loop: terminal events, engine messages and signals become `Action`s; the
//! app's `Effect`s go to the effect runner; a frame is drawn only when something
//! changed, at most once per frame interval.

use super::app::{Action, App, EngineMsg};
use super::effects;
use super::runtime::Runtime;
use super::terminal::Signals;
use super::{Startup, views};
use crossterm::event::{Event as TermEvent, EventStream};
use futures_lite::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Stdout;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);

/// At most this many queued engine messages are handled before a frame.
const DRAIN: usize = 10_000;

/// Runs until the user quits (or the terminal goes, or a signal comes), then
/// terminates every gateway. Returns the exit code.
pub(super) async fn run(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    startup: Startup,
    rt: Arc<Runtime>,
    mut rx: mpsc::Receiver<EngineMsg>,
) -> i32 {
    let mut app = start_app(startup, &rt);
    let mut events = EventStream::new();
    let mut signals = Signals::new();
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if app.dirty && last_draw.elapsed() >= FRAME {
            if terminal.draw(|f| views::draw(f, &mut app)).is_err() {
                break;
            }
            app.dirty = false;
            last_draw = Instant::now();
        }
        // still dirty: wake for the next frame
        let deadline = app
            .dirty
            .then(|| tokio::time::Instant::now() + FRAME.saturating_sub(last_draw.elapsed()));
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
            update(&mut app, a, &rt);
        }
        // drain what else is queued before drawing (bursts coalesce into one frame)
        for _ in 0..DRAIN {
            let Ok(msg) = rx.try_recv() else { break };
            update(&mut app, Action::Engine(msg), &rt);
        }
        if app.quitting {
            break;
        }
    }
    // quitting terminates everything and leaves no process behind
    app.toast = Some("terminating all gateways…".into());
    app.dirty = true;
    let _ = terminal.draw(|f| views::draw(f, &mut app));
    rt.terminate_all(Duration::from_secs(2)).await;
    0
}

/// The app with the startup's settings, its gateways opening and its session applied.
fn start_app(startup: Startup, rt: &Arc<Runtime>) -> App {
    let mut app = App::new(startup.keymap);
    app.scrollback = startup.scrollback;
    app.confirm_quit = startup.confirm_quit;
    app.monitor.config = startup.monitor;
    app.toast = startup.notice;
    for (group, spec) in startup.gateways {
        match app.add_gateway(&group, spec) {
            Ok(eff) => effects::execute(eff, rt),
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
    app
}

fn update(app: &mut App, action: Action, rt: &Arc<Runtime>) {
    for eff in app.update(action) {
        effects::execute(eff, rt);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

//! The terminal guard: raw mode, alternate screen, mouse and paste on while the cockpit
//! runs; all restored however it ends (return, error, panic, SIGTERM/SIGHUP).

use super::runtime::Runtime;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// Restores the terminal when dropped.
pub(super) struct TerminalGuard {
    rt: Arc<Runtime>,
}

impl TerminalGuard {
    /// Sets the terminal up, and a panic hook that restores it before the message.
    pub fn enter(rt: &Arc<Runtime>) -> std::io::Result<TerminalGuard> {
        restore_on_panic(Arc::downgrade(rt));
        enable_raw_mode()?;
        let mut out = std::io::stdout();
        if let Err(e) = execute!(
            out,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        ) {
            restore(rt);
            return Err(e);
        }
        // Ctrl+Enter is distinct only with the kitty keyboard protocol (not in tmux)
        if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
            let _ = execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            );
            rt.enhanced.store(true, Ordering::Relaxed);
        }
        Ok(TerminalGuard { rt: rt.clone() })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore(&self.rt);
    }
}

/// Panics restore the terminal (while the cockpit runs) before the message is printed.
fn restore_on_panic(rt: Weak<Runtime>) {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(rt) = rt.upgrade() {
            restore(&rt);
        }
        prev(info);
    }));
}

fn restore(rt: &Runtime) {
    if rt.enhanced.swap(false, Ordering::Relaxed) {
        let _ = execute!(std::io::stdout(), PopKeyboardEnhancementFlags);
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

/// SIGTERM / SIGHUP end the cockpit cleanly.
pub(super) struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    pub async fn recv(&mut self) {
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

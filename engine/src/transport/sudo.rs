//! Privilege hops: `sudo=USER` on top of a transport that starts the interpreter (popen,
//! ssh, the container tools). The interpreter command is wrapped so that sudo runs it
//! as USER; sudo's password prompt and its verdict arrive on the same stdout as the
//! worker's frames, before the bootstrap line is sent:
//!
//! ```text
//! sh -c 'exec 2>&1; exec sudo -S -p "[execdeck-sudo] password: " -u USER -- \
//!        sh -c "printf \"@@execdeck-sudo-ready@@\n\"; EXECDECK_FD2_MERGED=1 exec python3 -u -c …"'
//! ```
//!
//! The master reads stdout until the ready mark: on the prompt it asks the user (the
//! CLI's terminal with echo off, the cockpit's masked prompt, or
//! `EXECDECK_SUDO_PASSWORD`) and writes the answer to sudo's stdin; a second prompt
//! means the password was wrong, and the worker is killed with that error. The
//! password is held in memory only as long as needed, wiped after use, and never
//! written to a file, a log or the screen. Past the ready mark the worker's fd 2 is
//! the protocol stream, so the stub points it at its captured fd 1
//! (`EXECDECK_FD2_MERGED`).

use crate::spec::{Spec, shell_join};
use crate::transport::link::Prompter;

/// What sudo prints when it wants the password (`sudo -p`).
pub const PROMPT: &str = "[execdeck-sudo] password: ";
/// What the wrapped command prints once sudo let it run.
pub const READY: &str = "@@execdeck-sudo-ready@@\n";
/// The most bytes kept from what sudo says before the ready mark.
const KEEP: usize = 8192;

/// Wraps a shell command line that ends in the interpreter (as [`shell_command`]
/// builds it) so that it runs as `user` through sudo.
///
/// [`shell_command`]: crate::transport::link::shell_command
pub fn wrap_shell(user: &str, inner: &str) -> String {
    let inner = format!(
        "printf '%s\\n' '{}'; EXECDECK_FD2_MERGED=1; export EXECDECK_FD2_MERGED; {inner}",
        READY.trim_end()
    );
    let sudo = shell_join(&[
        "sudo".to_string(),
        "-S".into(),
        "-p".into(),
        PROMPT.into(),
        "-u".into(),
        user.into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        inner,
    ]);
    format!("exec 2>&1; exec {sudo}")
}

/// The argv for a local command (popen, a container tool's interpreter part): `sh -c`
/// with [`wrap_shell`] around the words.
pub fn wrap_argv(user: &str, words: &[String]) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        wrap_shell(user, &format!("exec {}", shell_join(words))),
    ]
}

/// A password that is wiped from memory when dropped.
pub struct Secret(pub String);

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: overwriting with zero bytes keeps the string valid UTF-8.
        unsafe { self.0.as_bytes_mut().fill(0) };
    }
}

/// Where sudo stands, as read from its output.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Read more.
    More,
    /// sudo asks for the password (the first time).
    Password,
    /// sudo asked again: the password was wrong.
    Wrong,
    /// The command runs as the target user: send the bootstrap line.
    Ready,
}

/// Reads sudo's side of the dialog, byte chunk by chunk.
#[derive(Default)]
pub struct Dialog {
    seen: Vec<u8>,
    prompts: usize,
}

impl Dialog {
    /// Takes the next bytes of the worker's stdout.
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        self.seen.extend_from_slice(bytes);
        if find(&self.seen, READY.as_bytes()).is_some() {
            return Step::Ready;
        }
        if let Some(at) = find(&self.seen, PROMPT.as_bytes()) {
            self.seen.drain(..at + PROMPT.len());
            self.prompts += 1;
            return if self.prompts == 1 {
                Step::Password
            } else {
                Step::Wrong
            };
        }
        if self.seen.len() > KEEP {
            let cut = self.seen.len() - KEEP;
            self.seen.drain(..cut);
        }
        Step::More
    }

    /// What sudo said besides its prompts (for an error message).
    pub fn said(&self) -> String {
        String::from_utf8_lossy(&self.seen).trim().to_string()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The password for a sudo hop: `EXECDECK_SUDO_PASSWORD`, else asked through the
/// prompter. Blocking (call it off the async runtime's workers).
pub fn ask(prompter: Option<&Prompter>, user: &str, where_: &str) -> Option<Secret> {
    if let Ok(pw) = std::env::var("EXECDECK_SUDO_PASSWORD")
        && !pw.is_empty()
    {
        return Some(Secret(pw));
    }
    let ask = prompter?;
    ask(&format!("sudo password for {user} on {where_}"), true).map(Secret)
}

/// The dialog over blocking reads and writes of the worker's stdout and stdin (the SSH
/// setup thread); the error text names the user and what sudo said.
pub fn run_blocking(
    user: &str,
    at: &str,
    prompter: Option<&Prompter>,
    spec: &Spec,
    mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    mut write: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut dialog = Dialog::default();
    let mut buf = [0u8; 1024];
    loop {
        let n = read(&mut buf).map_err(|e| format!("sudo to {user}: {e} ({})", dialog.said()))?;
        if n == 0 {
            return Err(format!("sudo to {user} failed: {}", dialog.said()));
        }
        match dialog.feed(&buf[..n]) {
            Step::More => {}
            Step::Ready => return Ok(()),
            Step::Wrong => return Err(wrong_password(spec, at)),
            Step::Password => {
                let pw = ask(prompter, user, at)
                    .ok_or_else(|| format!("sudo to {user} needs a password and none was given"))?;
                let mut answer = pw.0.as_bytes().to_vec();
                answer.push(b'\n');
                let sent = write(&answer);
                answer.fill(0);
                drop(pw);
                sent.map_err(|e| format!("sudo to {user}: {e}"))?;
            }
        }
    }
}

/// The error for a wrong password, or for sudo that gave up.
pub fn wrong_password(spec: &Spec, where_: &str) -> String {
    format!(
        "sudo to {} on {where_}: wrong password (sudo asked again); nothing was started",
        spec.sudo.as_deref().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialog() {
        let mut d = Dialog::default();
        assert_eq!(d.feed(b"[execdeck-sudo] pass"), Step::More);
        assert_eq!(d.feed(b"word: "), Step::Password);
        assert_eq!(d.feed(b"\nSorry, try again.\n"), Step::More);
        assert_eq!(d.feed(PROMPT.as_bytes()), Step::Wrong);
        let mut d = Dialog::default();
        assert_eq!(d.feed(b"@@execdeck-sudo-re"), Step::More);
        assert_eq!(d.feed(b"ady@@\n"), Step::Ready);
        let mut d = Dialog::default();
        d.feed(b"sudo: a password is required\n");
        assert_eq!(d.said(), "sudo: a password is required");
        for _ in 0..100 {
            d.feed(&[b'x'; 1000]);
        }
        assert!(d.said().len() <= KEEP);
    }

    #[test]
    fn wrapped_command_is_one_shell_word_each() {
        let w = wrap_argv(
            "svc",
            &["python3".into(), "-c".into(), "print('a b')".into()],
        );
        assert_eq!(&w[..2], ["sh", "-c"]);
        assert!(w[2].starts_with("exec 2>&1; exec sudo -S -p "), "{}", w[2]);
        assert!(w[2].contains("-u svc -- sh -c"), "{}", w[2]);
    }
}

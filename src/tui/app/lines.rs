//! The one bounded line buffer of the cockpit (console output, channel logs, the
//! broadcast pane, the tail) and the assembly of partial lines per source.
//!
//! A buffer keeps at most `cap` lines and about `cap * BYTES_PER_LINE` bytes; what it
//! pushes out is counted in `dropped`, so nothing is lost silently.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Bytes allowed per line of capacity on average (the byte bound of a buffer).
pub const BYTES_PER_LINE: usize = 1024;
/// A partial line longer than this is shown in pieces.
pub const MAX_PARTIAL: usize = 4096;

/// The kind of an output line (for colours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Input,
    Stdout,
    Stderr,
    Result,
    Traceback,
    Info,
}

/// What a line costs in bytes.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for (LineKind, String) {
    fn weight(&self) -> usize {
        self.1.len()
    }
}

/// A ring of lines bounded in lines and bytes; counts what it dropped.
#[derive(Debug, Clone, Default)]
pub struct LineBuf<T> {
    pub lines: VecDeque<T>,
    cap: usize,
    max_bytes: usize,
    bytes: usize,
    pub dropped: u64,
    /// The last line is still open (no newline seen yet).
    open: bool,
}

/// A console-style pane: lines of text with a kind.
pub type Ring = LineBuf<(LineKind, String)>;

impl<T: Weigh> LineBuf<T> {
    pub fn new(cap: usize) -> LineBuf<T> {
        let cap = cap.max(1);
        LineBuf {
            lines: VecDeque::new(),
            cap,
            max_bytes: cap.saturating_mul(BYTES_PER_LINE),
            bytes: 0,
            dropped: 0,
            open: false,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.lines.iter()
    }

    /// Changes the line bound (the byte bound follows); trims at once.
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
        self.max_bytes = self.cap.saturating_mul(BYTES_PER_LINE);
        self.trim();
    }

    /// Appends one whole line.
    pub fn push_line(&mut self, line: T) {
        self.bytes += line.weight();
        self.lines.push_back(line);
        self.open = false;
        self.trim();
    }

    /// Takes every line out (the drop count stays).
    pub fn take_all(&mut self) -> VecDeque<T> {
        self.bytes = 0;
        self.open = false;
        std::mem::take(&mut self.lines)
    }

    pub fn clear(&mut self) {
        self.take_all();
    }

    /// Ends an open line so the next output starts a new one.
    pub fn close_line(&mut self) {
        self.open = false;
    }

    fn trim(&mut self) {
        // the newest line always stays, however long
        while self.lines.len() > self.cap || (self.bytes > self.max_bytes && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.weight());
                self.dropped += 1;
            }
        }
    }
}

impl Ring {
    /// Appends text, splitting lines; a partial last line is continued by the next
    /// push of the same kind. Tabs become four spaces.
    pub fn push(&mut self, kind: LineKind, text: &str) {
        let text = text.replace('\t', "    ");
        for piece in text.split_inclusive('\n') {
            let body = piece.strip_suffix('\n').unwrap_or(piece);
            let body = body.strip_suffix('\r').unwrap_or(body);
            let ends = piece.ends_with('\n');
            match self.lines.back_mut() {
                Some((k, last)) if self.open && *k == kind => {
                    last.push_str(body);
                    self.bytes += body.len();
                    self.trim();
                }
                _ => self.push_line((kind, body.to_string())),
            }
            self.open = !ends;
        }
    }
}

/// Each source's unfinished line (tagged, e.g. with its kind), completed by its next
/// text; bounded by `MAX_PARTIAL` bytes per source.
#[derive(Debug, Clone)]
pub struct Partials<K, Tag> {
    pending: HashMap<K, (Tag, String)>,
}

impl<K, Tag> Default for Partials<K, Tag> {
    fn default() -> Self {
        Partials {
            pending: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, Tag: PartialEq + Copy> Partials<K, Tag> {
    /// Adds `text` of `source`; returns the lines it completes (without the newline).
    /// An unfinished line of another tag is completed first; a very long one is cut.
    pub fn feed(&mut self, source: K, tag: Tag, text: &str) -> Vec<(Tag, String)> {
        let mut out = Vec::new();
        let (old, mut pending) = self.pending.remove(&source).unwrap_or((tag, String::new()));
        if old != tag && !pending.is_empty() {
            out.push((old, std::mem::take(&mut pending)));
        }
        pending.push_str(text);
        while let Some(nl) = pending.find('\n') {
            let line: String = pending.drain(..=nl).collect();
            out.push((tag, line.trim_end_matches(['\n', '\r']).to_string()));
        }
        if pending.len() > MAX_PARTIAL {
            out.push((tag, pending));
        } else if !pending.is_empty() {
            self.pending.insert(source, (tag, pending));
        }
        out
    }

    /// The unfinished line of `source`, if any (it ended, or its snippet is done).
    pub fn take(&mut self, source: &K) -> Option<(Tag, String)> {
        self.pending.remove(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_in_lines_and_bytes_and_counts_drops() {
        let mut r = Ring::new(3);
        r.push(LineKind::Stdout, "a\nb\nc\nd\n");
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.dropped, 1);
        r.push(LineKind::Stdout, "par");
        r.push(LineKind::Stdout, "tial\n");
        assert_eq!(r.lines.back().map(|l| l.1.as_str()), Some("partial"));
        let big = "x".repeat(BYTES_PER_LINE * 3);
        r.push(LineKind::Stdout, &format!("{big}\n"));
        assert_eq!(
            r.lines.len(),
            1,
            "the byte bound keeps only the newest line"
        );
        assert_eq!(r.dropped, 5);
    }

    #[test]
    fn partial_lines_complete_per_source_and_tag() {
        let mut p: Partials<usize, LineKind> = Partials::default();
        assert!(p.feed(0, LineKind::Stdout, "he").is_empty());
        assert_eq!(
            p.feed(1, LineKind::Stdout, "x\n"),
            [(LineKind::Stdout, "x".to_string())]
        );
        assert_eq!(
            p.feed(0, LineKind::Stderr, "oops\n"),
            [
                (LineKind::Stdout, "he".to_string()),
                (LineKind::Stderr, "oops".to_string())
            ]
        );
        assert!(p.take(&0).is_none());
        let long = "y".repeat(MAX_PARTIAL + 1);
        assert_eq!(p.feed(2, LineKind::Stdout, &long).len(), 1);
    }
}

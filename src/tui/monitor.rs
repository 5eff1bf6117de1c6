//! State of the cockpit's watching views: per-gateway metric history, thresholds, the
//! event log, the merged tail and the Rosetta grid. Pure data; `app/` feeds it and
//! `panels.rs` draws it.

use super::app::lines::{LineBuf, Partials, Weigh};
use crate::config::MonitorConfig;
use crate::engine::monitor::Metrics;
use crate::engine::rosetta::Cell;
use std::collections::VecDeque;

/// Samples kept per gateway for the sparklines.
pub const HISTORY: usize = 120;
/// Entries kept in the event log.
pub const EVENT_LOG: usize = 1000;
/// Lines kept by the tail (and, while paused, waiting to be shown).
pub const TAIL_LINES: usize = 10_000;

/// The last sample of a gateway and a window of earlier ones.
#[derive(Debug, Clone, Default)]
pub struct GwMetrics {
    pub last: Option<Metrics>,
    pub rtt_ms: VecDeque<f64>,
    pub cpu: VecDeque<f64>,
    pub rss_mb: VecDeque<f64>,
    pub msgs: VecDeque<f64>,
}

impl GwMetrics {
    pub fn push(&mut self, m: Metrics) {
        fn add(q: &mut VecDeque<f64>, v: f64) {
            if q.len() == HISTORY {
                q.pop_front();
            }
            q.push_back(v);
        }
        add(&mut self.rtt_ms, m.rtt.as_secs_f64() * 1000.0);
        add(&mut self.cpu, m.cpu_percent.unwrap_or(0.0));
        add(
            &mut self.rss_mb,
            m.rss_bytes.map(|b| b as f64 / 1048576.0).unwrap_or(0.0),
        );
        add(
            &mut self.msgs,
            m.messages_in_per_s.unwrap_or(0.0) + m.messages_out_per_s.unwrap_or(0.0),
        );
        self.last = Some(m);
    }
}

/// How alarming a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Crit,
}

/// The level of a gateway's last sample against the configured thresholds.
pub fn level(cfg: &MonitorConfig, m: &Metrics) -> Level {
    let one = |v: Option<f64>, [warn, crit]: [f64; 2]| match v {
        Some(v) if v >= crit => Level::Crit,
        Some(v) if v >= warn => Level::Warn,
        _ => Level::Ok,
    };
    [
        one(Some(m.rtt.as_secs_f64() * 1000.0), cfg.rtt_ms),
        one(m.cpu_percent, cfg.cpu),
        one(m.rss_bytes.map(|b| b as f64 / 1048576.0), cfg.rss_mb),
    ]
    .into_iter()
    .max()
    .unwrap_or(Level::Ok)
}

/// A sparkline of the last `width` values, scaled to `max` (or to the largest value).
pub fn spark(values: &VecDeque<f64>, width: usize, max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let n = values.len();
    let shown: Vec<f64> = values
        .iter()
        .skip(n.saturating_sub(width))
        .copied()
        .collect();
    let top = max
        .unwrap_or_else(|| shown.iter().copied().fold(0.0, f64::max))
        .max(f64::MIN_POSITIVE);
    let mut s: String = shown
        .iter()
        .map(|v| {
            let i = ((v / top) * 7.0).round().clamp(0.0, 7.0) as usize;
            BARS[i]
        })
        .collect();
    // new samples come in on the right; a short history is padded on the right too,
    // so the line starts under its column header
    for _ in shown.len()..width {
        s.push(' ');
    }
    s
}

/// Columns the gateway list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// The order the gateways were added in.
    Added,
    Id,
    State,
    Rtt,
    Cpu,
    Rss,
    Msgs,
    Uptime,
}

impl SortBy {
    pub const ALL: [SortBy; 8] = [
        SortBy::Added,
        SortBy::Id,
        SortBy::State,
        SortBy::Rtt,
        SortBy::Cpu,
        SortBy::Rss,
        SortBy::Msgs,
        SortBy::Uptime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Added => "added",
            SortBy::Id => "id",
            SortBy::State => "state",
            SortBy::Rtt => "rtt",
            SortBy::Cpu => "cpu",
            SortBy::Rss => "rss",
            SortBy::Msgs => "msg/s",
            SortBy::Uptime => "uptime",
        }
    }

    pub fn from_name(s: &str) -> Option<SortBy> {
        SortBy::ALL
            .into_iter()
            .find(|k| k.name() == s || (s == "msgs" && *k == SortBy::Msgs))
    }

    pub fn next(self) -> SortBy {
        let i = SortBy::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortBy::ALL[(i + 1) % SortBy::ALL.len()]
    }
}

/// What an event log entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Started,
    Failed,
    Died,
    ChannelError,
    Terminated,
    Bridge,
}

impl LogKind {
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Started => "started",
            LogKind::Failed => "failed",
            LogKind::Died => "died",
            LogKind::ChannelError => "channel error",
            LogKind::Terminated => "terminated",
            LogKind::Bridge => "bridge",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub time: String,
    pub group: String,
    pub gateway: String,
    pub kind: LogKind,
    pub text: String,
}

/// Which output a tail line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TailStream {
    Out,
    Err,
    Items,
}

impl TailStream {
    pub fn name(self) -> &'static str {
        match self {
            TailStream::Out => "out",
            TailStream::Err => "err",
            TailStream::Items => "item",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TailLine {
    pub time: String,
    pub group: String,
    pub gateway: String,
    pub stream: TailStream,
    /// The channel, for items.
    pub channel: Option<i32>,
    pub text: String,
    /// A marker line (lines dropped while paused), shown whatever the filter.
    pub marker: bool,
}

impl TailLine {
    /// A line of output (not an item, not a marker).
    pub fn output(time: &str, group: &str, gw: &str, stream: TailStream, text: String) -> Self {
        TailLine {
            time: time.to_string(),
            group: group.to_string(),
            gateway: gw.to_string(),
            stream,
            channel: None,
            text,
            marker: false,
        }
    }

    pub fn tag(&self) -> String {
        match self.channel {
            Some(c) if self.stream == TailStream::Items => format!("{}#{c}", self.gateway),
            _ => format!("{} {}", self.gateway, self.stream.name()),
        }
    }
}

/// What the tail shows: gateway ids (empty: all), streams, a regex on the text.
#[derive(Debug, Clone, Default)]
pub struct TailFilter {
    pub gateways: Vec<String>,
    pub streams: Vec<TailStream>,
    pub regex: Option<regex::Regex>,
    /// The text the filter was parsed from.
    pub text: String,
}

impl TailFilter {
    /// Parses `[gw:ID …] [out|err|items …] [REGEX]`: leading words `gw:ID` pick
    /// gateways and the words out, err and items pick streams; from the first other
    /// word on, the rest of the text is the regex, verbatim.
    pub fn parse(text: &str) -> Result<TailFilter, String> {
        let mut f = TailFilter {
            text: text.trim().to_string(),
            ..TailFilter::default()
        };
        let mut rest = text.trim_start();
        while let Some(word) = rest.split_whitespace().next() {
            match word {
                "out" | "stdout" => f.streams.push(TailStream::Out),
                "err" | "stderr" => f.streams.push(TailStream::Err),
                "items" | "item" => f.streams.push(TailStream::Items),
                w if w.starts_with("gw:") => {
                    let id = &w[3..];
                    if id.is_empty() {
                        return Err("gw: needs a gateway id, e.g. gw:gw0".into());
                    }
                    f.gateways.push(id.to_string());
                }
                _ => break,
            }
            rest = rest[word.len()..].trim_start();
        }
        if !rest.is_empty() {
            let re = rest.to_string();
            f.regex = Some(regex::Regex::new(&re).map_err(|e| {
                format!(
                    "bad regex '{re}': {}",
                    e.to_string().lines().last().unwrap_or("")
                )
            })?);
        }
        Ok(f)
    }

    pub fn matches(&self, l: &TailLine) -> bool {
        l.marker
            || ((self.gateways.is_empty() || self.gateways.contains(&l.gateway))
                && (self.streams.is_empty() || self.streams.contains(&l.stream))
                && self.regex.as_ref().is_none_or(|r| r.is_match(&l.text)))
    }
}

/// The merged output of every gateway: bounded, pausable, never silently lossy.
#[derive(Debug)]
pub struct Tail {
    /// Shown lines; lines pushed out by newer ones are counted in `lines.dropped`.
    pub lines: LineBuf<TailLine>,
    /// Lines that arrived while paused, shown on resume; `pending.dropped` counts the
    /// ones lost while paused because it was full.
    pub pending: LineBuf<TailLine>,
    pub paused: bool,
    pub filter: TailFilter,
    /// Visible lines scrolled up from the newest; 0 follows.
    pub scroll: usize,
    /// Only this group (None: every group).
    pub group: Option<String>,
    /// Each gateway's unfinished line per stream.
    partial: Partials<(String, String, TailStream), ()>,
}

impl Weigh for TailLine {
    fn weight(&self) -> usize {
        self.text.len() + self.group.len() + self.gateway.len()
    }
}

impl Tail {
    pub fn new(cap: usize) -> Tail {
        let mut t = Tail {
            lines: LineBuf::new(cap),
            paused: false,
            pending: LineBuf::new(1),
            filter: TailFilter::default(),
            scroll: 0,
            group: None,
            partial: Partials::default(),
        };
        t.set_cap(cap);
        t
    }

    /// Lines kept (and, while paused, waiting).
    pub fn set_cap(&mut self, cap: usize) {
        self.lines.set_cap(cap);
        // one slot stays free for the "dropped while paused" marker
        self.pending.set_cap(cap.saturating_sub(1).max(1));
    }

    /// Adds output text (possibly several or partial lines).
    pub fn push_text(&mut self, time: &str, group: &str, gw: &str, stream: TailStream, text: &str) {
        let key = (group.to_string(), gw.to_string(), stream);
        for ((), line) in self.partial.feed(key, (), text) {
            self.push(TailLine::output(time, group, gw, stream, line));
        }
    }

    /// Shows a gateway's unfinished lines (it ended, or its snippet is done).
    pub fn flush(&mut self, group: &str, gw: &str, time: &str) {
        for stream in [TailStream::Out, TailStream::Err] {
            let key = (group.to_string(), gw.to_string(), stream);
            if let Some(((), text)) = self.partial.take(&key) {
                self.push(TailLine::output(time, group, gw, stream, text));
            }
        }
    }

    pub fn push(&mut self, line: TailLine) {
        if self.paused {
            self.pending.push_line(line);
        } else {
            self.lines.push_line(line);
        }
    }

    /// Pauses or resumes; resuming shows what arrived meanwhile, after a marker line
    /// saying how many were lost if any were.
    pub fn toggle_pause(&mut self, time: &str) {
        if !self.paused {
            self.paused = true;
            return;
        }
        self.paused = false;
        if self.pending.dropped > 0 {
            let n = std::mem::take(&mut self.pending.dropped);
            self.push(TailLine {
                time: time.to_string(),
                group: String::new(),
                gateway: String::new(),
                stream: TailStream::Out,
                channel: None,
                text: format!("── {n} lines dropped while paused ──"),
                marker: true,
            });
        }
        for l in self.pending.take_all() {
            self.push(l);
        }
    }

    /// The lines the filter (and group) let through, oldest first.
    pub fn visible(&self) -> impl DoubleEndedIterator<Item = &TailLine> {
        self.lines.lines.iter().filter(move |l| {
            self.filter.matches(l)
                && (l.marker || self.group.as_ref().is_none_or(|g| g == &l.group))
        })
    }
}

/// A Rosetta run in the cockpit.
#[derive(Debug, Clone)]
pub struct RosettaGrid {
    /// Which run this is: replies of an older run are dropped.
    pub run: u64,
    pub code: String,
    /// Gateway keys, one column each.
    pub keys: Vec<usize>,
    /// None while running.
    pub cells: Option<Vec<Cell>>,
    /// The cells in so far, while running (by column).
    pub partial: Vec<Option<Cell>>,
}

impl RosettaGrid {
    /// Column `n`'s cell: the finished grid's, else the one that came in early.
    pub fn cell(&self, n: usize) -> Option<&Cell> {
        match &self.cells {
            Some(cells) => cells.get(n),
            None => self.partial.get(n).and_then(Option::as_ref),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sparkline_scales_and_pads() {
        let v: VecDeque<f64> = [0.0, 50.0, 100.0].into_iter().collect();
        assert_eq!(spark(&v, 5, Some(100.0)), "▁▅█  ");
        // the last `width` samples only
        assert_eq!(spark(&v, 2, Some(100.0)), "▅█");
        // auto scale: the largest is a full bar
        let v: VecDeque<f64> = [1.0, 2.0].into_iter().collect();
        assert_eq!(spark(&v, 2, None), "▅█");
        assert_eq!(spark(&VecDeque::new(), 3, None), "   ");
    }

    #[test]
    fn levels_follow_the_thresholds() {
        let cfg = MonitorConfig::default();
        let mut m = Metrics {
            gateway: "g".into(),
            rtt: Duration::from_millis(1),
            channels_open: 0,
            tasks_executing: 0,
            execmodel: "thread".into(),
            messages_in_per_s: None,
            messages_out_per_s: None,
            bytes_in_per_s: None,
            bytes_out_per_s: None,
            cpu_percent: None,
            rss_bytes: None,
            uptime: Duration::ZERO,
        };
        assert_eq!(level(&cfg, &m), Level::Ok, "n/a is not an alarm");
        m.cpu_percent = Some(55.0);
        assert_eq!(level(&cfg, &m), Level::Warn);
        m.rtt = Duration::from_secs(2);
        assert_eq!(level(&cfg, &m), Level::Crit);
    }

    #[test]
    fn tail_filter_words() {
        let f = TailFilter::parse("gw:a err  tick  \\d+").expect("parse");
        assert_eq!(f.gateways, ["a"]);
        assert_eq!(f.streams, [TailStream::Err]);
        // the regex is the rest, verbatim (two spaces stay two)
        assert_eq!(f.regex.as_ref().map(|r| r.as_str()), Some("tick  \\d+"));
        // stream words inside the regex are text, not selectors
        let f = TailFilter::parse("timed out").expect("parse");
        assert!(f.streams.is_empty());
        assert_eq!(f.regex.as_ref().map(|r| r.as_str()), Some("timed out"));
        assert!(TailFilter::parse("gw:").is_err());
        assert!(
            TailFilter::parse("a[")
                .unwrap_err()
                .starts_with("bad regex 'a['")
        );
    }
}

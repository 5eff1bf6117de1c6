//! The monitor view: the group's gateways with metric columns, sorted, and the event
//! log of starts, deaths, channel errors, bridges and terminations.

use super::commands::{Decl, Scope};
use super::{App, Effect, View};
use crate::config::MonitorConfig;
use crate::tui::keymap::Command;
use crate::tui::monitor::{EVENT_LOG, LogEntry, LogKind, SortBy};
use std::collections::VecDeque;

/// The monitor's state.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// Sampling interval and thresholds.
    pub config: MonitorConfig,
    pub sort: SortBy,
    /// The event log, oldest first, at most `EVENT_LOG` entries.
    pub log: VecDeque<LogEntry>,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            config: MonitorConfig::default(),
            sort: SortBy::Added,
            log: VecDeque::new(),
        }
    }
}

impl Monitor {
    /// Adds an entry, dropping the oldest beyond `EVENT_LOG`.
    pub fn push(&mut self, entry: LogEntry) {
        if self.log.len() >= EVENT_LOG {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }
}

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::MonitorView, |a| a.show_view(View::Monitor), "monitor", "monitor: metrics, sparklines and event log of the group").named("monitor", "", |a, _| Ok(a.show_view(View::Monitor))),
    Decl::key(Command::Sort, App::next_sort, "sort", "monitor: sort by the next column (or :sort cpu)").named("sort", "COLUMN", App::sort_line).only(&[Scope::Monitor]),
    Decl::line("interval", "SECONDS", App::interval_line, "sampling", "metrics sampling: every SECONDS (0.1 to 3600), 0 stops").only(&[Scope::Monitor]),
];

impl App {
    /// Adds an entry to the event log.
    pub(super) fn log_event(&mut self, key: usize, kind: LogKind, text: String) {
        let (group, gateway) = self
            .gateway(key)
            .map(|g| (g.group.clone(), g.id.clone()))
            .unwrap_or_default();
        let entry = LogEntry {
            time: (self.clock)(),
            group,
            gateway,
            kind,
            text: text.trim_end().to_string(),
        };
        self.monitor.push(entry);
    }

    /// Toggles a watching view.
    fn show_view(&mut self, view: View) -> Vec<Effect> {
        self.toggle_view(view);
        vec![]
    }

    fn next_sort(&mut self) -> Vec<Effect> {
        self.monitor.sort = self.monitor.sort.next();
        self.view = View::Monitor;
        self.toast = Some(format!("monitor sorted by {}", self.monitor.sort.name()));
        vec![]
    }

    fn sort_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        let sort = SortBy::from_name(arg)
            .ok_or_else(|| format!("usage: :sort {}", SortBy::ALL.map(|k| k.name()).join("|")))?;
        self.monitor.sort = sort;
        self.view = View::Monitor;
        Ok(vec![])
    }

    fn interval_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        match arg.parse::<f64>() {
            Ok(v) if v == 0.0 || (0.1..=3600.0).contains(&v) => {
                self.monitor.config.interval = v;
                self.toast = Some(if v == 0.0 {
                    "metrics sampling off".into()
                } else {
                    format!("metrics every {v} s")
                });
                Ok(vec![Effect::MonitorInterval(v)])
            }
            _ => Err("usage: :interval SECONDS (0.1 to 3600, or 0 to stop sampling)".into()),
        }
    }

    /// The gateways of the selected gateway's group, in the monitor's sort order
    /// (indices into `gateways`).
    pub fn monitor_rows(&self) -> Vec<usize> {
        let group = self.selected_group();
        let mut rows: Vec<usize> = self
            .ordered()
            .into_iter()
            .filter(|&i| self.gateways[i].group == group)
            .collect();
        let sort = self.monitor.sort;
        let metric = |i: usize| -> f64 {
            // a dead gateway's last sample is history: it sorts last
            let g = &self.gateways[i];
            let m = g.metrics.last.as_ref().filter(|_| g.state.alive());
            match sort {
                SortBy::Rtt => m.map(|m| m.rtt.as_secs_f64()),
                SortBy::Cpu => m.and_then(|m| m.cpu_percent),
                SortBy::Rss => m.and_then(|m| m.rss_bytes.map(|b| b as f64)),
                SortBy::Msgs => m.map(|m| {
                    m.messages_in_per_s.unwrap_or(0.0) + m.messages_out_per_s.unwrap_or(0.0)
                }),
                SortBy::Uptime => m.map(|m| m.uptime.as_secs_f64()),
                _ => None,
            }
            .unwrap_or(-1.0)
        };
        match sort {
            SortBy::Added => {}
            SortBy::Id => rows.sort_by(|&a, &b| self.gateways[a].id.cmp(&self.gateways[b].id)),
            SortBy::State => rows.sort_by_key(|&i| self.gateways[i].state.label()),
            _ => rows.sort_by(|&a, &b| metric(b).total_cmp(&metric(a))),
        }
        rows
    }

    /// Moves the selection one row in the monitor's order.
    pub(super) fn monitor_step(&mut self, down: bool) {
        let rows = self.monitor_rows();
        let Some(cur) = self.selected_index() else {
            return;
        };
        let at = rows.iter().position(|&i| i == cur).unwrap_or(0);
        let next = if down {
            (at + 1).min(rows.len().saturating_sub(1))
        } else {
            at.saturating_sub(1)
        };
        if let Some(&i) = rows.get(next)
            && let Some(pos) = self.ordered().iter().position(|&o| o == i)
        {
            self.selected = pos;
        }
    }
}

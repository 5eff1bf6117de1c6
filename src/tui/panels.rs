//! Drawing of the watching views: monitor (metrics + event log), tail, Rosetta grid.

use super::app::{App, GatewayView, GwState};
use super::monitor::{Level, LogKind, SortBy, TailStream, level, spark};
use crate::engine::rosetta::Cell;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use std::time::Duration;

/// "0.4ms", "12ms", "1.2s".
pub fn fmt_rtt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

/// "812K", "12.3M", "1.1G".
pub fn fmt_bytes(b: f64) -> String {
    if b < 1024.0 * 1024.0 {
        format!("{:.0}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1}M", b / 1048576.0)
    } else {
        format!("{:.1}G", b / 1073741824.0)
    }
}

/// "42s", "3m05s", "2h03m".
pub fn fmt_uptime(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    }
}

fn rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) if v < 10_000.0 => format!("{v:.0}"),
        Some(v) => format!("{:.0}k", v / 1000.0),
    }
}

pub fn level_style(l: Level) -> Style {
    match l {
        Level::Ok => Style::default(),
        Level::Warn => Style::default().fg(Color::Yellow),
        Level::Crit => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// The compact metrics shown on a gateway's tree row: "0.4ms 2% 12.3M".
pub fn tree_metrics(app: &App, g: &GatewayView) -> Option<(String, Style)> {
    let m = g.metrics.last.as_ref().filter(|_| g.state.alive())?;
    let cpu = m
        .cpu_percent
        .map(|c| format!("{c:.0}%"))
        .unwrap_or_else(|| "n/a".into());
    let rss = m
        .rss_bytes
        .map(|b| fmt_bytes(b as f64))
        .unwrap_or_else(|| "n/a".into());
    Some((
        format!("{} {cpu} {rss}", fmt_rtt(m.rtt)),
        level_style(level(&app.monitor.config, m)),
    ))
}

const HEAD: Style = Style::new().add_modifier(Modifier::BOLD);

pub fn draw_monitor(f: &mut Frame, app: &App, area: Rect) {
    let group = app
        .selected_gateway()
        .map(|g| g.group.clone())
        .unwrap_or_default();
    let interval = if app.monitor.config.interval > 0.0 {
        format!("every {} s", app.monitor.config.interval)
    } else {
        "sampling off (:interval SECONDS)".into()
    };
    let arrow = match app.monitor.sort {
        SortBy::Added | SortBy::Id | SortBy::State => "▲",
        _ => "▼",
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " monitor · group '{group}' · {interval} · sort: {} {arrow} ",
            app.monitor.sort.name()
        ))
        .border_style(Style::default().fg(Color::Green));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = app.monitor_rows();
    let log: Vec<_> = app
        .monitor
        .log
        .iter()
        .filter(|e| e.group == group)
        .collect();
    let table_h = (rows.len() as u16 + 1).min(inner.height.saturating_sub(4).max(2));
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(table_h), Constraint::Min(2)])
        .split(inner);
    // columns: fixed ones, then sparklines share what is left
    let fixed = 12 + 11 + 16 + 8 + 6 + 8 + 13 + 15 + 4 + 6 + 7;
    let spark_w = (parts[0].width as usize).saturating_sub(fixed + 2) / 2;
    let spark_w = spark_w.min(HISTORY_SHOWN);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<12}{:<11}{:<16}{:>8}{:>6}{:>8}{:>13}{:>15}{:>4}{:>6}{:>7} {:<sw$} {:<sw$}",
            "ID",
            "STATE",
            "INTERPRETER",
            "RTT",
            "CPU%",
            "RSS",
            "MSG/s in/out",
            "B/s in/out",
            "CH",
            "TASKS",
            "UP",
            "CPU",
            "RTT",
            sw = spark_w
        ),
        HEAD,
    ))];
    let selected = app.selected_gateway().map(|g| g.key);
    // the rows that fit under the header, scrolled so that the selected one shows; the
    // last line says how many are hidden
    let fit = (table_h as usize).saturating_sub(1).max(1);
    let at = rows
        .iter()
        .position(|&i| Some(app.gateways[i].key) == selected)
        .unwrap_or(0);
    let (first, shown) = if rows.len() <= fit {
        (0, rows.len())
    } else {
        let shown = fit.saturating_sub(1).max(1);
        (at.saturating_sub(shown - 1), shown)
    };
    for &i in rows.iter().skip(first).take(shown) {
        let g = &app.gateways[i];
        let m = g.metrics.last.as_ref().filter(|_| g.state.alive());
        let mut st = match (m, &g.state) {
            (_, GwState::Dead(_) | GwState::Failed(_)) => Style::default().fg(Color::Red),
            (_, GwState::Terminated(_)) => Style::default().fg(Color::DarkGray),
            (Some(m), _) => level_style(level(&app.monitor.config, m)),
            (None, _) => Style::default(),
        };
        if Some(g.key) == selected {
            st = st.add_modifier(Modifier::REVERSED);
        }
        let dash = || "-".to_string();
        let interp: String = g
            .interpreter
            .as_deref()
            .unwrap_or("…")
            .chars()
            .take(15)
            .collect();
        // the short state; the event log has the reason
        let label = g.state.label();
        let state = label.split(" (").next().unwrap_or(&label).to_string();
        let text = format!(
            "{:<12}{:<11}{:<16}{:>8}{:>6}{:>8}{:>13}{:>15}{:>4}{:>6}{:>7} {} {}",
            g.id.chars().take(11).collect::<String>(),
            state,
            interp,
            m.map(|m| fmt_rtt(m.rtt)).unwrap_or_else(dash),
            m.map(|m| m
                .cpu_percent
                .map(|c| format!("{c:.1}"))
                .unwrap_or_else(|| "n/a".into()))
                .unwrap_or_else(dash),
            m.map(|m| m
                .rss_bytes
                .map(|b| fmt_bytes(b as f64))
                .unwrap_or_else(|| "n/a".into()))
                .unwrap_or_else(dash),
            m.map(|m| format!(
                "{}/{}",
                rate(m.messages_in_per_s),
                rate(m.messages_out_per_s)
            ))
            .unwrap_or_else(dash),
            m.map(|m| format!("{}/{}", rate(m.bytes_in_per_s), rate(m.bytes_out_per_s)))
                .unwrap_or_else(dash),
            m.map(|m| m.channels_open.to_string()).unwrap_or_else(dash),
            m.map(|m| m.tasks_executing.to_string())
                .unwrap_or_else(dash),
            m.map(|m| fmt_uptime(m.uptime)).unwrap_or_else(dash),
            spark(&g.metrics.cpu, spark_w, Some(100.0)),
            spark(&g.metrics.rtt_ms, spark_w, None),
        );
        lines.push(Line::from(Span::styled(text, st)));
    }
    if rows.is_empty() {
        lines.push(Line::from("no gateways in this group"));
    }
    if shown < rows.len() {
        lines.push(Line::from(Span::styled(
            format!(
                "{} above · {} below (j/k scroll)",
                first,
                rows.len() - first - shown
            ),
            Style::default().fg(Color::DarkGray),
        )));
    }
    f.render_widget(Paragraph::new(lines), parts[0]);
    // the event log, newest at the bottom
    let h = parts[1].height.saturating_sub(1) as usize;
    let mut ev = vec![];
    for e in log.iter().skip(log.len().saturating_sub(h)) {
        let st = match e.kind {
            LogKind::Started => Style::default().fg(Color::Green),
            LogKind::Died | LogKind::Failed | LogKind::ChannelError => {
                Style::default().fg(Color::Red)
            }
            LogKind::Terminated => Style::default().fg(Color::DarkGray),
            LogKind::Bridge => Style::default().fg(Color::Magenta),
        };
        ev.push(Line::from(vec![
            Span::styled(format!("{} ", e.time), Style::default().fg(Color::DarkGray)),
            Span::styled(format!("{:<10} ", e.gateway), HEAD),
            Span::styled(format!("{}: ", e.kind.name()), st),
            Span::raw(e.text.clone()),
        ]));
    }
    if log.is_empty() {
        ev.push(Line::from(Span::styled(
            "nothing happened yet",
            Style::default().fg(Color::DarkGray),
        )));
    }
    f.render_widget(
        Paragraph::new(ev).block(
            Block::default()
                .borders(Borders::TOP)
                .title(format!(" events ({}) ", log.len())),
        ),
        parts[1],
    );
}

/// Sparkline samples shown at most.
const HISTORY_SHOWN: usize = 40;

pub fn draw_tail(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.tail;
    let mut title = format!(
        " tail · {} ",
        match &t.group {
            Some(g) => format!("group '{g}'"),
            None => "all groups".into(),
        }
    );
    if !t.filter.text.is_empty() {
        title.push_str(&format!("· filter: {} ", t.filter.text));
    }
    if t.paused {
        title.push_str(&format!("· PAUSED, {} waiting ", t.pending.lines.len()));
        if t.pending.dropped > 0 {
            title.push_str(&format!("({} dropped) ", t.pending.dropped));
        }
    }
    if t.lines.dropped > 0 {
        title.push_str(&format!("· {} old lines dropped ", t.lines.dropped));
    }
    if t.scroll > 0 {
        let follow = app.key_label(super::keymap::Command::ScrollDown);
        title.push_str(&format!("· scrolled {} ({follow} to follow) ", t.scroll));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(if t.paused { Color::Yellow } else { Color::Cyan }));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    // a narrower filter may leave fewer lines than the scroll offset
    let scroll = t.scroll.min(t.visible().count().saturating_sub(1));
    let mut shown: Vec<Line> = t
        .visible()
        .rev()
        .skip(scroll)
        .take(h)
        .map(|l| {
            if l.marker {
                return Line::from(Span::styled(
                    format!("{} {}", l.time, l.text),
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            let st = match l.stream {
                TailStream::Out => Style::default(),
                TailStream::Err => Style::default().fg(Color::Yellow),
                TailStream::Items => Style::default().fg(Color::Green),
            };
            Line::from(vec![
                Span::styled(format!("{} ", l.time), Style::default().fg(Color::DarkGray)),
                Span::styled(format!("[{}] ", l.tag()), Style::default().fg(Color::Cyan)),
                Span::styled(l.text.clone(), st),
            ])
        })
        .collect();
    shown.reverse();
    if shown.is_empty() {
        shown.push(Line::from(Span::styled(
            "no output yet (or none matches the filter)",
            Style::default().fg(Color::DarkGray),
        )));
    }
    f.render_widget(Paragraph::new(shown), inner);
}

pub fn draw_rosetta(f: &mut Frame, app: &App, area: Rect) {
    let Some(r) = &app.rosetta else {
        let keys = app.key_label(super::keymap::Command::Rosetta);
        f.render_widget(
            Paragraph::new(format!(
                "no Rosetta grid yet: write a snippet in the editor, then {keys}"
            ))
            .block(Block::default().borders(Borders::ALL).title(" rosetta ")),
            area,
        );
        return;
    };
    let code: String = r
        .code
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(60)
        .collect();
    let more = if r.code.lines().count() > 1 {
        " …"
    } else {
        ""
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " rosetta · {code}{more} · {} gateways ",
            r.keys.len()
        ))
        .border_style(Style::default().fg(Color::Magenta));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let code_h = (r.code.lines().count() as u16 + 1).min(inner.height / 2);
    let split = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(8), Constraint::Length(code_h)])
        .split(inner);
    let inner = split[0];
    let code_lines: Vec<Line> = r
        .code
        .lines()
        .map(|l| {
            Line::from(Span::styled(
                l.to_string(),
                Style::default().fg(Color::Blue),
            ))
        })
        .collect();
    f.render_widget(
        Paragraph::new(code_lines).block(Block::default().borders(Borders::TOP).title(" snippet ")),
        split[1],
    );
    let n = r.keys.len().max(1);
    let label_w = 10u16;
    let mut cons = vec![Constraint::Length(label_w)];
    cons.extend(std::iter::repeat_n(Constraint::Ratio(1, n as u32), n));
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(cons)
        .split(inner);
    let labels = ["", "", "result", "type", "exception", "elapsed"];
    let label_lines: Vec<Line> = labels
        .iter()
        .map(|l| Line::from(Span::styled(*l, Style::default().fg(Color::DarkGray))))
        .collect();
    f.render_widget(Paragraph::new(label_lines), cols[0]);
    let diff = Style::default()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD);
    for (n, key) in r.keys.iter().enumerate() {
        let Some(col) = cols.get(n + 1) else { break };
        let g = app.gateways.iter().find(|g| g.key == *key);
        let id = g.map(|g| g.id.clone()).unwrap_or_default();
        let interp = g
            .and_then(|g| g.interpreter.clone())
            .unwrap_or_else(|| "…".into());
        let mut lines = vec![
            Line::from(Span::styled(id, HEAD.add_modifier(Modifier::UNDERLINED))),
            Line::from(Span::styled(interp, Style::default().fg(Color::Cyan))),
        ];
        match r.cell(n) {
            None => lines.push(Line::from(Span::styled(
                "running…",
                Style::default().fg(Color::DarkGray),
            ))),
            Some(c) => {
                // within a differing cell, only the fields unlike the majority's light up
                let cells = r.cells.as_deref().unwrap_or_default();
                let odd = |field: fn(&Cell) -> Option<&str>| {
                    c.differs && majority(cells, field) != field(c)
                };
                let field = |text: Option<&String>, odd: bool, normal: Style| {
                    Line::from(Span::styled(
                        text.cloned().unwrap_or_else(|| "-".into()),
                        if odd {
                            diff
                        } else if text.is_some() {
                            normal
                        } else {
                            Style::default()
                        },
                    ))
                };
                lines.push(field(
                    c.repr.as_ref(),
                    odd(|c| c.repr.as_deref()),
                    Style::default().fg(Color::Green),
                ));
                lines.push(field(
                    c.type_name.as_ref(),
                    odd(|c| c.type_name.as_deref()),
                    Style::default(),
                ));
                lines.push(field(
                    c.error.as_ref(),
                    odd(|c| c.error.as_deref()),
                    Style::default().fg(Color::Red),
                ));
                lines.push(Line::from(Span::styled(
                    format!("{:.1} ms", c.elapsed.as_secs_f64() * 1000.0),
                    Style::default().fg(Color::DarkGray),
                )));
                if c.differs {
                    lines.push(Line::from(Span::styled(
                        "≠ differs from the majority",
                        Style::default().fg(Color::Yellow),
                    )));
                }
            }
        }
        f.render_widget(
            Paragraph::new(lines).block(Block::default().borders(Borders::LEFT)),
            *col,
        );
    }
}

/// The most common value of a field across the grid's cells (ties: the first seen).
fn majority(cells: &[Cell], field: fn(&Cell) -> Option<&str>) -> Option<&str> {
    let mut counts: Vec<(Option<&str>, usize)> = Vec::new();
    for c in cells {
        let v = field(c);
        match counts.iter_mut().find(|(k, _)| *k == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    counts
        .into_iter()
        .find(|(_, n)| *n == best)
        .and_then(|(k, _)| k)
}

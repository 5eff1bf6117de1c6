//! Drawing: header, gateway tree, console (output + editor), footer, dialogs, help.

use super::app::{
    App, ChannelState, Focus, GwState, Interrupt, LineKind, PromptKind, TreeRow, View,
};
use super::keymap::Command;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small: {}x{} (need at least {MIN_WIDTH}x{MIN_HEIGHT})",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(5),
            Constraint::Length(1),
        ])
        .split(area);
    draw_header(f, app, rows[0]);
    match app.view {
        View::Console => {}
        View::Monitor => super::panels::draw_monitor(f, app, rows[1]),
        View::Tail => super::panels::draw_tail(f, app, rows[1]),
        View::Rosetta => super::panels::draw_rosetta(f, app, rows[1]),
    }
    if app.view != View::Console {
        app.tree_rows.clear();
        draw_footer(f, app, rows[2]);
        if app.prompts.help.is_some() {
            draw_help(f, app, area);
        }
        if app.prompts.confirm.is_some() {
            draw_confirm(f, app, area);
        }
        return;
    }
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Length((u32::from(area.width) * 2 / 5).clamp(30, 44) as u16),
            Constraint::Min(20),
        ])
        .split(rows[1]);
    draw_tree(f, app, cols[0]);
    draw_console(f, app, cols[1]);
    draw_footer(f, app, rows[2]);
    if app.prompts.help.is_some() {
        draw_help(f, app, area);
    }
    if app.prompts.confirm.is_some() {
        draw_confirm(f, app, area);
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let n = app.counts();
    let line = Line::from(vec![
        Span::styled(
            " execdeck ",
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  groups {}  gateways alive {}/{}  busy {}  channels open {}  group for new gateways: {}",
            n.groups, n.alive, n.all, n.busy, n.channels, app.current_group
        )),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn state_style(s: &GwState) -> Style {
    match s {
        GwState::Connecting => Style::default().fg(Color::Yellow),
        GwState::Ready => Style::default().fg(Color::Green),
        GwState::Busy => Style::default().fg(Color::Cyan),
        GwState::Dead(_) | GwState::Failed(_) => Style::default().fg(Color::Red),
        GwState::Terminated(_) => Style::default().fg(Color::DarkGray),
    }
}

fn draw_tree(f: &mut Frame, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Tree && app.prompts.line.is_none();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" gateways ")
        .border_style(if focused {
            Style::default().fg(Color::Cyan)
        } else {
            Style::default()
        });
    let mut lines: Vec<Line> = Vec::new();
    let mut rows: Vec<TreeRow> = Vec::new();
    let order = app.ordered();
    for group in &app.groups {
        lines.push(Line::from(Span::styled(
            format!("▾ {group}"),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        for (pos, &i) in order.iter().enumerate() {
            let g = &app.gateways[i];
            if &g.group != group {
                continue;
            }
            let sel = pos == app.selected;
            for y in [lines.len() as u16, lines.len() as u16 + 1] {
                let (x0, x1) = (area.x, area.x + area.width);
                rows.push(TreeRow { y, x0, x1, pos });
            }
            let marker = if sel { "›" } else { " " };
            let base = if sel {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            let mut spans = vec![
                Span::styled(
                    format!("{marker} {} ", g.id),
                    base.add_modifier(Modifier::BOLD),
                ),
                Span::styled(g.state.label(), state_style(&g.state)),
            ];
            if let Some((text, st)) = super::panels::tree_metrics(app, g) {
                spans.push(Span::styled(format!("  {text}"), st));
            }
            lines.push(Line::from(spans));
            let detail = format!(
                "    {} · pid {} · {}",
                g.interpreter.as_deref().unwrap_or("…"),
                g.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                g.host
            );
            lines.push(Line::from(Span::styled(
                detail,
                Style::default().fg(Color::DarkGray),
            )));
        }
    }
    if app.gateways.is_empty() {
        let add = app.key_label(Command::AddGateway);
        lines.push(Line::from(format!("no gateways: press {add} to add one")));
    }
    // scroll so that the selected gateway (and its detail line) stays visible
    let inner_h = area.height.saturating_sub(2);
    let sel_line = rows
        .iter()
        .filter(|r| r.pos == app.selected)
        .map(|r| r.y)
        .max()
        .unwrap_or(0);
    let offset = (sel_line + 1).saturating_sub(inner_h);
    f.render_widget(Paragraph::new(lines).block(block).scroll((offset, 0)), area);
    app.tree_rows = rows
        .into_iter()
        .filter(|r| r.y >= offset && r.y - offset < inner_h)
        .map(|r| TreeRow {
            y: area.y + 1 + r.y - offset,
            ..r
        })
        .collect();
}

fn kind_style(k: LineKind) -> Style {
    match k {
        LineKind::Input => Style::default().fg(Color::Blue),
        LineKind::Stdout => Style::default(),
        LineKind::Stderr => Style::default().fg(Color::Yellow),
        LineKind::Result => Style::default().fg(Color::Green),
        LineKind::Traceback => Style::default().fg(Color::Red),
        LineKind::Info => Style::default()
            .fg(Color::DarkGray)
            .add_modifier(Modifier::ITALIC),
    }
}

fn draw_console(f: &mut Frame, app: &mut App, area: Rect) {
    let editor_focused = app.focus == Focus::Editor && app.prompts.line.is_none();
    let label = |cmd| app.key_label(cmd);
    let (run, interrupt, terminate) = (
        label(Command::Run),
        label(Command::Interrupt),
        label(Command::Terminate),
    );
    let follow = app
        .keys_of(Command::Follow, super::keymap::Mode::Normal)
        .first()
        .map_or_else(|| label(Command::ScrollDown), |k| k.label());
    let open = label(Command::OpenChannel);
    let Some(&i) = app.ordered().get(app.selected) else {
        f.render_widget(
            Block::default().borders(Borders::ALL).title(" console "),
            area,
        );
        return;
    };
    // the editor grows with its content, up to half the pane
    let rows = app.gateways[i].console.editor.lines().len() as u16;
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(3),
            Constraint::Length((rows + 2).clamp(3, (area.height / 2).max(3))),
        ])
        .split(area);
    let inner_h = parts[0].height.saturating_sub(2) as usize;
    app.page = inner_h.max(1);
    let g = &mut app.gateways[i];
    let c = &mut g.console;
    let total = c.output.lines.len();
    let offset = c.offset();
    let end = total.saturating_sub(offset);
    let start = end.saturating_sub(inner_h);
    let mut lines: Vec<Line> = Vec::with_capacity(inner_h);
    for (k, text) in c.output.lines.range(start..end) {
        let mut st = kind_style(*k);
        if c.search
            .as_ref()
            .is_some_and(|n| super::app::console::matches(text, n))
        {
            st = st.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(Span::styled(text.clone(), st)));
    }
    let mut title = format!(" {} · {} ", g.id, g.spec);
    if c.output.dropped > 0 {
        title.push_str(&format!("· {} lines dropped ", c.output.dropped));
    }
    if offset > 0 {
        title.push_str(&format!("· scrolled {offset} ({follow} to follow) "));
    }
    let new_lines = c.new_lines();
    if app.channels_shown {
        draw_channels(f, &app.gateways[i], &open, parts[0]);
    } else if let Some(b) = app.broadcast.as_ref().filter(|b| b.shown) {
        draw_broadcast(f, b, &app.gateways, parts[0]);
    } else {
        let mut block = Block::default().borders(Borders::ALL).title(title);
        if new_lines > 0 {
            // scrolled back: the view stays still and counts what arrived below
            block = block.title_bottom(Line::from(Span::styled(
                format!(" ▼ {new_lines} new lines ({follow} follows) "),
                Style::default().fg(Color::Black).bg(Color::Yellow),
            )));
        }
        f.render_widget(Paragraph::new(lines).block(block), parts[0]);
    }
    let g = &mut app.gateways[i];
    let c = &mut g.console;
    let status = match (c.running, c.interrupt) {
        (None, _) => format!(" editor · {run} run "),
        (Some(_), Interrupt::None) => format!(" running… · {interrupt} interrupts "),
        (Some(_), Interrupt::InBandSent) => {
            format!(" running · interrupt sent · {interrupt} again: SIGINT ")
        }
        (Some(_), Interrupt::SignalSent) => {
            format!(" running · SIGINT sent · {interrupt} again: terminate? ")
        }
        (Some(_), Interrupt::TerminateOffered) => {
            format!(" running · cannot interrupt · {terminate} terminates ")
        }
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(status)
        .border_style(if editor_focused {
            Style::default().fg(Color::Cyan)
        } else {
            Style::default()
        });
    c.editor.set_block(block);
    c.editor.set_cursor_line_style(Style::default());
    f.render_widget(&c.editor, parts[1]);
    draw_assist(f, &c.editor, &c.assist, parts[1]);
}

/// The completion popup (or the inspect box) just above the editor, at the cursor.
fn draw_assist(
    f: &mut Frame,
    editor: &ratatui_textarea::TextArea,
    a: &super::app::complete::Assist,
    area: Rect,
) {
    let screen = f.area();
    if let Some(text) = &a.inspect {
        let lines: Vec<Line> = text
            .lines()
            .take(10)
            .enumerate()
            .map(|(n, l)| {
                let st = if n == 0 {
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                Line::from(Span::styled(l.to_string(), st))
            })
            .collect();
        let h = (lines.len() as u16 + 2)
            .min(area.y.saturating_sub(1))
            .max(3);
        let r = Rect {
            x: area.x,
            y: area.y.saturating_sub(h),
            width: area.width,
            height: h,
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" inspect · any key closes ")
                    .border_style(Style::default().fg(Color::Cyan)),
            ),
            r,
        );
        return;
    }
    let Some(p) = &a.popup else {
        return;
    };
    let rows = p.items.len().min(super::app::complete::POPUP_ROWS);
    // scroll so that the selected item is shown
    let first = (p.selected + 1).saturating_sub(rows);
    let width = p
        .items
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1)
        .clamp(12, 50) as u16
        + 2;
    let col = editor.cursor().1.saturating_sub(p.word.chars().count()) as u16;
    let h = (rows as u16 + 2).min(area.y.saturating_sub(1));
    let x = (area.x + 1 + col).min(screen.width.saturating_sub(width));
    let r = Rect {
        x,
        y: area.y.saturating_sub(h),
        width: width.min(screen.width),
        height: h,
    };
    let lines: Vec<Line> = p
        .items
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(n, item)| {
            let st = if n == p.selected {
                Style::default().fg(Color::Black).bg(Color::Cyan)
            } else {
                Style::default()
            };
            Line::from(Span::styled(item.clone(), st))
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {}/{} ", p.selected + 1, p.items.len()))
                .border_style(Style::default().fg(Color::Cyan)),
        ),
        r,
    );
}

fn draw_channels(f: &mut Frame, g: &super::app::GatewayView, open: &str, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" channels of {} ", g.id))
        .border_style(Style::default().fg(Color::Blue));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let c = &g.channels;
    let table_h = (c.rows.len() as u16 + 1).min(inner.height / 2).max(2);
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(table_h), Constraint::Min(1)])
        .split(inner);
    let mut rows = vec![Line::from(Span::styled(
        format!(
            "{:<5}{:<11}{:<8}{:<7}{:>7}{:>7}  {}",
            "ID", "NAME", "OPENER", "STATE", "IN", "OUT", "BRIDGE"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for (n, ch) in c.rows.iter().enumerate() {
        let st = match ch.state {
            ChannelState::Open => Style::default().fg(Color::Green),
            ChannelState::Error => Style::default().fg(Color::Red),
            ChannelState::Closed => Style::default().fg(Color::DarkGray),
        };
        let st = if n == c.selected {
            st.add_modifier(Modifier::REVERSED)
        } else {
            st
        };
        let mut spans = vec![Span::styled(
            format!(
                "{:<5}{:<11}{:<8}{:<7}{:>7}{:>7}  ",
                ch.id,
                ch.name
                    .as_deref()
                    .unwrap_or("-")
                    .chars()
                    .take(10)
                    .collect::<String>(),
                ch.opener,
                ch.state.name(),
                ch.items_in,
                ch.items_out
            ),
            st,
        )];
        if let Some(l) = &ch.link {
            let arrow = if l.outgoing { "⇒" } else { "⇐" };
            let state = match &l.ended {
                Some(r) => format!("ended: {r}"),
                None => format!("{:.0}/s", l.per_s),
            };
            // keys a conversion made equal show only when there are some
            let merged = match l.merged {
                0 => String::new(),
                n => format!("  {n} merged"),
            };
            spans.push(Span::styled(
                format!(
                    "{arrow} {}  {} items  {} conv{merged}  {state}",
                    l.peer, l.items, l.conversions
                ),
                Style::default().fg(if l.ended.is_some() {
                    Color::DarkGray
                } else {
                    Color::Magenta
                }),
            ));
        }
        rows.push(Line::from(spans));
    }
    if c.rows.is_empty() {
        rows.push(Line::from(Span::styled(
            format!("no channels yet: write code in the editor (it sees `channel`), then {open}"),
            Style::default().fg(Color::DarkGray),
        )));
    }
    f.render_widget(Paragraph::new(rows), parts[0]);
    if let Some(ch) = c.rows.get(c.selected) {
        let h = parts[1].height as usize;
        let n = ch.log.lines.len();
        let lines: Vec<Line> = ch
            .log
            .lines
            .range(n.saturating_sub(h.saturating_sub(1))..n)
            .map(|(k, t)| Line::from(Span::styled(t.clone(), kind_style(*k))))
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::TOP)
                    .title(format!(" channel {} ", ch.id)),
            ),
            parts[1],
        );
    }
}

fn draw_broadcast(
    f: &mut Frame,
    b: &super::app::Broadcast,
    gateways: &[super::app::GatewayView],
    area: Rect,
) {
    let title = format!(
        " broadcast to group '{}' · {} gateways · {} ",
        b.group,
        b.keys.len(),
        if b.side_by_side {
            "side by side"
        } else {
            "interleaved"
        }
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(Color::Magenta));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    if !b.side_by_side {
        let n = b.ring.lines.len();
        let lines: Vec<Line> = b
            .ring
            .lines
            .range(n.saturating_sub(h)..n)
            .map(|(k, t)| Line::from(Span::styled(t.clone(), kind_style(*k))))
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let members: Vec<&super::app::GatewayView> = b
        .keys
        .iter()
        .filter_map(|k| gateways.iter().find(|g| g.key == *k))
        .collect();
    if members.is_empty() {
        return;
    }
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(vec![
            Constraint::Ratio(1, members.len() as u32);
            members.len()
        ])
        .split(inner);
    for (g, col) in members.iter().zip(cols.iter()) {
        // the lines since this broadcast's input echo
        let out = &g.console.output.lines;
        let from = out
            .iter()
            .rposition(|(k, t)| *k == LineKind::Input && t.starts_with("b>> "))
            .unwrap_or(0);
        let body: Vec<&(LineKind, String)> = out.range(from..).collect();
        // take lines from the end until their wrapped rows fill the column
        let width = col.width.saturating_sub(1).max(1) as usize;
        let mut used = 0;
        let mut start = body.len();
        while start > 0 {
            let rows = body[start - 1].1.chars().count().div_ceil(width).max(1);
            if used + rows > h.saturating_sub(1) {
                break;
            }
            used += rows;
            start -= 1;
        }
        let mut lines = vec![Line::from(Span::styled(
            format!("{} · {}", g.id, g.interpreter.as_deref().unwrap_or("…")),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ))];
        lines.extend(
            body[start..]
                .iter()
                .map(|(k, t)| Line::from(Span::styled(t.clone(), kind_style(*k)))),
        );
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::RIGHT)),
            *col,
        );
    }
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    if let Some(p) = &app.prompts.line {
        let label = match p.kind {
            PromptKind::Command => ":",
            PromptKind::AddSpec => "add spec: ",
            PromptKind::Search => "search: ",
            PromptKind::SavePath => "save output to file: ",
            PromptKind::SendLiteral => "send (Python literal): ",
            PromptKind::TailFilter => "tail filter (gw:ID · out err items · regex): ",
            PromptKind::Secret | PromptKind::Ask => "",
        };
        if matches!(p.kind, PromptKind::Secret | PromptKind::Ask) {
            // a secret is masked: it is never drawn
            let question = p.error.clone().unwrap_or_default();
            let answer = if p.kind == PromptKind::Secret {
                "•".repeat(p.text.chars().count())
            } else {
                p.text.clone()
            };
            let spans = vec![
                Span::styled(format!("{question}: "), Style::default().fg(Color::Yellow)),
                Span::raw(answer),
                Span::raw("▏  (Enter sends · Esc declines)"),
            ];
            f.render_widget(Paragraph::new(Line::from(spans)), area);
            return;
        }
        let mut spans = vec![
            Span::styled(label, Style::default().fg(Color::Cyan)),
            Span::raw(p.text.clone()),
            Span::raw("▏"),
        ];
        if let Some(e) = &p.error {
            spans.push(Span::styled(
                format!("  {e}"),
                Style::default().fg(Color::Red),
            ));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if let Some(t) = &app.toast {
        f.render_widget(
            Paragraph::new(Span::styled(t.clone(), Style::default().fg(Color::Yellow))),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for (keys, hint) in app.footer_fitted(app.scope(), area.width as usize) {
        spans.push(Span::styled(
            keys,
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_confirm(f: &mut Frame, app: &App, area: Rect) {
    let Some(c) = &app.prompts.confirm else {
        return;
    };
    let width = (c.title.chars().count().min(200) as u16 + 6).max(44);
    let r = centered(area, width, 6);
    f.render_widget(Clear, r);
    let btn = |label: &str, focused: bool| {
        let st = if focused {
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        Span::styled(format!("[ {label} ]"), st)
    };
    let text = vec![
        Line::from(c.title.clone()),
        Line::from(""),
        Line::from(vec![
            btn("Cancel", !c.yes_focused),
            Span::raw("   "),
            btn(c.yes_label(), c.yes_focused),
        ]),
        Line::from(Span::styled(
            "←/→ choose · Enter confirm · Esc cancel",
            Style::default().fg(Color::DarkGray),
        )),
    ];
    f.render_widget(
        Paragraph::new(text).alignment(Alignment::Center).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" confirm ")
                .border_style(Style::default().fg(Color::Red)),
        ),
        r,
    );
}

fn draw_help(f: &mut Frame, app: &App, area: Rect) {
    let Some(help) = &app.prompts.help else {
        return;
    };
    let scope = app.scope();
    let rows = app.help_rows(scope, &help.filter);
    let r = centered(
        area,
        110.min(area.width.saturating_sub(2)),
        (rows.len() as u16 + 5).min(area.height),
    );
    f.render_widget(Clear, r);
    // rows that fit under the filter line and the blank line, inside the borders
    let fit = (r.height as usize).saturating_sub(4).max(1);
    let total = rows.len();
    let skip = help.scroll.min(total.saturating_sub(fit));
    let more = total.saturating_sub(skip + fit);
    let mut lines = vec![Line::from(vec![
        Span::styled("filter: ", Style::default().fg(Color::Cyan)),
        Span::raw(help.filter.clone()),
        Span::raw("▏  (type to filter · ↑/↓ PgUp/PgDn scroll · Esc closes)"),
    ])];
    lines.push(Line::from(if more > 0 || skip > 0 {
        Span::styled(
            format!("{skip} above · {more} below"),
            Style::default().fg(Color::DarkGray),
        )
    } else {
        Span::raw("")
    }));
    for row in rows.into_iter().skip(skip).take(fit) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<8}", row.mode),
                Style::default().fg(Color::DarkGray),
            ),
            Span::styled(
                format!("{:<28}", row.keys),
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(row.help),
        ]));
    }
    let title = format!(" help · {} ", scope.name());
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        r,
    );
}

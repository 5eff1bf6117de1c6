//! The channels of each gateway (opened here, or made by the worker) and the bridges
//! that forward one channel's items into another.

use super::commands::{Decl, Scope};
use super::lines::{LineKind, Ring};
use super::{App, Effect, EngineMsg, Prompt, PromptKind, View, editor_with};
use crate::tui::keymap::Command;
use crate::tui::monitor::{LogKind, TailLine, TailStream};

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Open,
    Closed,
    Error,
}

impl ChannelState {
    pub fn name(self) -> &'static str {
        match self {
            ChannelState::Open => "open",
            ChannelState::Closed => "closed",
            ChannelState::Error => "error",
        }
    }
}

/// One row of the channels view.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: i32,
    /// The name a session file gave it.
    pub name: Option<String>,
    /// "here" (we opened it) or "remote" (the worker made it).
    pub opener: String,
    pub state: ChannelState,
    pub items_in: u64,
    pub items_out: u64,
    /// Items received (repr) and sent, and the end.
    pub log: Ring,
    /// A bridge from or to this channel.
    pub link: Option<Link>,
}

impl ChannelRow {
    fn bridged(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.ended.is_none())
    }
}

/// One end of a bridge, as the channels view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// true: this channel's items flow out to `peer`; false: they come in from it.
    pub outgoing: bool,
    /// "gw1#5".
    pub peer: String,
    pub items: u64,
    pub conversions: u64,
    /// Keys a conversion made equal, merged.
    pub merged: u64,
    pub per_s: f64,
    /// Why the bridge ended.
    pub ended: Option<String>,
}

/// A gateway's channels, as seen by the channels view.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    pub rows: Vec<ChannelRow>,
    pub selected: usize,
}

/// A bridge's counters, as the engine reports them.
struct BridgeReport {
    items: u64,
    conversions: u64,
    merged: u64,
    per_s: f64,
    ended: Option<String>,
}

const HERE: &[Scope] = &[Scope::Channels];

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::ChannelsView, App::toggle_channels, "channels", "channels of the selected gateway (toggle)").only(&[Scope::Tree, Scope::Channels, Scope::Broadcast]),
    Decl::key(Command::OpenChannel, App::open_channel, "open", "channels: open a channel running the editor's snippet (remote_exec)").only(&[Scope::Tree, Scope::Channels]),
    Decl::key(Command::ChannelSend, App::ask_send, "send", "channels: send a Python literal to the selected channel").only(HERE),
    Decl::key(Command::ChannelClose, App::close_channel, "close", "channels: close the selected channel").only(HERE),
    Decl::key(Command::ChannelNext, |a| a.channel_step(true), "", "channels: select the next channel").only(HERE),
    Decl::key(Command::ChannelPrev, |a| a.channel_step(false), "", "channels: select the previous channel").only(HERE),
    Decl::key(Command::Bridge, App::ask_bridge, "bridge", "channels: bridge the selected channel into another (:bridge FROM TO)").named("bridge", "FROM TO", App::bridge_line).only(HERE),
];

impl App {
    /// Engine messages about channels and bridges.
    pub(super) fn on_channel_msg(&mut self, msg: EngineMsg) -> Vec<Effect> {
        match msg {
            EngineMsg::ChannelOpened {
                key,
                channel,
                opener,
                name,
            } => {
                let cap = self.scrollback;
                if let Some(g) = self.by_key(key)
                    && !g.channels.rows.iter().any(|c| c.id == channel)
                {
                    g.channels.rows.push(ChannelRow {
                        id: channel,
                        opener,
                        state: ChannelState::Open,
                        items_in: 0,
                        items_out: 0,
                        log: Ring::new(cap),
                        name: name.clone(),
                        link: None,
                    });
                    g.channels.selected = g.channels.rows.len() - 1;
                }
                if let Some(name) = name {
                    self.setup.named.insert(name, (key, channel));
                    return self.setup_progress();
                }
            }
            EngineMsg::ChannelOpenFailed { key, name, error } => {
                let what = match &name {
                    Some(n) => format!("channel '{n}' not opened: {error}"),
                    None => format!("cannot open a channel: {error}"),
                };
                self.toast = Some(what.clone());
                self.log_event(key, LogKind::ChannelError, what);
                if let Some(n) = name {
                    self.setup.failed.push(n);
                    return self.setup_progress();
                }
            }
            EngineMsg::ChannelItem { key, channel, repr } => {
                if let Some(g) = self.gateway(key) {
                    let line = TailLine {
                        time: (self.clock)(),
                        group: g.group.clone(),
                        gateway: g.id.clone(),
                        stream: TailStream::Items,
                        channel: Some(channel),
                        text: repr.replace('\n', "\\n"),
                        marker: false,
                    };
                    self.tail.push(line);
                }
                if let Some(row) = self.channel_row(key, channel) {
                    row.items_in += 1;
                    row.log.push(LineKind::Result, &format!("← {repr}\n"));
                }
            }
            EngineMsg::ChannelSent { key, channel, repr } => {
                if let Some(row) = self.channel_row(key, channel) {
                    row.items_out += 1;
                    row.log.push(LineKind::Input, &format!("→ {repr}\n"));
                }
            }
            EngineMsg::ChannelEnded {
                key,
                channel,
                error,
            } => self.channel_ended(key, channel, error),
            EngineMsg::Bridge {
                src,
                dst,
                items,
                conversions,
                merged,
                per_s,
                ended,
            } => {
                let report = BridgeReport {
                    items,
                    conversions,
                    merged,
                    per_s,
                    ended,
                };
                self.bridge_report(src, dst, report);
            }
            EngineMsg::BridgeFailed { src, dst, error } => {
                for end in [src, dst] {
                    if let Some(row) = self.channel_row(end.0, end.1) {
                        row.link = None;
                    }
                }
                let text = format!(
                    "cannot bridge {} → {}: {error}",
                    self.channel_label(src),
                    self.channel_label(dst)
                );
                self.toast = Some(text.clone());
                self.log_event(src.0, LogKind::Bridge, text);
            }
            _ => {}
        }
        vec![]
    }

    fn channel_ended(&mut self, key: usize, channel: i32, error: Option<String>) {
        let ending = self
            .gateway(key)
            .is_some_and(|g| g.terminating || !g.state.alive());
        if let Some(e) = &error
            && !ending
        {
            let last = e.trim_end().lines().last().unwrap_or("").to_string();
            self.log_event(
                key,
                LogKind::ChannelError,
                format!("channel {channel}: {last}"),
            );
        }
        if let Some(row) = self.channel_row(key, channel) {
            match error {
                Some(e) => {
                    row.state = ChannelState::Error;
                    row.log
                        .push(LineKind::Traceback, &format!("{}\n", e.trim_end()));
                }
                None => {
                    row.state = ChannelState::Closed;
                    row.log.push(LineKind::Info, "closed\n");
                }
            }
        }
    }

    fn bridge_report(&mut self, src: (usize, i32), dst: (usize, i32), r: BridgeReport) {
        let names = (self.channel_label(src), self.channel_label(dst));
        let first_end = r.ended.is_some()
            && self
                .channel_row(src.0, src.1)
                .is_none_or(|row| row.link.as_ref().is_none_or(|l| l.ended.is_none()));
        for (end, peer, outgoing) in [(src, &names.1, true), (dst, &names.0, false)] {
            if let Some(row) = self.channel_row(end.0, end.1) {
                let was_running = row.link.as_ref().is_none_or(|l| l.ended.is_none());
                row.link = Some(Link {
                    outgoing,
                    peer: peer.clone(),
                    items: r.items,
                    conversions: r.conversions,
                    merged: r.merged,
                    per_s: r.per_s,
                    ended: r.ended.clone(),
                });
                if let (Some(reason), true) = (&r.ended, was_running) {
                    row.log
                        .push(LineKind::Info, &format!("bridge ended: {reason}\n"));
                }
            }
        }
        if let Some(reason) = r.ended
            && first_end
        {
            let text = format!(
                "{} → {} ended after {} items: {reason}",
                names.0, names.1, r.items
            );
            self.log_event(src.0, LogKind::Bridge, text);
        }
    }

    /// "gw1#5" for a gateway key and channel.
    pub fn channel_label(&self, (key, channel): (usize, i32)) -> String {
        match self.gateway(key) {
            Some(g) => format!("{}#{channel}", g.id),
            None => format!("?#{channel}"),
        }
    }

    fn channel_row(&mut self, key: usize, channel: i32) -> Option<&mut ChannelRow> {
        self.by_key(key)?
            .channels
            .rows
            .iter_mut()
            .find(|c| c.id == channel)
    }

    fn row(&self, (key, channel): (usize, i32)) -> Option<&ChannelRow> {
        self.gateway(key)?
            .channels
            .rows
            .iter()
            .find(|c| c.id == channel)
    }

    /// The selected gateway's selected channel: (gateway key, channel id, open).
    pub fn selected_channel(&self) -> Option<(usize, i32, bool)> {
        let g = self.selected_gateway()?;
        let row = g.channels.rows.get(g.channels.selected)?;
        Some((g.key, row.id, row.state == ChannelState::Open))
    }

    /// Finds an open channel by session name, `GW#CH` (a gateway of the selected group)
    /// or `GROUP/GW#CH`.
    fn resolve_channel(&self, text: &str) -> Result<(usize, i32), String> {
        if let Some(&end) = self.setup.named.get(text) {
            return match self.row(end) {
                Some(c) if c.state == ChannelState::Open => Ok(end),
                Some(c) => Err(format!("channel '{text}' is {}", c.state.name())),
                None => Err(format!("channel '{text}' is gone")),
            };
        }
        let Some((gw, ch)) = text.rsplit_once('#') else {
            return Err(format!(
                "'{text}': name a channel as GATEWAY#CHANNEL (e.g. gw0#3) or by its session name"
            ));
        };
        let channel: i32 = ch
            .parse()
            .map_err(|_| format!("'{text}': channel '{ch}' is not a number"))?;
        let (group, id) = match gw.split_once('/') {
            Some((g, i)) => (g.to_string(), i),
            None => (self.selected_group(), gw),
        };
        let g = self
            .find(&group, id)
            .ok_or_else(|| format!("no gateway '{id}' in group '{group}'"))?;
        match self.row((g.key, channel)) {
            Some(c) if c.state == ChannelState::Open => Ok((g.key, channel)),
            Some(c) => Err(format!("channel {id}#{channel} is {}", c.state.name())),
            None => {
                let keys = self.key_label(Command::ChannelsView);
                Err(format!(
                    "gateway {id} has no channel {channel} ({keys} lists its channels)"
                ))
            }
        }
    }

    /// The bridge effect, with both channel rows marked as linked at once (so a second
    /// bridge on either is refused before the first one reports).
    pub(super) fn bridge_effect(&mut self, src: (usize, i32), dst: (usize, i32)) -> Vec<Effect> {
        let names = (self.channel_label(src), self.channel_label(dst));
        for (end, peer, outgoing) in [(src, &names.1, true), (dst, &names.0, false)] {
            if let Some(row) = self.channel_row(end.0, end.1) {
                row.link = Some(Link {
                    outgoing,
                    peer: peer.clone(),
                    items: 0,
                    conversions: 0,
                    merged: 0,
                    per_s: 0.0,
                    ended: None,
                });
            }
        }
        vec![Effect::Bridge { src, dst }]
    }

    fn bridge_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        let parts: Vec<&str> = arg.split_whitespace().collect();
        let [from, to] = parts.as_slice() else {
            return Err(
                "usage: :bridge FROM TO  (channels as GATEWAY#CHANNEL, e.g. gw0#3 gw1#5)".into(),
            );
        };
        let src = self.resolve_channel(from)?;
        let dst = self.resolve_channel(to)?;
        if src == dst {
            return Err("a channel cannot be bridged into itself".into());
        }
        let busy = |end| self.row(end).is_some_and(ChannelRow::bridged);
        if busy(src) || busy(dst) {
            return Err("one of these channels is already bridged".into());
        }
        self.channels_shown = true;
        self.view = View::Console;
        Ok(self.bridge_effect(src, dst))
    }

    fn ask_bridge(&mut self) -> Vec<Effect> {
        match self.selected_channel() {
            Some((key, channel, true)) => {
                let from = self.channel_label((key, channel));
                self.prompts.line = Some(Prompt {
                    error: Some("then the channel to feed: GATEWAY#CHANNEL".into()),
                    ..Prompt::new(PromptKind::Command, &format!("bridge {from} "))
                });
            }
            _ => {
                let keys = self.key_label(Command::ChannelsView);
                self.toast = Some(format!(
                    "select an open channel first ({keys} shows the channels), or :bridge FROM TO"
                ));
            }
        }
        vec![]
    }

    fn toggle_channels(&mut self) -> Vec<Effect> {
        self.channels_shown = !self.channels_shown;
        if let Some(b) = &mut self.broadcast {
            b.shown = false;
        }
        vec![]
    }

    fn open_channel(&mut self) -> Vec<Effect> {
        let Some((i, code)) = self.editor_code() else {
            self.toast =
                Some("write the channel's code in the editor first (it sees `channel`)".into());
            return vec![];
        };
        let g = &mut self.gateways[i];
        if !g.state.up() {
            self.toast = Some(format!("gateway {} is {}", g.id, g.state.label()));
            return vec![];
        }
        g.console.editor = editor_with("");
        self.channels_shown = true;
        self.view = View::Console;
        vec![Effect::OpenChannel {
            key: g.key,
            code,
            name: None,
            hold: false,
        }]
    }

    fn ask_send(&mut self) -> Vec<Effect> {
        match self.selected_channel() {
            Some((_, _, true)) => return self.open_prompt(PromptKind::SendLiteral, ""),
            Some(_) => self.toast = Some("that channel is closed".into()),
            None => {
                let open = self.key_label(Command::OpenChannel);
                let list = self.key_label(Command::ChannelsView);
                self.toast = Some(format!(
                    "no channel: open one with {open} ({list} shows the channels)"
                ));
            }
        }
        vec![]
    }

    /// Sends a literal typed at the prompt to the selected channel.
    pub(super) fn send_literal(&mut self, text: &str) -> Result<Vec<Effect>, String> {
        let value = crate::engine::Value::parse_literal(text).map_err(|e| e.to_string())?;
        Ok(match self.selected_channel() {
            Some((key, channel, true)) => vec![Effect::ChannelSend {
                key,
                channel,
                value,
            }],
            _ => vec![],
        })
    }

    fn close_channel(&mut self) -> Vec<Effect> {
        match self.selected_channel() {
            Some((key, channel, true)) => vec![Effect::ChannelClose { key, channel }],
            _ => vec![],
        }
    }

    fn channel_step(&mut self, next: bool) -> Vec<Effect> {
        if let Some(i) = self.selected_index() {
            let c = &mut self.gateways[i].channels;
            let n = c.rows.len();
            if n > 0 {
                c.selected = if next {
                    (c.selected + 1).min(n - 1)
                } else {
                    c.selected.saturating_sub(1)
                };
            }
        }
        vec![]
    }
}

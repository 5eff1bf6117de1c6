//! Gateways, groups and session files: adding and terminating gateways, `:group`,
//! `:save` / `:open`, and what a session asks for beyond its gateways (channels,
//! bridges, a Rosetta grid), done as the gateways become ready.

use super::commands::{Decl, Scope};
use super::{App, Confirm, Effect, GwState, LineKind, Prompt, View};
use crate::config::{Session, SessionGroup};
use crate::engine::Spec;
use crate::tui::keymap::Command;
use crate::tui::monitor::{LogEntry, LogKind};
use std::collections::HashMap;

/// A channel a session file asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupChannel {
    pub group: String,
    /// The gateway id it opens on.
    pub gateway: String,
    /// The session's name for it.
    pub name: String,
    pub code: String,
    /// Held for a bridge: its items are not read here.
    pub hold: bool,
}

/// A Rosetta grid a session file asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupGrid {
    pub group: String,
    /// Gateway ids (empty: the whole group).
    pub ids: Vec<String>,
    pub code: String,
}

/// What a session file asks for beyond its gateways, done as gateways become ready.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub channels: Vec<SetupChannel>,
    /// (from, to) channel names.
    pub bridges: Vec<(String, String)>,
    pub rosetta: Option<SetupGrid>,
    /// Named channels opened so far: name -> (gateway key, channel id).
    pub named: HashMap<String, (usize, i32)>,
    /// Named channels that will not open (their gateway is not up, or the open failed).
    pub failed: Vec<String>,
}

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::AddGateway, |a| a.open_prompt(super::PromptKind::AddSpec, ""), "add", "add a gateway (spec string)").named("add", "SPEC", App::add_line).only(&[Scope::Tree]),
    Decl::line("group", "NAME", App::group_line, "", "new gateways go to group NAME").only(&[Scope::Tree]),
    Decl::key(Command::Terminate, App::terminate_key, "terminate", "terminate the selected gateway (:terminate GROUP: its whole group)").named("terminate", "[GROUP]", App::terminate_line),
    Decl::line("save", "NAME", App::save_line, "", "save the live gateways as session NAME").only(&[Scope::Tree]),
    Decl::line("open", "NAME", App::open_line, "", "open session NAME (or a path to a .toml file)").only(&[Scope::Tree]),
];

impl App {
    /// A session file was read: its setup, then its gateways.
    pub(super) fn open_session(&mut self, session: Session) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.apply_setup(&session);
        for group in session.groups {
            for spec in group.specs {
                match Spec::parse_many(&spec).map_err(|e| e.to_string()) {
                    Ok(specs) => {
                        for spec in specs {
                            match self.add_gateway(&group.name, spec) {
                                Ok(e) => effects.push(e),
                                Err(e) => self.toast = Some(e),
                            }
                        }
                    }
                    Err(e) => self.toast = Some(e),
                }
            }
        }
        effects
    }

    /// Takes what a session file asks for beyond its gateways; it happens as they
    /// become ready.
    pub fn apply_setup(&mut self, session: &Session) {
        let first = session.groups.first().map(|g| g.name.clone());
        let group_of = |g: &Option<String>| {
            g.clone()
                .or_else(|| first.clone())
                .unwrap_or_else(|| self.current_group.clone())
        };
        for c in &session.channels {
            self.setup.channels.push(SetupChannel {
                group: group_of(&c.group),
                gateway: c.gateway.clone(),
                name: c.name.clone(),
                code: c.code.clone(),
                hold: session.bridges.iter().any(|b| b.from == c.name),
            });
        }
        for b in &session.bridges {
            self.setup.bridges.push((b.from.clone(), b.to.clone()));
        }
        if let Some(r) = &session.rosetta {
            self.setup.rosetta = Some(SetupGrid {
                group: group_of(&r.group),
                ids: r.gateways.clone(),
                code: r.code.clone(),
            });
        }
        self.view = match session.view.as_deref() {
            Some("monitor") => View::Monitor,
            Some("tail") => View::Tail,
            Some("rosetta") => View::Rosetta,
            Some("channels") => {
                self.channels_shown = true;
                View::Console
            }
            _ => self.view,
        };
        if self.view == View::Tail {
            self.tail.group = first;
        }
    }

    /// Opens a session's channels, bridges and grid whose gateways are ready; gives up
    /// on those whose gateway will not come up, and says so.
    pub(super) fn setup_progress(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for c in std::mem::take(&mut self.setup.channels) {
            effects.extend(self.setup_channel(c));
        }
        for (from, to) in std::mem::take(&mut self.setup.bridges) {
            effects.extend(self.setup_bridge(from, to));
        }
        if let Some(grid) = self.setup.rosetta.take() {
            let members: Vec<_> = self
                .gateways
                .iter()
                .filter(|g| {
                    g.group == grid.group && (grid.ids.is_empty() || grid.ids.contains(&g.id))
                })
                .map(|g| (g.key, g.state.clone()))
                .collect();
            if members.is_empty() || members.iter().any(|m| m.1 == GwState::Connecting) {
                self.setup.rosetta = Some(grid);
            } else {
                let keys = members.iter().filter(|m| m.1.up()).map(|m| m.0).collect();
                effects.extend(self.start_rosetta(keys, grid.code));
            }
        }
        effects
    }

    fn setup_channel(&mut self, c: SetupChannel) -> Vec<Effect> {
        let state = self
            .find(&c.group, &c.gateway)
            .map(|g| (g.key, g.state.clone()));
        match state {
            Some((key, st)) if st.up() => {
                // held only while its bridge can still be made
                let hold = c.hold
                    && self
                        .setup
                        .bridges
                        .iter()
                        .any(|(from, to)| from == &c.name && !self.setup.failed.contains(to));
                return vec![Effect::OpenChannel {
                    key,
                    code: c.code,
                    name: Some(c.name),
                    hold,
                }];
            }
            Some((_, GwState::Connecting)) => self.setup.channels.push(c),
            other => {
                let why = match &other {
                    Some((_, st)) => format!("{} is {}", c.gateway, st.label()),
                    None => format!("no gateway {}", c.gateway),
                };
                let text = format!("channel '{}' not opened: {why}", c.name);
                self.toast = Some(text.clone());
                if let Some((key, _)) = other {
                    self.log_event(key, LogKind::ChannelError, text);
                }
                self.setup.failed.push(c.name);
            }
        }
        vec![]
    }

    fn setup_bridge(&mut self, from: String, to: String) -> Vec<Effect> {
        let lost = [&from, &to]
            .into_iter()
            .find(|n| self.setup.failed.contains(n))
            .cloned();
        let Some(lost) = lost else {
            return match (self.setup.named.get(&from), self.setup.named.get(&to)) {
                (Some(&src), Some(&dst)) => self.bridge_effect(src, dst),
                _ => {
                    self.setup.bridges.push((from, to));
                    vec![]
                }
            };
        };
        let mut effects = Vec::new();
        let src = self.setup.named.get(&from).copied();
        // its source reads its items again instead of waiting for the bridge
        if let Some((key, channel)) = src {
            effects.push(Effect::ReleaseChannel { key, channel });
        }
        let text = format!("{from} → {to} not made: channel '{lost}' did not open");
        self.toast = Some(text.clone());
        match src {
            Some((key, _)) => self.log_event(key, LogKind::Bridge, text),
            None => {
                let entry = LogEntry {
                    time: (self.clock)(),
                    group: self.current_group.clone(),
                    gateway: String::new(),
                    kind: LogKind::Bridge,
                    text,
                };
                self.monitor.push(entry);
            }
        }
        effects
    }

    /// The groups and specs of live (or starting) gateways, for `:save`.
    pub fn session(&self) -> Session {
        let groups = self
            .groups
            .iter()
            .map(|name| SessionGroup {
                name: name.clone(),
                specs: self
                    .gateways
                    .iter()
                    .filter(|g| &g.group == name && g.state.alive())
                    .map(|g| g.spec.clone())
                    .collect(),
            })
            .filter(|g| !g.specs.is_empty())
            .collect();
        Session {
            groups,
            ..Default::default()
        }
    }

    /// Adds a gateway from a spec typed at a prompt; a bad spec or a taken id is the
    /// prompt's error.
    pub(super) fn add_line(&mut self, text: &str) -> Result<Vec<Effect>, String> {
        let specs = Spec::parse_many(text.trim()).map_err(|e| e.to_string())?;
        let group = self.current_group.clone();
        specs
            .into_iter()
            .map(|spec| self.add_gateway(&group, spec))
            .collect()
    }

    fn group_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            return Err("usage: :group NAME".into());
        }
        self.current_group = arg.to_string();
        if !self.groups.iter().any(|g| g == arg) {
            self.groups.push(arg.to_string());
        }
        self.toast = Some(format!("new gateways go to group '{arg}'"));
        Ok(vec![])
    }

    fn save_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        if arg.is_empty() {
            return Err("usage: :save NAME".into());
        }
        Session::path_for(arg)?;
        Ok(vec![Effect::SaveSession {
            name: arg.to_string(),
            session: self.session(),
        }])
    }

    fn open_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        if arg.is_empty() {
            return Err("usage: :open NAME (or a path to a .toml file)".into());
        }
        Ok(vec![Effect::OpenSession {
            name: arg.to_string(),
        }])
    }

    fn terminate_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        let group = if arg.is_empty() {
            self.selected_group()
        } else {
            arg.to_string()
        };
        if !self.groups.contains(&group) {
            return Err(format!("no group '{group}'"));
        }
        self.ask_terminate_group(&group);
        Ok(vec![])
    }

    /// `X`: the selected gateway only (a group is terminated with `:terminate GROUP`).
    fn terminate_key(&mut self) -> Vec<Effect> {
        let Some(g) = self.selected_gateway() else {
            return vec![];
        };
        let (key, id, group) = (g.key, g.id.clone(), g.group.clone());
        let title = if g.state.alive() {
            format!("Terminate gateway {id} (group '{group}')?")
        } else {
            format!(
                "Gateway {id} is {} already. Terminate it anyway?",
                g.state.label()
            )
        };
        self.prompts.confirm = Some(Confirm::new(title, vec![key]));
        vec![]
    }

    fn ask_terminate_group(&mut self, group: &str) {
        let members: Vec<&super::GatewayView> =
            self.gateways.iter().filter(|g| g.group == group).collect();
        let keys: Vec<usize> = members.iter().map(|g| g.key).collect();
        let live = members.iter().filter(|g| g.state.alive()).count();
        let title = if live == keys.len() {
            format!("Terminate group '{group}' ({live} live gateways)?")
        } else {
            format!(
                "Terminate group '{group}' ({live} live of {} gateways)?",
                keys.len()
            )
        };
        self.prompts.confirm = Some(Confirm::new(title, keys));
    }

    /// The confirmed termination of `keys`.
    pub(super) fn terminate(&mut self, keys: Vec<usize>) -> Vec<Effect> {
        for key in &keys {
            if let Some(g) = self.by_key(*key)
                && g.state.alive()
            {
                g.terminating = true;
                g.console.output.push(LineKind::Info, "terminating…\n");
            }
        }
        vec![Effect::Terminate { keys }]
    }

    /// Keeps a prompt open with an error.
    pub(super) fn keep_prompt(&mut self, p: Prompt, error: String) {
        self.prompts.line = Some(Prompt {
            error: Some(error),
            ..p
        });
    }
}

//! The Rosetta grid: one snippet on several gateways, their answers side by side.

use super::commands::Decl;
use super::{App, Effect, View};
use crate::tui::keymap::Command;
use crate::tui::monitor::RosettaGrid;

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::Rosetta, App::rosetta_key, "rosetta", "Rosetta grid: the editor's snippet on each gateway of the group").named("rosetta", "ID,ID", App::rosetta_line),
];

impl App {
    /// Starts Rosetta run on `keys` (a new run number: late answers of older runs are
    /// dropped).
    pub(super) fn start_rosetta(&mut self, keys: Vec<usize>, code: String) -> Vec<Effect> {
        if keys.is_empty() {
            self.toast = Some("no live gateway for the Rosetta grid".into());
            return vec![];
        }
        let run = self.rosetta.as_ref().map_or(1, |r| r.run + 1);
        self.rosetta = Some(RosettaGrid {
            run,
            code: code.clone(),
            partial: vec![None; keys.len()],
            keys: keys.clone(),
            cells: None,
        });
        self.view = View::Rosetta;
        vec![Effect::Rosetta { run, keys, code }]
    }

    pub(super) fn rosetta_done(&mut self, run: u64, cells: Vec<crate::engine::rosetta::Cell>) {
        // an older run's late answer does not overwrite the current grid
        if let Some(r) = &mut self.rosetta
            && r.run == run
        {
            r.cells = Some(cells);
        }
    }

    /// A cell of the current run that came in before the others: shown at once.
    pub(super) fn rosetta_cell(
        &mut self,
        run: u64,
        index: usize,
        cell: crate::engine::rosetta::Cell,
    ) {
        if let Some(r) = &mut self.rosetta
            && r.run == run
            && let Some(slot) = r.partial.get_mut(index)
        {
            *slot = Some(cell);
        }
    }

    /// Runs the editor's snippet of gateway index `i` as a Rosetta grid on `keys`.
    fn rosetta_from_editor(&mut self, i: usize, keys: Vec<usize>, code: String) -> Vec<Effect> {
        let effects = self.start_rosetta(keys, code.clone());
        self.editor_sent(i, code, effects)
    }

    fn rosetta_key(&mut self) -> Vec<Effect> {
        if self.selected_index().is_none() {
            return vec![];
        }
        let Some((i, code)) = self.editor_code() else {
            if self.rosetta.is_some() {
                self.toggle_view(View::Rosetta);
            } else {
                let keys = self.key_label(Command::Rosetta);
                self.toast = Some(format!(
                    "write the snippet in the editor first; {keys} runs it on every gateway of the group"
                ));
            }
            return vec![];
        };
        let group = self.gateways[i].group.clone();
        let keys = self.live_keys(&group, &[]);
        self.rosetta_from_editor(i, keys, code)
    }

    fn rosetta_line(&mut self, arg: &str) -> Result<Vec<Effect>, String> {
        if self.selected_index().is_none() {
            return Err("no gateway".into());
        }
        let (i, code) = self
            .editor_code()
            .ok_or("write the snippet in the selected gateway's editor first")?;
        let group = self.gateways[i].group.clone();
        let ids: Vec<String> = arg
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = ids.iter().find(|id| self.find(&group, id).is_none()) {
            return Err(format!("no gateway '{bad}' in group '{group}'"));
        }
        let keys = self.live_keys(&group, &ids);
        Ok(self.rosetta_from_editor(i, keys, code))
    }
}

//! Groups of gateways: ids, remote_exec on every member, terminate them all.

use super::channel::Channel;
use super::error::{Error, Result};
use super::gateway::{Gateway, GatewayOptions, TerminateOutcome};
use super::spec::Spec;
use super::value::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// One item of a group-wide merged stream.
#[derive(Debug)]
pub struct GroupItem {
    pub gateway: String,
    /// `Ok(Some(v))` an item, `Ok(None)` the channel ended normally, `Err` it failed.
    pub item: Result<Option<Value>>,
}

/// A set of gateways with unique ids (`gw0`, `gw1`, … unless the spec says `id=`).
#[derive(Default)]
pub struct Group {
    gateways: Vec<Gateway>,
    next_auto: usize,
    options: GatewayOptions,
}

impl Group {
    pub fn new() -> Group {
        Group::default()
    }

    /// A group whose gateways use these options (events sink, timeouts, bootstrap).
    pub fn with_options(options: GatewayOptions) -> Group {
        Group {
            gateways: Vec::new(),
            next_auto: 0,
            options,
        }
    }

    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    pub fn get(&self, id: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.id() == id)
    }

    pub fn len(&self) -> usize {
        self.gateways.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// Reserves the id a spec will get, refusing duplicates before anything starts.
    pub fn assign_id(&mut self, spec: &Spec) -> Result<String> {
        let id = match &spec.id {
            Some(id) => id.clone(),
            None => {
                let id = format!("gw{}", self.next_auto);
                self.next_auto += 1;
                id
            }
        };
        if self.get(&id).is_some() {
            return Err(Error::DuplicateId(id));
        }
        Ok(id)
    }

    /// The gateway a spec's `via=` names, from this group.
    fn via_for(&self, spec: &Spec) -> Result<Option<Gateway>> {
        match spec.via.as_ref().or(spec.installvia.as_ref()) {
            None => Ok(None),
            Some(v) => self.get(v).cloned().map(Some).ok_or_else(|| {
                Error::Unsupported(format!(
                    "via={v}: there is no gateway '{v}' in this group (open it first)"
                ))
            }),
        }
    }

    /// Parses, bootstraps and adds one gateway.
    pub async fn make_gateway(&mut self, spec: &str) -> Result<Gateway> {
        let spec: Spec = spec.parse()?;
        let id = self.assign_id(&spec)?;
        let mut opts = self.options.clone();
        opts.via = self.via_for(&spec)?;
        opts.id = Some(id);
        let gw = Gateway::open_spec(spec, opts).await?;
        self.gateways.push(gw.clone());
        Ok(gw)
    }

    /// Opens several gateways concurrently; returns each spec's id and result in order.
    /// Successful ones join the group.
    pub async fn make_gateways(&mut self, specs: &[Spec]) -> Vec<(String, Result<Gateway>)> {
        let mut results: Vec<Option<Result<Gateway>>> = (0..specs.len()).map(|_| None).collect();
        let mut ids: Vec<String> = Vec::with_capacity(specs.len());
        let mut set = JoinSet::new();
        let mut taken: Vec<String> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let id = match self.assign_id(spec) {
                Ok(id) if taken.contains(&id) => Err(Error::DuplicateId(id)),
                other => other,
            };
            ids.push(match &id {
                Ok(id) => id.clone(),
                Err(_) => spec.id.clone().unwrap_or_else(|| spec.raw.clone()),
            });
            match id {
                Ok(id) => {
                    taken.push(id.clone());
                    let mut opts = self.options.clone();
                    opts.id = Some(id);
                    match self.via_for(spec) {
                        Ok(v) => opts.via = v,
                        Err(e) => {
                            results[i] = Some(Err(e));
                            continue;
                        }
                    }
                    let spec = spec.clone();
                    set.spawn(async move { (i, Gateway::open_spec(spec, opts).await) });
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        let out: Vec<(String, Result<Gateway>)> = ids
            .into_iter()
            .zip(results)
            .map(|(id, r)| {
                (
                    id,
                    r.unwrap_or_else(|| Err(Error::Protocol("gateway start task failed".into()))),
                )
            })
            .collect();
        for (_, r) in &out {
            if let Ok(gw) = r {
                self.gateways.push(gw.clone());
            }
        }
        out
    }

    /// Adds an already open gateway.
    pub fn add(&mut self, gw: Gateway) -> Result<()> {
        if self.get(gw.id()).is_some() {
            return Err(Error::DuplicateId(gw.id().to_string()));
        }
        self.gateways.push(gw);
        Ok(())
    }

    /// `remote_exec` on every member, in member order.
    pub async fn remote_exec(&self, source: &str) -> Result<Vec<(String, Channel)>> {
        let mut out = Vec::with_capacity(self.gateways.len());
        for gw in &self.gateways {
            out.push((gw.id().to_string(), gw.remote_exec(source).await?));
        }
        Ok(out)
    }

    /// `remote_exec` on every member and one merged stream of every channel's items,
    /// tagged by gateway, in arrival order. Each channel's end is reported once.
    pub async fn remote_exec_merged(&self, source: &str) -> Result<mpsc::Receiver<GroupItem>> {
        let chans = self.remote_exec(source).await?;
        Ok(merge(chans))
    }

    /// Terminates every member (see [`Gateway::terminate`]), concurrently within a
    /// round; gateways reached `via=` another go in a round before the one they use.
    pub async fn terminate(&mut self, timeout: Duration) -> Vec<(String, TerminateOutcome)> {
        let mut left: Vec<(usize, Gateway)> = std::mem::take(&mut self.gateways)
            .into_iter()
            .enumerate()
            .collect();
        let mut out = Vec::new();
        while !left.is_empty() {
            let used: Vec<String> = left
                .iter()
                .filter_map(|(_, g)| g.spec().via.clone().or_else(|| g.spec().installvia.clone()))
                .collect();
            let (round, rest): (Vec<_>, Vec<_>) = left
                .into_iter()
                .partition(|(_, g)| !used.iter().any(|u| u == g.id()));
            // a cycle cannot happen (a via target exists first); guard anyway
            let (round, rest) = if round.is_empty() {
                (rest, Vec::new())
            } else {
                (round, rest)
            };
            let mut set = JoinSet::new();
            for (i, gw) in round {
                set.spawn(async move { (i, gw.id().to_string(), gw.terminate(timeout).await) });
            }
            while let Some(joined) = set.join_next().await {
                if let Ok(r) = joined {
                    out.push(r);
                }
            }
            left = rest;
        }
        out.sort_by_key(|r| r.0);
        out.into_iter().map(|(_, id, o)| (id, o)).collect()
    }
}

/// Merges several channels into one tagged stream.
pub fn merge(chans: Vec<(String, Channel)>) -> mpsc::Receiver<GroupItem> {
    let (tx, rx) = mpsc::channel(256);
    for (id, ch) in chans {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let item = ch.next().await;
                let done = !matches!(item, Ok(Some(_)));
                if tx
                    .send(GroupItem {
                        gateway: id.clone(),
                        item,
                    })
                    .await
                    .is_err()
                    || done
                {
                    break;
                }
            }
        });
    }
    rx
}

impl Drop for Group {
    fn drop(&mut self) {
        for gw in &self.gateways {
            gw.kill();
        }
    }
}

//! Groups of gateways: ids, remote_exec on every member, terminate them all.
//!
//! Gateways start concurrently: [`Group::start_gateway`] reserves an id and returns a
//! [`Starting`] to await anywhere (a spawned task, say) without holding the group. A
//! start whose `via=`/`installvia=` carrier is itself still starting waits for the
//! carrier's notification, then bootstraps through it.

use super::channel::Channel;
use super::error::{Error, Result};
use super::gateway::{Gateway, GatewayOptions, TerminateOutcome};
use super::spec::Spec;
use super::value::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
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
    /// Starts handed out by `start_gateway`, by id, until they settle into `gateways`.
    starting: Vec<(String, Arc<Slot>)>,
}

/// How one start ends: set once; carriers' dependents wait on it.
#[derive(Default)]
struct Slot {
    done: OnceLock<std::result::Result<Gateway, String>>,
    notify: Notify,
}

impl Slot {
    fn finish(&self, r: std::result::Result<Gateway, String>) {
        // only the first outcome counts (a dropped start after the real one is a no-op)
        let _ = self.done.set(r);
        self.notify.notify_waiters();
    }

    async fn wait(&self) -> &std::result::Result<Gateway, String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // registered before the check: a finish in between still wakes us
            notified.as_mut().enable();
            if let Some(r) = self.done.get() {
                return r;
            }
            notified.await;
        }
    }
}

/// Ends a start's slot if the start is dropped before it finished.
struct SlotGuard(Arc<Slot>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.finish(Err("its start was abandoned".into()));
    }
}

/// The gateway a spec's `via=`/`installvia=` names.
enum Carrier {
    None,
    Up(Gateway),
    /// Still starting: (its id, its outcome to wait for).
    Starting(String, Arc<Slot>),
}

/// A gateway start reserved by [`Group::start_gateway`]: its id is taken, its carrier
/// found. [`Starting::open`] bootstraps it; it does not borrow the group, so several
/// run at once. The gateway becomes a member at the group's next `&mut` use (or
/// [`Group::settle`]); [`Group::get`] finds it as soon as it is up.
pub struct Starting {
    id: String,
    spec: Spec,
    opts: GatewayOptions,
    carrier: Carrier,
    slot: SlotGuard,
}

impl Starting {
    /// The id the gateway gets.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for a carrier that is still starting (a notification, no polling), then
    /// opens the gateway through it. Gateways waiting for this one are told either way.
    pub async fn open(self) -> Result<Gateway> {
        let Starting {
            id,
            spec,
            mut opts,
            carrier,
            slot,
        } = self;
        opts.id = Some(id.clone());
        opts.via = match carrier {
            Carrier::None => None,
            Carrier::Up(gw) => Some(gw),
            Carrier::Starting(via, carrier) => match carrier.wait().await {
                Ok(gw) => Some(gw.clone()),
                Err(e) => {
                    let e = Error::Unsupported(format!(
                        "gateway {id}: gateway {via}, which it starts through, did not start: {e}"
                    ));
                    slot.0.finish(Err(e.to_string()));
                    return Err(e);
                }
            },
        };
        let opened = Gateway::open_spec(spec, opts).await;
        slot.0
            .finish(opened.as_ref().cloned().map_err(|e| e.to_string()));
        opened
    }
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
            starting: Vec::new(),
        }
    }

    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    /// A member, or a gateway of this group that finished starting and is up.
    pub fn get(&self, id: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.id() == id).or_else(|| {
            self.starting
                .iter()
                .find(|(sid, _)| sid == id)
                .and_then(|(_, slot)| slot.done.get()?.as_ref().ok())
        })
    }

    /// Moves finished starts into the members (the failed ones free their ids).
    pub fn settle(&mut self) {
        let (done, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.starting)
            .into_iter()
            .partition(|(_, slot)| slot.done.get().is_some());
        self.starting = left;
        for (_, slot) in done {
            if let Some(Ok(gw)) = slot.done.get() {
                self.gateways.push(gw.clone());
            }
        }
    }

    /// Ids of the starts still under way.
    pub fn starting_ids(&self) -> Vec<String> {
        self.starting
            .iter()
            .filter(|(_, slot)| slot.done.get().is_none())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.gateways.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// Reserves the id a spec will get, refusing duplicates before anything starts.
    pub fn assign_id(&mut self, spec: &Spec) -> Result<String> {
        self.settle();
        let id = match &spec.id {
            Some(id) => id.clone(),
            None => {
                let id = format!("gw{}", self.next_auto);
                self.next_auto += 1;
                id
            }
        };
        if self.taken(&id) {
            return Err(Error::DuplicateId(id));
        }
        Ok(id)
    }

    /// Whether a member or a start under way has this id.
    fn taken(&self, id: &str) -> bool {
        self.gateways.iter().any(|g| g.id() == id) || self.starting.iter().any(|(s, _)| s == id)
    }

    /// The gateway a spec's `via=`/`installvia=` names, from this group: a member or a
    /// start (under way or done).
    fn carrier_for(&self, spec: &Spec) -> Result<Carrier> {
        let Some(v) = spec.via.as_ref().or(spec.installvia.as_ref()) else {
            return Ok(Carrier::None);
        };
        if let Some(gw) = self.gateways.iter().find(|g| g.id() == v) {
            return Ok(Carrier::Up(gw.clone()));
        }
        match self.starting.iter().find(|(id, _)| id == v) {
            Some((id, slot)) => Ok(Carrier::Starting(id.clone(), slot.clone())),
            None => Err(Error::Unsupported(format!(
                "via={v}: there is no gateway '{v}' in this group (open it first)"
            ))),
        }
    }

    /// Reserves a start with the group's options: see [`Group::start_gateway_with`].
    pub fn start_gateway(&mut self, spec: Spec) -> Result<Starting> {
        let opts = self.options.clone();
        self.start_gateway_with(spec, opts)
    }

    /// Reserves a start with these options (their `via` is filled in here): the id
    /// (the spec's `id=`, else `opts.id`, else the next `gwN`) and the carrier, a
    /// member or a gateway still starting; an unknown carrier or a taken id fails now.
    /// Nothing starts until the returned [`Starting::open`] is awaited.
    pub fn start_gateway_with(&mut self, spec: Spec, opts: GatewayOptions) -> Result<Starting> {
        let id = match (&spec.id, &opts.id) {
            (None, Some(id)) => {
                self.settle();
                if self.taken(id) {
                    return Err(Error::DuplicateId(id.clone()));
                }
                id.clone()
            }
            _ => self.assign_id(&spec)?,
        };
        self.start_as(id, spec, opts)
    }

    /// Finds the carrier and records the start of a gateway whose id is reserved.
    fn start_as(&mut self, id: String, spec: Spec, opts: GatewayOptions) -> Result<Starting> {
        let carrier = self.carrier_for(&spec)?;
        let slot = Arc::new(Slot::default());
        self.starting.push((id.clone(), slot.clone()));
        Ok(Starting {
            id,
            spec,
            opts,
            carrier,
            slot: SlotGuard(slot),
        })
    }

    /// Parses, bootstraps and adds one gateway (its carrier may still be starting).
    pub async fn make_gateway(&mut self, spec: &str) -> Result<Gateway> {
        let spec: Spec = spec.parse()?;
        let start = self.start_gateway(spec)?;
        let gw = start.open().await;
        self.settle();
        gw
    }

    /// Opens several gateways concurrently; returns each spec's id and result in order.
    /// Successful ones join the group. A spec may start through another of the same call.
    pub async fn make_gateways(&mut self, specs: &[Spec]) -> Vec<(String, Result<Gateway>)> {
        let mut results: Vec<Option<Result<Gateway>>> = (0..specs.len()).map(|_| None).collect();
        let mut ids: Vec<String> = Vec::with_capacity(specs.len());
        let mut set = JoinSet::new();
        for (i, spec) in specs.iter().enumerate() {
            let id = match self.assign_id(spec) {
                Ok(id) => id,
                Err(e) => {
                    ids.push(spec.id.clone().unwrap_or_else(|| spec.raw.clone()));
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            ids.push(id.clone());
            match self.start_as(id, spec.clone(), self.options.clone()) {
                Ok(start) => {
                    set.spawn(async move { (i, start.open().await) });
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        self.settle();
        ids.into_iter()
            .zip(results)
            .map(|(id, r)| {
                (
                    id,
                    r.unwrap_or_else(|| Err(Error::Protocol("gateway start task failed".into()))),
                )
            })
            .collect()
    }

    /// Adds an already open gateway.
    pub fn add(&mut self, gw: Gateway) -> Result<()> {
        self.settle();
        if self.taken(gw.id()) {
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
        self.settle();
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
        self.settle();
        for gw in &self.gateways {
            gw.kill();
        }
    }
}

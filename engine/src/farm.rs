//! A task farm: one function, a stream of inputs, many workers.
//!
//! The worker code defines a function; [`Farm::start`] sends it with a small driver
//! (`remote_stub/farm.py`, through the ordinary `remote_exec`) to every gateway.
//! Workers *pull*: each keeps at most `prefetch` tasks in flight, and the next input is
//! read only when a worker has room, so inputs are consumed lazily and results never
//! pile up (the event queue is bounded; a slow reader slows the farm down). A worker
//! that dies has its in-flight tasks handed to the others (at most `retries` times per
//! task) and is reported as [`FarmEvent::WorkerLost`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::farm::{Farm, FarmEvent, FarmOptions};
//! use execdeck_engine::{Group, Value};
//! let mut group = Group::new();
//! for spec in execdeck_engine::Spec::parse_many("2*popen//python=python3").unwrap() {
//!     group.start_gateway(spec).unwrap().open().await.unwrap();
//! }
//! group.settle();
//! let code = "def square(x):\n    return x * x\n";
//! let inputs = (0..100).map(|i| Ok(Value::Int(i)));
//! let opts = FarmOptions { ordered: true, ..FarmOptions::default() };
//! let mut farm = group.map(code, "square", inputs, opts).await.unwrap();
//! let mut got = Vec::new();
//! while let Some(ev) = farm.next().await {
//!     if let FarmEvent::Result(r) = ev {
//!         got.push((r.index, r.outcome.unwrap()));
//!     }
//! }
//! assert_eq!(got.len(), 100);
//! assert_eq!(got[7], (7, Value::Int(49)));
//! assert_eq!(farm.summary().unwrap().failed, 0);
//! group.terminate(std::time::Duration::from_secs(5)).await;
//! # });
//! ```

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::group::Group;
use crate::value::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The driver sent to every worker.
pub const FARM_SOURCE: &str = include_str!("../remote_stub/farm.py");

/// How a farm runs.
#[derive(Debug, Clone)]
pub struct FarmOptions {
    /// Tasks each worker holds at once (sent and not answered yet); at least 1.
    pub prefetch: usize,
    /// Results in input order (held back until the ones before them arrived).
    pub ordered: bool,
    /// How many times a task whose worker died is handed to another worker.
    pub retries: u32,
    /// Events the farm queues for its reader before it waits (backpressure).
    pub buffer: usize,
    /// In ordered mode, how far past the oldest unfinished task new tasks may start
    /// (bounds the results held back).
    pub window: usize,
    /// How long a cancel waits for the workers to stop before giving up on them.
    pub cancel_grace: Duration,
    /// A name for the code in tracebacks.
    pub file_name: String,
}

impl Default for FarmOptions {
    fn default() -> Self {
        FarmOptions {
            prefetch: 2,
            ordered: false,
            retries: 2,
            buffer: 256,
            window: 4096,
            cancel_grace: Duration::from_secs(5),
            file_name: "<farm>".into(),
        }
    }
}

/// One task's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    /// Position of the input in the input stream, from 0.
    pub index: u64,
    /// The gateway that ran it (the last one tried, for a task that could not run).
    pub gateway: String,
    /// Seconds the function ran, measured in the worker.
    pub seconds: f64,
    /// The return value, or the remote traceback (or why the task could not run).
    pub outcome: std::result::Result<Value, String>,
}

/// What a farm reports, in order; the last event is always [`FarmEvent::Done`].
#[derive(Debug, Clone, PartialEq)]
pub enum FarmEvent {
    Result(TaskResult),
    /// A worker died or its driver failed; `requeued` of its tasks went to others.
    WorkerLost {
        gateway: String,
        reason: String,
        requeued: usize,
    },
    Done(FarmSummary),
}

/// How a farm ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FarmSummary {
    /// Inputs read.
    pub inputs: u64,
    pub succeeded: u64,
    /// Results that are errors (exceptions, bad inputs, tasks that could not run).
    pub failed: u64,
    /// Inputs read but never answered (cancel).
    pub not_run: u64,
    pub cancelled: bool,
    /// Why the farm stopped early (every worker lost), if it did.
    pub stopped: Option<String>,
    /// Workers still busy after a cancel's grace period.
    pub still_busy: Vec<String>,
}

/// A running farm: read its events with [`Farm::next`], stop it with [`Farm::cancel`].
/// Dropping it cancels it.
pub struct Farm {
    events: mpsc::Receiver<FarmEvent>,
    cancel: watch::Sender<bool>,
    summary: Option<FarmSummary>,
}

impl Farm {
    /// Starts the farm on these gateways: sends the driver and `code` to each and waits
    /// until every worker has run it (an error names the gateway and carries its
    /// traceback). Inputs are pulled lazily from `inputs`; an `Err` item becomes that
    /// index's error result.
    pub async fn start<I>(
        gateways: &[Gateway],
        code: &str,
        function: &str,
        inputs: I,
        opts: FarmOptions,
    ) -> Result<Farm>
    where
        I: Iterator<Item = std::result::Result<Value, String>> + Send + 'static,
    {
        if gateways.is_empty() {
            return Err(Error::Unsupported(
                "a farm needs at least one gateway".into(),
            ));
        }
        let mut workers = Vec::with_capacity(gateways.len());
        let mut started = Vec::new();
        for gw in gateways {
            let ch = gw.remote_exec(FARM_SOURCE).await?;
            let control = gw.new_channel();
            ch.send(&Value::Tuple(vec![
                Value::Str(code.to_string()),
                Value::Str(opts.file_name.clone()),
                Value::Str(function.to_string()),
                Value::Channel(control.id()),
            ]))
            .await?;
            started.push((gw.clone(), ch, control));
        }
        for (gw, ch, control) in started {
            let ready = ch.receive_timeout(Duration::from_secs(120)).await;
            match ready {
                Ok(Value::Tuple(t)) if t.first().and_then(Value::as_str) == Some("ready") => {}
                Ok(other) => {
                    return Err(Error::Protocol(format!(
                        "farm worker {}: unexpected first reply {other:?}",
                        gw.id()
                    )));
                }
                Err(Error::Remote(r)) => {
                    return Err(Error::Unsupported(format!(
                        "farm code failed on gateway {}:\n{}",
                        gw.id(),
                        r.formatted.trim_end()
                    )));
                }
                Err(e) => return Err(e),
            }
            workers.push(Worker {
                id: gw.id().to_string(),
                channel: ch,
                control,
                in_flight: HashMap::new(),
                alive: true,
            });
        }
        let prefetch = opts.prefetch.max(1);
        let (in_tx, in_rx) = mpsc::channel(workers.len() * prefetch + 1);
        std::thread::spawn(move || {
            for (i, item) in inputs.enumerate() {
                if in_tx.blocking_send((i as u64, item)).is_err() {
                    return;
                }
            }
        });
        let (ev_tx, ev_rx) = mpsc::channel(opts.buffer.max(1));
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let run = Run {
            workers,
            opts: FarmOptions { prefetch, ..opts },
            inputs: in_rx,
            inputs_done: false,
            retry: VecDeque::new(),
            events: ev_tx,
            held: BTreeMap::new(),
            next_out: 0,
            summary: FarmSummary::default(),
            cancel: cancel_rx,
        };
        tokio::spawn(run.run());
        Ok(Farm {
            events: ev_rx,
            cancel: cancel_tx,
            summary: None,
        })
    }

    /// The next event; `None` after [`FarmEvent::Done`].
    pub async fn next(&mut self) -> Option<FarmEvent> {
        let ev = self.events.recv().await?;
        if let FarmEvent::Done(s) = &ev {
            self.summary = Some(s.clone());
        }
        Some(ev)
    }

    /// Events waiting to be read.
    pub fn pending(&self) -> usize {
        self.events.len()
    }

    /// Stops the farm: no new tasks start, running ones are interrupted where the
    /// interpreter allows; the events end with a `Done` whose `cancelled` is set.
    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }

    /// A handle that cancels this farm from elsewhere (a signal handler task).
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }

    /// The summary, once `Done` was read.
    pub fn summary(&self) -> Option<&FarmSummary> {
        self.summary.as_ref()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.cancel.send(true);
    }
}

/// Cancels a farm (see [`Farm::cancel`]).
#[derive(Clone)]
pub struct Canceller(watch::Sender<bool>);

impl Canceller {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl Group {
    /// Runs `function` (defined by `code`) over `inputs` on every member: see [`Farm`].
    pub async fn map<I>(
        &self,
        code: &str,
        function: &str,
        inputs: I,
        opts: FarmOptions,
    ) -> Result<Farm>
    where
        I: Iterator<Item = std::result::Result<Value, String>> + Send + 'static,
    {
        Farm::start(self.gateways(), code, function, inputs, opts).await
    }
}

/// A task waiting or in flight: its input and how many workers it has lost.
struct Task {
    index: u64,
    input: Value,
    attempts: u32,
}

struct Worker {
    id: String,
    channel: Channel,
    control: Channel,
    in_flight: HashMap<u64, Task>,
    alive: bool,
}

/// What a worker's channel said.
enum Reply {
    Result(TaskResult),
    Cancelled,
    Ended(String),
}

struct Run {
    workers: Vec<Worker>,
    opts: FarmOptions,
    inputs: mpsc::Receiver<(u64, std::result::Result<Value, String>)>,
    inputs_done: bool,
    retry: VecDeque<Task>,
    events: mpsc::Sender<FarmEvent>,
    /// Ordered mode: results waiting for earlier ones.
    held: BTreeMap<u64, TaskResult>,
    next_out: u64,
    summary: FarmSummary,
    cancel: watch::Receiver<bool>,
}

fn parse_reply(gw: &str, v: Value) -> Reply {
    let Value::Tuple(t) = v else {
        return Reply::Ended(format!("unexpected reply {v:?}"));
    };
    if t.first().and_then(Value::as_str) == Some("cancelled") {
        return Reply::Cancelled;
    }
    let mut it = t.into_iter();
    let (Some(idx), Some(Value::Bool(ok)), Some(val), Some(secs)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Reply::Ended("malformed reply from the farm driver".into());
    };
    let Some(index) = idx.as_i64().and_then(|i| u64::try_from(i).ok()) else {
        return Reply::Ended("malformed task index from the farm driver".into());
    };
    let seconds = match secs {
        Value::Float(f) => f,
        Value::Int(i) => i as f64,
        _ => 0.0,
    };
    let outcome = if ok {
        Ok(val)
    } else {
        Err(match val {
            Value::Str(s) => s,
            other => format!("{other:?}"),
        })
    };
    Reply::Result(TaskResult {
        index,
        gateway: gw.to_string(),
        seconds,
        outcome,
    })
}

/// Forwards one worker's replies to the farm loop.
fn spawn_reader(n: usize, id: String, ch: Channel, tx: mpsc::Sender<(usize, Reply)>) {
    tokio::spawn(async move {
        loop {
            let reply = match ch.next().await {
                Ok(Some(v)) => parse_reply(&id, v),
                Ok(None) => Reply::Ended("its farm driver ended".into()),
                Err(Error::Remote(r)) => Reply::Ended(r.formatted),
                Err(e) => Reply::Ended(e.to_string()),
            };
            let end = !matches!(reply, Reply::Result(_));
            if tx.send((n, reply)).await.is_err() || end {
                return;
            }
        }
    });
}

impl Run {
    fn in_flight(&self) -> usize {
        self.workers.iter().map(|w| w.in_flight.len()).sum()
    }

    /// A live worker with room, the least loaded first.
    fn free_worker(&self) -> Option<usize> {
        self.workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.alive && w.in_flight.len() < self.opts.prefetch)
            .min_by_key(|(_, w)| w.in_flight.len())
            .map(|(i, _)| i)
    }

    /// Whether ordered mode lets task `index` start now.
    fn in_window(&self, index: u64) -> bool {
        !self.opts.ordered || index < self.next_out + self.opts.window.max(1) as u64
    }

    /// Sends events; false when the reader has gone (the farm then stops).
    async fn emit(&mut self, ev: FarmEvent) -> bool {
        self.events.send(ev).await.is_ok()
    }

    async fn emit_result(&mut self, r: TaskResult) -> bool {
        if r.outcome.is_ok() {
            self.summary.succeeded += 1;
        } else {
            self.summary.failed += 1;
        }
        if !self.opts.ordered {
            return self.emit(FarmEvent::Result(r)).await;
        }
        self.held.insert(r.index, r);
        while let Some(r) = self.held.remove(&self.next_out) {
            self.next_out += 1;
            if !self.emit(FarmEvent::Result(r)).await {
                return false;
            }
        }
        true
    }

    /// Gives task to worker `w`; a failed send marks the worker lost.
    async fn dispatch(&mut self, w: usize, task: Task) -> bool {
        let msg = Value::Tuple(vec![Value::Int(task.index as i64), task.input.clone()]);
        let sent = self.workers[w].channel.send(&msg).await;
        self.workers[w].in_flight.insert(task.index, task);
        match sent {
            Ok(()) => true,
            Err(e) => self.lose(w, e.to_string()).await,
        }
    }

    /// A worker is gone: its tasks go back to the queue (or fail after `retries`).
    async fn lose(&mut self, w: usize, reason: String) -> bool {
        if !self.workers[w].alive {
            return true;
        }
        self.workers[w].alive = false;
        let id = self.workers[w].id.clone();
        let mut tasks: Vec<Task> = self.workers[w].in_flight.drain().map(|(_, t)| t).collect();
        tasks.sort_by_key(|t| t.index);
        let mut requeued = 0;
        let mut failed = Vec::new();
        for mut t in tasks {
            t.attempts += 1;
            if t.attempts > self.opts.retries {
                failed.push(t);
            } else {
                requeued += 1;
                self.retry.push_front(t);
            }
        }
        // oldest first
        self.retry.make_contiguous().sort_by_key(|t| t.index);
        let summary = reason.trim_end().lines().last().unwrap_or("").to_string();
        if !self
            .emit(FarmEvent::WorkerLost {
                gateway: id.clone(),
                reason: summary.clone(),
                requeued,
            })
            .await
        {
            return false;
        }
        for t in failed {
            let r = TaskResult {
                index: t.index,
                gateway: id.clone(),
                seconds: 0.0,
                outcome: Err(format!(
                    "worker {id} died while running it ({summary}); tried {} times",
                    t.attempts
                )),
            };
            if !self.emit_result(r).await {
                return false;
            }
        }
        true
    }

    /// Every task not answered gets an error result (no worker left).
    async fn fail_rest(&mut self, why: &str) {
        let mut rest: Vec<Task> = self.retry.drain(..).collect();
        for w in &mut self.workers {
            rest.extend(w.in_flight.drain().map(|(_, t)| t));
        }
        rest.sort_by_key(|t| t.index);
        for t in rest {
            let r = TaskResult {
                index: t.index,
                gateway: String::new(),
                seconds: 0.0,
                outcome: Err(why.to_string()),
            };
            if !self.emit_result(r).await {
                return;
            }
        }
    }

    async fn run(mut self) {
        let (tx, mut replies) = mpsc::channel(self.workers.len() * self.opts.prefetch + 8);
        for (n, w) in self.workers.iter().enumerate() {
            spawn_reader(n, w.id.clone(), w.channel.clone(), tx.clone());
        }
        drop(tx);
        let mut cancel = self.cancel.clone();
        let mut cancelled = false;
        loop {
            if cancelled || *cancel.borrow() {
                self.stop_cancelled(&mut replies).await;
                return;
            }
            if !self.workers.iter().any(|w| w.alive) {
                let why = "no worker left: every gateway of the farm died";
                self.summary.stopped = Some(why.into());
                self.fail_rest(why).await;
                break;
            }
            // hand out retries first, then fresh inputs
            let free = self.free_worker();
            if let Some(w) = free
                && let Some(t) = self.retry.front()
                && self.in_window(t.index)
                && let Some(t) = self.retry.pop_front()
            {
                if !self.dispatch(w, t).await {
                    return;
                }
                continue;
            }
            let want_input = free.is_some()
                && !self.inputs_done
                && self.retry.is_empty()
                && self.in_window(self.summary.inputs);
            if self.inputs_done && self.retry.is_empty() && self.in_flight() == 0 {
                break;
            }
            tokio::select! {
                biased;
                // a dropped Farm counts as a cancel
                r = cancel.changed() => cancelled = r.is_err() || *cancel.borrow(),
                Some((n, reply)) = replies.recv() => {
                    if !self.on_reply(n, reply).await {
                        return;
                    }
                }
                item = self.inputs.recv(), if want_input => match item {
                    None => self.inputs_done = true,
                    Some((index, item)) => {
                        self.summary.inputs += 1;
                        match item {
                            Ok(input) => {
                                let t = Task { index, input, attempts: 0 };
                                if let Some(w) = free && !self.dispatch(w, t).await {
                                    return;
                                }
                            }
                            Err(e) => {
                                let r = TaskResult {
                                    index,
                                    gateway: String::new(),
                                    seconds: 0.0,
                                    outcome: Err(format!("bad input: {e}")),
                                };
                                if !self.emit_result(r).await {
                                    return;
                                }
                            }
                        }
                    }
                },
            }
        }
        self.finish().await;
    }

    async fn on_reply(&mut self, n: usize, reply: Reply) -> bool {
        match reply {
            Reply::Result(r) => match self.workers[n].in_flight.remove(&r.index) {
                Some(_) => self.emit_result(r).await,
                // an answer for a task it no longer holds: already handed elsewhere
                None => true,
            },
            Reply::Cancelled => true,
            Reply::Ended(reason) => self.lose(n, reason).await,
        }
    }

    /// Cancel: stop the drivers, wait for them (bounded), report what never ran.
    async fn stop_cancelled(&mut self, replies: &mut mpsc::Receiver<(usize, Reply)>) {
        self.summary.cancelled = true;
        let stop = Value::Tuple(vec![Value::Str("cancel".into())]);
        let mut waiting: Vec<bool> = self.workers.iter().map(|w| w.alive).collect();
        for w in self.workers.iter().filter(|w| w.alive) {
            // the control message interrupts a running task; the None wakes an idle one
            let _ = w.control.send(&stop).await;
            let _ = w.channel.send(&Value::None).await;
        }
        let deadline = tokio::time::Instant::now() + self.opts.cancel_grace;
        // step 2 of the ladder, as the console's: a task blocked in a call that the
        // in-band interrupt cannot wake (sleep, a lock) gets a SIGINT
        let nudge = tokio::time::Instant::now() + self.opts.cancel_grace / 4;
        let mut nudged = false;
        while waiting.iter().any(|b| *b) {
            let until = if nudged {
                deadline
            } else {
                nudge.min(deadline)
            };
            let got = tokio::time::timeout_at(until, replies.recv()).await;
            if got.is_err() && !nudged {
                nudged = true;
                for (w, _) in self.workers.iter().zip(&waiting).filter(|(_, b)| **b) {
                    if let Some(pid) = w.channel.gateway().pid() {
                        // SAFETY: kill(2) of our own worker process.
                        unsafe {
                            libc::kill(pid as i32, libc::SIGINT);
                        }
                    }
                }
                continue;
            }
            match got {
                Ok(Some((n, Reply::Result(r)))) => {
                    // finished before the cancel reached it: still a result
                    if self.workers[n].in_flight.remove(&r.index).is_some()
                        && !self.emit_result(r).await
                    {
                        return;
                    }
                }
                Ok(Some((n, _))) => waiting[n] = false,
                Ok(None) | Err(_) => break,
            }
        }
        self.summary.still_busy = self
            .workers
            .iter()
            .zip(&waiting)
            .filter(|(_, b)| **b)
            .map(|(w, _)| w.id.clone())
            .collect();
        let mut not_run = self.retry.len() as u64;
        for w in &mut self.workers {
            not_run += w.in_flight.len() as u64;
            w.in_flight.clear();
        }
        self.summary.not_run = not_run;
        self.finish().await;
    }

    async fn finish(&mut self) {
        // ordered mode: anything still held (only after a cancel) goes out in order
        let held: Vec<TaskResult> = std::mem::take(&mut self.held).into_values().collect();
        for r in held {
            if !self.emit(FarmEvent::Result(r)).await {
                return;
            }
        }
        for w in &self.workers {
            let _ = w.channel.close().await;
            let _ = w.control.close().await;
        }
        let s = std::mem::take(&mut self.summary);
        let _ = self.events.send(FarmEvent::Done(s)).await;
    }
}

//! Headless subcommands: `exec`, `info`, `top` and `rosetta`. Each returns the process
//! exit code, or `Err` with a message when its input is bad (bad spec, unreadable code)
//! and nothing has started yet; `main` prints it and exits with 2.

mod map;
mod rsync;
pub use map::{MapArgs, json_to_value, map, value_to_json};
pub use rsync::{RsyncArgs, rsync};

use crate::engine::{
    Event, Facts, Gateway, GatewayOptions, Group, Spec, Stream, TerminateOutcome, Value,
};
use serde_json::{Map, Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;
use tokio::sync::mpsc;

/// What `exec` runs.
pub enum Code {
    Inline(String),
    File(String),
    Stdin,
}

/// How the subcommands open gateways.
#[derive(Clone, Copy)]
pub struct Connect {
    pub bootstrap_timeout: Duration,
    /// `--accept-new-host-keys`: record unknown SSH host keys (never changed ones).
    pub accept_new_host_keys: bool,
}

pub struct ExecArgs {
    pub specs: Vec<String>,
    pub code: Code,
    pub json: bool,
    pub connect: Connect,
    pub terminate_timeout: Duration,
}

/// Parses every spec first, so that one bad spec stops everything before anything starts.
pub fn parse_specs(specs: &[String]) -> Result<Vec<Spec>, String> {
    if specs.is_empty() {
        return Ok(vec![default_spec()]);
    }
    let mut out = Vec::new();
    for s in specs {
        out.extend(Spec::parse_many(s).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The embedded default: a local popen gateway to `python3`.
pub fn default_spec() -> Spec {
    // A constant spec string that the parser accepts; tested below.
    "popen//python=python3"
        .parse()
        .unwrap_or_else(|e: crate::engine::SpecError| panic!("built-in spec: {e}"))
}

fn read_code(code: &Code) -> Result<String, String> {
    match code {
        Code::Inline(c) => Ok(c.clone()),
        Code::File(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}")),
        Code::Stdin => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("cannot read code from stdin: {e}"))?;
            Ok(s)
        }
    }
}

/// Prints output with a `[gwN] ` prefix at every line start, per gateway and stream.
struct Printer {
    json: bool,
    at_line_start: HashMap<(String, bool), bool>,
}

impl Printer {
    fn new(json: bool) -> Printer {
        Printer {
            json,
            at_line_start: HashMap::new(),
        }
    }

    fn json_line(&self, gateway: &str, stream: &str, text: &str) {
        let obj = json!({"event": "output", "gateway": gateway, "stream": stream, "text": text});
        write_out(&format!("{obj}\n"), false);
    }

    fn text(&mut self, gateway: &str, stream: Stream, text: &str) {
        if self.json {
            self.json_line(gateway, stream.name(), text);
            return;
        }
        let err = stream.is_err();
        let key = (gateway.to_string(), err);
        let mut start = *self.at_line_start.get(&key).unwrap_or(&true);
        let mut out = String::with_capacity(text.len() + 8);
        for piece in text.split_inclusive('\n') {
            if start {
                out.push_str(&format!("[{gateway}] "));
            }
            out.push_str(piece);
            start = piece.ends_with('\n');
        }
        self.at_line_start.insert(key, start);
        write_out(&out, err);
    }

    /// Ends any partial line of this gateway.
    fn finish(&mut self, gateway: &str) {
        if self.json {
            return;
        }
        for err in [false, true] {
            let key = (gateway.to_string(), err);
            if self.at_line_start.get(&key) == Some(&false) {
                write_out("\n", err);
                self.at_line_start.insert(key, true);
            }
        }
    }

    fn note(&mut self, gateway: &str, stream: &str, text: &str) {
        if self.json {
            self.json_line(gateway, stream, text);
        } else {
            self.finish(gateway);
            let mut out = String::new();
            for line in text.trim_end().lines() {
                out.push_str(&format!("[{gateway}] {line}\n"));
            }
            write_out(&out, stream != "item");
        }
    }
}

/// Since when (ms on the monotonic clock of [`mono_ms`], 0: not) a write to stdout or
/// stderr is under way: a reader that stopped reading blocks it.
static WRITING_SINCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn mono_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
        + 1
}

fn write_out(s: &str, err: bool) {
    use std::sync::atomic::Ordering;
    WRITING_SINCE.store(mono_ms(), Ordering::Relaxed);
    if err {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(s.as_bytes());
        let _ = e.flush();
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }
    WRITING_SINCE.store(0, Ordering::Relaxed);
}

/// SIGINT/SIGTERM/SIGHUP are honoured even while our output blocks (stdout into a FIFO
/// or pipe nobody reads): the normal path terminates the gateways and exits, but it
/// cannot run while a write blocks it. This task, on another thread, exits with 130
/// when a write has been stuck for 300 ms after the signal, or when the normal path
/// has not ended within `grace`. Workers then die by the dead-man (PR_SET_PDEATHSIG,
/// the stub's watchdog), as after `kill -9`.
fn signal_backstop(grace: Duration) {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        wait_for_signal().await;
        let t0 = std::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let since = WRITING_SINCE.load(Ordering::Relaxed);
            let stuck = since != 0 && mono_ms().saturating_sub(since) > 300;
            if stuck || t0.elapsed() > grace {
                std::process::exit(130);
            }
        }
    });
}

fn handle_event(p: &mut Printer, ev: Event) {
    match ev {
        Event::Output {
            gateway,
            stream,
            text,
            ..
        } => p.text(&gateway, stream, &text),
        Event::GatewayDied { gateway, reason } => {
            p.note(&gateway, "error", &format!("gateway died: {reason}"))
        }
        Event::Item { gateway, value, .. } => p.note(&gateway, "item", &value.to_string()),
        Event::ChannelEnded { gateway, error, .. } => match error {
            Some(text) => p.note(&gateway, "traceback", &text),
            None => p.finish(&gateway),
        },
        Event::GatewayQueued { .. }
        | Event::GatewayReady { .. }
        | Event::GatewayTerminated { .. } => {}
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
}

/// Asks on the controlling terminal with echo off (SSH passwords and passphrases);
/// `None` without a terminal. One question at a time.
pub fn tty_prompter() -> crate::engine::ssh::Prompter {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    std::sync::Arc::new(|question: &str, secret: bool| {
        use std::io::BufRead;
        use std::os::fd::AsRawFd;
        let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        write!(tty, "{question}: ").ok()?;
        tty.flush().ok()?;
        let fd = tty.as_raw_fd();
        // SAFETY: termios calls on our own open terminal; the old mode is restored.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                None
            } else {
                let old = t;
                if secret {
                    t.c_lflag &= !libc::ECHO;
                    libc::tcsetattr(fd, libc::TCSANOW, &t);
                }
                Some(old)
            }
        };
        let mut line = String::new();
        let r = std::io::BufReader::new(&tty).read_line(&mut line);
        if let Some(old) = saved {
            // SAFETY: restores the mode saved above.
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, &old);
            }
        }
        let _ = writeln!(tty);
        r.ok()?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    })
}

fn opts(connect: Connect, events: mpsc::Sender<Event>) -> GatewayOptions {
    GatewayOptions {
        bootstrap_timeout: connect.bootstrap_timeout,
        events: Some(events),
        accept_new_host_keys: connect.accept_new_host_keys,
        prompter: Some(tty_prompter()),
        limits: crate::config::limits(),
        ..GatewayOptions::default()
    }
}

/// Opens the gateways; reports failures; returns the group (maybe partial) and whether
/// all opened. Output of gateways that fail to start is left out: their error already
/// carries the interpreter's stderr.
async fn open_group(
    specs: Vec<Spec>,
    connect: Connect,
    events: mpsc::Sender<Event>,
    p: &mut Printer,
) -> (Group, bool, Vec<String>) {
    let mut group = Group::with_options(opts(connect, events));
    let results = group.make_gateways(&specs).await;
    let mut ok = true;
    let mut failed = Vec::new();
    for (id, r) in results {
        if let Err(e) = r {
            ok = false;
            p.note(&id, "error", &e.to_string());
            failed.push(id);
        }
    }
    (group, ok, failed)
}

/// While many gateways start, one line on a terminal's stderr says how many are
/// ready, starting and queued (waiting for a start slot); nothing when stderr is not a
/// terminal or only one gateway starts.
struct StartStatus {
    total: usize,
    ready: usize,
    queued: HashSet<String>,
    shown: bool,
    last: std::time::Instant,
    on: bool,
}

impl StartStatus {
    fn new(total: usize) -> StartStatus {
        use std::io::IsTerminal;
        StartStatus {
            total,
            ready: 0,
            queued: HashSet::new(),
            shown: false,
            last: std::time::Instant::now(),
            on: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn see(&mut self, ev: &Event) {
        match ev {
            Event::GatewayQueued { gateway } => {
                self.queued.insert(gateway.clone());
            }
            Event::GatewayReady { gateway, .. } => {
                self.queued.remove(gateway);
                self.ready += 1;
            }
            _ => return,
        }
        if self.on && (self.last.elapsed() >= Duration::from_millis(100) || !self.shown) {
            self.last = std::time::Instant::now();
            self.shown = true;
            let queued = self.queued.len();
            let starting = self.total.saturating_sub(self.ready + queued);
            eprint!(
                "\r\x1b[Kgateways: {}/{} ready, {starting} starting, {queued} queued",
                self.ready, self.total
            );
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the gateways of a command that shows no worker output (`info`, `top`,
/// `rosetta`): a task drops their events until the returned guard goes.
async fn open_quiet(
    specs: Vec<Spec>,
    connect: Connect,
    p: &mut Printer,
) -> (Group, bool, AbortOnDrop) {
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (group, ok, _) = open_group(specs, connect, tx, p).await;
    (group, ok, AbortOnDrop(drain))
}

/// What the JSON output says about a gateway. `exec --json` (its `"event":"gateway"`
/// lines), `top --json` and `info --json` all build it here, so their keys cannot
/// drift apart. The keys that come from the interpreter's facts are null when the
/// facts could not be read.
///
/// `host` is where the interpreter runs as the spec says: `local` for popen, the
/// target of `ssh=`/`socket=`/`vagrant_ssh=`; with `via`/`installvia` it is relative to
/// the gateway named in `via` (an `installvia` socket server runs there, so `local`).
/// `pid` is the interpreter's own pid on that host (else the local worker's pid).
pub fn gateway_meta(gw: &Gateway, facts: Option<&Facts>) -> Map<String, Json> {
    let spec = gw.spec();
    let host = match &spec.transport {
        _ if spec.installvia.is_some() => "local".to_string(),
        t => t.target().to_string(),
    };
    let via = spec.via.clone().or_else(|| spec.installvia.clone());
    let pid = facts.map(|f| f.pid).or_else(|| gw.pid().map(i64::from));
    [
        ("gateway", json!(gw.id())),
        ("spec", json!(spec.raw)),
        ("transport", json!(spec.transport.name())),
        ("host", json!(host)),
        ("via", json!(via)),
        ("interpreter", json!(facts.map(Facts::interpreter))),
        ("implementation", json!(facts.map(|f| &f.implementation))),
        ("python_version", json!(facts.map(Facts::python_version))),
        ("pid", json!(pid)),
        ("platform", json!(facts.map(|f| &f.platform))),
        ("executable", json!(facts.map(|f| &f.executable))),
        ("cwd", json!(facts.map(|f| &f.cwd))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The facts of every gateway, fetched concurrently, in the order of `gws`.
async fn facts_all(gws: &[Gateway]) -> Vec<Result<Facts, String>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, gw) in gws.iter().enumerate() {
        let gw = gw.clone();
        set.spawn(async move { (i, gw.facts().await.map_err(|e| e.to_string())) });
    }
    let mut out: Vec<Result<Facts, String>> = gws
        .iter()
        .map(|_| Err("facts not fetched".to_string()))
        .collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined
            && let Some(slot) = out.get_mut(i)
        {
            *slot = r;
        }
    }
    out
}

fn event_gateway(ev: &Event) -> &str {
    match ev {
        Event::GatewayQueued { gateway }
        | Event::GatewayReady { gateway, .. }
        | Event::Output { gateway, .. }
        | Event::Item { gateway, .. }
        | Event::ChannelEnded { gateway, .. }
        | Event::GatewayDied { gateway, .. }
        | Event::GatewayTerminated { gateway, .. } => gateway,
    }
}

/// `execdeck exec`: returns the process exit code.
pub async fn exec(args: ExecArgs) -> Result<i32, String> {
    let specs = parse_specs(&args.specs)?;
    let code = read_code(&args.code)?;
    signal_backstop(args.terminate_timeout + Duration::from_secs(2));
    let mut p = Printer::new(args.json);
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let json = args.json;
    let n_specs = specs.len();
    let opening = async {
        // keep the sink drained while gateways start, so a chatty bootstrap cannot block
        let mut early: Vec<Event> = Vec::new();
        let fut = async {
            let (group, ok, failed) = open_group(specs, args.connect, tx, &mut p).await;
            // the metadata of `--json`'s gateway lines (one round trip, all at once)
            let facts = if json {
                facts_all(group.gateways()).await
            } else {
                Vec::new()
            };
            (group, ok, failed, facts)
        };
        tokio::pin!(fut);
        let mut starting = StartStatus::new(n_specs);
        let (group, ok, failed, facts) = loop {
            tokio::select! {
                r = &mut fut => break r,
                Some(ev) = rx.recv() => {
                    starting.see(&ev);
                    early.push(ev);
                }
            }
        };
        starting.clear();
        (group, ok, failed, facts, early)
    };
    let (mut group, opened_ok, failed, facts, early) = tokio::select! {
        r = opening => r,
        _ = wait_for_signal() => {
            eprintln!("execdeck: interrupted while starting gateways");
            return Ok(130);
        }
    };
    if json {
        // before any output of the gateway, which waited in `early`
        for (gw, f) in group.gateways().iter().zip(&facts) {
            let mut obj = Map::new();
            obj.insert("event".into(), json!("gateway"));
            obj.extend(gateway_meta(gw, f.as_ref().ok()));
            if let Err(e) = f {
                obj.insert("facts_error".into(), json!(e));
            }
            write_out(&format!("{}\n", Json::Object(obj)), false);
        }
    }
    for ev in early {
        if !failed.iter().any(|f| f == event_gateway(&ev)) {
            handle_event(&mut p, ev);
        }
    }
    let ids: Vec<String> = group
        .gateways()
        .iter()
        .map(|g| g.id().to_string())
        .collect();
    let mut succeeded: HashSet<String> = HashSet::new();
    let outcome = tokio::select! {
        ok = run_channels(&group, &code, &mut rx, &mut p, &mut succeeded) => Some(ok),
        _ = wait_for_signal() => None,
    };
    let terminated = {
        // keep printing while the workers shut down, so their last output cannot
        // block them (and is shown)
        let term = group.terminate(args.terminate_timeout);
        tokio::pin!(term);
        loop {
            tokio::select! {
                t = &mut term => break t,
                Some(ev) = rx.recv() => handle_event(&mut p, ev),
            }
        }
    };
    while let Ok(ev) = rx.try_recv() {
        handle_event(&mut p, ev);
    }
    for id in &ids {
        p.finish(id);
    }
    if json {
        // the last line of each gateway, also of those that did not start
        let finished = outcome.is_some();
        for id in ids.iter().chain(&failed) {
            let t = terminated.iter().find(|(g, _)| g == id).map(|(_, t)| t);
            let ok = finished && t.is_some() && succeeded.contains(id);
            write_out(&format!("{}\n", exit_line(id, ok, t)), false);
        }
    }
    Ok(match outcome {
        Some(ok) if ok && opened_ok => 0,
        Some(_) => 1,
        None => {
            eprintln!("execdeck: interrupted; all gateways terminated");
            130
        }
    })
}

/// `exec --json`'s last line for a gateway: whether its code ran to the end without an
/// error, and how its worker ended (`t` is None if it never started).
fn exit_line(gateway: &str, ok: bool, t: Option<&TerminateOutcome>) -> Json {
    use crate::engine::process::ExitInfo;
    let info = match t {
        Some(TerminateOutcome::Exited(e) | TerminateOutcome::AlreadyDead(Some(e))) => Some(e),
        _ => None,
    };
    json!({
        "event": "exit",
        "gateway": gateway,
        "ok": ok,
        "worker": t.map(|t| t.to_string()).unwrap_or_else(|| "not started".into()),
        "worker_exit_code": match info { Some(ExitInfo::Code(c)) => Some(*c), _ => None },
        "worker_signal": match info { Some(ExitInfo::Signal(s)) => Some(*s), _ => None },
    })
}

/// Runs `code` on every gateway and prints what comes back; false if any failed.
/// `succeeded` gets the gateways whose code ran to its end without an error.
async fn run_channels(
    group: &Group,
    code: &str,
    rx: &mut mpsc::Receiver<Event>,
    p: &mut Printer,
    succeeded: &mut HashSet<String>,
) -> bool {
    let mut ok = true;
    // items and ends come through the event sink, in wire order with the output
    let mut open: Vec<(String, i32)> = Vec::new();
    for gw in group.gateways() {
        match gw.remote_exec_forwarded(code).await {
            Ok(ch) => open.push((gw.id().to_string(), ch.id())),
            Err(e) => {
                ok = false;
                p.note(gw.id(), "error", &e.to_string());
            }
        }
    }
    while !open.is_empty() {
        let Some(ev) = rx.recv().await else { break };
        if let Event::ChannelEnded {
            gateway,
            channel,
            error,
        } = &ev
        {
            if error.is_some() {
                ok = false;
            } else {
                succeeded.insert(gateway.clone());
            }
            open.retain(|(g, c)| !(g == gateway && c == channel));
        }
        handle_event(p, ev);
    }
    ok
}

pub struct InfoArgs {
    pub specs: Vec<String>,
    pub json: bool,
    pub connect: Connect,
}

/// `execdeck info`: interpreter facts as a table or JSON lines.
pub async fn info(args: InfoArgs) -> Result<i32, String> {
    let specs = parse_specs(&args.specs)?;
    let mut p = Printer::new(args.json);
    let run = async {
        let (mut group, mut ok, _drain) = open_quiet(specs, args.connect, &mut p).await;
        let mut rows = Vec::new();
        let facts = facts_all(group.gateways()).await;
        for (gw, f) in group.gateways().iter().zip(facts) {
            match f {
                Ok(f) => rows.push((gw.clone(), f)),
                Err(e) => {
                    ok = false;
                    p.note(gw.id(), "error", &e);
                }
            }
        }
        print_facts(&rows, args.json);
        group.terminate(Duration::from_secs(5)).await;
        ok
    };
    let ok = tokio::select! {
        ok = run => ok,
        _ = wait_for_signal() => { eprintln!("execdeck: interrupted"); return Ok(130); }
    };
    Ok(if ok { 0 } else { 1 })
}

fn print_facts(rows: &[(Gateway, Facts)], json: bool) {
    if json {
        for (gw, f) in rows {
            let mut obj = gateway_meta(gw, Some(f));
            obj.insert(
                "implementation_version".into(),
                json!(f.implementation_version),
            );
            let version_info: Vec<Json> = f
                .version_info
                .iter()
                .map(|v| match v {
                    Value::Int(i) => json!(i),
                    other => json!(
                        other
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| other.to_string())
                    ),
                })
                .collect();
            obj.insert("version_info".into(), json!(version_info));
            println!("{}", Json::Object(obj));
        }
        return;
    }
    let header = [
        "GATEWAY",
        "INTERPRETER",
        "PYTHON",
        "PID",
        "PLATFORM",
        "EXECUTABLE",
        "CWD",
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(gw, f)| {
            vec![
                gw.id().to_string(),
                f.interpreter(),
                f.python_version(),
                f.pid.to_string(),
                f.platform.clone(),
                f.executable.clone(),
                f.cwd.clone(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &table {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let fmt_row = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
        }
        line
    };
    println!("{}", fmt_row(header.to_vec()));
    for row in &table {
        println!("{}", fmt_row(row.iter().map(String::as_str).collect()));
    }
}

pub struct TopArgs {
    pub specs: Vec<String>,
    pub interval: Duration,
    pub once: bool,
    pub json: bool,
    pub connect: Connect,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "n/a".into())
}

/// `execdeck top`: per-gateway metrics every interval (or once), as a table or JSON lines.
pub async fn top(args: TopArgs) -> Result<i32, String> {
    use crate::engine::monitor::{Metrics, Sampler};
    let specs = parse_specs(&args.specs)?;
    let mut p = Printer::new(args.json);
    let (mut group, mut ok, _drain) = open_quiet(specs, args.connect, &mut p).await;
    let facts = facts_all(group.gateways()).await;
    let mut samplers: Vec<(Sampler, Map<String, Json>)> = group
        .gateways()
        .iter()
        .zip(&facts)
        .map(|(gw, f)| (Sampler::new(gw.clone()), gateway_meta(gw, f.as_ref().ok())))
        .collect();
    // a worker that stops answering delays only its own row, for at most this long
    let patience = (args.interval * 2).max(Duration::from_secs(2));
    let run = async {
        let mut first = true;
        loop {
            // every gateway is sampled at once
            let mut set = tokio::task::JoinSet::new();
            for (n, (mut s, meta)) in std::mem::take(&mut samplers).into_iter().enumerate() {
                set.spawn(async move {
                    let r = tokio::time::timeout(patience, s.sample()).await;
                    (n, s, meta, r)
                });
            }
            let mut done = Vec::new();
            while let Some(j) = set.join_next().await {
                if let Ok(one) = j {
                    done.push(one);
                }
            }
            done.sort_by_key(|d| d.0);
            let mut rows: Vec<(Metrics, Map<String, Json>)> = Vec::new();
            for (_, s, meta, r) in done {
                match r {
                    Ok(Ok(m)) => rows.push((m, meta.clone())),
                    Ok(Err(e)) => {
                        ok = false;
                        eprintln!("[{}] {e}", s.gateway().id());
                    }
                    Err(_) => {
                        ok = false;
                        eprintln!(
                            "[{}] no answer to STATUS within {:.1} s",
                            s.gateway().id(),
                            patience.as_secs_f64()
                        );
                    }
                }
                samplers.push((s, meta));
            }
            if !first {
                print_metrics(&rows, args.json);
                if args.once {
                    return;
                }
            }
            first = false;
            tokio::time::sleep(args.interval).await;
        }
    };
    let interrupted = tokio::select! {
        _ = run => false,
        _ = wait_for_signal() => true,
    };
    group.terminate(Duration::from_secs(5)).await;
    Ok(if interrupted {
        130
    } else if ok {
        0
    } else {
        1
    })
}

fn print_metrics(rows: &[(crate::engine::monitor::Metrics, Map<String, Json>)], json: bool) {
    if json {
        for (m, meta) in rows {
            let mut obj = meta.clone();
            let metrics = json!({
                "rtt_ms": m.rtt.as_secs_f64() * 1e3,
                "cpu_percent": m.cpu_percent,
                "rss_bytes": m.rss_bytes,
                "channels_open": m.channels_open,
                "tasks_executing": m.tasks_executing,
                "messages_in_per_s": m.messages_in_per_s,
                "messages_out_per_s": m.messages_out_per_s,
                "bytes_in_per_s": m.bytes_in_per_s,
                "bytes_out_per_s": m.bytes_out_per_s,
                "uptime_s": m.uptime.as_secs_f64(),
            });
            if let Json::Object(metrics) = metrics {
                obj.extend(metrics);
            }
            println!("{}", Json::Object(obj));
        }
        return;
    }
    println!(
        "{:<10} {:<16} {:>7} {:>8} {:>6} {:>8} {:>5} {:>5} {:>9} {:>9} {:>8}",
        "GATEWAY",
        "INTERPRETER",
        "PID",
        "RTT ms",
        "CPU%",
        "RSS MiB",
        "CHAN",
        "EXEC",
        "MSG/s i/o",
        "KB/s i/o",
        "UPTIME"
    );
    for (m, meta) in rows {
        let interp = meta
            .get("interpreter")
            .and_then(Json::as_str)
            .unwrap_or("?");
        let pid = meta
            .get("pid")
            .and_then(Json::as_i64)
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        let msgs = format!(
            "{}/{}",
            opt(m.messages_in_per_s, 0),
            opt(m.messages_out_per_s, 0)
        );
        let kb = format!(
            "{}/{}",
            opt(m.bytes_in_per_s.map(|b| b / 1024.0), 1),
            opt(m.bytes_out_per_s.map(|b| b / 1024.0), 1)
        );
        println!(
            "{:<10} {:<16} {:>7} {:>8.2} {:>6} {:>8} {:>5} {:>5} {:>9} {:>9} {:>7.0}s",
            m.gateway,
            interp,
            pid,
            m.rtt.as_secs_f64() * 1e3,
            opt(m.cpu_percent, 1),
            opt(m.rss_bytes.map(|b| b as f64 / 1048576.0), 1),
            m.channels_open,
            m.tasks_executing,
            msgs,
            kb,
            m.uptime.as_secs_f64()
        );
    }
}

pub struct RosettaArgs {
    pub specs: Vec<String>,
    pub code: Code,
    pub json: bool,
    /// How long each gateway may take to answer.
    pub timeout: Duration,
    pub connect: Connect,
}

/// `execdeck rosetta`: one snippet on every gateway; a row per gateway with result,
/// type, exception and time, printed as each gateway answers (a gateway still silent at
/// the deadline gets a `timed out` row); then the gateways that differ from the
/// majority. Exits 1 when a gateway failed to open, died or timed out.
pub async fn rosetta(args: RosettaArgs) -> Result<i32, String> {
    use crate::engine::rosetta::{Cell, Run, mark_differences};
    let specs = parse_specs(&args.specs)?;
    let code = read_code(&args.code)?;
    signal_backstop(Duration::from_secs(4));
    let mut p = Printer::new(args.json);
    let (mut group, ok, _drain) = open_quiet(specs, args.connect, &mut p).await;
    let mut interp = Vec::new();
    for gw in group.gateways() {
        interp.push(
            gw.facts()
                .await
                .map(|f| f.interpreter())
                .unwrap_or_else(|_| "?".into()),
        );
    }
    if !args.json {
        println!(
            "  {:<10} {:<16} {:<30} {:<12} {:<30} {:>9}",
            "GATEWAY", "INTERPRETER", "RESULT", "TYPE", "ERROR", "ms"
        );
    }
    let row = |c: &Cell, i: &str| {
        if args.json {
            let obj = serde_json::json!({
                "gateway": c.gateway, "interpreter": i, "repr": c.repr, "type": c.type_name,
                "error": c.error, "elapsed_ms": c.elapsed.as_secs_f64() * 1e3,
                "timed_out": c.timed_out,
            });
            println!("{obj}");
        } else {
            println!(
                "  {:<10} {:<16} {:<30} {:<12} {:<30} {:>9.3}",
                c.gateway,
                i,
                c.repr.as_deref().unwrap_or("-"),
                c.type_name.as_deref().unwrap_or("-"),
                c.error.as_deref().unwrap_or("-"),
                c.elapsed.as_secs_f64() * 1e3
            );
        }
    };
    let mut run = Run::start(group.gateways(), &code, Some(args.timeout));
    let mut cells: Vec<Option<Cell>> = vec![None; interp.len()];
    while let Some((i, cell)) = run.next().await {
        row(&cell, interp.get(i).map_or("?", String::as_str));
        if let Some(slot) = cells.get_mut(i) {
            *slot = Some(cell);
        }
    }
    let cells = mark_differences(cells.into_iter().flatten().collect());
    let names = |pick: fn(&Cell) -> bool| -> Vec<&str> {
        cells
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.gateway.as_str())
            .collect()
    };
    let (differ, late) = (names(|c| c.differs), names(|c| c.timed_out));
    if args.json {
        println!(
            "{}",
            serde_json::json!({"summary": {"differs": differ, "timed_out": late}})
        );
    } else if !differ.is_empty() {
        println!("* differs from the majority: {}", differ.join(", "));
    }
    // a gateway that died while running the snippet (os._exit, a crash) fails the run
    let died = group
        .gateways()
        .iter()
        .any(|g| matches!(g.state(), crate::engine::GatewayState::Dead(_)));
    group.terminate(Duration::from_secs(5)).await;
    Ok(if ok && !died && late.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_spec_parses() {
        assert_eq!(super::default_spec().raw, "popen//python=python3");
    }
}

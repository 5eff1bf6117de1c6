//! `execdeck map`: one function over JSON-lines inputs on a group of gateways (the
//! engine's [`Farm`]); one JSON line per result on stdout, progress on a terminal's
//! stderr.

use super::{Connect, Printer, open_group, parse_specs, wait_for_signal};
use crate::engine::{Event, FarmEvent, FarmOptions, Value};
use serde_json::{Map, Value as Json, json};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct MapArgs {
    pub specs: Vec<String>,
    pub code_file: String,
    pub function: String,
    /// A JSON-lines file, or `-` for standard input.
    pub inputs: String,
    pub ordered: bool,
    pub prefetch: usize,
    pub retries: u32,
    pub connect: Connect,
    pub terminate_timeout: Duration,
}

/// A JSON value as the Python builtin value it reads as (objects become dicts).
pub fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            // a u64 beyond i64: its digits
            _ if n.is_u64() => Value::int_from_decimal(&n.to_string()).unwrap_or(Value::None),
            (_, Some(f)) => Value::Float(f),
            _ => Value::None,
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        Json::Object(o) => Value::Dict(
            o.iter()
                .map(|(k, v)| (Value::Str(k.clone()), json_to_value(v)))
                .collect(),
        ),
    }
}

/// A result as JSON: tuples and sets become arrays; what JSON cannot hold (bytes,
/// complex, big ints, non-finite floats, non-string keys) becomes `{"repr": ...}`.
pub fn value_to_json(v: &Value) -> Json {
    let repr = || json!({ "repr": v.to_string() });
    match v {
        Value::None => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Str(s) => json!(s),
        Value::Tuple(items) | Value::List(items) | Value::Set(items) | Value::FrozenSet(items) => {
            Json::Array(items.iter().map(value_to_json).collect())
        }
        Value::Dict(pairs) => {
            let mut m = Map::new();
            for (k, val) in pairs {
                let Value::Str(k) = k else { return repr() };
                m.insert(k.clone(), value_to_json(val));
            }
            Json::Object(m)
        }
        _ => repr(),
    }
}

/// The input lines as values, read lazily; a line that is not JSON is that index's
/// error. Blank lines are skipped.
fn read_inputs(
    reader: Box<dyn BufRead + Send>,
) -> impl Iterator<Item = Result<Value, String>> + Send {
    let mut lineno = 0usize;
    reader.lines().filter_map(move |line| {
        lineno += 1;
        match line {
            Err(e) => Some(Err(format!("line {lineno}: cannot read: {e}"))),
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => Some(
                serde_json::from_str::<Json>(&l)
                    .map(|j| json_to_value(&j))
                    .map_err(|e| format!("line {lineno}: not JSON: {e}")),
            ),
        }
    })
}

fn count_lines(path: &str) -> Option<u64> {
    let f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    for l in std::io::BufReader::new(f).lines() {
        if !l.ok()?.trim().is_empty() {
            n += 1;
        }
    }
    Some(n)
}

/// The progress bar, on stderr when it is a terminal (indicatif hides it otherwise).
fn progress(total: Option<u64>) -> indicatif::ProgressBar {
    let target = indicatif::ProgressDrawTarget::stderr();
    let bar = match total {
        Some(n) => indicatif::ProgressBar::with_draw_target(Some(n), target),
        None => indicatif::ProgressBar::with_draw_target(None, target),
    };
    let style = match total {
        Some(_) => "{bar:30} {pos}/{len} {per_sec} ETA {eta} {msg}",
        None => "{spinner} {pos} done {per_sec} {msg}",
    };
    if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
        bar.set_style(s);
    }
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// `execdeck map`: the exit code (0 when every task succeeded, 1 when any failed or
/// did not run, 130 after an interrupt).
pub async fn map(args: MapArgs) -> Result<i32, String> {
    let specs = parse_specs(&args.specs)?;
    let code = std::fs::read_to_string(&args.code_file)
        .map_err(|e| format!("cannot read {}: {e}", args.code_file))?;
    let (reader, total): (Box<dyn BufRead + Send>, _) = if args.inputs == "-" {
        (Box::new(std::io::BufReader::new(std::io::stdin())), None)
    } else {
        let f = std::fs::File::open(&args.inputs)
            .map_err(|e| format!("cannot read {}: {e}", args.inputs))?;
        (
            Box::new(std::io::BufReader::new(f)),
            count_lines(&args.inputs),
        )
    };
    let mut p = Printer::new(false);
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    // worker output goes to stderr: stdout carries only results
    let drain = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if let Event::Output { gateway, text, .. } = ev {
                let mut err = std::io::stderr().lock();
                for l in text.lines() {
                    let _ = writeln!(err, "[{gateway}] {l}");
                }
            }
        }
    });
    let opened = tokio::select! {
        r = open_group(specs, args.connect, tx, &mut p) => r,
        _ = wait_for_signal() => {
            eprintln!("execdeck: interrupted while starting gateways");
            return Ok(130);
        }
    };
    let (mut group, ok, _failed) = opened;
    let done = |code: i32| -> Result<i32, String> { Ok(code) };
    if !ok || group.is_empty() {
        group.terminate(args.terminate_timeout).await;
        drain.abort();
        eprintln!("execdeck map: not every gateway started; nothing was run");
        return done(1);
    }
    let opts = FarmOptions {
        prefetch: args.prefetch.max(1),
        ordered: args.ordered,
        retries: args.retries,
        file_name: args.code_file.clone(),
        ..FarmOptions::default()
    };
    let mut farm = match group
        .map(&code, &args.function, read_inputs(reader), opts)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            group.terminate(args.terminate_timeout).await;
            drain.abort();
            return Err(e.to_string());
        }
    };
    let bar = progress(total);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut interrupted = false;
    let summary = loop {
        let ev = tokio::select! {
            ev = farm.next() => ev,
            _ = wait_for_signal(), if !interrupted => {
                interrupted = true;
                bar.set_message("cancelling");
                farm.cancel();
                continue;
            }
        };
        match ev {
            Some(FarmEvent::Result(r)) => {
                let line = match &r.outcome {
                    Ok(v) => json!({"index": r.index, "gateway": r.gateway,
                        "seconds": r.seconds, "result": value_to_json(v)}),
                    Err(e) => {
                        json!({"index": r.index, "gateway": r.gateway, "error": e})
                    }
                };
                let _ = writeln!(out, "{line}");
                bar.inc(1);
            }
            Some(FarmEvent::WorkerLost {
                gateway,
                reason,
                requeued,
            }) => {
                let _ = out.flush();
                bar.suspend(|| {
                    eprintln!(
                        "execdeck map: worker {gateway} lost ({reason}); \
                         {requeued} of its tasks handed to other workers"
                    )
                });
            }
            Some(FarmEvent::Done(s)) => break Some(s),
            None => break None,
        }
        // flush when no more results are waiting, so lines stream out promptly
        if farm_idle(&farm) {
            let _ = out.flush();
        }
    };
    let _ = out.flush();
    drop(out);
    bar.finish_and_clear();
    group.terminate(args.terminate_timeout).await;
    drain.abort();
    let Some(s) = summary else {
        eprintln!("execdeck map: the farm ended without a summary");
        return done(1);
    };
    eprintln!(
        "execdeck map: {} inputs, {} succeeded, {} failed{}{}",
        s.inputs,
        s.succeeded,
        s.failed,
        if s.not_run > 0 {
            format!(", {} not run", s.not_run)
        } else {
            String::new()
        },
        s.stopped
            .as_ref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default()
    );
    if s.cancelled {
        if !s.still_busy.is_empty() {
            eprintln!(
                "execdeck map: {} did not stop within the grace period",
                s.still_busy.join(", ")
            );
        }
        eprintln!("execdeck map: cancelled; all gateways terminated");
        return done(130);
    }
    done(if s.failed == 0 && s.not_run == 0 && s.stopped.is_none() {
        0
    } else {
        1
    })
}

fn farm_idle(farm: &crate::engine::Farm) -> bool {
    farm.pending() == 0
}

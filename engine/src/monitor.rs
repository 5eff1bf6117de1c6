//! Per-gateway metrics: round-trip time (a STATUS ping), message and byte rates, open
//! channels, executing tasks, remote CPU and RSS, uptime.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::{Gateway, monitor::Sampler};
//! let gw = Gateway::open("popen//python=python3").await.unwrap();
//! let mut sampler = Sampler::new(gw.clone());
//! sampler.sample().await.unwrap();
//! let m = sampler.sample().await.unwrap();
//! assert!(m.rtt.as_secs_f64() < 5.0);
//! assert!(m.rss_bytes.is_some());
//! gw.terminate(std::time::Duration::from_secs(5)).await;
//! # });
//! ```

use super::error::{Error, Result};
use super::gateway::{Counts, Gateway};
use super::value::Value;
use std::time::{Duration, Instant};

/// Reads the worker's own CPU seconds and RSS, for workers whose STATUS does not carry
/// them (execnet's own): our stub's `_self_usage` function, sent as a remote_exec.
fn sample_source() -> String {
    let stub = super::bootstrap::STUB_SOURCE;
    let body = stub
        .find("def _self_usage(")
        .map(|at| {
            let rest = &stub[at..];
            let end = rest.find("\n\n\n").unwrap_or(rest.len());
            &rest[..end]
        })
        .unwrap_or("def _self_usage():\n    return None, None");
    format!("import os, sys\n{body}\n\nchannel.send(_self_usage())\n")
}

/// One sample of a gateway's metrics. Rates and CPU % cover the time since the
/// previous sample (`None` on the first).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub gateway: String,
    pub rtt: Duration,
    pub channels_open: i64,
    pub tasks_executing: i64,
    pub execmodel: String,
    pub messages_in_per_s: Option<f64>,
    pub messages_out_per_s: Option<f64>,
    pub bytes_in_per_s: Option<f64>,
    pub bytes_out_per_s: Option<f64>,
    /// Remote CPU, percent of one core.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub uptime: Duration,
}

/// The previous sample, for rates.
struct Prev {
    at: Instant,
    messages: Counts,
    bytes: Counts,
    cpu: Option<f64>,
}

/// Samples one gateway repeatedly.
pub struct Sampler {
    gw: Gateway,
    prev: Option<Prev>,
}

impl Sampler {
    pub fn new(gw: Gateway) -> Sampler {
        Sampler { gw, prev: None }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    /// Takes a sample: one STATUS ping (timed). Our stub answers STATUS with its CPU
    /// seconds and RSS as well; for other workers (execnet's own) a small remote_exec
    /// reads them.
    pub async fn sample(&mut self) -> Result<Metrics> {
        let t0 = Instant::now();
        let status = self.gw.status().await?;
        let rtt = t0.elapsed();
        let (cpu, rss) = match (status.get("cpu"), status.get("rss")) {
            (Some(cpu), Some(rss)) => (as_f64(cpu), as_u64(rss)),
            _ => {
                let ch = self.gw.remote_exec(&sample_source()).await?;
                let v = ch.receive_timeout(Duration::from_secs(30)).await?;
                match &v {
                    Value::Tuple(t) if t.len() == 2 => (as_f64(&t[0]), as_u64(&t[1])),
                    other => {
                        return Err(Error::Protocol(format!(
                            "unexpected metrics reply: {other}"
                        )));
                    }
                }
            }
        };
        let now = Instant::now();
        let messages = self.gw.message_counts();
        let bytes = self.gw.byte_counts();
        let prev = self.prev.replace(Prev {
            at: now,
            messages,
            bytes,
            cpu,
        });
        let dt = prev
            .as_ref()
            .map(|p| now.duration_since(p.at).as_secs_f64())
            .filter(|dt| *dt > 0.0);
        // per second since the previous sample (none for the first one)
        let rate = |pick: fn(&Prev) -> u64, now_value: u64| {
            let (p, dt) = (prev.as_ref()?, dt?);
            Some(now_value.saturating_sub(pick(p)) as f64 / dt)
        };
        let cpu_percent = match (cpu, prev.as_ref().and_then(|p| p.cpu), dt) {
            (Some(c), Some(pc), Some(dt)) => Some(100.0 * (c - pc).max(0.0) / dt),
            _ => None,
        };
        let (mi, mo, bi, bo) = (
            rate(|p| p.messages.received, messages.received),
            rate(|p| p.messages.sent, messages.sent),
            rate(|p| p.bytes.received, bytes.received),
            rate(|p| p.bytes.sent, bytes.sent),
        );
        Ok(Metrics {
            gateway: self.gw.id().to_string(),
            rtt,
            channels_open: status
                .get("numchannels")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            tasks_executing: status
                .get("numexecuting")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            execmodel: status
                .get("execmodel")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            messages_in_per_s: mi,
            messages_out_per_s: mo,
            bytes_in_per_s: bi,
            bytes_out_per_s: bo,
            cpu_percent,
            rss_bytes: rss,
            uptime: self.gw.uptime(),
        })
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_i64().and_then(|r| u64::try_from(r).ok())
}

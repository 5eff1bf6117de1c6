//! Socket gateways (handshake + per-frame HMAC-SHA256) against popen, same interpreter,
//! same run: echo round trips, 1 MiB bytes echoed back, and 1 MiB bytes to the remote.
//! Prints a Markdown table.
//!
//! `cargo bench --bench transports -- --python PATH [--repeat N]`
//! (needs `target/release/execdeck`, or `EXECDECK_BIN`, for the socket server)

use execdeck::engine::{Gateway, GatewayOptions, Spec, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;
const ECHO_N: usize = 5_000;
const BULK_N: usize = 32;
const TO_REMOTE_N: usize = 128;
const T: Duration = Duration::from_secs(120);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `execdeck socketserver` on 127.0.0.1, killed on drop.
struct Server {
    child: Child,
    port: u16,
    token: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(python: &str, tls: &[String]) -> Res<Server> {
    let bin = std::env::var("EXECDECK_BIN").unwrap_or_else(|_| "target/release/execdeck".into());
    let mut token = tempfile::NamedTempFile::new()?;
    writeln!(token, "bench-token-{}", std::process::id())?;
    let mut child = Command::new(bin)
        .args([
            "socketserver",
            "--listen",
            "127.0.0.1:0",
            "--python",
            python,
        ])
        .arg("--token-file")
        .arg(token.path())
        .args(tls)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut out = BufReader::new(out);
    let mut first = String::new();
    out.read_line(&mut first)?;
    // keep reading its log: the server writes a line per connection
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let port = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("no port in {first:?}"))?;
    Ok(Server { child, port, token })
}

struct Numbers {
    echo: f64,
    bulk: f64,
    to_remote: f64,
}

async fn measure(spec: &str) -> Res<Numbers> {
    let parsed: Spec = spec.parse()?;
    let gw = Gateway::open_spec(parsed, GatewayOptions::default()).await?;
    let ch = gw
        .remote_exec("for x in channel:\n    channel.send(x)\n")
        .await?;
    ch.send(&Value::Int(-1)).await?;
    ch.receive_timeout(T).await?;
    let t0 = Instant::now();
    for i in 0..ECHO_N as i64 {
        ch.send(&Value::Int(i)).await?;
        if ch.receive_timeout(T).await? != Value::Int(i) {
            return Err("echo mismatch".into());
        }
    }
    let echo = ECHO_N as f64 / t0.elapsed().as_secs_f64();
    let blob = Value::Bytes(vec![7u8; MIB]);
    let t0 = Instant::now();
    for _ in 0..BULK_N {
        ch.send(&blob).await?;
        match ch.receive_timeout(T).await? {
            Value::Bytes(b) if b.len() == MIB => {}
            _ => return Err("bulk mismatch".into()),
        }
    }
    // MiB/s each way
    let bulk = BULK_N as f64 / t0.elapsed().as_secs_f64();
    ch.close().await?;
    let ch = gw
        .remote_exec("n = 0\nfor x in channel:\n    if x is None:\n        break\n    n += len(x)\nchannel.send(n)\n")
        .await?;
    let t0 = Instant::now();
    for _ in 0..TO_REMOTE_N {
        ch.send(&blob).await?;
    }
    ch.send(&Value::None).await?;
    if ch.receive_timeout(T).await? != Value::Int((TO_REMOTE_N * MIB) as i64) {
        return Err("to-remote count mismatch".into());
    }
    let to_remote = TO_REMOTE_N as f64 / t0.elapsed().as_secs_f64();
    gw.terminate(Duration::from_secs(5)).await;
    Ok(Numbers {
        echo,
        bulk,
        to_remote,
    })
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let python = arg("--python").unwrap_or_else(|| "/usr/bin/python3".into());
    let repeat: usize = arg("--repeat").and_then(|r| r.parse().ok()).unwrap_or(3);
    // extra server arguments (e.g. --tls-cert C --tls-key K) and client spec keys
    let tls_cert = arg("--tls-cert");
    let tls_key = arg("--tls-key");
    let tls_pin = arg("--tls-fingerprint");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = start_server(&python, &[])?;
    let socket = format!(
        "socket=127.0.0.1:{}//token_file={}",
        server.port,
        server.token.path().display()
    );
    let mut rows = vec![
        ("popen".to_string(), format!("popen//python={python}")),
        ("socket (HMAC per frame)".to_string(), socket),
    ];
    let _tls_server = match (tls_cert, tls_key, tls_pin) {
        (Some(c), Some(k), Some(pin)) => {
            let s = start_server(&python, &["--tls-cert".into(), c, "--tls-key".into(), k])?;
            rows.push((
                "socket + TLS".into(),
                format!(
                    "socket=127.0.0.1:{}//token_file={}//tls_fingerprint={pin}",
                    s.port,
                    s.token.path().display()
                ),
            ));
            Some(s)
        }
        _ => None,
    };
    let mut results: Vec<Vec<Numbers>> = rows.iter().map(|_| Vec::new()).collect();
    // alternated, so that load from elsewhere falls on every row alike
    for r in 0..repeat {
        for (i, (name, spec)) in rows.iter().enumerate() {
            eprintln!("[transports] run {} {name}", r + 1);
            results[i].push(rt.block_on(measure(spec))?);
        }
    }
    println!("interpreter: {python}; medians of {repeat} alternated runs");
    println!();
    println!(
        "| transport | {ECHO_N} echo round trips | {BULK_N} x 1 MiB echoed (each way) | {TO_REMOTE_N} x 1 MiB to the remote |"
    );
    println!("|---|---|---|---|");
    for (i, (name, _)) in rows.iter().enumerate() {
        let m = |f: fn(&Numbers) -> f64| median(results[i].iter().map(f).collect());
        println!(
            "| {name} | {:.0} /s | {:.1} MiB/s | {:.1} MiB/s |",
            m(|n| n.echo),
            m(|n| n.bulk),
            m(|n| n.to_remote)
        );
    }
    Ok(())
}

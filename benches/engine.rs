//! execdeck side of the benchmark: the same work as `benches/reference.py` does with
//! execnet. Prints one JSON object (keys prefixed `execdeck_`).
//!
//! `cargo bench --bench engine -- --python PATH [--pin] [--repeat N] [--only K,K]`
//! (`benches/run.sh` runs both sides and prints the ratios.)

use execdeck::engine::{Gateway, GatewayOptions, Group, Spec, Value};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;
const ECHO_N: usize = 20_000;
const BYTES_N: usize = 200;
const ITEMS_N: usize = 200_000;
const READY_STARTS: usize = 10;
const GROUP_N: usize = 32;
const T: Duration = Duration::from_secs(120);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spec(python: &str, pin: bool) -> Res<Spec> {
    let s = if pin {
        format!("popen//python=taskset -c 0 {python}")
    } else {
        format!("popen//python={python}")
    };
    Ok(s.parse()?)
}

async fn open(python: &str, pin: bool) -> Res<Gateway> {
    Ok(Gateway::open_spec(spec(python, pin)?, GatewayOptions::default()).await?)
}

async fn ready(python: &str) -> Res<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..READY_STARTS {
        let t0 = Instant::now();
        let gw = open(python, false).await?;
        let v = gw
            .remote_exec("channel.send(1)")
            .await?
            .receive_timeout(T)
            .await?;
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        assert_eq!(v, Value::Int(1));
        out.push(dt);
        gw.terminate(Duration::from_secs(5)).await;
    }
    Ok(out)
}

async fn echo(python: &str, pin: bool) -> Res<f64> {
    let gw = open(python, pin).await?;
    let ch = gw
        .remote_exec("for x in channel:\n    channel.send(x)\n")
        .await?;
    ch.send(&Value::Int(-1)).await?;
    ch.receive_timeout(T).await?;
    let t0 = Instant::now();
    for i in 0..ECHO_N as i64 {
        ch.send(&Value::Int(i)).await?;
        let r = ch.receive().await?;
        if r != Value::Int(i) {
            return Err(format!("echo mismatch {r} != {i}").into());
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    ch.close().await?;
    gw.terminate(Duration::from_secs(5)).await;
    Ok(ECHO_N as f64 / dt)
}

async fn bytes_to_remote(python: &str) -> Res<f64> {
    let gw = open(python, false).await?;
    let ch = gw
        .remote_exec("n = 0\nwhile 1:\n    x = channel.receive()\n    if x is None:\n        break\n    n += len(x)\nchannel.send(n)\n")
        .await?;
    let blob = Value::Bytes(vec![b'x'; MIB]);
    let t0 = Instant::now();
    for _ in 0..BYTES_N {
        ch.send(&blob).await?;
    }
    ch.send(&Value::None).await?;
    let n = ch.receive_timeout(T).await?;
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(n, Value::Int((BYTES_N * MIB) as i64));
    gw.terminate(Duration::from_secs(5)).await;
    Ok((BYTES_N * MIB) as f64 / 1e6 / dt)
}

async fn bytes_from_remote(python: &str) -> Res<f64> {
    let gw = open(python, false).await?;
    let t0 = Instant::now();
    let ch = gw
        .remote_exec(&format!(
            "b = b'x' * {MIB}\nfor i in range({BYTES_N}):\n    channel.send(b)\n"
        ))
        .await?;
    let mut total = 0;
    for _ in 0..BYTES_N {
        match ch.receive_timeout(T).await? {
            Value::Bytes(b) => total += b.len(),
            other => return Err(format!("unexpected {}", other.type_name()).into()),
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(total, BYTES_N * MIB);
    gw.terminate(Duration::from_secs(5)).await;
    Ok((BYTES_N * MIB) as f64 / 1e6 / dt)
}

async fn items_from_remote(python: &str) -> Res<f64> {
    let gw = open(python, false).await?;
    let t0 = Instant::now();
    let ch = gw
        .remote_exec(&format!(
            "for i in range({ITEMS_N}):\n    channel.send(i)\n"
        ))
        .await?;
    for i in 0..ITEMS_N as i64 {
        let r = ch.receive().await?;
        if r != Value::Int(i) {
            return Err(format!("items mismatch {r} != {i}").into());
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    gw.terminate(Duration::from_secs(5)).await;
    Ok(ITEMS_N as f64 / dt)
}

/// Runs in a fresh process (`--group32`): create 32 gateways, terminate them, report
/// times and this process's peak RSS.
async fn group32(python: &str) -> Res<serde_json::Value> {
    let specs: Vec<Spec> = (0..GROUP_N)
        .map(|_| spec(python, false))
        .collect::<Res<_>>()?;
    let mut group = Group::new();
    let t0 = Instant::now();
    for r in group.make_gateways(&specs).await {
        r.1?;
    }
    // every gateway answers once, so "created" means usable
    for gw in group.gateways() {
        gw.remote_exec("channel.send(1)")
            .await?
            .receive_timeout(T)
            .await?;
    }
    let create = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    group.terminate(Duration::from_secs(5)).await;
    let term = t1.elapsed().as_secs_f64();
    // VmHWM: this process's own peak RSS (ru_maxrss can carry the parent's peak over
    // fork + exec on Linux).
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    Ok(serde_json::json!({
        "execdeck_32_create_s": create,
        "execdeck_32_terminate_s": term,
        "execdeck_32_peak_rss_mib": rss_kib / 1024.0,
    }))
}

/// kill -9 of the master (the execdeck binary) while the remote spins: seconds until
/// the worker is gone.
fn deadman(python: &str) -> Res<f64> {
    use std::io::{BufRead, BufReader};
    execdeck::engine::process::become_subreaper();
    let bin = std::env::var("EXECDECK_BIN").unwrap_or_else(|_| "target/release/execdeck".into());
    let mut child = std::process::Command::new(bin)
        .args(["exec", "-g", &format!("popen//python={python}"), "-c"])
        .arg("import os, sys\nprint('PID %d' % os.getpid())\nsys.stdout.flush()\nwhile True:\n    pass")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut pid = 0i32;
    for line in BufReader::new(out).lines() {
        let line = line?;
        if let Some(p) = line.split("PID ").nth(1) {
            pid = p.trim().parse()?;
            break;
        }
    }
    let t0 = Instant::now();
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    loop {
        // SAFETY: reap the orphan if it was handed to us (subreaper).
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        if !execdeck::engine::process::is_alive(pid) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            // SAFETY: cleanup kill.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(t0.elapsed().as_secs_f64())
}

async fn transport_bench(spec: &str) -> Res<serde_json::Value> {
    let parsed: Spec = spec.parse()?;
    let mut ready = Vec::new();
    for _ in 0..READY_STARTS {
        let t0 = Instant::now();
        let gw = Gateway::open_spec(parsed.clone(), GatewayOptions::default()).await?;
        gw.remote_exec("channel.send(1)")
            .await?
            .receive_timeout(T)
            .await?;
        ready.push(t0.elapsed().as_secs_f64() * 1e3);
        gw.terminate(Duration::from_secs(5)).await;
    }
    let gw = Gateway::open_spec(parsed.clone(), GatewayOptions::default()).await?;
    let ch = gw
        .remote_exec("for x in channel:\n    channel.send(x)\n")
        .await?;
    let n = 5000;
    let t0 = Instant::now();
    for i in 0..n {
        ch.send(&Value::Int(i)).await?;
        ch.receive().await?;
    }
    let echo = n as f64 / t0.elapsed().as_secs_f64();
    gw.terminate(Duration::from_secs(5)).await;
    let t0 = Instant::now();
    for _ in 0..8 {
        let gw = Gateway::open_spec(parsed.clone(), GatewayOptions::default()).await?;
        gw.remote_exec("channel.send(1)")
            .await?
            .receive_timeout(T)
            .await?;
        gw.terminate(Duration::from_secs(5)).await;
    }
    let sequential = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let specs: Vec<Spec> = (0..8).map(|_| parsed.clone()).collect();
    let mut group = Group::new();
    for r in group.make_gateways(&specs).await {
        r.1?;
    }
    for gw in group.gateways() {
        gw.remote_exec("channel.send(1)")
            .await?
            .receive_timeout(T)
            .await?;
    }
    let concurrent = t0.elapsed().as_secs_f64();
    group.terminate(Duration::from_secs(5)).await;
    Ok(serde_json::json!({
        "ready_ms": median(ready),
        "echo_per_s": echo,
        "open8_sequential_s": sequential,
        "open8_concurrent_s": concurrent,
    }))
}

fn pin_self() {
    // SAFETY: sched_setaffinity on this process with a CPU set holding CPU 0.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let repeat: usize = arg("--repeat").and_then(|r| r.parse().ok()).unwrap_or(3);
    let only: Option<Vec<String>> =
        arg("--only").map(|s| s.split(',').map(str::to_string).collect());
    let want = |k: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == k));
    let pin = args.iter().any(|a| a == "--pin");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(spec) = arg("--spec") {
        // one transport (e.g. ssh=...) measured on its own: ready, echo, 8 opens
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        println!("{}", multi.block_on(transport_bench(&spec))?);
        return Ok(());
    }
    if args.iter().any(|a| a == "--group32") {
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        println!("{}", multi.block_on(group32(&python))?);
        return Ok(());
    }
    let mut out = serde_json::Map::new();
    let log = |m: &str| eprintln!("[execdeck-bench] {m}");
    let rep = |f: &dyn Fn() -> Res<f64>| -> Res<f64> {
        let mut v = Vec::new();
        for _ in 0..repeat {
            v.push(f()?);
        }
        Ok(median(v))
    };
    if want("execdeck_ready_ms") {
        log("ready");
        out.insert(
            "execdeck_ready_ms".into(),
            median(current.block_on(ready(&python))?).into(),
        );
    }
    if want("execdeck_echo_per_s") {
        log("echo");
        out.insert(
            "execdeck_echo_per_s".into(),
            rep(&|| current.block_on(echo(&python, false)))?.into(),
        );
    }
    if want("execdeck_bytes_to_remote_MBps") {
        log("bytes to remote");
        out.insert(
            "execdeck_bytes_to_remote_MBps".into(),
            rep(&|| current.block_on(bytes_to_remote(&python)))?.into(),
        );
    }
    if want("execdeck_bytes_from_remote_MBps") {
        log("bytes from remote");
        out.insert(
            "execdeck_bytes_from_remote_MBps".into(),
            rep(&|| current.block_on(bytes_from_remote(&python)))?.into(),
        );
    }
    if want("execdeck_items_from_remote_per_s") {
        log("items from remote");
        out.insert(
            "execdeck_items_from_remote_per_s".into(),
            rep(&|| current.block_on(items_from_remote(&python)))?.into(),
        );
    }
    if want("execdeck_32_create_s") {
        log("32 gateways");
        let mut runs: Vec<serde_json::Value> = Vec::new();
        for _ in 0..repeat {
            let o = std::process::Command::new(&args[0])
                .args(["--group32", "--python", &python])
                .output()?;
            runs.push(serde_json::from_slice(&o.stdout)?);
        }
        for k in [
            "execdeck_32_create_s",
            "execdeck_32_terminate_s",
            "execdeck_32_peak_rss_mib",
        ] {
            let v: Vec<f64> = runs.iter().filter_map(|r| r[k].as_f64()).collect();
            out.insert(k.into(), median(v).into());
        }
    }
    if want("execdeck_deadman_s") {
        log("dead-man");
        out.insert(
            "execdeck_deadman_s".into(),
            rep(&|| deadman(&python))?.into(),
        );
    }
    if pin && want("execdeck_echo_per_s_pinned") {
        log("echo pinned");
        pin_self();
        out.insert(
            "execdeck_echo_per_s_pinned".into(),
            rep(&|| current.block_on(echo(&python, true)))?.into(),
        );
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

//! Interop with real execnet (PyPI `execnet`, in the venv the test command creates):
//!
//! (a) the codec against execnet's own `dumps_internal`/`loads_internal`, over a
//!     corpus of values of every type, in both directions;
//! (b) the engine bootstrapping a worker from execnet's own `gateway_base.py` (read
//!     from the installed package at test time) and driving channels, STATUS, remote
//!     errors, channel passing, facts and terminate against it.

mod common;

use execdeck::engine::process::ExitInfo;
use execdeck::engine::{
    Bootstrap, Error, Gateway, GatewayOptions, Limits, Spec, StrConfig, TerminateOutcome, Value,
    codec,
};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/execnet_codec.py"
);

/// How long any single exchange with a Python process may take.
const STEP: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// the execnet codec oracle (one Python process for the whole corpus)

/// `tests/interop/execnet_codec.py` running in the venv; killed when dropped.
struct Oracle {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Oracle {
    fn start(python: &str) -> Oracle {
        let mut child = Command::new(python)
            .arg("-u")
            .arg(HELPER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} {HELPER}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("helper stdout");
        let (tx, lines) = mpsc::channel();
        // A reader thread, so that a stuck helper is a timeout rather than a hang.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Oracle {
            child,
            stdin,
            lines,
        }
    }

    fn ask(&mut self, req: serde_json::Value) -> serde_json::Value {
        let stdin = self.stdin.as_mut().expect("helper stdin");
        writeln!(stdin, "{req}").expect("write to the execnet helper");
        stdin.flush().expect("flush to the execnet helper");
        let line = self
            .lines
            .recv_timeout(STEP)
            .unwrap_or_else(|e| panic!("no answer from the execnet helper to {req}: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad helper reply {line:?}: {e}"))
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

// ---------------------------------------------------------------------------
// the corpus

/// Python expressions, each also a literal `Value::parse_literal` understands.
fn corpus() -> Vec<String> {
    let fixed: &[&str] = &[
        // None, bool
        "None",
        "True",
        "False",
        // int: small, around ±2^31, ±2^63, and beyond
        "0",
        "1",
        "-1",
        "42",
        "2147483647",
        "-2147483648",
        "2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775807",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "-340282366920938463463374607431768211456",
        "9223372036854775807324234",
        // float, including nan, ±inf, -0.0, subnormal and extremes
        "0.0",
        "-0.0",
        "1.5",
        "-2.25",
        "0.1",
        "1e16",
        "123456789.123",
        "1e300",
        "-1e-300",
        "5e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e+308",
        "float('nan')",
        "float('inf')",
        "-float('inf')",
        // complex
        "0j",
        "1+2j",
        "-1.5-0.5j",
        "1e300j",
        "complex(-0.0, -0.0)",
        "complex(float('inf'), float('nan'))",
        // bytes
        "b''",
        "b'abc'",
        "b'\\x00\\xff\\x80\\n\\r\\t'",
        "b\"it's\"",
        // str: ASCII, escapes, non-ASCII, astral
        "''",
        "'hello'",
        "'h\u{e9}llo w\u{f6}rld'",
        "'\u{65e5}\u{672c}\u{8a9e}\u{30c6}\u{30ad}\u{30b9}\u{30c8}'",
        "'\u{1F600}'",
        "'\u{1F600}\u{1F4A9} astral \u{1D11E}'",
        "'\\U0010ffff'",
        "'\\x00\\x01\\x7f'",
        "'a\\nb\\tc\\r'",
        "\"it's\"",
        "'both \\' and \"'",
        "'back\\\\slash'",
        "'e\u{301} \u{3a9}\u{2248}\u{e7}\u{221a}'",
        "'\\u200b\\xa0\\u2028'",
        // tuple
        "()",
        "(1,)",
        "((),)",
        "(1, 'a', None, 2.5)",
        "((1, 2), (3, (4, (5,))))",
        "(True, False, None)",
        // list
        "[]",
        "[1]",
        "[[]]",
        "[1, 'a', [2.5, None], (b'x',)]",
        "[True, 1, False, 0, 1.0, 0.0]",
        // dict (insertion order matters)
        "{}",
        "{'a': 1}",
        "{'b': 1, 'a': 2}",
        "{'': ''}",
        "{1: 'a', 'b': [1, 2], (1, 2): None, None: {}}",
        "{b'k': b'v', 2.5: 1j, True: False, frozenset({1, 2}): 'fs', (): ()}",
        "{1: 'a', 1.0: 'b'}",
        "{2147483648: -2147483649, -1: 9223372036854775808}",
        "{'nested': {'deeper': {'deepest': []}}}",
        // set
        "set()",
        "{1}",
        "{1, 2, 3}",
        "{'a', 'b', 'c'}",
        "{(1, 2), None, b'x', 2.5, '\u{e9}'}",
        "{-1, -2147483648, 2147483648, 99999999999999999999}",
        "{frozenset(), frozenset({1})}",
        // frozenset
        "frozenset()",
        "frozenset({1, 2})",
        "frozenset({'x', (1,), None})",
        "frozenset({frozenset({frozenset()})})",
        // empty containers together
        "[(), [], {}, set(), frozenset(), '', b'']",
        "((), [], {}, set(), frozenset())",
        "{'t': (), 'l': [], 'd': {}, 's': set(), 'f': frozenset()}",
    ];
    let mut c: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();

    // ints of many digits: 10**50, and the 4300 digits Python allows in int()/str()
    c.push(format!("1{}", "0".repeat(50)));
    c.push(format!("-1{}", "0".repeat(50)));
    c.push("9".repeat(4300));
    c.push(format!("-{}", "9".repeat(4300)));
    // every byte value
    let all_bytes: String = (0u8..=255).map(|b| format!("\\x{b:02x}")).collect();
    c.push(format!("b'{all_bytes}'"));
    // long text and bytes
    c.push(format!("'{}'", "x\u{e9}\u{1F600}".repeat(2000)));
    c.push(format!("b'{}'", "y".repeat(5000)));
    // deeply nested containers
    c.push(format!("{}{}", "[".repeat(100), "]".repeat(100)));
    let mut t = String::from("()");
    for _ in 0..99 {
        t = format!("({t},)");
    }
    c.push(t);
    let mut d = String::from("{}");
    for i in 0..60 {
        d = format!("{{'k{i}': {d}}}");
    }
    c.push(d);
    let mut f = String::from("frozenset()");
    for i in 0..30 {
        f = format!("frozenset({{{i}, {f}}})");
    }
    c.push(f);
    let mut m = String::from("None");
    for i in 0..40 {
        m = match i % 4 {
            0 => format!("[{m}, {i}]"),
            1 => format!("({m}, '{i}')"),
            2 => format!("{{'{i}': {m}, {i}: set()}}"),
            _ => format!("[b'{i}', {{{i}}}, {m}]"),
        };
    }
    c.push(m);
    // big flat containers
    let ints: Vec<String> = (0..1000)
        .map(|i| (i * 7919 - 500_000).to_string())
        .collect();
    c.push(format!("[{}]", ints.join(", ")));
    let items: Vec<String> = (0..200).map(|i| format!("'key{i}': {i}.5")).collect();
    c.push(format!("{{{}}}", items.join(", ")));
    let members: Vec<String> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                i.to_string()
            } else {
                format!("'s{i}'")
            }
        })
        .collect();
    c.push(format!("{{{}}}", members.join(", ")));
    c
}

// ---------------------------------------------------------------------------
// value comparison

/// Same value and same types at every level; floats by bits (NaN equals NaN, -0.0
/// differs from 0.0); dict items in order; sets and frozensets in any order.
fn same(a: &Value, b: &Value) -> bool {
    fn all_same(a: &[Value], b: &[Value]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
    }
    fn any_order(a: &[Value], b: &[Value]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut rest: Vec<&Value> = b.iter().collect();
        for x in a {
            match rest.iter().position(|y| same(x, y)) {
                Some(i) => {
                    rest.swap_remove(i);
                }
                None => return false,
            }
        }
        true
    }
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Complex(r1, i1), Value::Complex(r2, i2)) => {
            r1.to_bits() == r2.to_bits() && i1.to_bits() == i2.to_bits()
        }
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => all_same(x, y),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        (Value::Set(x), Value::Set(y)) | (Value::FrozenSet(x), Value::FrozenSet(y)) => {
            any_order(x, y)
        }
        _ => a == b,
    }
}

fn contains_set(v: &Value) -> bool {
    match v {
        Value::Set(_) | Value::FrozenSet(_) => true,
        Value::Tuple(x) | Value::List(x) => x.iter().any(contains_set),
        Value::Dict(x) => x.iter().any(|(k, v)| contains_set(k) || contains_set(v)),
        _ => false,
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An int execnet 2.1.2 cannot dump: below -2^31 it raises struct.error instead of
/// using the long form (a known execnet bug; it loads such ints fine).
fn below_int32(v: &Value) -> bool {
    match v {
        Value::Int(i) => *i < i64::from(i32::MIN),
        Value::BigInt(s) => s.starts_with('-'),
        _ => false,
    }
}

fn contains_int_below_int32(v: &Value) -> bool {
    match v {
        Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => {
            x.iter().any(contains_int_below_int32)
        }
        Value::Dict(x) => x
            .iter()
            .any(|(k, v)| contains_int_below_int32(k) || contains_int_below_int32(v)),
        other => below_int32(other),
    }
}

// ---------------------------------------------------------------------------
// (a) codec interop

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_matches_execnet_both_ways() {
    let Some(py) = common::execnet_python() else {
        return;
    };
    let mut oracle = Oracle::start(&py);
    let corpus = corpus();
    assert!(
        corpus.len() >= 60,
        "corpus has only {} values",
        corpus.len()
    );

    let mut failures: Vec<String> = Vec::new();
    let mut from_execnet = 0usize;
    let mut to_execnet = 0usize;
    let mut known_dump_bug = 0usize;
    let mut types_seen = std::collections::BTreeSet::new();

    for expr in &corpus {
        let shown = short(expr);
        let parsed = match Value::parse_literal(expr) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{shown}: parse_literal failed: {e}"));
                continue;
            }
        };
        types_seen.insert(parsed.type_name());

        // execnet -> Rust: decode, same value, byte-identical re-encoding
        let dump = oracle.ask(serde_json::json!({"op": "dump", "expr": expr}));
        if dump["ok"] == true {
            from_execnet += 1;
            let bytes = from_hex(dump["hex"].as_str().unwrap_or_default());
            match codec::decode(&bytes, StrConfig::default(), &Limits::default()) {
                Err(e) => failures.push(format!("{shown}: decoding execnet's bytes: {e}")),
                Ok(decoded) => {
                    if !same(&decoded, &parsed) {
                        failures.push(format!(
                            "{shown}: execnet's bytes decode to {}, expected {}",
                            short(&decoded.to_string()),
                            short(&parsed.to_string())
                        ));
                    }
                    let py_type = dump["type"].as_str().unwrap_or_default();
                    if decoded.type_name() != py_type {
                        failures.push(format!(
                            "{shown}: decoded type {} but execnet dumped a {py_type}",
                            decoded.type_name()
                        ));
                    }
                    let py_repr = dump["repr"].as_str().unwrap_or_default();
                    if decoded.to_string() != py_repr {
                        failures.push(format!(
                            "{shown}: repr {} but Python says {}",
                            short(&decoded.to_string()),
                            short(py_repr)
                        ));
                    }
                    match codec::encode(&decoded) {
                        Ok(again) if again == bytes => {}
                        Ok(again) => failures.push(format!(
                            "{shown}: re-encoding is not byte-identical:\n  execnet {}\n  rust    {}",
                            short(&to_hex(&bytes)),
                            short(&to_hex(&again))
                        )),
                        Err(e) => failures.push(format!("{shown}: re-encoding failed: {e}")),
                    }
                    // Without sets (whose order is Python's hash order) even the value
                    // parsed from the literal encodes exactly as execnet does.
                    if !contains_set(&parsed) {
                        match codec::encode(&parsed) {
                            Ok(b) if b == bytes => {}
                            Ok(b) => failures.push(format!(
                                "{shown}: encoding of the literal differs from execnet's:\n  execnet {}\n  rust    {}",
                                short(&to_hex(&bytes)),
                                short(&to_hex(&b))
                            )),
                            Err(e) => failures.push(format!("{shown}: encoding failed: {e}")),
                        }
                    }
                }
            }
        } else {
            let err = dump["error"].as_str().unwrap_or_default();
            if contains_int_below_int32(&parsed) && err.contains("struct.error") {
                known_dump_bug += 1;
            } else {
                failures.push(format!("{shown}: execnet could not dump it: {err}"));
            }
        }

        // Rust -> execnet: what we encode loads in execnet as an equal value
        match codec::encode(&parsed) {
            Err(e) => failures.push(format!("{shown}: encoding failed: {e}")),
            Ok(bytes) => {
                let load = oracle
                    .ask(serde_json::json!({"op": "load", "expr": expr, "hex": to_hex(&bytes)}));
                if load["ok"] == true {
                    to_execnet += 1;
                } else {
                    failures.push(format!(
                        "{shown}: execnet loads our bytes wrongly: {}",
                        short(load["error"].as_str().unwrap_or_default())
                    ));
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} interop failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for t in [
        "NoneType",
        "bool",
        "int",
        "float",
        "complex",
        "bytes",
        "str",
        "tuple",
        "list",
        "dict",
        "set",
        "frozenset",
    ] {
        assert!(types_seen.contains(t), "the corpus has no {t}");
    }
    // -2^31-1, -2^63, -2^63-1, -2^128, -10^50, -(4300 nines)
    assert!(
        known_dump_bug >= 6,
        "expected execnet to refuse the ints below -2^31, got {known_dump_bug}"
    );
    assert!(
        from_execnet >= 60,
        "only {from_execnet} values checked execnet -> Rust"
    );
    assert!(
        to_execnet >= 60,
        "only {to_execnet} values checked Rust -> execnet"
    );
    eprintln!(
        "checked {from_execnet} values execnet -> Rust and {to_execnet} Rust -> execnet \
         ({known_dump_bug} ints below -2^31 only Rust -> execnet)"
    );
}

// ---------------------------------------------------------------------------
// (b) a worker bootstrapped from execnet's own gateway_base.py

/// Kills the gateway if a test ends (or panics) without terminating it.
struct GwGuard(Option<Gateway>);

impl GwGuard {
    fn gw(&self) -> &Gateway {
        self.0.as_ref().expect("gateway still open")
    }

    async fn terminate(mut self) -> (TerminateOutcome, Option<u32>) {
        let gw = self.0.take().expect("gateway still open");
        let pid = gw.pid();
        (gw.terminate(Duration::from_secs(20)).await, pid)
    }
}

impl Drop for GwGuard {
    fn drop(&mut self) {
        if let Some(gw) = self.0.take() {
            gw.kill();
        }
    }
}

/// The text of the installed execnet's gateway_base.py (never committed here).
fn gateway_base_text(py: &str) -> String {
    let out = Command::new(py)
        .args(["-c", "import execnet.gateway_base as m; print(m.__file__)"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(out.status.success(), "{py} cannot import execnet");
    let path = String::from_utf8(out.stdout).expect("utf-8 path");
    let path = path.trim();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    assert!(
        text.contains("class WorkerGateway") && text.contains("def init_popen_io"),
        "{path} does not look like execnet's gateway_base.py"
    );
    text
}

async fn open_execnet(id: &str) -> Option<GwGuard> {
    let py = common::execnet_python()?;
    let text = gateway_base_text(&py);
    let spec: Spec = format!("popen//python='{py}'//id={id}")
        .parse()
        .expect("spec");
    let opts = GatewayOptions {
        bootstrap: Bootstrap::ExecnetSource(text),
        bootstrap_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let gw = Gateway::open_spec(spec, opts)
        .await
        .unwrap_or_else(|e| panic!("bootstrapping from execnet's gateway_base.py: {e}"));
    let guard = GwGuard(Some(gw));
    // Make sure the worker really is execnet's: its module-level names are in __main__
    // (exec variant), and our stub's entry point is not.
    let ch = guard
        .gw()
        .remote_exec(
            "import __main__ as m\n\
             channel.send((hasattr(m, 'WorkerPool'), hasattr(m, 'Unserializer'),\n\
                           hasattr(m, '_execdeck_serve'), type(channel.gateway).__name__))",
        )
        .await
        .expect("remote_exec");
    let v = ch.receive_timeout(STEP).await.expect("identity reply");
    assert_eq!(
        v.to_string(),
        "(True, True, False, 'WorkerGateway')",
        "the worker is not running execnet's gateway_base.py"
    );
    ch.wait_closed(Some(STEP)).await.expect("identity channel");
    Some(guard)
}

/// Polls STATUS until no task is executing in the worker (the pool forgets a task
/// just after its channel closes).
async fn wait_idle(gw: &Gateway) {
    let deadline = Instant::now() + STEP;
    loop {
        let st = gw.status().await.expect("status");
        if st.get("numexecuting").and_then(Value::as_i64) == Some(0) {
            return;
        }
        assert!(Instant::now() < deadline, "a task never finished: {st}");
        tokio::task::yield_now().await;
    }
}

async fn assert_exits_cleanly(guard: GwGuard) {
    let (outcome, pid) = guard.terminate().await;
    assert_eq!(outcome, TerminateOutcome::Exited(ExitInfo::Code(0)));
    let pid = pid.expect("popen worker pid") as i32;
    assert_eq!(
        common::proc_state(pid),
        None,
        "worker {pid} still exists after terminate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_echoes_values() {
    let Some(guard) = open_execnet("echo").await else {
        return;
    };
    let gw = guard.gw();
    let ch = gw
        .remote_exec(
            "
            for x in channel:
                channel.send(x)
            ",
        )
        .await
        .expect("remote_exec");
    let mut sent = 0;
    for expr in corpus() {
        let v = Value::parse_literal(&expr).expect("corpus literal");
        if contains_int_below_int32(&v) {
            // execnet's dumps cannot send these back (struct.error; see above)
            continue;
        }
        ch.send(&v).await.expect("send");
        let back = ch.receive_timeout(STEP).await.expect("echo");
        assert!(
            same(&back, &v),
            "echo of {} came back as {}",
            short(&expr),
            short(&back.to_string())
        );
        sent += 1;
    }
    assert!(sent >= 60, "only {sent} values echoed");
    // closing our side ends the remote `for` loop and the task closes the channel
    ch.close().await.expect("close");
    ch.wait_closed(Some(STEP))
        .await
        .expect("closed from our side");
    assert!(ch.send(&Value::None).await.is_err(), "sending after close");
    wait_idle(gw).await;
    assert_exits_cleanly(guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_remote_exception() {
    let Some(guard) = open_execnet("raiser").await else {
        return;
    };
    let gw = guard.gw();
    let ch = gw
        .remote_exec(
            "
            def f():
                raise KeyError('k')
            f()
            ",
        )
        .await
        .expect("remote_exec");
    let err = ch
        .receive_timeout(STEP)
        .await
        .expect_err("receive must fail");
    let Error::Remote(remote) = err else {
        panic!("expected Error::Remote, got {err:?}");
    };
    let text = &remote.formatted;
    assert!(
        text.starts_with("Traceback (most recent call last):\n"),
        "{text}"
    );
    assert!(text.contains("in executetask"), "{text}");
    // line 1 of the source is the blank line after the opening quote
    assert!(
        text.contains("File \"<remote exec>\", line 4, in <module>\n"),
        "{text}"
    );
    assert!(
        text.contains("File \"<remote exec>\", line 3, in f\n"),
        "{text}"
    );
    assert!(text.ends_with("KeyError: 'k'\n"), "{text:?}");
    assert_eq!(remote.summary(), "KeyError: 'k'");
    // wait_closed reports the same error
    match ch.wait_closed(Some(STEP)).await {
        Err(Error::Remote(e)) => assert_eq!(e.formatted, *text),
        other => panic!("wait_closed: expected the remote error, got {other:?}"),
    }
    // the gateway survives a failing task
    let ch = gw.remote_exec("channel.send(6 * 7)").await.expect("exec");
    assert_eq!(
        ch.receive_timeout(STEP).await.expect("after error"),
        Value::Int(42)
    );
    assert_exits_cleanly(guard).await;
}

/// execnet's worker answers STATUS without CPU and RSS: the sampler reads them with a
/// small remote_exec instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_metrics() {
    let Some(guard) = open_execnet("metrics").await else {
        return;
    };
    let gw = guard.gw();
    let mut s = execdeck::engine::monitor::Sampler::new(gw.clone());
    s.sample().await.expect("first sample");
    let m = s.sample().await.expect("second sample");
    assert!(m.rss_bytes.expect("rss") > 1 << 20, "{m:?}");
    assert!(m.cpu_percent.is_some(), "{m:?}");
    assert!(m.messages_in_per_s.is_some(), "{m:?}");
    wait_idle(gw).await;
    assert_exits_cleanly(guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_status() {
    let Some(guard) = open_execnet("status").await else {
        return;
    };
    let gw = guard.gw();
    let st = gw.status().await.expect("status");
    let Value::Dict(items) = &st else {
        panic!("status is not a dict: {st}");
    };
    let mut keys: Vec<String> = items.iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["'execmodel'", "'numchannels'", "'numexecuting'"]);
    assert_eq!(st.get("execmodel"), Some(&Value::from("thread")));
    assert!(
        st.get("numchannels").and_then(Value::as_i64).is_some(),
        "{st}"
    );
    assert!(
        st.get("numexecuting").and_then(Value::as_i64).is_some(),
        "{st}"
    );

    // STATUS is answered by the worker's receiver while a task is running
    let busy = gw
        .remote_exec("channel.send('started'); channel.receive()")
        .await
        .expect("exec");
    assert_eq!(
        busy.receive_timeout(STEP).await.expect("started"),
        Value::from("started")
    );
    let st = gw.status().await.expect("status while busy");
    assert_eq!(
        st.get("numexecuting").and_then(Value::as_i64),
        Some(1),
        "{st}"
    );
    assert!(
        st.get("numchannels")
            .and_then(Value::as_i64)
            .is_some_and(|n| n >= 1),
        "{st}"
    );
    assert_eq!(st.get("execmodel"), Some(&Value::from("thread")));

    busy.send(&Value::None).await.expect("release");
    busy.wait_closed(Some(STEP)).await.expect("task done");
    wait_idle(gw).await;
    assert_exits_cleanly(guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_channel_passing() {
    let Some(guard) = open_execnet("passing").await else {
        return;
    };
    let gw = guard.gw();
    let ch = gw
        .remote_exec(
            "
            tag, newch = channel.receive()
            newch.send(('hello on the new channel', tag))
            newch.send(newch.receive() * 2)
            theirs = channel.gateway.newchannel()
            channel.send(('yours', theirs))
            theirs.send('from the worker')
            theirs.send(theirs.receive() + 1)
            ",
        )
        .await
        .expect("remote_exec");

    // a channel we create, passed inside data; the worker answers on it
    let mine = gw.new_channel();
    assert!(
        mine.id() % 2 == 1,
        "master channel ids are odd: {}",
        mine.id()
    );
    ch.send(&Value::Tuple(vec![
        Value::from("take this"),
        Value::Channel(mine.id()),
    ]))
    .await
    .expect("send channel");
    assert_eq!(
        mine.receive_timeout(STEP).await.expect("on our channel"),
        Value::Tuple(vec![
            Value::from("hello on the new channel"),
            Value::from("take this"),
        ])
    );
    mine.send(&Value::from("ab")).await.expect("send on ours");
    assert_eq!(
        mine.receive_timeout(STEP).await.expect("reply on ours"),
        Value::from("abab")
    );

    // a channel the worker creates and passes to us
    let reply = ch.receive_timeout(STEP).await.expect("worker's channel");
    let Value::Tuple(items) = &reply else {
        panic!("expected ('yours', <channel>), got {reply}");
    };
    let [Value::Str(tag), Value::Channel(id)] = items.as_slice() else {
        panic!("expected ('yours', <channel>), got {reply}");
    };
    assert_eq!(tag, "yours");
    assert!(id % 2 == 0, "worker channel ids are even: {id}");
    let theirs = gw.channel(*id);
    assert_eq!(
        theirs
            .receive_timeout(STEP)
            .await
            .expect("on their channel"),
        Value::from("from the worker")
    );
    theirs.send(&Value::Int(41)).await.expect("send on theirs");
    assert_eq!(
        theirs.receive_timeout(STEP).await.expect("reply on theirs"),
        Value::Int(42)
    );

    ch.wait_closed(Some(STEP)).await.expect("task finished");
    // the passed channels were never closed explicitly: execnet closes a channel when
    // its object is garbage collected after the task ends
    for (name, c) in [("ours", &mine), ("theirs", &theirs)] {
        c.wait_closed(Some(STEP))
            .await
            .unwrap_or_else(|e| panic!("{name} channel did not close: {e}"));
        assert_eq!(c.next().await.expect("no more items"), None, "{name}");
    }
    assert_exits_cleanly(guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execnet_worker_facts() {
    let Some(guard) = open_execnet("facts").await else {
        return;
    };
    let gw = guard.gw();
    let facts = gw.facts().await.expect("facts");
    assert_eq!(facts.implementation, "CPython");
    assert!(
        facts.python_version().starts_with("3."),
        "{}",
        facts.python_version()
    );
    assert_eq!(facts.pid, i64::from(gw.pid().expect("pid")));
    assert!(!facts.executable.is_empty());
    assert!(!facts.cwd.is_empty());
    assert_eq!(facts.platform, "linux");
    // the worker's pid is alive until terminate
    let pid = gw.pid().expect("pid") as i32;
    assert!(common::proc_state(pid).is_some_and(|s| s != 'Z'));
    assert_exits_cleanly(guard).await;
}

//! Random values mixing Python 2 `str` and `unicode` keys, built on CPython 2.7 and
//! Jython from a fixed seed, arrive exactly as execnet's own loader gives them: the
//! same bytes go through execdeck's decoder and through execnet 2.1's
//! `loads_internal` (the oracle, run in the test venv), and both results are compared
//! in a canonical form (sets sorted, since their order is the hash order).

mod common;

use execdeck::engine::codec::{self, Limits, StrConfig};
use execdeck::engine::{Gateway, Value};
use std::time::Duration;

const SEED: u64 = 12;
const COUNT: usize = 400;

/// Builds `COUNT` random values from the seed; sends each value and then the hex of
/// the very bytes the worker's serializer made of it.
const GENERATE: &str = r#"
import random, binascii
seed, count = channel.receive()
R = random.Random(seed)
f = type(channel).send
dumps = getattr(f, '__func__', f).__globals__['dumps']
ATOMS = ['\xe9', u'\xe9', 'a', u'a', u'\u20ac', '\xff', u'\xff', '', u'', 'ab\xe9',
         u'ab\xe9', 'caf\xc3\xa9', u'caf\xe9', 1, 2, True, False, 1.0, 0.5, None, -3, 2**70]
def atom():
    return R.choice(ATOMS)
# keys from a small pool, so that tuples and frozensets of them collide too
KEYS = ['\xe9', u'\xe9', 'ab\xe9', u'ab\xe9', 'a', 1, True, 0.5, None]
def key(d):
    r = R.random()
    if d > 2 or r < 0.5:
        return R.choice(KEYS) if R.random() < 0.7 else atom()
    n = R.randint(1, 2)
    if r < 0.8:
        return tuple([key(d + 1) for _ in range(n)])
    return frozenset([key(d + 1) for _ in range(n)])
def value(d):
    r = R.random()
    if d > 3 or r < 0.25:
        return atom()
    n = R.randint(0, 6)
    if r < 0.4:
        return [value(d + 1) for _ in range(n)]
    if r < 0.5:
        return tuple([value(d + 1) for _ in range(n)])
    if r < 0.85:
        out = {}
        for _ in range(n):
            out[key(d + 1)] = value(d + 1)
        return out
    if r < 0.95:
        return set([key(d + 1) for _ in range(n)])
    return frozenset([key(d + 1) for _ in range(n)])
for i in range(count):
    v = value(0)
    channel.send(v)
    channel.send(binascii.hexlify(dumps(v)).decode('ascii'))
"#;

/// execnet's loader on each line of hex, printing the canonical form of the value.
const ORACLE: &str = r#"
import sys
from execnet.gateway_base import loads_internal
def canon(x):
    t = type(x)
    if t in (list, tuple):
        return '%s(%s)' % (t.__name__, ','.join(canon(i) for i in x))
    if t is dict:
        return 'dict(%s)' % ','.join(canon(k) + ':' + canon(v) for k, v in x.items())
    if t in (set, frozenset):
        return '%s(%s)' % (t.__name__, ','.join(sorted(canon(i) for i in x)))
    return t.__name__ + ':' + repr(x)
for line in sys.stdin:
    v = loads_internal(bytes.fromhex(line.strip()), None, (True, False))
    sys.stdout.write(canon(v) + '\n')
"#;

/// The same canonical form of a value as execdeck decoded it.
fn canon(v: &Value) -> String {
    let all = |items: &[Value]| items.iter().map(canon).collect::<Vec<_>>();
    match v {
        Value::List(items) => format!("list({})", all(items).join(",")),
        Value::Tuple(items) => format!("tuple({})", all(items).join(",")),
        Value::Dict(items) => format!(
            "dict({})",
            items
                .iter()
                .map(|(k, x)| format!("{}:{}", canon(k), canon(x)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Set(items) | Value::FrozenSet(items) => {
            let mut members = all(items);
            members.sort();
            let name = if matches!(v, Value::Set(_)) {
                "set"
            } else {
                "frozenset"
            };
            format!("{name}({})", members.join(","))
        }
        Value::None => "NoneType:None".into(),
        Value::Bool(_) => format!("bool:{v}"),
        Value::Int(_) | Value::BigInt(_) => format!("int:{v}"),
        Value::Float(_) => format!("float:{v}"),
        Value::Complex(..) => format!("complex:{v}"),
        Value::Str(_) => format!("str:{v}"),
        Value::Bytes(_) => format!("bytes:{v}"),
        Value::Channel(_) => format!("channel:{v}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from the worker"))
        .collect()
}

/// Every Python 2 `str` (bytes) as latin-1 text, the way execnet's default strconfig
/// reads it, with no merging.
fn latin1(v: Value) -> Value {
    let all = |items: Vec<Value>| items.into_iter().map(latin1).collect();
    match v {
        Value::Bytes(b) => Value::Str(b.iter().map(|&c| char::from(c)).collect()),
        Value::List(items) => Value::List(all(items)),
        Value::Tuple(items) => Value::Tuple(all(items)),
        Value::Set(items) => Value::Set(all(items)),
        Value::FrozenSet(items) => Value::FrozenSet(all(items)),
        Value::Dict(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, x)| (latin1(k), latin1(x)))
                .collect(),
        ),
        other => other,
    }
}

async fn differential(python: &str, label: &str) {
    let Some(execnet) = common::execnet_python() else {
        return;
    };
    // Jython takes long to start on a loaded machine
    let gw = Gateway::open(&format!("popen//python={python}//id={label}//timeout=90"))
        .await
        .expect("open");
    struct Kill(Gateway);
    impl Drop for Kill {
        fn drop(&mut self) {
            self.0.kill();
        }
    }
    let gw = Kill(gw);
    let ch = gw.0.remote_exec(GENERATE).await.expect("exec");
    ch.send(&Value::Tuple(vec![
        Value::Int(SEED as i64),
        Value::Int(COUNT as i64),
    ]))
    .await
    .expect("send seed");
    let t = Duration::from_secs(60);
    let mut ours = Vec::new();
    let mut hexes = String::new();
    let mut merged_somewhere = 0;
    for i in 0..COUNT {
        let item = ch.receive_timeout(t).await.expect("value");
        let hex = ch.receive_timeout(t).await.expect("hex");
        let Value::Str(hex) = hex else {
            panic!("item {i}: hex expected, got {hex}")
        };
        // the bytes, decoded here, give what the channel gave
        let bytes = unhex(&hex);
        let again = codec::decode(&bytes, StrConfig::default(), &Limits::default())
            .unwrap_or_else(|e| panic!("item {i}: {e}"));
        assert_eq!(
            codec::encode(&again).ok(),
            codec::encode(&item).ok(),
            "item {i}"
        );
        let plain = codec::decode(
            &bytes,
            StrConfig {
                py2str_as_py3str: false,
                py3str_as_py2str: false,
            },
            &Limits::default(),
        )
        .unwrap_or_else(|e| panic!("item {i}: {e}"));
        // converted without merging, then merged: the merges this value needed
        let mut converted = latin1(plain);
        merged_somewhere += codec::collapse_equal_keys(&mut converted);
        assert_eq!(canon(&converted), canon(&item), "item {i}");
        ours.push(canon(&item));
        hexes.push_str(&hex);
        hexes.push('\n');
    }
    let theirs = common::python_filter(&execnet, ORACLE, hexes);
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(theirs.len(), COUNT);
    let diffs: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .enumerate()
        .filter(|(_, (a, b))| a != *b)
        .map(|(i, (a, b))| format!("item {i}:\n  execdeck {a}\n  execnet  {b}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{label}: {} of {COUNT} differ (seed {SEED}):\n{}",
        diffs.len(),
        diffs[..diffs.len().min(5)].join("\n")
    );
    // the values did mix equal keys (else the test proves little)
    assert!(
        merged_somewhere > 20,
        "{label}: only {merged_somewhere} merges"
    );
    eprintln!("{label}: {COUNT} values, {merged_somewhere} keys merged, 0 differences");
    gw.0.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_2_7_mixed_keys_arrive_as_execnet_loads_them() {
    let Some(py) = common::require(&common::pyenv_python("2.7.18"), "CPython 2.7") else {
        return;
    };
    differential(&py, "py27").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jython_mixed_keys_arrive_as_execnet_loads_them() {
    let Some(py) = common::require("/usr/bin/jython", "Jython") else {
        return;
    };
    differential(&py, "jython").await;
}

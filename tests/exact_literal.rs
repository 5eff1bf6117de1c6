//! Differential test: 10,000 seeded random literals (valid, and mutated into mostly
//! invalid ones) must be accepted or rejected as `ast.literal_eval` of CPython 3.13
//! does, with the same value. One interpreter process answers the whole batch.
//!
//! Differences that are documented, not bugs, are left out of the comparison and
//! counted: values holding a lone surrogate (a Rust `String` cannot) — see the README's
//! literal parser section.

mod common;

use execdeck_engine::Value;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Digits with an underscore between some of them, as the grammar allows.
fn digits(rng: &mut Rng, radix_digits: &str, max: u64) -> String {
    let chars: Vec<char> = radix_digits.chars().collect();
    let n = 1 + rng.below(max);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 && rng.below(5) == 0 {
            s.push('_');
        }
        s.push(chars[rng.below(chars.len() as u64) as usize]);
    }
    s
}

fn number(rng: &mut Rng) -> String {
    let dec = "0123456789";
    match rng.below(9) {
        0 => format!("{}{}", 1 + rng.below(9), digits(rng, dec, 5)),
        1 => rng
            .pick(&[
                "0",
                "00",
                "0_0",
                "1",
                "7",
                "9223372036854775807",
                "9223372036854775808",
            ])
            .into(),
        2 => format!(
            "0{}{}",
            rng.pick(&["x", "X", "x_"]),
            digits(rng, "0123456789abcdefABCDEF", 6)
        ),
        3 => format!("0{}{}", rng.pick(&["o", "O"]), digits(rng, "01234567", 6)),
        4 => format!("0{}{}", rng.pick(&["b", "B"]), digits(rng, "01", 8)),
        5 => format!("{}.{}", digits(rng, dec, 4), digits(rng, dec, 4)),
        6 => format!(
            "{}{}{}{}{}",
            rng.pick(&["", "1", "0", "12_3"]),
            rng.pick(&[".", ".5", ".0_1", ""]),
            rng.pick(&["e", "E"]),
            rng.pick(&["", "+", "-"]),
            digits(rng, dec, 3)
        ),
        7 => format!("{}{}", number_no_imag(rng), rng.pick(&["j", "J"])),
        _ => format!(
            "{}{}{}j",
            number_no_imag(rng),
            rng.pick(&["+", "-", " + ", " - "]),
            digits(rng, dec, 3)
        ),
    }
}

fn number_no_imag(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => digits(rng, "0123456789", 3),
        1 => format!(
            "{}.{}",
            digits(rng, "0123456789", 3),
            digits(rng, "0123456789", 3)
        ),
        _ => format!(
            "{}e{}",
            digits(rng, "123456789", 2),
            digits(rng, "0123456789", 2)
        ),
    }
}

fn string(rng: &mut Rng) -> String {
    let prefix = rng.pick(&["", "", "u", "r", "R", "b", "B", "br", "rb", "Rb", "bR", "U"]);
    let is_bytes = prefix.to_ascii_lowercase().contains('b');
    let quote = rng.pick(&["'", "\"", "'''", "\"\"\""]);
    let mut body = String::new();
    for _ in 0..rng.below(6) {
        let piece = match rng.below(10) {
            0 => rng.pick(&["a", "Z", " ", "0", "_"]).to_string(),
            1 => rng
                .pick(&[
                    "\\n", "\\t", "\\\\", "\\'", "\\\"", "\\a", "\\0", "\\x41", "\\xff", "\\v",
                ])
                .to_string(),
            2 => rng
                .pick(&["\\101", "\\777", "\\8", "\\q", "\\1234", "\\7"])
                .to_string(),
            3 => rng
                .pick(&[
                    "\\u00e9",
                    "\\u2028",
                    "\\U0001f600",
                    "\\U00010000",
                    "\\uabcd",
                ])
                .to_string(),
            4 => rng
                .pick(&[
                    "\\N{BULLET}",
                    "\\N{bullet}",
                    "\\N{LATIN SMALL LETTER E WITH ACUTE}",
                    "\\N{NO SUCH NAME}",
                    "\\N{}",
                ])
                .to_string(),
            5 if !is_bytes => rng.pick(&["é", "漢", "😀", "\u{a0}"]).to_string(),
            _ => rng.pick(&["x", "yz", "-", "{", "'", "\""]).to_string(),
        };
        body.push_str(&piece);
    }
    format!("{prefix}{quote}{body}{quote}")
}

fn scalar(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => rng.pick(&["None", "True", "False"]).into(),
        1 => format!("-{}", number(rng)),
        2 => format!("+{}", number(rng)),
        3 | 4 => number(rng),
        5 => format!("{} {}", string(rng), string(rng)),
        _ => string(rng),
    }
}

fn literal(rng: &mut Rng, depth: u32) -> String {
    if depth > 2 || rng.below(3) == 0 {
        return scalar(rng);
    }
    let n = rng.below(4);
    let items: Vec<String> = (0..n).map(|_| literal(rng, depth + 1)).collect();
    let trailing = if n > 0 && rng.below(3) == 0 { "," } else { "" };
    match rng.below(5) {
        0 => format!("[{}{trailing}]", items.join(", ")),
        1 if n == 1 => format!("({},)", items[0]),
        1 => format!("({}{trailing})", items.join(", ")),
        2 if n == 0 => "set()".into(),
        2 => format!("{{{}{trailing}}}", items.join(", ")),
        _ => {
            let pairs: Vec<String> = items
                .iter()
                .map(|v| format!("{}: {v}", scalar(rng)))
                .collect();
            format!("{{{}{trailing}}}", pairs.join(", "))
        }
    }
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let noise: Vec<char> = "0123456789_.eEjJxXoObB+-'\"\\()[]{},: NuUrR"
        .chars()
        .collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() as u64 + 1) as usize;
        match rng.below(3) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => chars[at] = noise[rng.below(noise.len() as u64) as usize],
            _ => chars.insert(at, noise[rng.below(noise.len() as u64) as usize]),
        }
    }
    chars.into_iter().collect()
}

/// The value in a form both sides can print alike: sets with their members sorted.
fn canon(v: &Value) -> String {
    let join = |items: &[Value]| items.iter().map(canon).collect::<Vec<_>>().join(", ");
    let sorted = |items: &[Value]| {
        let mut c: Vec<String> = items.iter().map(canon).collect();
        c.sort();
        c.join(", ")
    };
    match v {
        Value::List(items) => format!("[{}]", join(items)),
        Value::Tuple(items) if items.len() == 1 => format!("({},)", canon(&items[0])),
        Value::Tuple(items) => format!("({})", join(items)),
        Value::Set(items) => format!("set({{{}}})", sorted(items)),
        Value::FrozenSet(items) => format!("frozenset({{{}}})", sorted(items)),
        Value::Dict(pairs) => {
            let p: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", canon(k), canon(v)))
                .collect();
            format!("{{{}}}", p.join(", "))
        }
        other => other.to_string(),
    }
}

const ORACLE: &str = r#"
import ast, json, sys, warnings
warnings.simplefilter('ignore')
def canon(v):
    t = type(v)
    if t is list: return '[' + ', '.join(canon(x) for x in v) + ']'
    if t is tuple: return '(' + canon(v[0]) + ',)' if len(v) == 1 else '(' + ', '.join(canon(x) for x in v) + ')'
    if t in (set, frozenset): return t.__name__ + '({' + ', '.join(sorted((canon(x) for x in v), key=lambda s: s.encode('utf-8', 'surrogatepass'))) + '})'
    if t is dict: return '{' + ', '.join(canon(k) + ': ' + canon(x) for k, x in v.items()) + '}'
    return repr(v)
out = []
for line in sys.stdin:
    text = json.loads(line)
    try:
        c = canon(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, OverflowError):
        c = 'REJECTED'
    try:
        c.encode('utf-8')
    except UnicodeEncodeError:
        c = 'SURROGATE'
    out.append(json.dumps(c))
sys.stdout.write('\n'.join(out) + '\n')
"#;

#[test]
fn ten_thousand_literals_match_cpython_313_literal_eval() {
    let Some(py) = common::require(
        &common::pyenv_python("3.13.0"),
        "CPython 3.13 (the literal oracle)",
    ) else {
        return;
    };
    let mut rng = Rng(0x5eed_11e7);
    let inputs: Vec<String> = (0..10_000)
        .map(|i| {
            let valid = literal(&mut rng, 0);
            if i % 2 == 0 {
                valid
            } else {
                mutate(&mut rng, &valid)
            }
        })
        .collect();
    let lines: String = inputs
        .iter()
        .map(|s| serde_json::to_string(s).expect("json") + "\n")
        .collect();
    let out = common::python_filter(&py, ORACLE, lines);
    let theirs: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle line"))
        .collect();
    assert_eq!(theirs.len(), inputs.len());
    let (mut accepted, mut rejected, mut skipped) = (0, 0, 0);
    let mut diffs = Vec::new();
    for (text, want) in inputs.iter().zip(&theirs) {
        if want == "SURROGATE" {
            skipped += 1;
            continue;
        }
        let ours = match Value::parse_literal(text) {
            Ok(v) => canon(&v),
            Err(_) => "REJECTED".to_string(),
        };
        if ours == "REJECTED" {
            rejected += 1;
        } else {
            accepted += 1;
        }
        if &ours != want {
            diffs.push(format!("{text:?}: ours {ours} python {want}"));
        }
    }
    eprintln!(
        "literals: {accepted} accepted, {rejected} rejected, {skipped} skipped (lone surrogates)"
    );
    assert!(
        diffs.is_empty(),
        "{} of {} differ, e.g.\n{}",
        diffs.len(),
        inputs.len(),
        diffs[..diffs.len().min(40)].join("\n")
    );
}

#[test]
fn literal_examples_from_issue_12() {
    let ok = |text: &str| Value::parse_literal(text).map(|v| v.to_string());
    assert_eq!(ok(r"'\N{BULLET}'").as_deref(), Ok("'•'"));
    assert_eq!(ok(r"'\N{bullet}'").as_deref(), Ok("'•'"));
    assert_eq!(ok(r"b'\777'").as_deref(), Ok(r"b'\xff'"));
    assert_eq!(ok(r"'\777'").as_deref(), Ok("'ǿ'"));
    assert_eq!(ok("1_0").as_deref(), Ok("10"));
    assert_eq!(ok("-0.0").as_deref(), Ok("-0.0"));
    assert_eq!(ok("rb'\\x' Br'y'").as_deref(), Ok(r"b'\\xy'"));
    let err = Value::parse_literal("[1__0]").expect_err("1__0 is not Python");
    assert_eq!(err.to_string(), "invalid decimal literal (at column 3)");
    let err =
        Value::parse_literal(r"'\N{LATIN SMALL LETTER E WITHACUTE}'").expect_err("no such name");
    assert!(
        err.to_string().contains("unknown Unicode character name"),
        "{err}"
    );
    assert!(Value::parse_literal("ur'x'").is_err());
    assert!(Value::parse_literal("--1").is_err());
    assert!(Value::parse_literal("+[1]").is_err());
}

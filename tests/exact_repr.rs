//! Differential tests: execdeck's `repr` of floats and strings against `repr()` of
//! CPython 3.13 itself, run in the same test. Seeded (reproducible); each batch goes
//! through one interpreter process over a pipe.

mod common;

use execdeck_engine::value::{float_repr, str_repr};

/// A small seeded generator (splitmix64): the same numbers on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
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
}

/// CPython 3.13, or None (with a notice; a failure in strict mode) when it is missing.
fn python313() -> Option<String> {
    common::require(
        &common::pyenv_python("3.13.0"),
        "CPython 3.13 (the repr oracle)",
    )
}

/// Runs `script` in `python` with `input` on stdin; returns stdout's lines.
fn run_python(python: &str, script: &str, input: String) -> Vec<String> {
    common::python_filter(python, script, input)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Compares ours with the oracle's, line by line; panics with the first few differences.
fn assert_same(what: &str, inputs: &[String], ours: &[String], theirs: &[String]) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{what}: the oracle answered a different count"
    );
    let diffs: Vec<String> = (0..ours.len())
        .filter(|&i| ours[i] != theirs[i])
        .map(|i| format!("{}: ours {} python {}", inputs[i], ours[i], theirs[i]))
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} differ, e.g.\n{}",
        diffs.len(),
        ours.len(),
        diffs[..diffs.len().min(20)].join("\n")
    );
}

fn random_float(rng: &mut Rng) -> f64 {
    match rng.below(8) {
        // any bit pattern
        0 | 1 => f64::from_bits(rng.next_u64()),
        // ties: an integer near 2^50..2^53 plus a binary fraction, exactly representable
        2 => {
            let int = (1u64 << (40 + rng.below(13))) + rng.below(1 << 30);
            let frac = [0.5, 0.25, 0.125, 0.375, 0.625, 0.75, 0.875][rng.below(7) as usize];
            let x = int as f64 + frac;
            if rng.below(2) == 0 { -x } else { x }
        }
        // subnormals
        3 => f64::from_bits(rng.below(1 << 52) | (rng.below(2) << 63)),
        // huge and tiny: extreme exponents
        4 => {
            let exp = if rng.below(2) == 0 {
                rng.below(30)
            } else {
                2046 - rng.below(30)
            };
            f64::from_bits((exp << 52) | rng.below(1 << 52) | (rng.below(2) << 63))
        }
        // around the layout thresholds 1e16 and 1e-4, and short decimals
        5 => {
            let base: f64 = [1e16, 1e-4, 1e15, 1e-5, 1.0, 1e22][rng.below(6) as usize];
            f64::from_bits(base.to_bits() + rng.below(2000) - 1000)
        }
        6 => {
            let digits = rng.below(1_000_000) as f64;
            let exp = rng.below(50) as i32 - 25;
            digits * 10f64.powi(exp)
        }
        _ => [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN_POSITIVE,
        ][rng.below(7) as usize],
    }
}

#[test]
fn hundred_thousand_floats_match_cpython_313() {
    let Some(py) = python313() else { return };
    let mut rng = Rng::new(0x5eed_f10a7);
    let floats: Vec<f64> = (0..100_000).map(|_| random_float(&mut rng)).collect();
    let inputs: Vec<String> = floats
        .iter()
        .map(|f| format!("{:016x}", f.to_bits()))
        .collect();
    let script = "import sys, struct\n\
                  out = [repr(struct.unpack('>d', bytes.fromhex(l.strip()))[0]) for l in sys.stdin]\n\
                  sys.stdout.write('\\n'.join(out) + '\\n')";
    let theirs = run_python(&py, script, inputs.join("\n") + "\n");
    let ours: Vec<String> = floats.iter().map(|f| float_repr(*f)).collect();
    assert_same("float repr", &inputs, &ours, &theirs);
}

// the ties are exact binary values: the digits past f64's 17 are the point
#[allow(clippy::excessive_precision)]
#[test]
fn float_repr_examples() {
    assert_eq!(float_repr(1125899906842624.25), "1125899906842624.2");
    assert_eq!(float_repr(-170632959776238.625), "-170632959776238.62");
    assert_eq!(float_repr(-0.0), "-0.0");
    assert_eq!(float_repr(1e16), "1e+16");
    assert_eq!(float_repr(9999999999999998.0), "9999999999999998.0");
    assert_eq!(float_repr(0.0001), "0.0001");
    assert_eq!(float_repr(0.00001), "1e-05");
    assert_eq!(float_repr(f64::NAN), "nan");
    assert_eq!(float_repr(f64::NEG_INFINITY), "-inf");
    assert_eq!(float_repr(5e-324), "5e-324");
    let v = execdeck_engine::Value::List(vec![
        execdeck_engine::Value::Float(1125899906842624.25),
        execdeck_engine::Value::Float(-170632959776238.625),
    ]);
    assert_eq!(v.to_string(), "[1125899906842624.2, -170632959776238.62]");
}

fn random_char(rng: &mut Rng) -> char {
    loop {
        let cp = match rng.below(6) {
            0 => rng.below(0x80) as u32,
            1 => [b'\'', b'"', b'\\', b' '][rng.below(4) as usize] as u32,
            2 => rng.below(0x800) as u32,
            3 => rng.below(0x10000) as u32,
            _ => rng.below(0x110000) as u32,
        };
        if let Some(c) = char::from_u32(cp) {
            return c;
        }
    }
}

#[test]
fn hundred_thousand_strings_match_cpython_313() {
    let Some(py) = python313() else { return };
    let mut rng = Rng::new(0x5eed_5742);
    let strings: Vec<String> = (0..100_000)
        .map(|_| {
            let len = rng.below(9);
            (0..len).map(|_| random_char(&mut rng)).collect()
        })
        .collect();
    let inputs: Vec<String> = strings
        .iter()
        .map(|s| {
            s.chars()
                .map(|c| format!("{:x}", c as u32))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let script = "import sys\n\
                  out = [repr(''.join(chr(int(h, 16)) for h in l.strip().split(',') if h)) for l in sys.stdin]\n\
                  sys.stdout.buffer.write(('\\n'.join(out) + '\\n').encode('utf-8'))";
    let theirs = run_python(&py, script, inputs.join("\n") + "\n");
    let ours: Vec<String> = strings.iter().map(|s| str_repr(s)).collect();
    assert_same("str repr", &inputs, &ours, &theirs);
}

#[test]
fn every_code_point_matches_cpython_313() {
    let Some(py) = python313() else { return };
    let script = "import sys\n\
                  out = [repr(chr(cp)) for cp in range(0x110000) if not 0xd800 <= cp < 0xe000]\n\
                  sys.stdout.buffer.write(('\\n'.join(out) + '\\n').encode('utf-8'))";
    let theirs = run_python(&py, script, String::new());
    let chars: Vec<char> = (0..0x110000u32).filter_map(char::from_u32).collect();
    let inputs: Vec<String> = chars
        .iter()
        .map(|c| format!("U+{:04X}", *c as u32))
        .collect();
    let ours: Vec<String> = chars.iter().map(|c| str_repr(&c.to_string())).collect();
    assert_same("one-character str repr", &inputs, &ours, &theirs);
}

#[test]
fn str_repr_examples() {
    for (s, want) in [
        ("\u{0382}", r"'\u0382'"),
        ("\u{0600}", r"'\u0600'"),
        ("\u{06dd}", r"'\u06dd'"),
        ("\u{e0001}", r"'\U000e0001'"),
        ("\u{ac628}", r"'\U000ac628'"),
        ("it's", "\"it's\""),
        ("'\"", r#"'\'"'"#),
        ("\u{7f}\u{a0}é", r"'\x7f\xa0é'"),
    ] {
        assert_eq!(str_repr(s), want, "{s:?}");
    }
}

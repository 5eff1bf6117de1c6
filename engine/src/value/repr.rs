//! Python's `repr` of values, and the one escaper that turns text into a Python
//! string literal (used for display and for the bootstrap line alike).

use crate::value::data::Value;
use std::fmt::{self, Write as _};

// ---------------------------------------------------------------------------
// repr

/// Python's `repr` of a float: the shortest digits that round-trip (as Rust's `{:e}`
/// finds them), and, where several strings of that length round-trip, the one nearest
/// the exact binary value, ties to even, as CPython's `dtoa` mode 0 picks it; Rust's
/// exact `{:.N e}` rounds the exact binary value that way. Then Python's layout: plain
/// notation for decimal exponents -4..16, else `d.ddde+XX`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (neg, digits, exp) = shortest_nearest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// (negative, significant digits without trailing zeros, decimal exponent of the first
/// digit) of a finite float, chosen as CPython's repr chooses them.
fn shortest_nearest_digits(f: f64) -> (bool, String, i32) {
    let shortest = split_sci(&format!("{f:e}"));
    let n = shortest.1.len();
    if n > 1 {
        // The correctly rounded n-digit string; it round-trips unless the shortest
        // interval is lopsided (at a power of two), where the shortest one stays.
        let nearest_text = format!("{f:.prec$e}", prec = n - 1);
        if nearest_text.parse::<f64>().ok() == Some(f) {
            let nearest = split_sci(&nearest_text);
            if nearest.1.len() <= n {
                return nearest;
            }
        }
    }
    shortest
}

/// Splits Rust's `-1.2345e-7` into (negative, "12345", -7), trailing zeros dropped.
fn split_sci(sci: &str) -> (bool, String, i32) {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let mut digits: String = mant.chars().filter(|c| *c != '.').collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (neg, digits, exp)
}

fn complex_part(f: f64) -> String {
    // Python prints integral complex parts without ".0": (1+2j)
    let r = float_repr(f);
    r.strip_suffix(".0").map(str::to_string).unwrap_or(r)
}

/// Python's repr of a `str`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => push_escape(&mut out, c),
        }
    }
    out.push(quote);
    out
}

/// `\xNN`, `\uNNNN` or `\UNNNNNNNN`: a character as a Python string escape.
fn push_escape(out: &mut String, c: char) {
    let cp = c as u32;
    let _ = if cp < 0x100 {
        write!(out, "\\x{cp:02x}")
    } else if cp < 0x10000 {
        write!(out, "\\u{cp:04x}")
    } else {
        write!(out, "\\U{cp:08x}")
    };
}

/// The one escaper for Python source: an ASCII-only string literal that `eval()` turns
/// back into `s` on Python 2 and 3 alike. It is [`str_repr`] with every remaining
/// non-ASCII character escaped, and a `u` prefix when `s` is not ASCII (so Python 2
/// reads the escapes as characters, not bytes). The bootstrap line and every literal
/// inside it are built with it.
pub fn source_literal(s: &str) -> String {
    let repr = str_repr(s);
    if s.is_ascii() {
        return repr;
    }
    let mut out = String::with_capacity(repr.len() + 16);
    out.push('u');
    for c in repr.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            push_escape(&mut out, c);
        }
    }
    out
}

/// Python's `str.isprintable` for one character, as CPython 3.13 (Unicode 15.1) has
/// it: not printable are the general categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other
/// than the ASCII space. The categories come from `unicode-general-category` (Unicode
/// 16.0); the code points that 16.0 assigned and 15.1 had unassigned (Cn) are in
/// [`UNASSIGNED_IN_15_1`].
pub fn is_printable(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    if c == ' ' {
        return true;
    }
    let printable = !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    );
    printable && !unassigned_in_15_1(c as u32)
}

fn unassigned_in_15_1(cp: u32) -> bool {
    UNASSIGNED_IN_15_1
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Inclusive ranges printable in Unicode 16.0 (the crate's version) but unassigned in
/// Unicode 15.1 (CPython 3.13's `unicodedata.unidata_version`). Generated by comparing
/// `chr(cp).isprintable()` of CPython 3.13.0 with the crate over 0..=0x10FFFF; the test
/// `every_code_point_matches_cpython_313` in `tests/exact_repr.rs` keeps it honest.
const UNASSIGNED_IN_15_1: &[(u32, u32)] = &[
    (0x0897, 0x0897),
    (0x1B4E, 0x1B4F),
    (0x1B7F, 0x1B7F),
    (0x1C89, 0x1C8A),
    (0x2427, 0x2429),
    (0x31E4, 0x31E5),
    (0xA7CB, 0xA7CD),
    (0xA7DA, 0xA7DC),
    (0x105C0, 0x105F3),
    (0x10D40, 0x10D65),
    (0x10D69, 0x10D85),
    (0x10D8E, 0x10D8F),
    (0x10EC2, 0x10EC4),
    (0x10EFC, 0x10EFC),
    (0x11380, 0x11389),
    (0x1138B, 0x1138B),
    (0x1138E, 0x1138E),
    (0x11390, 0x113B5),
    (0x113B7, 0x113C0),
    (0x113C2, 0x113C2),
    (0x113C5, 0x113C5),
    (0x113C7, 0x113CA),
    (0x113CC, 0x113D5),
    (0x113D7, 0x113D8),
    (0x113E1, 0x113E2),
    (0x116D0, 0x116E3),
    (0x11BC0, 0x11BE1),
    (0x11BF0, 0x11BF9),
    (0x11F5A, 0x11F5A),
    (0x13460, 0x143FA),
    (0x16100, 0x16139),
    (0x16D40, 0x16D79),
    (0x18CFF, 0x18CFF),
    (0x1CC00, 0x1CCF9),
    (0x1CD00, 0x1CEB3),
    (0x1E5D0, 0x1E5FA),
    (0x1E5FF, 0x1E5FF),
    (0x1F8B2, 0x1F8BB),
    (0x1F8C0, 0x1F8C1),
    (0x1FA89, 0x1FA89),
    (0x1FA8F, 0x1FA8F),
    (0x1FABE, 0x1FABE),
    (0x1FAC6, 0x1FAC6),
    (0x1FADC, 0x1FADC),
    (0x1FADF, 0x1FADF),
    (0x1FAE9, 0x1FAE9),
    (0x1FBCB, 0x1FBEF),
];

/// Python's repr of a `bytes`.
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote as char);
    out
}

fn write_seq(f: &mut fmt::Formatter<'_>, items: &[Value], open: &str, close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(close)
}

impl fmt::Display for Value {
    /// Formats the value exactly as Python's `repr` would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(s) => f.write_str(s),
            Value::Float(x) => f.write_str(&float_repr(*x)),
            Value::Complex(re, im) => {
                let imag = complex_part(*im);
                if *re == 0.0 && re.is_sign_positive() {
                    write!(f, "{imag}j")
                } else {
                    let sign = if imag.starts_with('-') { "" } else { "+" };
                    write!(f, "({}{sign}{imag}j)", complex_part(*re))
                }
            }
            Value::Bytes(b) => f.write_str(&bytes_repr(b)),
            Value::Str(s) => f.write_str(&str_repr(s)),
            Value::Tuple(items) if items.len() == 1 => write!(f, "({},)", items[0]),
            Value::Tuple(items) => write_seq(f, items, "(", ")"),
            Value::List(items) => write_seq(f, items, "[", "]"),
            Value::Dict(items) => {
                f.write_str("{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Set(items) if items.is_empty() => f.write_str("set()"),
            Value::Set(items) => write_seq(f, items, "{", "}"),
            Value::FrozenSet(items) if items.is_empty() => f.write_str("frozenset()"),
            Value::FrozenSet(items) => write_seq(f, items, "frozenset({", "})"),
            Value::Channel(id) => write!(f, "<Channel id={id} open>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_literal_is_ascii_with_u_prefix_when_needed() {
        assert_eq!(source_literal("plain"), "'plain'");
        assert_eq!(source_literal("it's\n"), "\"it's\\n\"");
        // non-ASCII: escaped, and a u prefix so Python 2 reads characters
        assert_eq!(source_literal("é\u{a0}😀"), "u'\\xe9\\xa0\\U0001f600'");
        assert_eq!(source_literal("\u{2028}ü"), "u'\\u2028\\xfc'");
        for s in ["", "a\\b", "\t\r\0", "ǅ — ünïcode 漢字"] {
            assert!(source_literal(s).is_ascii(), "{s:?}");
        }
    }
}

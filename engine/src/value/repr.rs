//! Python's `repr` of values, and the one escaper that turns text into a Python
//! string literal (used for display and for the bootstrap line alike).

use crate::value::data::Value;
use std::fmt::{self, Write as _};

// ---------------------------------------------------------------------------
// repr

/// Python's `repr` of a float (shortest round-trip digits, Python's exponent rules).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mant, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
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
        let _ = n;
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

/// An approximation of Python's `str.isprintable` for repr: control characters,
/// separators other than space, surrogates, private use and unassigned-looking
/// code points are escaped.
fn is_printable(c: char) -> bool {
    let cp = c as u32;
    if c == ' ' {
        return true;
    }
    if cp < 0x20 || (0x7f..0xa1).contains(&cp) || cp == 0xad {
        return false;
    }
    if c.is_whitespace() {
        return false;
    }
    !matches!(cp,
        0x2028..=0x202e | 0x2060..=0x206f | 0x200b..=0x200f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0xf0000..=0x10ffff | 0xfffe | 0xffff)
}

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

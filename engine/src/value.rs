//! [`Value`]: the Python builtin values that cross the wire, printed as Python's
//! `repr` and parsed from Python literal text.
//!
//! ```
//! use execdeck_engine::Value;
//! let v = Value::parse_literal("{'a': (1, 2.5, b'x', None)}").unwrap();
//! assert_eq!(v.to_string(), "{'a': (1, 2.5, b'x', None)}");
//! ```

use std::fmt::{self, Write as _};

/// A channel reference as it travels inside data (serializer opcode `B`).
pub type ChannelId = i32;

/// A Python value of one of the builtin types execnet's serializer supports.
///
/// Integers that fit in `i64` are [`Value::Int`]; larger ones are [`Value::BigInt`]
/// holding canonical decimal digits (optional leading `-`, no leading zeros), so
/// structural equality matches Python equality for integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    BigInt(String),
    Float(f64),
    Complex(f64, f64),
    Bytes(Vec<u8>),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Insertion-ordered, as Python's dict.
    Dict(Vec<(Value, Value)>),
    /// Kept in the order received (Python's hash order), so re-encoding is exact.
    Set(Vec<Value>),
    FrozenSet(Vec<Value>),
    Channel(ChannelId),
}

impl Value {
    /// Builds an integer value from decimal digits, choosing `Int` or `BigInt`.
    /// Returns `None` if `digits` is not an optionally signed run of ASCII digits.
    pub fn int_from_decimal(digits: &str) -> Option<Value> {
        let (neg, body) = match digits.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, digits.strip_prefix('+').unwrap_or(digits)),
        };
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = body.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        let canon = if neg && trimmed != "0" {
            format!("-{trimmed}")
        } else {
            trimmed.to_string()
        };
        Some(match canon.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(canon),
        })
    }

    /// Python's name of this value's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Channel(_) => "Channel",
        }
    }

    /// Whether Python could use this value as a dict key or set member.
    pub fn is_hashable(&self) -> bool {
        match self {
            Value::List(_) | Value::Dict(_) | Value::Set(_) => false,
            Value::Tuple(items) => items.iter().all(Value::is_hashable),
            _ => true,
        }
    }

    /// The text if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if this is an `Int`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Looks up a `Str` key in a `Dict`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Parses Python literal text (what a user types) into a value.
    pub fn parse_literal(text: &str) -> Result<Value, LiteralError> {
        let mut p = Parser {
            src: text,
            pos: 0,
            depth: 0,
        };
        p.skip_ws();
        let v = p.expr()?;
        p.skip_ws();
        if p.pos != p.src.len() {
            return Err(p.err("unexpected text after the value"));
        }
        Ok(v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}

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
            c => {
                let cp = c as u32;
                let _ = if cp < 0x100 {
                    write!(out, "\\x{cp:02x}")
                } else if cp < 0x10000 {
                    write!(out, "\\u{cp:04x}")
                } else {
                    write!(out, "\\U{cp:08x}")
                };
            }
        }
    }
    out.push(quote);
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

// ---------------------------------------------------------------------------
// literal parser

/// A Python literal that could not be parsed; `offset` is a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for LiteralError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at column {})", self.message, self.offset + 1)
    }
}

impl std::error::Error for LiteralError {}

/// Deepest nesting the literal parser accepts (mirrors the codec's limit).
pub const MAX_LITERAL_DEPTH: usize = 200;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, msg: &str) -> LiteralError {
        LiteralError {
            offset: self.pos,
            message: msg.to_string(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Value, LiteralError> {
        self.skip_ws();
        // a + bj / a - bj complex sums
        let first = self.unary()?;
        self.skip_ws();
        let save = self.pos;
        if let Some(op) = self.peek().filter(|c| *c == '+' || *c == '-') {
            self.pos += 1;
            self.skip_ws();
            let second = self.unary()?;
            let real = match &first {
                Value::Int(i) => Some(*i as f64),
                Value::Float(x) => Some(*x),
                _ => None,
            };
            if let (Some(re), Value::Complex(r2, im)) = (real, &second)
                && *r2 == 0.0
            {
                // Python computes complex(re, 0.0) +/- complex(0.0, im)
                return Ok(if op == '-' {
                    Value::Complex(re - 0.0, 0.0 - *im)
                } else {
                    Value::Complex(re + 0.0, 0.0 + *im)
                });
            }
            self.pos = save;
            return Err(self.err("only 'a+bj' style complex numbers may use + or -"));
        }
        Ok(first)
    }

    fn unary(&mut self) -> Result<Value, LiteralError> {
        self.depth += 1;
        if self.depth > MAX_LITERAL_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Value, LiteralError> {
        self.skip_ws();
        if self.eat('-') {
            self.skip_ws();
            return match self.unary()? {
                Value::Int(i) => Ok(i
                    .checked_neg()
                    .map(Value::Int)
                    .unwrap_or_else(|| Value::BigInt(format!("{}", -(i as i128))))),
                Value::BigInt(s) => Ok(match s.strip_prefix('-') {
                    Some(pos) => Value::int_from_decimal(pos).unwrap_or(Value::BigInt(s)),
                    None => Value::int_from_decimal(&format!("-{s}")).unwrap_or(Value::BigInt(s)),
                }),
                Value::Float(x) => Ok(Value::Float(-x)),
                Value::Complex(r, i) => Ok(Value::Complex(-r, -i)),
                Value::Bool(b) => Ok(Value::Int(-(b as i64))),
                _ => Err(self.err("unary minus needs a number")),
            };
        }
        if self.eat('+') {
            return self.unary();
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Value, LiteralError> {
        self.skip_ws();
        let c = match self.peek() {
            Some(c) => c,
            None => return Err(self.err("expected a value, found end of input")),
        };
        match c {
            '(' | '[' | '{' => {
                self.depth += 1;
                if self.depth > MAX_LITERAL_DEPTH {
                    return Err(self.err("nesting too deep"));
                }
                let v = match c {
                    '(' => self.tuple(),
                    '[' => self.list(),
                    _ => self.dict_or_set(),
                };
                self.depth -= 1;
                v
            }
            '\'' | '"' => self.string(false, false),
            '0'..='9' | '.' => self.number(),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                let word: String = self
                    .rest()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                self.pos += word.len();
                let lower = word.to_ascii_lowercase();
                if matches!(self.peek(), Some('\'' | '"'))
                    && lower.len() <= 2
                    && lower.chars().all(|c| matches!(c, 'b' | 'r' | 'u'))
                {
                    return self.string(lower.contains('b'), lower.contains('r'));
                }
                match word.as_str() {
                    "None" => Ok(Value::None),
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "set" | "frozenset" | "float" | "complex" | "tuple" | "list" | "dict"
                    | "bytes" => {
                        self.depth += 1;
                        if self.depth > MAX_LITERAL_DEPTH {
                            return Err(self.err("nesting too deep"));
                        }
                        let r = self.call(&word);
                        self.depth -= 1;
                        r
                    }
                    _ => {
                        self.pos = start;
                        Err(self.err(&format!(
                            "unknown name '{word}' (only literals are allowed)"
                        )))
                    }
                }
            }
            _ => Err(self.err(&format!("unexpected character {c:?}"))),
        }
    }

    /// `set()`, `frozenset({...})`, `float('nan')`, `complex(1, 2)`, `tuple()`...
    fn call(&mut self, name: &str) -> Result<Value, LiteralError> {
        self.skip_ws();
        if !self.eat('(') {
            return Err(self.err(&format!("expected '(' after {name}")));
        }
        self.skip_ws();
        let mut args = Vec::new();
        while !self.eat(')') {
            args.push(self.expr()?);
            self.skip_ws();
            if !self.eat(',') {
                self.skip_ws();
                if !self.eat(')') {
                    return Err(self.err("expected ',' or ')'"));
                }
                break;
            }
            self.skip_ws();
        }
        let items = |v: &Value| -> Option<Vec<Value>> {
            match v {
                Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => {
                    Some(x.clone())
                }
                Value::Dict(x) => Some(x.iter().map(|(k, _)| k.clone()).collect()),
                _ => None,
            }
        };
        let bad = || self.err(&format!("unsupported arguments to {name}()"));
        match (name, args.as_slice()) {
            ("set", []) => Ok(Value::Set(vec![])),
            ("frozenset", []) => Ok(Value::FrozenSet(vec![])),
            ("tuple", []) => Ok(Value::Tuple(vec![])),
            ("list", []) => Ok(Value::List(vec![])),
            ("dict", []) => Ok(Value::Dict(vec![])),
            ("bytes", []) => Ok(Value::Bytes(vec![])),
            ("set", [a]) => Ok(Value::Set(dedup(items(a).ok_or_else(bad)?))),
            ("frozenset", [a]) => Ok(Value::FrozenSet(dedup(items(a).ok_or_else(bad)?))),
            ("tuple", [a]) => Ok(Value::Tuple(items(a).ok_or_else(bad)?)),
            ("list", [a]) => Ok(Value::List(items(a).ok_or_else(bad)?)),
            ("float", [Value::Str(s)]) => match s.trim().to_ascii_lowercase().as_str() {
                "nan" | "+nan" => Ok(Value::Float(f64::NAN)),
                "-nan" => Ok(Value::Float(-f64::NAN)),
                "inf" | "+inf" | "infinity" => Ok(Value::Float(f64::INFINITY)),
                "-inf" | "-infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
                other => other.parse::<f64>().map(Value::Float).map_err(|_| bad()),
            },
            ("float", [Value::Int(i)]) => Ok(Value::Float(*i as f64)),
            ("float", [Value::Float(x)]) => Ok(Value::Float(*x)),
            ("complex", [a]) | ("complex", [a, Value::Int(0)]) => {
                Ok(Value::Complex(num(a).ok_or_else(bad)?, 0.0))
            }
            ("complex", [a, b]) => Ok(Value::Complex(
                num(a).ok_or_else(bad)?,
                num(b).ok_or_else(bad)?,
            )),
            _ => Err(bad()),
        }
    }

    fn seq_items(&mut self, close: char) -> Result<(Vec<Value>, bool), LiteralError> {
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Ok((items, trailing_comma));
            }
            items.push(self.expr()?);
            self.skip_ws();
            trailing_comma = self.eat(',');
            if !trailing_comma {
                self.skip_ws();
                if self.eat(close) {
                    return Ok((items, false));
                }
                return Err(self.err(&format!("expected ',' or '{close}'")));
            }
        }
    }

    fn tuple(&mut self) -> Result<Value, LiteralError> {
        self.pos += 1;
        let (items, comma) = self.seq_items(')')?;
        if items.len() == 1 && !comma {
            // parenthesised expression
            return Ok(items.into_iter().next().unwrap_or(Value::None));
        }
        Ok(Value::Tuple(items))
    }

    fn list(&mut self) -> Result<Value, LiteralError> {
        self.pos += 1;
        Ok(Value::List(self.seq_items(']')?.0))
    }

    fn dict_or_set(&mut self) -> Result<Value, LiteralError> {
        self.pos += 1;
        self.skip_ws();
        if self.eat('}') {
            return Ok(Value::Dict(vec![]));
        }
        let first_pos = self.pos;
        let first = self.expr()?;
        self.skip_ws();
        if self.eat(':') {
            let mut items: Vec<(Value, Value)> = Vec::new();
            let mut key = first;
            let mut key_pos = first_pos;
            loop {
                if !key.is_hashable() {
                    self.pos = key_pos;
                    return Err(
                        self.err(&format!("unhashable dict key of type {}", key.type_name()))
                    );
                }
                let val = self.expr()?;
                if let Some(slot) = items.iter_mut().find(|(k, _)| keys_equal(k, &key)) {
                    slot.1 = val;
                } else {
                    items.push((key, val));
                }
                self.skip_ws();
                if self.eat('}') {
                    return Ok(Value::Dict(items));
                }
                if !self.eat(',') {
                    return Err(self.err("expected ',' or '}' in dict"));
                }
                self.skip_ws();
                if self.eat('}') {
                    return Ok(Value::Dict(items));
                }
                key_pos = self.pos;
                key = self.expr()?;
                self.skip_ws();
                if !self.eat(':') {
                    return Err(self.err("expected ':' after dict key"));
                }
            }
        }
        let mut items = vec![first];
        loop {
            self.skip_ws();
            if self.eat('}') {
                break;
            }
            if !self.eat(',') {
                return Err(self.err("expected ',' or '}' in set"));
            }
            self.skip_ws();
            if self.eat('}') {
                break;
            }
            items.push(self.expr()?);
        }
        if let Some(bad) = items.iter().find(|v| !v.is_hashable()) {
            return Err(self.err(&format!(
                "unhashable set member of type {}",
                bad.type_name()
            )));
        }
        Ok(Value::Set(dedup(items)))
    }

    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        let rest = self.rest();
        let bytes = rest.as_bytes();
        // hex / octal / binary
        if bytes.len() > 1 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'x' | b'o' | b'b') {
            let radix = match bytes[1] | 0x20 {
                b'x' => 16,
                b'o' => 8,
                _ => 2,
            };
            let body: String = rest[2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            self.pos += 2 + body.len();
            let clean: String = body.chars().filter(|c| *c != '_').collect();
            return match i128::from_str_radix(&clean, radix) {
                Ok(v) => Ok(match i64::try_from(v) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::BigInt(v.to_string()),
                }),
                Err(_) => {
                    self.pos = start;
                    Err(self.err("invalid or too large integer literal"))
                }
            };
        }
        let mut end = 0;
        let mut is_float = false;
        while end < bytes.len() {
            let b = bytes[end];
            if b.is_ascii_digit() || b == b'_' {
                end += 1;
            } else if b == b'.' {
                is_float = true;
                end += 1;
            } else if (b == b'e' || b == b'E') && end > 0 {
                is_float = true;
                end += 1;
                if end < bytes.len() && (bytes[end] == b'+' || bytes[end] == b'-') {
                    end += 1;
                }
            } else {
                break;
            }
        }
        let text: String = rest[..end].chars().filter(|c| *c != '_').collect();
        self.pos += end;
        if self.peek().is_some_and(|c| c == 'j' || c == 'J') {
            self.pos += 1;
            let im: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
            return Ok(Value::Complex(0.0, im));
        }
        if is_float {
            return text
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| LiteralError {
                    offset: start,
                    message: "invalid float literal".into(),
                });
        }
        if text.len() > 1 && text.starts_with('0') && text.bytes().any(|b| b != b'0') {
            return Err(LiteralError {
                offset: start,
                message: "leading zeros in decimal integer literals are not permitted".into(),
            });
        }
        if text.len() > crate::codec::MAX_INT_DIGITS {
            return Err(LiteralError {
                offset: start,
                message: "integer literal has too many digits".into(),
            });
        }
        Value::int_from_decimal(&text).ok_or(LiteralError {
            offset: start,
            message: "invalid integer literal".into(),
        })
    }

    fn string(&mut self, is_bytes: bool, raw: bool) -> Result<Value, LiteralError> {
        let start = self.pos;
        let quote = self.peek().unwrap_or('\'');
        let triple: String = std::iter::repeat_n(quote, 3).collect();
        let is_triple = self.rest().starts_with(&triple);
        self.pos += if is_triple { 3 } else { 1 };
        let mut out: Vec<u8> = Vec::new();
        let mut text = String::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                self.pos = start;
                return Err(self.err("unterminated string literal"));
            }
            if is_triple && rest.starts_with(&triple) {
                self.pos += 3;
                break;
            }
            let c = self.peek().unwrap_or(quote);
            if !is_triple && c == quote {
                self.pos += 1;
                break;
            }
            if !is_triple && c == '\n' {
                return Err(self.err("end of line inside a string literal"));
            }
            self.pos += c.len_utf8();
            if c == '\\' {
                let e = match self.peek() {
                    Some(e) => e,
                    None => continue,
                };
                if raw {
                    push_char(&mut text, &mut out, is_bytes, '\\');
                    push_char(&mut text, &mut out, is_bytes, e);
                    self.pos += e.len_utf8();
                    continue;
                }
                self.pos += e.len_utf8();
                let simple = match e {
                    '\n' => Some(None),
                    '\\' => Some(Some('\\')),
                    '\'' => Some(Some('\'')),
                    '"' => Some(Some('"')),
                    'a' => Some(Some('\x07')),
                    'b' => Some(Some('\x08')),
                    'f' => Some(Some('\x0c')),
                    'n' => Some(Some('\n')),
                    'r' => Some(Some('\r')),
                    't' => Some(Some('\t')),
                    'v' => Some(Some('\x0b')),
                    _ => None,
                };
                if let Some(ch) = simple {
                    if let Some(ch) = ch {
                        push_char(&mut text, &mut out, is_bytes, ch);
                    }
                    continue;
                }
                match e {
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match self.peek().and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    v = v * 8 + d;
                                    self.pos += 1;
                                }
                                None => break,
                            }
                        }
                        self.push_code(&mut text, &mut out, is_bytes, v)?;
                    }
                    'x' => {
                        let v = self.hex_digits(2)?;
                        self.push_code(&mut text, &mut out, is_bytes, v)?;
                    }
                    'u' | 'U' if !is_bytes => {
                        let v = self.hex_digits(if e == 'u' { 4 } else { 8 })?;
                        self.push_code(&mut text, &mut out, is_bytes, v)?;
                    }
                    other => {
                        push_char(&mut text, &mut out, is_bytes, '\\');
                        push_char(&mut text, &mut out, is_bytes, other);
                    }
                }
                continue;
            }
            if is_bytes && !c.is_ascii() {
                return Err(self.err("bytes can only contain ASCII literal characters"));
            }
            push_char(&mut text, &mut out, is_bytes, c);
        }
        // adjacent literals concatenate: 'a' 'b'
        let save = self.pos;
        self.skip_ws();
        let next_is_str = match self.peek() {
            Some('\'' | '"') => Some((false, false)),
            _ => None,
        };
        let mut value = if is_bytes {
            Value::Bytes(out)
        } else {
            Value::Str(text)
        };
        if let Some((b, r)) = next_is_str {
            match (self.string(b, r)?, &mut value) {
                (Value::Str(s2), Value::Str(s)) => s.push_str(&s2),
                _ => return Err(self.err("cannot mix bytes and str literals")),
            }
        } else {
            self.pos = save;
        }
        Ok(value)
    }

    fn hex_digits(&mut self, n: usize) -> Result<u32, LiteralError> {
        let rest = self.rest();
        let digits = rest
            .get(..n)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits {
            Some(d) => {
                self.pos += n;
                u32::from_str_radix(d, 16).map_err(|_| self.err("bad escape"))
            }
            None => Err(self.err(&format!(
                "truncated \\x/\\u escape: expected {n} hex digits"
            ))),
        }
    }

    fn push_code(
        &self,
        text: &mut String,
        out: &mut Vec<u8>,
        is_bytes: bool,
        v: u32,
    ) -> Result<(), LiteralError> {
        if is_bytes {
            if v > 0xff {
                return Err(self.err("byte escape out of range"));
            }
            out.push(v as u8);
        } else {
            match char::from_u32(v) {
                Some(c) => text.push(c),
                None => return Err(self.err("escape is not a valid Unicode scalar value")),
            }
        }
        Ok(())
    }
}

fn push_char(text: &mut String, out: &mut Vec<u8>, is_bytes: bool, c: char) {
    if is_bytes {
        out.push(c as u32 as u8);
    } else {
        text.push(c);
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// Python equality for hashable keys: 1 == 1.0 == True.
fn keys_equal(a: &Value, b: &Value) -> bool {
    match (num_or_bool(a), num_or_bool(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn num_or_bool(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        other => num(other),
    }
}

fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for v in items {
        if !out.iter().any(|o| keys_equal(o, &v)) {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> String {
        Value::parse_literal(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(
            rt("{'a': (1, 2.5, b'x', None)}"),
            "{'a': (1, 2.5, b'x', None)}"
        );
        assert_eq!(rt("(1,)"), "(1,)");
        assert_eq!(rt("()"), "()");
        assert_eq!(rt("set()"), "set()");
        assert_eq!(rt("frozenset({1, 2})"), "frozenset({1, 2})");
        assert_eq!(rt("1e16"), "1e+16");
        assert_eq!(rt("1e15"), "1000000000000000.0");
        assert_eq!(rt("0.0001"), "0.0001");
        assert_eq!(rt("0.00001"), "1e-05");
        assert_eq!(rt("-0.0"), "-0.0");
        assert_eq!(rt("0.1"), "0.1");
        assert_eq!(rt("1.5e300"), "1.5e+300");
        assert_eq!(rt("float('nan')"), "nan");
        assert_eq!(rt("-float('inf')"), "-inf");
        assert_eq!(rt("1+2j"), "(1+2j)");
        assert_eq!(rt("2j"), "2j");
        assert_eq!(rt("1.5-0.5j"), "(1.5-0.5j)");
        assert_eq!(rt("1-0j"), "(1+0j)");
        assert_eq!(rt("-0.0+1j"), "1j");
        assert_eq!(rt("'it''s'"), "'its'");
        assert_eq!(rt("\"it's\""), "\"it's\"");
        assert_eq!(rt("'a\\n\\x00\\u00e9\\U0001F600'"), "'a\\n\\x00é😀'");
        assert_eq!(rt("b'\\xff\\'\"'"), "b'\\xff\\'\"'");
        assert_eq!(rt("99999999999999999999999"), "99999999999999999999999");
        assert_eq!(rt("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(rt("-9223372036854775809"), "-9223372036854775809");
        assert_eq!(rt("0x10"), "16");
        assert_eq!(rt("[1, [2, [3]], {}]"), "[1, [2, [3]], {}]");
        assert_eq!(rt("{1: 'a', 1.0: 'b'}"), "{1: 'b'}");
        assert_eq!(rt("u'x'"), "'x'");
        assert_eq!(rt("r'\\d'"), "'\\\\d'");
    }

    #[test]
    fn literal_errors_name_the_problem() {
        let e = Value::parse_literal("[1, 2").unwrap_err();
        assert!(e.message.contains("expected"), "{e}");
        let e = Value::parse_literal("{[1]: 2}").unwrap_err();
        assert!(e.message.contains("unhashable"), "{e}");
        let e = Value::parse_literal("os.system('x')").unwrap_err();
        assert!(e.message.contains("unknown name 'os'"), "{e}");
        let e = Value::parse_literal("'abc").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
        let e = Value::parse_literal("1 2").unwrap_err();
        assert_eq!(e.offset, 2);
        let deep = "[".repeat(10_000);
        let e = Value::parse_literal(&deep).unwrap_err();
        assert!(e.message.contains("too deep"));
        let minus = format!("{}1", "-".repeat(200_000));
        assert!(
            Value::parse_literal(&minus)
                .unwrap_err()
                .message
                .contains("too deep")
        );
        let calls = format!("{}(){}", "tuple(".repeat(10_000), ")".repeat(10_000));
        assert!(
            Value::parse_literal(&calls)
                .unwrap_err()
                .message
                .contains("too deep")
        );
        assert_eq!(Value::parse_literal("--1").unwrap(), Value::Int(1));
        assert!(Value::parse_literal("").is_err());
        assert!(Value::parse_literal("007").is_err());
    }
}

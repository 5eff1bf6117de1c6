//! The Python literal parser: what a user types (`{'a': (1, 2.5)}`) into a [`Value`].

use crate::value::data::{MAX_INT_DIGITS, Value};
use std::fmt;
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

impl Value {
    /// Parses Python literal text (what a user types) into a value.
    pub fn parse_literal(text: &str) -> Result<Value, LiteralError> {
        parse(text)
    }
}

fn parse(text: &str) -> Result<Value, LiteralError> {
    let mut p = Parser {
        src: text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let mut v = p.expr()?;
    p.skip_ws();
    // a bare tuple, as `eval` reads `1, 2` and `0,`
    if p.peek() == Some(',') {
        let mut items = vec![v];
        while p.eat(',') {
            p.skip_ws();
            if p.pos == p.src.len() {
                break;
            }
            items.push(p.expr()?);
            p.skip_ws();
        }
        v = Value::Tuple(items);
    }
    if p.pos != p.src.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(v)
}

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
        // Python's tokenizer: only these separate tokens (U+00A0 is an error there)
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']);
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
            // `a + bj`: the right side is a plain imaginary number, never signed
            if self.signed_next() {
                self.pos = save;
                return Err(self.err("only 'a+bj' style complex numbers may use + or -"));
            }
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

    /// Whether a sign comes next, maybe inside parentheses: `-(-1)` and `+-1` are not
    /// literals for `ast.literal_eval` (a sign applies to a number constant only).
    fn signed_next(&self) -> bool {
        let rest = self
            .rest()
            .trim_start_matches(['(', ' ', '\t', '\n', '\r', '\x0c']);
        rest.starts_with(['+', '-'])
    }

    fn unary_inner(&mut self) -> Result<Value, LiteralError> {
        self.skip_ws();
        let sign_at = self.pos;
        let sign = if self.eat('-') {
            Some('-')
        } else if self.eat('+') {
            Some('+')
        } else {
            None
        };
        if sign.is_some() {
            self.skip_ws();
            if self.signed_next() {
                return Err(self.err("a sign applies to a number, not to another sign"));
            }
        }
        let value = self.atom()?;
        let numeric = matches!(
            value,
            Value::Int(_) | Value::BigInt(_) | Value::Float(_) | Value::Complex(..)
        );
        if sign.is_some() && !numeric {
            return Err(LiteralError {
                offset: sign_at,
                message: "unary + or - needs a number".into(),
            });
        }
        if sign == Some('-') {
            return match value {
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
                other => Ok(other),
            };
        }
        Ok(value)
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
                if let Some((is_bytes, raw)) = string_prefix(&word)
                    && matches!(self.peek(), Some('\'' | '"'))
                {
                    return self.string(is_bytes, raw);
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

    /// A number token by Python's grammar: `decinteger` (no leading zeros but `0_0`),
    /// `0x`/`0o`/`0b` with single underscores between digits, `pointfloat`,
    /// `exponentfloat`, and any of these but a prefixed integer with a `j` suffix.
    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        let bytes = self.rest().as_bytes();
        let invalid = |offset: usize, what: &str| LiteralError {
            offset,
            message: format!("invalid {what} literal"),
        };
        if bytes.len() > 1 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'x' | b'o' | b'b') {
            let (radix, what) = match bytes[1] | 0x20 {
                b'x' => (16, "hexadecimal"),
                b'o' => (8, "octal"),
                _ => (2, "binary"),
            };
            let end = digit_run(bytes, 2, radix, true).ok_or(invalid(start, what))?;
            if bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                return Err(invalid(start + end, what));
            }
            let clean: String = self.rest()[2..end].chars().filter(|c| *c != '_').collect();
            self.pos += end;
            return match i128::from_str_radix(&clean, radix) {
                Ok(v) => Ok(match i64::try_from(v) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::BigInt(v.to_string()),
                }),
                Err(_) => Err(LiteralError {
                    offset: start,
                    message: "integer literal too large (more than 127 bits)".into(),
                }),
            };
        }
        // digitpart? ("." digitpart?)? exponent?
        let int_end = digit_run(bytes, 0, 10, false);
        let mut end = int_end.unwrap_or(0);
        let mut is_float = false;
        if bytes.get(end) == Some(&b'.') {
            is_float = true;
            end = digit_run(bytes, end + 1, 10, false).unwrap_or(end + 1);
            if int_end.is_none() && end == 1 {
                return Err(self.err("invalid syntax: a lone '.'"));
            }
        } else if int_end.is_none() {
            return Err(invalid(start, "decimal"));
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(bytes.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            end = digit_run(bytes, e, 10, false).ok_or(invalid(start + end, "decimal"))?;
            is_float = true;
        }
        let imaginary = matches!(bytes.get(end), Some(b'j' | b'J'));
        let after = end + usize::from(imaginary);
        if bytes
            .get(after)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            return Err(invalid(
                start + after,
                if imaginary { "imaginary" } else { "decimal" },
            ));
        }
        let text: String = self.rest()[..end].chars().filter(|c| *c != '_').collect();
        self.pos += after;
        if imaginary || is_float {
            let x: f64 = text.parse().map_err(|_| invalid(start, "float"))?;
            return Ok(if imaginary {
                Value::Complex(0.0, x)
            } else {
                Value::Float(x)
            });
        }
        if text.len() > 1 && text.starts_with('0') && text.bytes().any(|b| b != b'0') {
            return Err(LiteralError {
                offset: start,
                message: "leading zeros in decimal integer literals are not permitted".into(),
            });
        }
        if text.len() > MAX_INT_DIGITS {
            return Err(LiteralError {
                offset: start,
                message: "integer literal has too many digits".into(),
            });
        }
        Value::int_from_decimal(&text).ok_or(invalid(start, "decimal"))
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
                        // Python 3.13 takes up to 0o777 (with a SyntaxWarning); in bytes
                        // it keeps the low 8 bits: b'\777' == b'\xff'.
                        let v = if is_bytes { v & 0xff } else { v };
                        self.push_code(&mut text, &mut out, is_bytes, v)?;
                    }
                    'N' if !is_bytes => {
                        let c = self.named_char()?;
                        text.push(c);
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
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let next_is_str = string_prefix(&word)
            .filter(|_| matches!(self.rest()[word.len()..].chars().next(), Some('\'' | '"')));
        if next_is_str.is_some() {
            self.pos += word.len();
        }
        let mut value = if is_bytes {
            Value::Bytes(out)
        } else {
            Value::Str(text)
        };
        if let Some((b, r)) = next_is_str {
            let next_start = self.pos;
            match (self.string(b, r)?, &mut value) {
                (Value::Str(s2), Value::Str(s)) => s.push_str(&s2),
                (Value::Bytes(b2), Value::Bytes(b)) => b.extend_from_slice(&b2),
                _ => {
                    return Err(LiteralError {
                        offset: next_start,
                        message: "cannot mix bytes and nonbytes literals".into(),
                    });
                }
            }
        } else {
            self.pos = save;
        }
        Ok(value)
    }

    /// `{NAME}` after `\N`: the character of that Unicode name or alias, any case.
    fn named_char(&mut self) -> Result<char, LiteralError> {
        let at = self.pos;
        let bad = |message: &str| LiteralError {
            offset: at,
            message: message.into(),
        };
        let rest = self.rest();
        let name = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(name, _)| name)
            .filter(|name| !name.is_empty() && !name.contains(['\'', '"', '\n']))
            .ok_or(bad("malformed \\N character escape"))?;
        // The crate forgives missing or extra spaces in names; Python does not: the
        // name must be the character's own or (when it spells differently) an alias.
        let squeeze = |n: &str| n.replace([' ', '-'], "").to_ascii_uppercase();
        // every name starts with a letter or digit; the crate (4.0) panics on a leading
        // '-' in a debug build (found by fuzz/literal)
        let c = Some(name)
            .filter(|n| n.starts_with(|c: char| c.is_ascii_alphanumeric()))
            .and_then(unicode_names2::character)
            .filter(|c| {
                let own = unicode_names2::name(*c)
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                own.eq_ignore_ascii_case(name) || squeeze(&own) != squeeze(name)
            })
            .ok_or(bad("unknown Unicode character name"))?;
        self.pos += name.len() + 2;
        Ok(c)
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

/// (bytes, raw) of a Python 3 string prefix (`r`, `u`, `b`, `br`, `rb`, any case).
fn string_prefix(word: &str) -> Option<(bool, bool)> {
    match word.to_ascii_lowercase().as_str() {
        "" => Some((false, false)),
        "u" => Some((false, false)),
        "r" => Some((false, true)),
        "b" => Some((true, false)),
        "br" | "rb" => Some((true, true)),
        _ => None,
    }
}

/// The end of `digit (["_"] digit)*` starting at `from` (with `lead_underscore`, as
/// after `0x`: `(["_"] digit)+`), or None when there is no such run.
fn digit_run(bytes: &[u8], from: usize, radix: u32, lead_underscore: bool) -> Option<usize> {
    let is_digit = |i: usize| bytes.get(i).is_some_and(|b| (*b as char).is_digit(radix));
    let mut i = from;
    if lead_underscore && bytes.get(i) == Some(&b'_') && is_digit(i + 1) {
        i += 1;
    }
    if !is_digit(i) {
        return None;
    }
    i += 1;
    loop {
        if is_digit(i) {
            i += 1;
        } else if bytes.get(i) == Some(&b'_') && is_digit(i + 1) {
            i += 2;
        } else {
            return Some(i);
        }
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

    /// Inputs fuzz/literal found (see README "Fuzzing"): each must give a clean error.
    #[test]
    fn fuzz_regressions() {
        // unicode_names2 4.0 underflows on a name starting with '-' (a debug-build panic)
        for text in [r"'\N{-BULLET}'", r"'\N{-}'", r"b'x' '\N{- A}'"] {
            let err = Value::parse_literal(text).expect_err(text);
            assert!(
                err.message.contains("Unicode character name"),
                "{text}: {err}"
            );
        }
        // Python's repr of complex(0, -3) is `-3j`, which reads back as complex(-0.0, -3.0)
        let v = Value::parse_literal("0-3j").expect("complex");
        assert_eq!(v.to_string(), "-3j");
        let back = Value::parse_literal(&v.to_string()).expect("complex");
        assert_eq!((back.to_string(), back == v), ("(-0-3j)".to_string(), true));
    }

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
        // 200,000 signs: an error, not a stack overflow (a sign takes a number only,
        // as for ast.literal_eval, so the second sign already stops it)
        let minus = format!("{}1", "-".repeat(200_000));
        assert!(Value::parse_literal(&minus).is_err());
        let calls = format!("{}(){}", "tuple(".repeat(10_000), ")".repeat(10_000));
        assert!(
            Value::parse_literal(&calls)
                .unwrap_err()
                .message
                .contains("too deep")
        );
        // ast.literal_eval of CPython 3.13 rejects a sign on a sign
        assert!(Value::parse_literal("--1").is_err());
        assert!(Value::parse_literal("").is_err());
        assert!(Value::parse_literal("007").is_err());
    }
}

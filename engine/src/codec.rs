//! execnet's serializer: a stack machine of one-byte opcodes, as `_Serializer` /
//! `Unserializer` in execnet's `gateway_base.py` define it. Each opcode is one ASCII
//! byte followed by its operands (4-byte big-endian ints and lengths, 8-byte big-endian
//! IEEE floats, length-prefixed bytes and text); containers are built from what is on the stack,
//! and `Q` ends a message.
//!
//! Decoding is hardened: any byte sequence yields either a value or a [`DecodeError`]
//! naming what was wrong, within bounded time and memory set by [`Limits`].
//!
//! ```
//! use execdeck_engine::{codec, Value};
//! let bytes = codec::encode(&Value::Tuple(vec![1.into(), "a".into()])).unwrap();
//! assert_eq!(bytes, b"F\x00\x00\x00\x01N\x00\x00\x00\x01a@\x00\x00\x00\x02Q");
//! let back = codec::decode(&bytes, codec::StrConfig::default(), &codec::Limits::default()).unwrap();
//! assert_eq!(back.to_string(), "(1, 'a')");
//! ```

pub use crate::value::MAX_INT_DIGITS;
use crate::value::Value;
/// At its old path: merging keys a string conversion made equal.
pub use crate::value::collapse_equal_keys;
use std::fmt;

/// Hard bounds applied while decoding untrusted bytes.
///
/// A payload that breaks one of them ends only the channel it was sent on (frames are
/// length-delimited, so the reader skips it); the error names the limit and the spec key
/// that raises it.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest frame payload accepted, in bytes (spec key `max_frame=`).
    pub max_frame: usize,
    /// Deepest container nesting (spec key `max_depth=`).
    pub max_depth: usize,
    /// Most items in one container (spec key `max_items=`); a container can never hold
    /// more items than its frame has bytes anyway.
    pub max_container_len: usize,
    /// Most decimal digits in an integer (spec key `max_int_digits=`).
    pub max_int_digits: usize,
    /// Most channel references in one item (spec key `max_channel_refs=`).
    pub max_channel_refs: usize,
    /// Most bytes of items waiting unread on one channel (spec key `max_unread=`);
    /// past it the channel ends with an error naming the limit.
    pub max_unread: usize,
}

/// Default nesting limit: what a CPython peer can serialize under its default recursion
/// limit (deeper values would also strain our own recursive drop and display).
pub const DEFAULT_MAX_DEPTH: usize = 1000;
/// Default integer limit in decimal digits (CPython's own `str()` default is 4,300).
pub const DEFAULT_MAX_INT_DIGITS: usize = 1_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 512 << 20,
            max_depth: DEFAULT_MAX_DEPTH,
            max_container_len: i32::MAX as usize,
            max_int_digits: DEFAULT_MAX_INT_DIGITS,
            max_channel_refs: 1024,
            max_unread: 256 << 20,
        }
    }
}

/// The spec key that raises a limit, named in errors.
pub mod limit_key {
    pub const DEPTH: &str = "max_depth";
    pub const ITEMS: &str = "max_items";
    pub const INT_DIGITS: &str = "max_int_digits";
    pub const FRAME: &str = "max_frame";
    pub const CHANNEL_REFS: &str = "max_channel_refs";
    pub const UNREAD: &str = "max_unread";
}

/// execnet's "strconfig": how Python-2 `str` (`M`) and Python-3 `str` (`N`) decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrConfig {
    /// Decode a Python 2 `str` as text (latin-1) instead of bytes.
    pub py2str_as_py3str: bool,
    /// Decode Python 3 text as bytes instead of text.
    pub py3str_as_py2str: bool,
}

impl Default for StrConfig {
    /// execnet's channel default: `(True, False)`.
    fn default() -> Self {
        StrConfig {
            py2str_as_py3str: true,
            py3str_as_py2str: false,
        }
    }
}

/// A payload that could not be decoded; the message names the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub message: String,
    /// The payload was well-formed as far as read but broke a configured [`Limits`]
    /// bound (or a memory budget): only its channel should end, not the gateway.
    pub limit: bool,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}
impl std::error::Error for DecodeError {}

/// A value that cannot be sent to a Python peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot serialize: {}", self.0)
    }
}
impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------
// encode

/// Encodes one value as an unversioned payload ending in `Q` (what channels carry).
pub fn encode(v: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(16);
    encode_into(v, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `v` (terminated by `Q`) to `out`.
pub fn encode_into(v: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let r = enc(v, out, 0);
    if r.is_err() {
        out.truncate(start);
    }
    r?;
    out.push(b'Q');
    Ok(())
}

fn len4(n: usize, what: &str) -> Result<[u8; 4], EncodeError> {
    i32::try_from(n)
        .map(|n| n.to_be_bytes())
        .map_err(|_| EncodeError(format!("{what} is too long")))
}

fn check_hashable(v: &Value, what: &str) -> Result<(), EncodeError> {
    if v.is_hashable() {
        Ok(())
    } else {
        Err(EncodeError(format!(
            "unhashable {what} of type {}",
            v.type_name()
        )))
    }
}

/// Recursive over containers only; scalars are encoded in [`enc_scalar`] so that each
/// level of nesting costs a small stack frame (1,000 levels fit a 2 MiB debug stack).
fn enc(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    if depth > Limits::default().max_depth {
        return Err(too_deep());
    }
    match v {
        Value::Tuple(items) => {
            for item in items {
                enc(item, out, depth + 1)?;
            }
            out.push(b'@');
            out.extend_from_slice(&len4(items.len(), "tuple")?);
        }
        Value::List(items) => {
            out.push(b'K');
            out.extend_from_slice(&len4(items.len(), "list")?);
            for (i, item) in items.iter().enumerate() {
                out.push(b'F');
                out.extend_from_slice(&len4(i, "list")?);
                enc(item, out, depth + 1)?;
                out.push(b'P');
            }
        }
        Value::Dict(items) => {
            out.push(b'J');
            for (k, val) in items {
                check_hashable(k, "dict key")?;
                enc(k, out, depth + 1)?;
                enc(val, out, depth + 1)?;
                out.push(b'P');
            }
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            for item in items {
                check_hashable(item, "set member")?;
                enc(item, out, depth + 1)?;
            }
            out.push(if matches!(v, Value::Set(_)) {
                b'O'
            } else {
                b'E'
            });
            out.extend_from_slice(&len4(items.len(), "set")?);
        }
        _ => enc_scalar(v, out)?,
    }
    Ok(())
}

#[inline(never)]
fn too_deep() -> EncodeError {
    EncodeError("value is nested too deeply".into())
}

/// Opcode, 4-byte length, data.
fn sized(out: &mut Vec<u8>, op: u8, data: &[u8], what: &str) -> Result<(), EncodeError> {
    out.push(op);
    out.extend_from_slice(&len4(data.len(), what)?);
    out.extend_from_slice(data);
    Ok(())
}

#[inline(never)]
fn enc_scalar(v: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match v {
        Value::None => out.push(b'L'),
        Value::Bool(true) => out.push(b'R'),
        Value::Bool(false) => out.push(b'C'),
        Value::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                out.push(b'F');
                out.extend_from_slice(&small.to_be_bytes());
            }
            Err(_) => sized(out, b'H', i.to_string().as_bytes(), "int")?,
        },
        Value::BigInt(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EncodeError(format!("invalid integer digits {s:?}")));
            }
            if digits.len() > DEFAULT_MAX_INT_DIGITS {
                return Err(EncodeError(format!(
                    "integer has {} digits; more than {DEFAULT_MAX_INT_DIGITS}",
                    digits.len()
                )));
            }
            sized(out, b'H', s.as_bytes(), "int")?;
        }
        Value::Float(x) => {
            out.push(b'D');
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::Complex(re, im) => {
            out.push(b'T');
            out.extend_from_slice(&re.to_be_bytes());
            out.extend_from_slice(&im.to_be_bytes());
        }
        Value::Bytes(b) => sized(out, b'A', b, "bytes")?,
        Value::Str(s) => sized(out, b'N', s.as_bytes(), "string")?,
        Value::Channel(id) => {
            out.push(b'B');
            out.extend_from_slice(&id.to_be_bytes());
        }
        Value::Tuple(_) | Value::List(_) | Value::Dict(_) | Value::Set(_) | Value::FrozenSet(_) => {
            return Err(EncodeError(format!("{} is not a scalar", v.type_name())));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// decode

/// Decodes one payload. Channel references decode to [`Value::Channel`].
pub fn decode(buf: &[u8], cfg: StrConfig, limits: &Limits) -> Result<Value, DecodeError> {
    Decoder {
        buf,
        pos: 0,
        cfg,
        limits,
        channels: None,
        list_slots: 0,
        cost: 0,
        converted: false,
    }
    .run()
}

/// Like [`decode`], also reporting every channel id referenced (opcode `B`).
pub fn decode_with_channels(
    buf: &[u8],
    cfg: StrConfig,
    limits: &Limits,
    channels: &mut Vec<i32>,
) -> Result<Value, DecodeError> {
    Decoder {
        buf,
        pos: 0,
        cfg,
        limits,
        channels: Some(channels),
        list_slots: 0,
        cost: 0,
        converted: false,
    }
    .run()
}

struct Decoder<'a, 'c> {
    buf: &'a [u8],
    pos: usize,
    cfg: StrConfig,
    limits: &'a Limits,
    channels: Option<&'c mut Vec<i32>>,
    /// List slots allocated so far (bounded by the payload size).
    list_slots: usize,
    /// Memory the values decoded so far take, estimated (see [`BUDGET_FACTOR`]).
    cost: usize,
    /// Whether a string changed kind (strconfig): then keys may have become equal.
    converted: bool,
}

/// Decoding one payload may take at most this many times its length in memory (plus
/// [`BUDGET_SLACK`]); a payload that would need more is refused as over a limit. The
/// densest valid payloads (1-byte `None`s, 32 bytes each as a [`Value`]) stay below it.
pub const BUDGET_FACTOR: usize = 40;
/// Memory every payload may take regardless of its length.
pub const BUDGET_SLACK: usize = 1 << 20;

const VALUE_SIZE: usize = std::mem::size_of::<Value>();

/// The decoder's value stack. Scalars, the vast majority, cost one [`Value`]; the
/// nesting depths of the containers on it are kept aside as (index, depth).
#[derive(Default)]
struct Stack {
    vals: Vec<Value>,
    depths: Vec<(usize, usize)>,
}

impl Stack {
    fn len(&self) -> usize {
        self.vals.len()
    }

    fn push(&mut self, v: Value, depth: usize) {
        if depth > 0 {
            self.depths.push((self.vals.len(), depth));
        }
        self.vals.push(v);
    }

    fn pop(&mut self) -> Option<(Value, usize)> {
        let v = self.vals.pop()?;
        let i = self.vals.len();
        let d = match self.depths.last() {
            Some(&(at, d)) if at == i => {
                self.depths.pop();
                d
            }
            _ => 0,
        };
        Some((v, d))
    }

    /// The last `n` values (callers check `n <= len`) and the deepest nesting among them.
    fn take(&mut self, n: usize) -> (Vec<Value>, usize) {
        let start = self.vals.len() - n;
        let mut depth = 0;
        while let Some(&(at, d)) = self.depths.last() {
            if at < start {
                break;
            }
            depth = depth.max(d);
            self.depths.pop();
        }
        let vals = if start == 0 {
            // the whole stack (a top-level container): hand its buffer over, no copy
            let mut all = std::mem::take(&mut self.vals);
            all.shrink_to_fit();
            all
        } else {
            self.vals.drain(start..).collect()
        };
        (vals, depth)
    }

    /// The top value and its depth slot (containers always have one).
    fn top_mut(&mut self) -> Option<(&mut Value, Option<&mut usize>)> {
        let i = self.vals.len().checked_sub(1)?;
        let d = match self.depths.last_mut() {
            Some((at, d)) if *at == i => Some(d),
            _ => None,
        };
        self.vals.last_mut().map(|v| (v, d))
    }
}

impl<'a> Decoder<'a, '_> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset: at,
            message: msg.into(),
            limit: false,
        })
    }

    /// `Err` (from [`Self::over`]) when `n` exceeds `limit`.
    fn cap(
        &self,
        n: usize,
        limit: usize,
        at: usize,
        key: &str,
        what: impl FnOnce() -> String,
    ) -> Result<(), DecodeError> {
        if n > limit {
            return self.over(at, what(), limit, key);
        }
        Ok(())
    }

    /// A broken limit: `what` exceeds `limit`; `key` is the spec key that raises it.
    fn over<T>(&self, at: usize, what: String, limit: usize, key: &str) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset: at,
            message: format!("{what} exceeds the limit of {limit}; raise it with {key}=N"),
            limit: true,
        })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let buf: &'a [u8] = self.buf;
        match buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.err(
                at,
                format!(
                    "truncated payload: {what} needs {n} bytes, {} left",
                    self.buf.len() - at
                ),
            ),
        }
    }

    fn int4(&mut self, what: &str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len4(&mut self, what: &str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.int4(what)?;
        usize::try_from(n).or_else(|_| self.err(at, format!("negative {what} length {n}")))
    }

    fn count(&mut self, what: &str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.len4(what)?;
        let max = self.limits.max_container_len;
        self.cap(n, max, at, limit_key::ITEMS, || {
            format!("{what} of {n} items")
        })?;
        Ok(n)
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8, "float")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    /// Counts `bytes` more of decoded memory against the payload's budget.
    fn charge(&mut self, bytes: usize, at: usize) -> Result<(), DecodeError> {
        self.cost = self.cost.saturating_add(bytes);
        let budget = self
            .buf
            .len()
            .saturating_mul(BUDGET_FACTOR)
            .saturating_add(BUDGET_SLACK);
        if self.cost > budget {
            return Err(DecodeError {
                offset: at,
                message: format!(
                    "decoding a payload of {} bytes would need more than {budget} bytes of memory ({BUDGET_FACTOR} times its size)",
                    self.buf.len()
                ),
                limit: true,
            });
        }
        Ok(())
    }

    fn pop_n(
        &self,
        stack: &mut Stack,
        n: usize,
        at: usize,
    ) -> Result<(Vec<Value>, usize), DecodeError> {
        if stack.len() < n {
            return self.err(
                at,
                format!(
                    "container wants {n} items but the stack has {}",
                    stack.len()
                ),
            );
        }
        Ok(stack.take(n))
    }

    fn check_depth(&self, d: usize, at: usize) -> Result<(), DecodeError> {
        let max = self.limits.max_depth;
        self.cap(d, max, at, limit_key::DEPTH, || {
            format!("nesting of depth {d}")
        })
    }

    fn run(mut self) -> Result<Value, DecodeError> {
        if self.buf.len() > self.limits.max_frame {
            return self.over(
                0,
                format!("payload of {} bytes", self.buf.len()),
                self.limits.max_frame,
                limit_key::FRAME,
            );
        }
        let mut stack = Stack::default();
        loop {
            let at = self.pos;
            let op = match self.buf.get(self.pos) {
                Some(op) => *op,
                None => return self.err(at, "payload ended without STOP ('Q')"),
            };
            self.pos += 1;
            let v: Value = match op {
                b'Q' => {
                    if stack.len() != 1 {
                        return self.err(
                            at,
                            format!("STOP with {} values on the stack (expected 1)", stack.len()),
                        );
                    }
                    if self.pos != self.buf.len() {
                        return self.err(self.pos, "bytes after STOP");
                    }
                    let mut v = stack.pop().map(|e| e.0).unwrap_or(Value::None);
                    if self.converted {
                        collapse_equal_keys(&mut v);
                    }
                    return Ok(v);
                }
                b'L' => Value::None,
                b'R' => Value::Bool(true),
                b'C' => Value::Bool(false),
                b'F' | b'G' => Value::Int(i64::from(self.int4("int")?)),
                b'H' | b'I' => {
                    let n = self.len4("long int")?;
                    if n > self.limits.max_int_digits + 1 {
                        return self.over(
                            at,
                            format!("integer of {n} digits"),
                            self.limits.max_int_digits,
                            limit_key::INT_DIGITS,
                        );
                    }
                    let raw = self.take(n, "long int")?;
                    self.charge(n, at)?;
                    let text = std::str::from_utf8(raw).unwrap_or("");
                    match Value::int_from_decimal(text) {
                        Some(v) => v,
                        None => return self.err(at, "long int is not decimal digits"),
                    }
                }
                b'D' => Value::Float(self.f64()?),
                b'T' => {
                    let re = self.f64()?;
                    Value::Complex(re, self.f64()?)
                }
                b'A' => {
                    let n = self.len4("bytes")?;
                    let raw = self.take(n, "bytes")?;
                    self.charge(n, at)?;
                    Value::Bytes(raw.to_vec())
                }
                b'M' => {
                    let n = self.len4("py2 string")?;
                    let raw = self.take(n, "py2 string")?;
                    self.charge(2 * n, at)?;
                    if self.cfg.py2str_as_py3str {
                        self.converted = true;
                        Value::Str(raw.iter().map(|&b| char::from(b)).collect())
                    } else {
                        Value::Bytes(raw.to_vec())
                    }
                }
                b'N' | b'S' => {
                    let n = self.len4("string")?;
                    let raw = self.take(n, "string")?;
                    self.charge(n, at)?;
                    if op == b'N' && self.cfg.py3str_as_py2str {
                        self.converted = true;
                        Value::Bytes(raw.to_vec())
                    } else {
                        match std::str::from_utf8(raw) {
                            Ok(s) => Value::Str(s.to_string()),
                            Err(_) => return self.err(at, "string is not valid UTF-8"),
                        }
                    }
                }
                b'B' => {
                    let id = self.int4("channel id")?;
                    if let Some(chs) = self.channels.as_deref_mut() {
                        if chs.len() >= self.limits.max_channel_refs {
                            return self.over(
                                at,
                                "more channel references in one item".to_string(),
                                self.limits.max_channel_refs,
                                limit_key::CHANNEL_REFS,
                            );
                        }
                        chs.push(id);
                    }
                    Value::Channel(id)
                }
                b'J' => {
                    self.charge(VALUE_SIZE, at)?;
                    stack.push(Value::Dict(Vec::new()), 1);
                    continue;
                }
                b'K' => {
                    let n = self.count("list")?;
                    // each item needs at least 7 bytes (F index, value, P); count every
                    // list's claim so that many lists cannot add up beyond the payload
                    self.list_slots = self.list_slots.saturating_add(n);
                    if n > (self.buf.len() - self.pos) / 7 + 1
                        || self.list_slots > self.buf.len() / 7 + 1
                    {
                        return self.err(
                            at,
                            format!("list claims {n} items, more than the payload holds"),
                        );
                    }
                    self.charge(VALUE_SIZE * (n + 1), at)?;
                    stack.push(Value::List(vec![Value::None; n]), 1);
                    continue;
                }
                b'@' | b'O' | b'E' => {
                    let n = self.count("tuple/set")?;
                    let (vals, inner) = self.pop_n(&mut stack, n, at)?;
                    let depth = inner + 1;
                    self.check_depth(depth, at)?;
                    self.charge(VALUE_SIZE * (n + 1), at)?;
                    if op != b'@'
                        && let Some(bad) = vals.iter().find(|v| !v.is_hashable())
                    {
                        return self.err(
                            at,
                            format!("unhashable set member of type {}", bad.type_name()),
                        );
                    }
                    let v = match op {
                        b'@' => Value::Tuple(vals),
                        b'O' => Value::Set(vals),
                        _ => Value::FrozenSet(vals),
                    };
                    stack.push(v, depth);
                    continue;
                }
                b'P' => {
                    if stack.len() < 3 {
                        return self.err(at, "not enough items for setitem");
                    }
                    let (val, vd) = stack.pop().unwrap_or((Value::None, 0));
                    let (key, kd) = stack.pop().unwrap_or((Value::None, 0));
                    let depth_ok = vd.max(kd) + 1;
                    self.check_depth(depth_ok, at)?;
                    let max_len = self.limits.max_container_len;
                    let pair = 2 * VALUE_SIZE;
                    self.charge(pair, at)?;
                    match stack.top_mut() {
                        Some((Value::Dict(items), Some(d))) => {
                            if !key.is_hashable() {
                                return self.err(
                                    at,
                                    format!("unhashable dict key of type {}", key.type_name()),
                                );
                            }
                            if items.len() >= max_len {
                                return self.over(
                                    at,
                                    format!("dict of more than {max_len} items"),
                                    max_len,
                                    limit_key::ITEMS,
                                );
                            }
                            items.push((key, val));
                            *d = (*d).max(depth_ok);
                        }
                        Some((Value::List(items), Some(d))) => {
                            let idx = match key {
                                Value::Int(i) => {
                                    usize::try_from(i).ok().filter(|i| *i < items.len())
                                }
                                _ => None,
                            };
                            match idx {
                                Some(i) => items[i] = val,
                                None => return self.err(at, "list index out of range in setitem"),
                            }
                            *d = (*d).max(depth_ok);
                        }
                        _ => return self.err(at, "setitem target is not a dict or list"),
                    }
                    continue;
                }
                other => {
                    return self.err(
                        at,
                        format!(
                            "unknown opcode {:?} - wire protocol corruption?",
                            char::from(other)
                        ),
                    );
                }
            };
            self.charge(VALUE_SIZE, at)?;
            stack.push(v, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> Result<Value, DecodeError> {
        decode(b, StrConfig::default(), &Limits::default())
    }

    #[test]
    fn captured_examples() {
        let cases: &[(&str, &[u8])] = &[
            ("0", b"F\0\0\0\0Q"),
            ("-1", b"F\xff\xff\xff\xffQ"),
            ("2147483648", b"H\0\0\0\x0a2147483648Q"),
            ("True", b"RQ"),
            ("1.5", b"D\x3f\xf8\0\0\0\0\0\0Q"),
            ("'h\u{e9}llo'", b"N\0\0\0\x06h\xc3\xa9lloQ"),
            ("(1, 2)", b"F\0\0\0\x01F\0\0\0\x02@\0\0\0\x02Q"),
            (
                "{'a': 1, 2: None}",
                b"JN\0\0\0\x01aF\0\0\0\x01PF\0\0\0\x02LPQ",
            ),
            (
                "[1, 'a']",
                b"K\0\0\0\x02F\0\0\0\0F\0\0\0\x01PF\0\0\0\x01N\0\0\0\x01aPQ",
            ),
            ("{3}", b"F\0\0\0\x03O\0\0\0\x01Q"),
            ("frozenset()", b"E\0\0\0\0Q"),
            ("()", b"@\0\0\0\0Q"),
        ];
        for (lit, bytes) in cases {
            let v = Value::parse_literal(lit).unwrap();
            assert_eq!(encode(&v).unwrap(), *bytes, "encode {lit}");
            assert_eq!(d(bytes).unwrap(), v, "decode {lit}");
        }
    }

    #[test]
    fn strconfig() {
        let m = b"M\0\0\0\x02\xe9aQ";
        assert_eq!(d(m).unwrap(), Value::Str("éa".into()));
        let raw = StrConfig {
            py2str_as_py3str: false,
            py3str_as_py2str: true,
        };
        assert_eq!(
            decode(m, raw, &Limits::default()).unwrap(),
            Value::Bytes(vec![0xe9, b'a'])
        );
        assert_eq!(
            decode(b"N\0\0\0\x01aQ", raw, &Limits::default()).unwrap(),
            Value::Bytes(b"a".to_vec())
        );
        assert_eq!(d(b"S\0\0\0\x01aQ").unwrap(), Value::Str("a".into()));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let bad: &[(&[u8], &str)] = &[
            (b"", "without STOP"),
            (b"Z", "unknown opcode 'Z'"),
            (b"F\0\0", "truncated"),
            (b"LLQ", "STOP with 2"),
            (b"Q", "STOP with 0"),
            (b"A\xff\xff\xff\xffQ", "negative bytes length"),
            (b"A\x7f\xff\xff\xffQ", "truncated"),
            (b"K\x7f\xff\xff\xffQ", "more than the payload holds"),
            (b"K\0\x10\0\0Q", "more than the payload holds"),
            (b"LLPQ", "not enough items"),
            (b"LLLPQ", "not a dict or list"),
            (b"JK\0\0\0\0LPQ", "unhashable dict key"),
            (b"K\0\0\0\x01F\0\0\0\x05LPQ", "index out of range"),
            (b"@\0\0\0\x03Q", "stack has 0"),
            (b"N\0\0\0\x01\xffQ", "not valid UTF-8"),
            (b"H\0\0\0\x02a1Q", "not decimal"),
            (b"LQL", "bytes after STOP"),
        ];
        for (bytes, want) in bad {
            let e = d(bytes).unwrap_err();
            assert!(e.message.contains(want), "{bytes:?}: got {e}");
        }
        // deep nesting of postfix tuples
        let mut deep = b"L".to_vec();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"@\0\0\0\x01");
        }
        deep.push(b'Q');
        let e = d(&deep).unwrap_err();
        assert!(
            e.limit && e.message.contains("raise it with max_depth="),
            "{e}"
        );
        // deep nesting of prefix dicts
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"JL");
        }
        deep.extend_from_slice(b"L");
        deep.extend(std::iter::repeat_n(b'P', 100_000));
        deep.push(b'Q');
        assert!(d(&deep).is_err());
        // many lists, each within the payload, together far beyond it
        let mut many = Vec::new();
        for _ in 0..2000 {
            many.extend_from_slice(b"K\0\0\x10\0");
        }
        many.push(b'Q');
        assert!(
            d(&many)
                .unwrap_err()
                .message
                .contains("more than the payload holds")
        );
        let v = Value::BigInt("--5".into());
        assert!(encode(&v).is_err());
        // huge int
        let mut big = b"H\0\x10\0\0".to_vec();
        big.extend(std::iter::repeat_n(b'9', 1 << 20));
        big.push(b'Q');
        assert!(d(&big).unwrap_err().message.contains("exceeds the limit"));
    }

    #[test]
    fn encode_refuses_what_python_cannot_load() {
        let v = Value::Dict(vec![(Value::List(vec![]), Value::None)]);
        assert!(encode(&v).unwrap_err().0.contains("unhashable dict key"));
        let v = Value::BigInt("9".repeat(DEFAULT_MAX_INT_DIGITS + 1));
        assert!(encode(&v).unwrap_err().0.contains("digits"));
        let mut v = Value::None;
        for _ in 0..DEFAULT_MAX_DEPTH + 10 {
            v = Value::List(vec![v]);
        }
        assert!(encode(&v).unwrap_err().0.contains("nested too deeply"));
    }
}

#[cfg(test)]
mod collapse_tests {
    use super::*;

    #[test]
    fn py2_str_and_unicode_keys_collapse_last_value_wins() {
        // {'\xe9': 1, u'\xe9': 2} as Python 2 dumps it: M (py2 str) and S (unicode)
        let mut buf = vec![b'J'];
        buf.extend_from_slice(b"M\0\0\0\x01\xe9F\0\0\0\x01P");
        buf.extend_from_slice(b"S\0\0\0\x02\xc3\xa9F\0\0\0\x02P");
        buf.push(b'Q');
        let v = decode(&buf, StrConfig::default(), &Limits::default()).expect("decode");
        assert_eq!(v.to_string(), "{'é': 2}");
        // a set: one member
        let mut buf = b"M\0\0\0\x01\xe9S\0\0\0\x02\xc3\xa9O\0\0\0\x02Q".to_vec();
        let v = decode(&buf, StrConfig::default(), &Limits::default()).expect("decode");
        assert_eq!(v.to_string(), "{'é'}");
        // py2 str kept as bytes (no conversion): bytes and text stay apart
        buf = b"M\0\0\0\x01\xe9S\0\0\0\x02\xc3\xa9E\0\0\0\x02Q".to_vec();
        let cfg = StrConfig {
            py2str_as_py3str: false,
            py3str_as_py2str: false,
        };
        let v = decode(&buf, cfg, &Limits::default()).expect("decode");
        assert_eq!(v.to_string(), "frozenset({b'\\xe9', 'é'})");
    }
}

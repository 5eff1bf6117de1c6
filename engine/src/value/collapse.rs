//! Keys that a string conversion made equal, merged as Python merges them.
//!
//! A Python 2 dict can hold both `"\xe9"` (a byte string) and `u"\xe9"` (text): they
//! are different there. Turned into Python 3 text, both are `'é'`; execnet's loader,
//! which builds real dicts and sets, keeps one: a dict keeps the first key's place and
//! the last value, a set the first member. The same holds for keys that only contain
//! such strings (`('\xe9', 1)` and `(u'\xe9', True)`), and for text turned into bytes
//! the other way. [`collapse_equal_keys`] does that to a decoded value.

use super::data::Value;
use std::collections::HashMap;

/// A hashable value, normalized so that values equal in Python have equal keys
/// (`1 == 1.0 == True`, frozensets in any order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    None,
    /// An integral number (bool, int, integral float or complex) in decimal.
    Int(String),
    /// A non-integral float, by its bits.
    Float(u64),
    Complex(u64, u64),
    Str(String),
    Bytes(Vec<u8>),
    Channel(i32),
    Tuple(Vec<Key>),
    /// Members sorted and unique.
    FrozenSet(Vec<Key>),
}

fn float_key(f: f64) -> Option<Key> {
    if f.is_nan() {
        // two NaN objects are not equal in Python
        return None;
    }
    if f == 0.0 {
        return Some(Key::Int("0".into()));
    }
    if f.is_finite() && f.fract() == 0.0 {
        // Rust prints a float's exact decimal value
        return Some(Key::Int(format!("{f:.0}")));
    }
    Some(Key::Float(f.to_bits()))
}

/// The key of a hashable value; `None` for unhashable ones (lists, dicts, sets) and
/// NaN, which never equal anything else.
fn key(v: &Value) -> Option<Key> {
    Some(match v {
        Value::None => Key::None,
        Value::Bool(b) => Key::Int(u8::from(*b).to_string()),
        Value::Int(i) => Key::Int(i.to_string()),
        Value::BigInt(s) => Key::Int(s.clone()),
        Value::Float(f) => return float_key(*f),
        Value::Complex(re, im) => {
            if *im == 0.0 {
                return float_key(*re);
            }
            if re.is_nan() || im.is_nan() {
                return None;
            }
            // -0.0 and 0.0 are equal
            Key::Complex((re + 0.0).to_bits(), (im + 0.0).to_bits())
        }
        Value::Str(s) => Key::Str(s.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::Channel(id) => Key::Channel(*id),
        Value::Tuple(items) => Key::Tuple(items.iter().map(key).collect::<Option<_>>()?),
        Value::FrozenSet(items) => {
            let mut ks: Vec<Key> = items.iter().map(key).collect::<Option<_>>()?;
            ks.sort_unstable();
            ks.dedup();
            Key::FrozenSet(ks)
        }
        Value::List(_) | Value::Dict(_) | Value::Set(_) => return None,
    })
}

/// Whether a string is inside `v`: only such keys can have become equal.
fn has_text(v: &Value) -> bool {
    match v {
        Value::Str(_) | Value::Bytes(_) => true,
        Value::Tuple(items) | Value::FrozenSet(items) => items.iter().any(has_text),
        _ => false,
    }
}

/// The keys of `items` that some earlier one equals: (index of the first, index).
fn repeats<'v>(items: impl Iterator<Item = &'v Value>) -> Vec<(usize, usize)> {
    let mut first: HashMap<Key, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, v) in items.enumerate() {
        if !has_text(v) {
            continue;
        }
        if let Some(k) = key(v) {
            match first.get(&k) {
                Some(&f) => out.push((f, i)),
                None => {
                    first.insert(k, i);
                }
            }
        }
    }
    out
}

/// Removes the items at `drop` (ascending or not) keeping the order of the rest.
fn remove_at<T>(items: &mut Vec<T>, drop: &[usize]) {
    if drop.is_empty() {
        return;
    }
    let mut keep = vec![true; items.len()];
    for &i in drop {
        keep[i] = false;
    }
    let mut n = 0;
    items.retain(|_| {
        n += 1;
        keep[n - 1]
    });
}

/// Merges dict keys and set members that a string conversion made equal, at any depth
/// (inner values first, as Python builds them), and returns how many merged: a dict
/// keeps the first key's place with the last value, a set its first member.
pub fn collapse_equal_keys(v: &mut Value) -> usize {
    let mut merged = 0;
    match v {
        Value::Dict(items) => {
            for (k, val) in items.iter_mut() {
                merged += collapse_equal_keys(k) + collapse_equal_keys(val);
            }
            if items.len() > 1 {
                let reps = repeats(items.iter().map(|(k, _)| k));
                for &(f, i) in &reps {
                    let val = std::mem::replace(&mut items[i].1, Value::None);
                    items[f].1 = val;
                }
                let drop: Vec<usize> = reps.iter().map(|r| r.1).collect();
                remove_at(items, &drop);
                merged += drop.len();
            }
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            for item in items.iter_mut() {
                merged += collapse_equal_keys(item);
            }
            if items.len() > 1 {
                let drop: Vec<usize> = repeats(items.iter()).iter().map(|r| r.1).collect();
                remove_at(items, &drop);
                merged += drop.len();
            }
        }
        Value::List(items) | Value::Tuple(items) => {
            for item in items {
                merged += collapse_equal_keys(item);
            }
        }
        _ => {}
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Value {
        Value::parse_literal(s).expect("literal")
    }

    #[test]
    fn keys_holding_equal_strings_collapse_at_any_depth() {
        let mut v = lit(
            "{('é', 1): 'a', ('é', True): 'b', ('é', 1.0, 1+0j): 'c', ('é', 1.0, 1): 'd', \
             frozenset({'x', 'é'}): 1, frozenset({'é', 'x'}): 2, 1: 'int', 1.5: 'f'}",
        );
        assert_eq!(collapse_equal_keys(&mut v), 3);
        assert_eq!(
            v.to_string(),
            "{('é', 1): 'b', ('é', 1.0, (1+0j)): 'd', frozenset({'x', 'é'}): 2, 1: 'int', 1.5: 'f'}"
        );
        // inside set members and dict keys: inner frozensets first
        // (as a Python 2 frozenset({'a', u'a', 'b'}) arrives: two equal members)
        let s = |t: &str| Value::Str(t.into());
        let inner = Value::FrozenSet(vec![s("a"), s("b"), s("a")]);
        let mut v = Value::Set(vec![
            Value::Tuple(vec![inner]),
            lit("(frozenset({'b', 'a'}),)"),
        ]);
        assert_eq!(collapse_equal_keys(&mut v), 2);
        assert_eq!(v.to_string(), "{(frozenset({'a', 'b'}),)}");
        // NaN and unhashable values are never merged; numbers alone never are
        let mut v = lit("[{1: 1, 1.0: 2}, {(float('nan'), 'a'): 1}]");
        assert_eq!(collapse_equal_keys(&mut v), 0);
    }
}

//! The [`Value`] type: the Python builtin values that cross the wire.

/// Python 3.11+'s default limit on decimal digits in an int conversion; more would make
/// the remote `int()` raise, so the codec and the literal parser refuse both ways.
pub const MAX_INT_DIGITS: usize = 4300;

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
}

/// `From` conversions of plain Rust values into the matching Python value.
macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(From::from(v))
            }
        }
    )*};
}

value_from! {
    String => Str,
    i64 => Int,
    i32 => Int,
    bool => Bool,
    f64 => Float,
    Vec<u8> => Bytes,
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}

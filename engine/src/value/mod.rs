//! [`Value`]: the Python builtin values that cross the wire, printed as Python's
//! `repr` and parsed from Python literal text.
//!
//! ```
//! use execdeck_engine::Value;
//! let v = Value::parse_literal("{'a': (1, 2.5, b'x', None)}").unwrap();
//! assert_eq!(v.to_string(), "{'a': (1, 2.5, b'x', None)}");
//! ```

mod collapse;
mod data;
mod literal;
mod repr;

pub use collapse::collapse_equal_keys;
pub use data::{ChannelId, MAX_INT_DIGITS, Value};
pub use literal::{LiteralError, MAX_LITERAL_DEPTH};
pub use repr::{bytes_repr, float_repr, source_literal, str_repr};

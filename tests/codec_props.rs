//! Property tests: random values survive encode → decode → encode byte for byte and
//! print → parse; random bytes never make the decoder panic.

use execdeck::engine::Value;
use execdeck::engine::codec::{self, Limits, StrConfig};
use proptest::prelude::*;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        "-?[1-9][0-9]{19,60}".prop_map(|s| Value::int_from_decimal(&s).unwrap_or(Value::None)),
        any::<f64>().prop_map(Value::Float),
        (any::<f64>(), any::<f64>()).prop_map(|(a, b)| Value::Complex(a, b)),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        any::<String>().prop_map(Value::Str),
        any::<i32>().prop_map(Value::Channel),
    ]
}

fn hashable() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        any::<String>().prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..10).prop_map(Value::Bytes),
        Just(Value::None),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 200, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Tuple),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec((hashable(), inner), 0..8).prop_map(Value::Dict),
            proptest::collection::vec(hashable(), 0..8).prop_map(Value::Set),
            proptest::collection::vec(hashable(), 0..8).prop_map(Value::FrozenSet),
        ]
    })
}

/// Values whose repr parses back to an equal value (finite floats, no channels, no
/// duplicate set members or dict keys).
fn printable() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        "-?[1-9][0-9]{19,60}".prop_map(|s| Value::int_from_decimal(&s).unwrap_or(Value::None)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        any::<String>().prop_map(Value::Str),
    ];
    leaf.prop_recursive(5, 100, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(any::<String>(), inner, 0..6).prop_map(|m| {
                Value::Dict(m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())
            }),
            proptest::collection::btree_set(any::<i64>(), 0..6)
                .prop_map(|s| Value::Set(s.into_iter().map(Value::Int).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_decode_round_trip(v in value()) {
        let bytes = codec::encode(&v).expect("encodable");
        let back = codec::decode(&bytes, StrConfig::default(), &Limits::default()).expect("decodable");
        prop_assert_eq!(codec::encode(&back).expect("re-encode"), bytes);
    }

    #[test]
    fn repr_parses_back(v in printable()) {
        let text = v.to_string();
        let parsed = Value::parse_literal(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed, v, "{}", text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = codec::decode(&bytes, StrConfig::default(), &Limits::default());
    }

    #[test]
    fn mutated_encodings_never_panic(v in value(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = codec::encode(&v).expect("encodable");
        for (pos, b) in flips {
            let n = bytes.len();
            bytes[pos % n] = b;
        }
        let _ = codec::decode(&bytes, StrConfig::default(), &Limits::default());
    }

    #[test]
    fn random_text_never_panics_the_literal_parser(s in "[\\[\\](){}'\"bru0-9.,:+\\-ejxNoneTrueFalse \\\\]{0,60}") {
        let _ = Value::parse_literal(&s);
    }
}

//! The literal parser: any text gives a value or an error with a column inside the text;
//! an accepted value prints as a literal that parses back to the same value (and the
//! same text, but for complex numbers, as in Python).
#![no_main]

use execdeck_engine::value::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Value::parse_literal(text) {
        Err(e) => {
            assert!(
                e.offset <= text.len(),
                "error offset {} past the end",
                e.offset
            );
            let _ = e.to_string();
        }
        Ok(v) => {
            let shown = v.to_string();
            // nan and inf print as names, not literals (as in Python)
            if shown.contains("nan") || shown.contains("inf") {
                return;
            }
            let back = Value::parse_literal(&shown)
                .unwrap_or_else(|e| panic!("{text:?} gives {shown}, which does not parse: {e}"));
            assert_eq!(back, v, "{text:?}: {shown} parses to another value");
            // Python's own repr of complex(0.0, -3.0) is `-3j`, which reads back as
            // complex(-0.0, -3.0) (`(-0-3j)`): equal values, different text
            if !shown.contains('j') {
                assert_eq!(
                    back.to_string(),
                    shown,
                    "{text:?}: repr does not round-trip"
                );
            }
        }
    }
});

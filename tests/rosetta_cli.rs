//! `execdeck rosetta`: code that starts with '-', and the exit code when a gateway dies.

mod common;

use std::process::Command;

fn rosetta(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_execdeck"))
        .arg("rosetta")
        .args(["-g", &format!("popen//python={}", common::python3())])
        .args(args)
        .output()
        .expect("run execdeck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repr_of(out: &str) -> String {
    let row: serde_json::Value = serde_json::from_str(out.trim()).expect("one json row");
    row["repr"].as_str().unwrap_or("").to_string()
}

#[test]
fn code_may_start_with_a_minus() {
    for args in [
        &["-c", "-7//2", "--json"][..],
        &["--code=-7//2", "--json"],
        &["--code", "-7//2", "--json"],
        &["--json", "-c", "--", "-7//2"],
    ] {
        let (rc, out, err) = rosetta(args);
        assert_eq!(rc, Some(0), "{args:?}: {err}");
        assert_eq!(repr_of(&out), "-4", "{args:?}");
    }
    let (rc, out, err) = rosetta(&["-c", "-0.0", "--json"]);
    assert_eq!(rc, Some(0), "{err}");
    assert_eq!(repr_of(&out), "-0.0");
}

#[test]
fn a_gateway_that_dies_fails_the_run() {
    let (rc, out, _) = rosetta(&["-c", "import os; os._exit(0)", "--json"]);
    assert_eq!(rc, Some(1), "{out}");
    assert!(out.contains("closed"), "{out}");
}

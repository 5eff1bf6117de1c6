//! The engine's files import each other in one direction only: runs
//! `scripts/check_imports.py` (file-level import graph of engine/src) and fails on a
//! cycle, printing it.

#[test]
fn no_import_cycle_among_engine_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("../scripts/check_imports.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(root.join("src"))
        .output()
        .expect("python3 runs scripts/check_imports.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no import cycle"), "{text}");
}

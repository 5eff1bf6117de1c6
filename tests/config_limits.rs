//! Limits from config.toml's `[limits]` apply to every gateway a subcommand opens; a
//! spec's own limit keys win over them.

mod common;

use std::process::Command;

fn exec(config_home: &std::path::Path, spec: &str) -> (bool, String) {
    let out = Command::new(common::bin())
        .env("XDG_CONFIG_HOME", config_home)
        .args(["exec", "-g", spec, "-c", "channel.send(list(range(5000)))"])
        .output()
        .expect("run execdeck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn config_toml_limits_apply_and_spec_keys_win() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join("execdeck")).expect("mkdir");
    std::fs::write(
        home.path().join("execdeck/config.toml"),
        "[limits]\nmax_items = 1000\n",
    )
    .expect("write config");
    let spec = format!("popen//python={}", common::python3());
    let (ok, text) = exec(home.path(), &spec);
    assert!(!ok, "5000 items passed a limit of 1000: {text}");
    assert!(text.contains("max_items"), "{text}");
    assert!(text.contains("1000"), "{text}");
    // the spec's key wins
    let (ok, text) = exec(home.path(), &format!("{spec}//max_items=10000"));
    assert!(ok, "{text}");
    assert!(text.contains("4999]"), "{text}");
    // a bad [limits] is named, and the defaults apply
    std::fs::write(
        home.path().join("execdeck/config.toml"),
        "[limits]\nmax_itmes = 1000\n",
    )
    .expect("write config");
    let (ok, text) = exec(home.path(), &spec);
    assert!(ok, "{text}");
    assert!(text.contains("unknown limit 'max_itmes'"), "{text}");
}

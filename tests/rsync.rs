//! `execdeck rsync` through the real binary to Python 2.7, 3.13 and PyPy gateways:
//! byte-identical trees with modes and symlinks; a second run sends only what changed.

mod common;

use common::{bin, pyenv_python, require};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Every entry under `root`: relative path -> (kind, mode, content or link target).
fn snapshot(root: &Path) -> BTreeMap<String, (char, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            let mode = m.permissions().mode() & 0o7777;
            let v = if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).expect("readlink");
                ('l', 0, t.display().to_string().into_bytes())
            } else if m.is_dir() {
                stack.push(p.clone());
                ('d', mode, Vec::new())
            } else {
                ('f', mode, std::fs::read(&p).expect("read"))
            };
            out.insert(rel, v);
        }
    }
    out
}

fn run(args: &[&str]) -> (Vec<Json>, i32, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("execdeck runs");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON {l:?}: {e}")))
        .collect();
    (
        lines,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rsync_1000_files_to_27_313_pypy_then_only_the_10_changed() {
    let (Some(py27), Some(py313), Some(pypy)) = (
        require(&pyenv_python("2.7.18"), "CPython 2.7"),
        require(&pyenv_python("3.13.0"), "CPython 3.13"),
        require("/usr/bin/pypy3", "PyPy 3"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    for i in 0..1000 {
        let dir = src.join(format!("d{}", i % 10)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i % 50 + 1),
        )
        .expect("write");
    }
    let tool = src.join("tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho tool\n").expect("write");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("d1/e1/f1.txt", src.join("link")).expect("symlink");
    std::fs::set_permissions(
        src.join("d2/e2/f2.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let pythons = [py27, py313, pypy];
    // each gateway in its own directory (chdir=), the same relative --dest
    let specs: Vec<String> = pythons
        .iter()
        .enumerate()
        .map(|(i, py)| {
            let home = tmp.path().join(format!("gw{i}"));
            format!("popen//python={py}//chdir={}//timeout=30", home.display())
        })
        .collect();
    let srcs = src.display().to_string();
    let mut args = vec!["rsync", srcs.as_str(), "--dest", "tree", "--json"];
    for s in &specs {
        args.extend(["-g", s.as_str()]);
    }
    let (first, code, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first.len(), 3, "{first:?}");
    let want = snapshot(&src);
    assert_eq!(want.len(), 1000 + 2 + 10 + 30);
    for (i, r) in first.iter().enumerate() {
        assert_eq!(r["files_sent"].as_u64(), Some(1001), "{r}");
        let got = snapshot(&tmp.path().join(format!("gw{i}/tree")));
        assert!(got == want, "gateway {i} ({}): tree differs", pythons[i]);
    }

    // change 10 files: five keep their size (only the checksum tells), five grow
    let mut changed_bytes = 0u64;
    for i in 0..10 {
        let p = src
            .join(format!("d{}", i % 10))
            .join(format!("e{}", i % 3))
            .join(format!("f{i}.txt"));
        let mut data = std::fs::read(&p).expect("read");
        if i < 5 {
            data[0] = b'F';
        } else {
            data.extend_from_slice(b"more\n");
        }
        std::fs::write(&p, &data).expect("write");
        changed_bytes += data.len() as u64;
    }
    // an extra file at the destination stays without --delete
    std::fs::write(tmp.path().join("gw0/tree/extra"), "x").expect("write");
    let (second, code, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let want = snapshot(&src);
    for (i, r) in second.iter().enumerate() {
        assert_eq!(r["files_sent"].as_u64(), Some(10), "{r}");
        assert_eq!(r["bytes_sent"].as_u64(), Some(changed_bytes), "{r}");
        assert_eq!(r["files_unchanged"].as_u64(), Some(991), "{r}");
        let mut got = snapshot(&tmp.path().join(format!("gw{i}/tree")));
        if i == 0 {
            assert!(got.remove("extra").is_some(), "kept without --delete");
        }
        assert!(
            got == want,
            "gateway {i}: tree differs after the second run"
        );
    }
    args.push("--delete");
    let (third, code, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(third[0]["deleted"].as_u64(), Some(1), "{}", third[0]);
    assert_eq!(third[0]["bytes_sent"].as_u64(), Some(0));
    assert!(snapshot(&tmp.path().join("gw0/tree")) == want);
}

#[test]
fn rsync_bad_source_is_a_clear_error() {
    let (_, code, err) = run(&["rsync", "/nonexistent-dir", "-g", "popen", "--dest", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent-dir: not a directory"), "{err}");
}

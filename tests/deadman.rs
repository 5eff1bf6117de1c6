//! Dead-man without the GIL (issue 11): a worker stuck in one C call that holds the GIL
//! (`sum(xrange(10**12))`), with a child and a `setsid()` grandchild; `kill -9` or SIGINT
//! of execdeck leaves nothing of it alive (the time it takes is measured by benches/deadman.py).

mod common;

use common::deadman::killed_master_leaves_nothing;

fn popen(py: &str) -> String {
    format!("popen//python={py}")
}

#[test]
fn gil_holder_dies_with_master_cpython_3_13() {
    let Some(py) = common::require(&common::pyenv_python("3.13.0"), "CPython 3.13") else {
        return;
    };
    killed_master_leaves_nothing(&popen(&py), libc::SIGKILL, 20);
    killed_master_leaves_nothing(&popen(&py), libc::SIGINT, 20);
}

#[test]
fn gil_holder_dies_with_master_cpython_2_7() {
    let Some(py) = common::require(&common::pyenv_python("2.7.18"), "CPython 2.7") else {
        return;
    };
    killed_master_leaves_nothing(&popen(&py), libc::SIGKILL, 20);
    killed_master_leaves_nothing(&popen(&py), libc::SIGINT, 20);
}

#[test]
fn gil_holder_dies_with_master_pypy() {
    let Some(py) = common::require("/usr/bin/pypy3", "PyPy 3") else {
        return;
    };
    killed_master_leaves_nothing(&popen(&py), libc::SIGKILL, 20);
    killed_master_leaves_nothing(&popen(&py), libc::SIGINT, 20);
}

#[test]
fn worker_dies_with_master_jython() {
    let Some(py) = common::require("/usr/bin/jython", "Jython") else {
        return;
    };
    let gw = format!("{}//timeout=60", popen(&py));
    killed_master_leaves_nothing(&gw, libc::SIGKILL, 60);
    killed_master_leaves_nothing(&gw, libc::SIGINT, 60);
}

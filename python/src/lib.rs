//! `execdeck._execdeck`: the execdeck engine for Python. The pure-Python package
//! `execdeck` builds execnet's API on these few classes:
//!
//! - `RGroup` / `RGateway`: gateways in a group (ids, `via=` carriers), remote_exec,
//!   status, terminate;
//! - `RChannel`: send, receive, waitclose, close;
//! - `RCallbacks`: the item queue behind channel callbacks;
//! - `dumps` / `loads`: execnet's serializer.
//!
//! All engine work runs on one tokio runtime; Python threads block on it with the GIL
//! released.

mod channel;
mod convert;
mod errors;
mod gateway;

use execdeck_engine::codec::{self, Limits, StrConfig};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::OnceLock;

/// execnet's serialization format version, the first byte of `dumps` output.
const DUMPFORMAT_VERSION: u8 = 2;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The runtime every gateway of this process runs on (built on first use).
pub(crate) fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // One worker: with two, a gateway's reader task and the tasks it wakes bounce
    // between threads, and an echo round trip from Python measured 10-30x slower
    // (on a loaded 2-core machine) than with one.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("execdeck")
        .enable_all()
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot start the execdeck runtime: {e}"
            ))
        })?;
    let rt = RUNTIME.get_or_init(|| rt);
    rt.spawn(async {
        loop {
            tokio::time::sleep(channel::SLICE).await;
            TICK.notify_waiters();
        }
    });
    Ok(rt)
}

/// Notified every [`channel::SLICE`]: a `receive()` without timeout waits for its item
/// or this, then checks for signals (Ctrl+C), without registering a timer per call.
pub(crate) static TICK: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Serializes `obj` as execnet's `dumps` does (versioned).
#[pyfunction]
fn dumps<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let v = convert::to_value(obj)?;
    let mut out = vec![DUMPFORMAT_VERSION];
    codec::encode_into(&v, &mut out).map_err(|e| errors::dump_error(py, &e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

/// Deserializes what `dumps` made (here or in execnet).
#[pyfunction]
#[pyo3(signature = (data, py2str_as_py3str=false, py3str_as_py2str=false))]
fn loads(
    py: Python<'_>,
    data: &[u8],
    py2str_as_py3str: bool,
    py3str_as_py2str: bool,
) -> PyResult<PyObject> {
    let Some((&ver, body)) = data.split_first() else {
        return Err(pyo3::exceptions::PyEOFError::new_err(()));
    };
    if ver != DUMPFORMAT_VERSION {
        return Err(errors::load_error(
            py,
            &format!("wrong dumpformat version {:?}", [ver]),
        ));
    }
    let cfg = StrConfig {
        py2str_as_py3str,
        py3str_as_py2str,
    };
    let v = codec::decode(body, cfg, &Limits::default())
        .map_err(|e| errors::load_error(py, &e.to_string()))?;
    convert::to_py(py, v, None)
}

/// Called at exit after every group was terminated: see `channel::shutdown`.
#[pyfunction]
fn _shutdown() {
    channel::shutdown();
}

#[pymodule]
fn _execdeck(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<gateway::RGroup>()?;
    m.add_class::<gateway::RGateway>()?;
    m.add_class::<channel::RChannel>()?;
    m.add_class::<channel::RCallbacks>()?;
    m.add_function(wrap_pyfunction!(dumps, m)?)?;
    m.add_function(wrap_pyfunction!(loads, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    Ok(())
}

//! Engine errors as the Python exceptions execnet raises. The exception classes live in
//! the pure-Python `execdeck._errors`, so `except execdeck.RemoteError` and
//! `except execnet.RemoteError` (through the switch) catch the same class.

use execdeck_engine::Error;
use pyo3::exceptions::{PyEOFError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

fn make(py: Python<'_>, class: &str, text: &str) -> PyErr {
    let built = py
        .import("execdeck._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((text,)));
    match built {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

pub fn dump_error(py: Python<'_>, text: &str) -> PyErr {
    make(py, "DumpError", text)
}

pub fn load_error(py: Python<'_>, text: &str) -> PyErr {
    make(py, "LoadError", text)
}

pub fn remote_error(py: Python<'_>, text: &str) -> PyErr {
    make(py, "RemoteError", text)
}

pub fn timeout_error(py: Python<'_>, text: &str) -> PyErr {
    make(py, "TimeoutError", text)
}

pub fn host_not_found(py: Python<'_>, text: &str) -> PyErr {
    make(py, "HostNotFound", text)
}

/// What a failed `receive`/`waitclose` raises: the remote traceback as `RemoteError`,
/// an ended channel or gateway as `EOFError`, a timeout as `TimeoutError`.
pub fn receive_error(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Remote(r) => remote_error(py, &r.formatted),
        Error::Timeout(d) => {
            timeout_error(py, &format!("no item after {} seconds", d.as_secs_f64()))
        }
        Error::ChannelClosed { .. } => PyEOFError::new_err(()),
        Error::GatewayClosed { .. } => PyEOFError::new_err(e.to_string()),
        other => remote_error(py, &other.to_string()),
    }
}

/// What a failed `send`/`close`/`remote_exec` raises.
pub fn send_error(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Encode(x) => dump_error(py, &x.to_string()),
        Error::ChannelClosed { .. } | Error::GatewayClosed { .. } | Error::Io(_) => {
            PyOSError::new_err(e.to_string())
        }
        Error::Remote(r) => remote_error(py, &r.formatted),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// What a failed gateway start raises: a bad spec is a `ValueError`; an interpreter
/// that cannot be started or reached is `HostNotFound`, as in execnet.
pub fn open_error(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Spec(s) => PyValueError::new_err(s.to_string()),
        Error::DuplicateId(_) => PyValueError::new_err(e.to_string()),
        Error::Unsupported(m) => PyValueError::new_err(m),
        other => host_not_found(py, &other.to_string()),
    }
}

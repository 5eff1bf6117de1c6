//! Python objects <-> engine [`Value`]s, with execnet's rules: only the builtin types
//! (exact types, no subclasses) cross; anything else is a `DumpError`.

use crate::errors;
use execdeck_engine::Value;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyComplex, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet,
    PyString, PyTuple,
};

/// How deep containers may nest on the way out (a self-containing list would
/// otherwise recurse without end).
const MAX_DEPTH: usize = 1000;

/// Converts `obj` for sending. A `Channel` (any object whose `_rc` is an engine
/// channel) becomes a channel reference.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(obj, 0)
}

fn to_value_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    if depth > MAX_DEPTH {
        return Err(errors::dump_error(
            py,
            &format!("containers nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if obj.is_none() {
        return Ok(Value::None);
    }
    let ty = obj.get_type();
    let items = |it: Bound<'_, PyAny>| -> PyResult<Vec<Value>> {
        let mut v = Vec::new();
        for x in it.try_iter()? {
            v.push(to_value_at(&x?, depth + 1)?);
        }
        Ok(v)
    };
    if ty.is(py.get_type::<PyBool>()) {
        Ok(Value::Bool(obj.is_truthy()?))
    } else if ty.is(py.get_type::<PyInt>()) {
        match obj.extract::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => {
                let digits = obj.str()?.to_string();
                Value::int_from_decimal(&digits)
                    .ok_or_else(|| errors::dump_error(py, &format!("bad integer {digits}")))
            }
        }
    } else if ty.is(py.get_type::<PyFloat>()) {
        Ok(Value::Float(obj.extract::<f64>()?))
    } else if ty.is(py.get_type::<PyString>()) {
        let s = obj.downcast::<PyString>()?;
        match s.to_cow() {
            Ok(t) => Ok(Value::Str(t.to_string())),
            // a lone surrogate cannot travel as UTF-8
            Err(_) => Err(errors::dump_error(
                py,
                "a str with a lone surrogate cannot be serialized",
            )),
        }
    } else if ty.is(py.get_type::<PyBytes>()) {
        Ok(Value::Bytes(obj.downcast::<PyBytes>()?.as_bytes().to_vec()))
    } else if ty.is(py.get_type::<PyTuple>()) {
        Ok(Value::Tuple(items(obj.clone())?))
    } else if ty.is(py.get_type::<PyList>()) {
        Ok(Value::List(items(obj.clone())?))
    } else if ty.is(py.get_type::<PyDict>()) {
        let d = obj.downcast::<PyDict>()?;
        let mut v = Vec::with_capacity(d.len());
        for (k, x) in d.iter() {
            v.push((to_value_at(&k, depth + 1)?, to_value_at(&x, depth + 1)?));
        }
        Ok(Value::Dict(v))
    } else if ty.is(py.get_type::<PySet>()) {
        Ok(Value::Set(items(obj.clone())?))
    } else if ty.is(py.get_type::<PyFrozenSet>()) {
        Ok(Value::FrozenSet(items(obj.clone())?))
    } else if ty.is(py.get_type::<PyComplex>()) {
        let c = obj.downcast::<PyComplex>()?;
        Ok(Value::Complex(c.real(), c.imag()))
    } else if ty.is(py.get_type::<PyByteArray>()) {
        Err(errors::dump_error(
            py,
            "can't serialize <class 'bytearray'>",
        ))
    } else if let Some(id) = channel_id(obj) {
        Ok(Value::Channel(id))
    } else {
        Err(errors::dump_error(
            py,
            &format!("can't serialize {}", ty.repr()?),
        ))
    }
}

/// The engine channel id of a Python `Channel` (our wrapper keeps the engine channel
/// in `_rc`).
fn channel_id(obj: &Bound<'_, PyAny>) -> Option<i32> {
    let rc = obj.getattr(pyo3::intern!(obj.py(), "_rc")).ok()?;
    let rc = rc.downcast::<crate::channel::RChannel>().ok()?;
    Some(rc.get().id())
}

/// Converts a received value. Channel references become Python channels through
/// `channels(id)` (the receiving gateway's factory); without one they are an error.
pub fn to_py(py: Python<'_>, v: Value, channels: Option<&Bound<'_, PyAny>>) -> PyResult<PyObject> {
    Ok(match v {
        Value::None => py.None(),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::BigInt(digits) => py.get_type::<PyInt>().call1((digits,))?.unbind(),
        Value::Float(f) => PyFloat::new(py, f).into_any().unbind(),
        Value::Complex(re, im) => PyComplex::from_doubles(py, re, im).into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, &b).into_any().unbind(),
        Value::Str(s) => PyString::new(py, &s).into_any().unbind(),
        Value::Tuple(items) => {
            let v = seq(py, items, channels)?;
            PyTuple::new(py, v)?.into_any().unbind()
        }
        Value::List(items) => {
            let v = seq(py, items, channels)?;
            PyList::new(py, v)?.into_any().unbind()
        }
        Value::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, x) in pairs {
                d.set_item(to_py(py, k, channels)?, to_py(py, x, channels)?)?;
            }
            d.into_any().unbind()
        }
        Value::Set(items) => {
            let v = seq(py, items, channels)?;
            PySet::new(py, &v)?.into_any().unbind()
        }
        Value::FrozenSet(items) => {
            let v = seq(py, items, channels)?;
            PyFrozenSet::new(py, &v)?.into_any().unbind()
        }
        Value::Channel(id) => match channels {
            Some(f) => f.call1((id,))?.unbind(),
            None => {
                return Err(errors::load_error(
                    py,
                    "a channel reference needs a gateway to load into",
                ));
            }
        },
    })
}

fn seq(
    py: Python<'_>,
    items: Vec<Value>,
    channels: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyObject>> {
    items.into_iter().map(|x| to_py(py, x, channels)).collect()
}

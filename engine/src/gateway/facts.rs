//! Interpreter facts (execnet's `rinfo`): what the worker says about itself.

use crate::error::{Error, Result};
use crate::value::Value;

/// Interpreter facts (execnet's `rinfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub executable: String,
    /// `sys.version_info[:5]`
    pub version_info: Vec<Value>,
    pub platform: String,
    pub cwd: String,
    pub pid: i64,
    /// "CPython", "PyPy", "Jython"...
    pub implementation: String,
    /// The implementation's own version (PyPy's 7.3.11; else the Python version).
    pub implementation_version: String,
}

impl Facts {
    /// Reads the tuple [`FACTS_SOURCE`] sends.
    pub(crate) fn from_reply(v: &Value) -> Result<Facts> {
        let bad = || Error::Protocol(format!("unexpected facts reply: {v}"));
        let Value::Tuple(t) = v else {
            return Err(bad());
        };
        let s = |i: usize| t.get(i).and_then(|x| x.as_str()).map(str::to_string);
        Ok(Facts {
            executable: s(0).ok_or_else(bad)?,
            version_info: match t.get(1) {
                Some(Value::Tuple(vi)) => vi.clone(),
                _ => return Err(bad()),
            },
            platform: s(2).ok_or_else(bad)?,
            cwd: s(3).ok_or_else(bad)?,
            pid: t.get(4).and_then(Value::as_i64).ok_or_else(bad)?,
            implementation: s(5).ok_or_else(bad)?,
            implementation_version: s(6).ok_or_else(bad)?,
        })
    }

    /// E.g. "CPython 3.12.1", "PyPy 7.3.11", "Jython 2.7.3".
    pub fn interpreter(&self) -> String {
        format!("{} {}", self.implementation, self.implementation_version)
    }

    /// E.g. "3.12.1".
    pub fn python_version(&self) -> String {
        self.version_info
            .iter()
            .take(3)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Asks the worker for its facts (one tuple, sent on the exec channel).
pub(crate) const FACTS_SOURCE: &str = r#"import sys, os, platform
impl = platform.python_implementation()
if hasattr(sys, "pypy_version_info"):
    iv = ".".join(str(x) for x in sys.pypy_version_info[:3])
else:
    iv = ".".join(str(x) for x in sys.version_info[:3])
channel.send((u"" + str(sys.executable), tuple(sys.version_info[:5]), u"" + sys.platform,
              u"" + os.getcwd(), os.getpid(), u"" + impl, u"" + iv))
"#;

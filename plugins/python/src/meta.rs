//! The `meta` dict: the frame's metadata entries plus `frame_number` and `timestamp_ns`;
//! what the function changes in it is written back to the emitted frame, within the
//! frame's metadata limits (errors name the key and the limit).

use daqflow_sdk::prelude::*;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::guard::Held;

/// The dict key for the frame number.
pub const FRAME_NUMBER: &str = "frame_number";
/// The dict key for the timestamp (ns since the Unix epoch).
pub const TIMESTAMP: &str = "timestamp_ns";

/// The dict given to Python and the value objects it started with (compared by identity
/// after the call: an untouched entry is not converted back).
pub struct MetaDict<'py> {
    /// The dict.
    pub dict: Bound<'py, PyDict>,
    originals: Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>,
}

/// One change the function made.
pub enum Change {
    /// `meta["frame_number"] = n`.
    FrameNumber(u64),
    /// `meta["timestamp_ns"] = t`.
    Timestamp(u64),
    /// Any other key.
    Set(String, MetaValue),
}

fn header_of(held: &Held) -> (u64, u64, Vec<(String, MetaValue)>) {
    match held {
        Held::Unique(f) => (
            f.frame_number(),
            f.timestamp_ns(),
            f.meta_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ),
        Held::Shared(f) => (
            f.frame_number(),
            f.timestamp_ns(),
            f.meta_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ),
    }
}

/// The dict for `held`.
pub fn to_dict<'py>(py: Python<'py>, held: &Held) -> PyResult<MetaDict<'py>> {
    let (number, ts, entries) = header_of(held);
    let dict = PyDict::new(py);
    let mut originals = Vec::with_capacity(entries.len() + 2);
    let mut put = |k: Bound<'py, PyString>, v: Bound<'py, PyAny>| -> PyResult<()> {
        dict.set_item(&k, &v)?;
        originals.push((k, v));
        Ok(())
    };
    put(
        pyo3::intern!(py, "frame_number").clone(),
        number.into_pyobject(py)?.into_any(),
    )?;
    put(
        pyo3::intern!(py, "timestamp_ns").clone(),
        ts.into_pyobject(py)?.into_any(),
    )?;
    for (k, v) in entries {
        let obj = match v {
            MetaValue::I64(i) => i.into_pyobject(py)?.into_any(),
            MetaValue::F64(x) => x.into_pyobject(py)?.into_any(),
            MetaValue::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
            MetaValue::Str(s) => PyString::new(py, &s).into_any(),
            _ => continue,
        };
        put(PyString::new(py, &k), obj)?;
    }
    Ok(MetaDict { dict, originals })
}

impl MetaDict<'_> {
    /// What the function changed, or an error naming the key and the fix.
    pub fn changes(&self) -> Result<Vec<Change>, String> {
        let mut out = Vec::new();
        for (k, _) in &self.originals {
            match self.dict.get_item(k) {
                Ok(Some(_)) => {}
                _ => {
                    return Err(format!(
                        "meta[{:?}] was deleted; frame metadata entries cannot be removed (set a value instead)",
                        k.to_string_lossy()
                    ));
                }
            }
        }
        if self.dict.len() == self.originals.len()
            && self
                .originals
                .iter()
                .all(|(k, v)| matches!(self.dict.get_item(k), Ok(Some(now)) if now.is(v)))
        {
            return Ok(out);
        }
        for (k, v) in self.dict.iter() {
            if self
                .originals
                .iter()
                .any(|(ok, ov)| ov.is(&v) && PyAnyMethods::eq(ok.as_any(), &k).unwrap_or(false))
            {
                continue;
            }
            let Ok(key) = k.extract::<String>() else {
                return Err(format!(
                    "meta key {} is a {}; keys are str",
                    k.repr().map(|r| r.to_string()).unwrap_or_default(),
                    type_name(&k)
                ));
            };
            let bad = |what: &str| {
                format!(
                    "meta[{key:?}] = {}: {what}",
                    v.repr()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|_| "?".into())
                )
            };
            if key == FRAME_NUMBER || key == TIMESTAMP {
                let n = v
                    .extract::<u64>()
                    .map_err(|_| bad("must be a whole number ≥ 0"))?;
                out.push(if key == FRAME_NUMBER {
                    Change::FrameNumber(n)
                } else {
                    Change::Timestamp(n)
                });
                continue;
            }
            let value = if v.is_instance_of::<PyBool>() {
                MetaValue::Bool(v.extract().map_err(|_| bad("not a bool"))?)
            } else if v.is_instance_of::<PyInt>() {
                MetaValue::I64(
                    v.extract()
                        .map_err(|_| bad("does not fit a 64-bit signed integer"))?,
                )
            } else if v.is_instance_of::<PyFloat>() {
                MetaValue::F64(v.extract().map_err(|_| bad("not a float"))?)
            } else if v.is_instance_of::<PyString>() {
                MetaValue::Str(v.extract().map_err(|_| bad("not a str"))?)
            } else if let Ok(x) = v.call_method0("item") {
                // numpy scalars (np.float32(1.5), np.int64(3)): their Python value.
                if x.is_instance_of::<PyBool>() {
                    MetaValue::Bool(x.extract().map_err(|_| bad("not a bool"))?)
                } else if x.is_instance_of::<PyInt>() {
                    MetaValue::I64(
                        x.extract()
                            .map_err(|_| bad("does not fit a 64-bit signed integer"))?,
                    )
                } else if x.is_instance_of::<PyFloat>() {
                    MetaValue::F64(x.extract().map_err(|_| bad("not a float"))?)
                } else {
                    return Err(bad(&format!(
                        "a {} cannot be frame metadata; use int, float, bool or str",
                        type_name(&v)
                    )));
                }
            } else {
                return Err(bad(&format!(
                    "a {} cannot be frame metadata; use int, float, bool or str (at most 47 bytes)",
                    type_name(&v)
                )));
            };
            out.push(Change::Set(key, value));
        }
        Ok(out)
    }
}

/// Writes `changes` into `frame`.
pub fn apply(frame: &mut FrameMut, changes: Vec<Change>) -> Result<(), PluginError> {
    for c in changes {
        match c {
            Change::FrameNumber(n) => frame.set_frame_number(n),
            Change::Timestamp(t) => frame.set_timestamp_ns(t),
            Change::Set(k, v) => frame
                .set_meta(&k, v)
                .map_err(|e| PluginError::new(format!("meta[{k:?}]: {}", e.message())))?,
        }
    }
    Ok(())
}

/// `type(obj).__name__`.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

//! One Python node (filter or sink): its module, its functions, and the per-frame call —
//! the frame as a numpy array on the pool buffer, `meta` as a dict, the return value, the
//! check that Python kept no reference, and what an exception does.

use daqflow_sdk::prelude::*;
use numpy::{PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::config::{OnError, Settings};
use crate::guard::{self, FrameGuard, Held};
use crate::interp::{self, NodeLog};
use crate::meta;

/// What the function said about the frame.
pub enum Outcome {
    /// Emit this frame (the input, maybe edited, or a copy of it).
    Emit(Frame),
    /// The function returned `False`.
    Drop,
    /// The function raised and `on_error = "skip"`.
    Skipped,
}

/// What the function returned, read while attached.
enum Returned {
    /// `None`, `True`, or the frame's own array: the frame.
    Same,
    /// `False`.
    Drop,
    /// A new array, copied into this pool frame.
    New(FrameMut),
}

/// A loaded script and the node's counters.
pub struct PyNode {
    settings: Settings,
    module: Py<PyAny>,
    function: Py<PyAny>,
    node_log: Py<NodeLog>,
    /// Frames the function raised on (with `on_error = "skip"`).
    skipped: u64,
    /// Frames the function returned `False` for.
    dropped: u64,
    /// Frames Python kept a reference to past the call.
    kept: u64,
    /// The first traceback (kept for the stop summary with `skip`).
    first_error: Option<String>,
}

/// A pipeline error about the script (its traceback).
fn script_error(what: &str, tb: String) -> PluginError {
    PluginError::new(format!("{what}:\n{tb}"))
}

impl PyNode {
    /// Starts the interpreter if needed and runs the script's module code (in a module of
    /// its own per node).
    pub fn load(settings: Settings, ctx: &Context) -> Result<PyNode, PluginError> {
        interp::ensure(settings.venv_path().as_deref()).map_err(PluginError::new)?;
        let path = settings.script_path();
        let path_s = path.display().to_string();
        let modname = format!(
            "daqflow_node_{}",
            ctx.node_name()
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        Python::attach(|py| {
            let node_log = Py::new(py, NodeLog).map_err(|e| PluginError::new(e.to_string()))?;
            interp::enter_node(py, &node_log);
            let module = interp::support(py)
                .and_then(|m| m.getattr("load")?.call1((&path_s, &modname)))
                .map_err(|e| {
                    script_error(&format!("running {path_s}"), interp::format_err(py, &e))
                })?;
            let function = module.getattr(settings.function.as_str()).map_err(|_| {
                PluginError::new(format!(
                    "{path_s} defines no `{}` once run",
                    settings.function
                ))
            })?;
            if !function.is_callable() {
                return Err(PluginError::new(format!(
                    "{path_s}: `{}` is a {}, not a function",
                    settings.function,
                    meta::type_name(&function)
                )));
            }
            Ok(PyNode {
                module: module.unbind(),
                function: function.unbind(),
                node_log,
                settings,
                skipped: 0,
                dropped: 0,
                kept: 0,
                first_error: None,
            })
        })
    }

    /// Calls `setup(args)` if the settings name one.
    pub fn setup(&mut self) -> Result<(), PluginError> {
        let Some(name) = self.settings.setup.clone() else {
            return Ok(());
        };
        let args = daqflow_sdk::serde_json::Value::Object(self.settings.args.clone());
        self.call_once(&name, Some(&args))
    }

    /// Calls `teardown()` if the settings name one, and logs the skip summary.
    pub fn teardown(&mut self) -> Result<(), PluginError> {
        if let Some(first) = &self.first_error {
            log::warn!(
                "{} frame(s) skipped after an exception in `{}` (on_error = \"skip\"); the first:\n{first}",
                self.skipped,
                self.settings.function
            );
        }
        match self.settings.teardown.clone() {
            Some(name) => self.call_once(&name, None),
            None => Ok(()),
        }
    }

    fn call_once(
        &self,
        name: &str,
        args: Option<&daqflow_sdk::serde_json::Value>,
    ) -> Result<(), PluginError> {
        interp::anchor_thread();
        Python::attach(|py| {
            interp::enter_node(py, &self.node_log);
            let r = self.module.bind(py).getattr(name).and_then(|f| match args {
                Some(a) => f.call1((interp::json_to_py(py, a)?,)),
                None => f.call0(),
            });
            r.map(|_| ()).map_err(|e| {
                script_error(
                    &format!("Python raised in `{name}`"),
                    interp::format_err(py, &e),
                )
            })
        })
    }

    /// Runs the function on one frame. `writable`: a filter's frame is made unique first
    /// (copy-on-write when shared) and handed over writable, unless `readonly`.
    pub fn call(
        &mut self,
        frame: Frame,
        filter: bool,
        ctx: &Context,
    ) -> Result<Outcome, PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {}-encoded; the Python node takes raw pixels (put it before compression)",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        let number = frame.frame_number();
        let writable = filter && !self.settings.readonly;
        let held = if writable {
            Held::Unique(frame.into_mut(ctx)?)
        } else {
            Held::Shared(frame)
        };
        interp::anchor_thread();
        let result = Python::attach(|py| -> Result<_, PluginError> {
            interp::enter_node(py, &self.node_log);
            let py_err = |e: PyErr| PluginError::new(interp::format_err(py, &e));
            let m = meta::to_dict(py, &held).map_err(py_err)?;
            let (guard, array) = guard::wrap(py, held, writable).map_err(py_err)?;
            let ret = self.function.bind(py).call1((&array, &m.dict));
            let returned = match ret {
                Ok(r) if !filter => {
                    drop(r);
                    Ok(Returned::Same)
                }
                Ok(r) => returned(py, r, &array, &guard, ctx),
                Err(e) => Err(interp::format_err(py, &e)),
            };
            // The traceback (now dropped) referenced the call's locals; now only our
            // handles and the array's `base` remain, unless Python kept something.
            let changes = match &returned {
                Ok(Returned::Drop) | Err(_) => Vec::new(),
                Ok(_) if filter => m.changes().map_err(PluginError::new)?,
                Ok(_) => Vec::new(),
            };
            // SAFETY: reading the reference counts of two live objects under the lock.
            let kept = unsafe {
                pyo3::ffi::Py_REFCNT(array.as_ptr()) != 1
                    || pyo3::ffi::Py_REFCNT(guard.as_ptr()) != 2
            };
            drop(array);
            let held = if kept {
                self.kept += 1;
                ctx.set_counter("frames_kept_by_python", self.kept);
                None
            } else {
                guard.get().take()
            };
            Ok((returned, changes, held, guard.unbind()))
        })?;
        let (returned, changes, held, guard) = result;
        let returned = match returned {
            Ok(r) => r,
            Err(tb) => {
                drop(held);
                drop_guard(guard);
                return self.failed(number, tb);
            }
        };
        let out = match returned {
            Returned::Drop => {
                self.dropped += 1;
                ctx.set_counter("frames_dropped_by_script", self.dropped);
                drop(held);
                drop_guard(guard);
                return Ok(Outcome::Drop);
            }
            Returned::New(f) => {
                drop(held);
                drop_guard(guard);
                let mut f = f;
                meta::apply(&mut f, changes)?;
                f.into_frame()
            }
            Returned::Same => {
                let frame = match held {
                    Some(Held::Unique(f)) => Some(f),
                    Some(Held::Shared(f)) if changes.is_empty() => {
                        drop_guard(guard);
                        return Ok(Outcome::Emit(f));
                    }
                    Some(Held::Shared(f)) => Some(f.into_mut(ctx)?),
                    None => None,
                };
                let mut f = match frame {
                    Some(f) => {
                        drop_guard(guard);
                        f
                    }
                    None => {
                        // A read-only frame Python kept cannot change: emit it as is.
                        let shared = guard.get().with(|held| match held {
                            Some(Held::Shared(f)) if changes.is_empty() => Some(f.clone()),
                            _ => None,
                        });
                        if let Some(f) = shared {
                            drop_guard(guard);
                            return Ok(Outcome::Emit(f));
                        }
                        self.copy_kept(guard, ctx)?
                    }
                };
                meta::apply(&mut f, changes)?;
                f.into_frame()
            }
        };
        Ok(Outcome::Emit(out))
    }

    /// Python kept the array: the frame stays with it (its buffer is never reused while
    /// Python holds it) and a copy goes downstream, so later changes made by Python are not
    /// seen downstream.
    fn copy_kept(&self, guard: Py<FrameGuard>, ctx: &Context) -> Result<FrameMut, PluginError> {
        let (dtype, w, h) = guard.get().with(|held| match held {
            Some(Held::Unique(f)) => Ok((f.dtype(), f.width(), f.height())),
            Some(Held::Shared(f)) => Ok((f.dtype(), f.width(), f.height())),
            None => Err(PluginError::new("the kept frame was released")),
        })?;
        let mut out = ctx.alloc(dtype, w, h)?;
        // Copied under the interpreter lock: no Python thread writes to the array meanwhile.
        Python::attach(|py| {
            guard.get().with(|held| {
                if let Some(held) = held {
                    out.bytes_mut().copy_from_slice(held.bytes());
                    match held {
                        Held::Unique(f) => copy_header(&mut out, f),
                        Held::Shared(f) => out.copy_header_from(f),
                    }
                }
            });
            drop(guard.into_bound(py));
        });
        Ok(out)
    }

    fn failed(&mut self, number: u64, tb: String) -> Result<Outcome, PluginError> {
        let what = format!(
            "Python raised in `{}` on frame {number}",
            self.settings.function
        );
        match self.settings.on_error {
            OnError::Fail => Err(script_error(&what, tb)),
            OnError::Skip => {
                self.skipped += 1;
                if self.first_error.is_none() {
                    log::error!("{what} (skipped: on_error = \"skip\"):\n{tb}");
                    self.first_error = Some(format!("{what}:\n{tb}"));
                } else {
                    log::debug!("{what} (skipped):\n{tb}");
                }
                Ok(Outcome::Skipped)
            }
        }
    }

    /// Frames skipped after an exception.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Drops a guard handle (attaching: a Python object's count changes only under the lock).
fn drop_guard(guard: Py<FrameGuard>) {
    Python::attach(|py| drop(guard.into_bound(py)));
}

/// Reads a filter's return value: `None`/`True`/the frame itself → the frame, `False` →
/// drop, a 2-D numpy array of a frame dtype → a new frame (copied into a pool buffer).
fn returned(
    py: Python<'_>,
    r: Bound<'_, PyAny>,
    array: &Bound<'_, PyAny>,
    guard: &Bound<'_, FrameGuard>,
    ctx: &Context,
) -> Result<Returned, String> {
    if r.is_none() || r.is(array) {
        return Ok(Returned::Same);
    }
    if r.is_instance_of::<PyBool>() || meta::type_name(&r) == "bool_" {
        return Ok(if r.is_truthy().unwrap_or(true) {
            Returned::Same
        } else {
            Returned::Drop
        });
    }
    let Ok(a) = r.cast::<PyUntypedArray>() else {
        return Err(format!(
            "the function returned a {}; return None (emit the frame, with in-place edits), \
             False (drop it) or a 2-D numpy array of uint8, uint16, uint32 or float32",
            meta::type_name(&r)
        ));
    };
    let dtype_name = a.dtype().to_string();
    if a.ndim() != 2 {
        return Err(format!(
            "the function returned a {}-D array of shape {:?}; frames are 2-D (height, width)",
            a.ndim(),
            a.shape()
        ));
    }
    let (h, w) = (a.shape()[0], a.shape()[1]);
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(format!(
            "the returned array of shape ({h}, {w}) is too large"
        ));
    };
    let dtype = match dtype_name.as_str() {
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "float32" => DType::F32,
        other => {
            return Err(format!(
                "the function returned an array of dtype {other}; frames are uint8, uint16, \
                 uint32 or float32: convert it, e.g. `return out.astype(np.float32)`"
            ));
        }
    };
    let like = guard.get().with(|held| match held {
        Some(Held::Shared(f)) => Some(f.clone()),
        _ => None,
    });
    // Allocation may wait for the pool (back-pressure): let other Python threads run.
    let mut out = py
        .detach(|| ctx.alloc(dtype, w32, h32))
        .map_err(|e| e.to_string())?;
    guard.get().with(|held| match held {
        Some(Held::Unique(f)) => copy_header(&mut out, f),
        _ => {
            if let Some(l) = &like {
                out.copy_header_from(l);
            }
        }
    });
    let copied = match dtype {
        DType::U8 => copy_into::<u8>(&r, &mut out),
        DType::U16 => copy_into::<u16>(&r, &mut out),
        DType::U32 => copy_into::<u32>(&r, &mut out),
        _ => copy_into::<f32>(&r, &mut out),
    };
    copied.map_err(|e| e.to_string())?;
    Ok(Returned::New(out))
}

fn copy_into<T: numpy::Element + Pixel>(
    r: &Bound<'_, PyAny>,
    out: &mut FrameMut,
) -> Result<(), PluginError> {
    let a = r
        .cast::<PyArray2<T>>()
        .map_err(|e| PluginError::new(e.to_string()))?;
    let ro = a
        .try_readonly()
        .map_err(|e| PluginError::new(e.to_string()))?;
    out.view_mut::<T>()?.assign(&ro.as_array());
    Ok(())
}

/// `FrameMut::copy_header_from` for a unique source frame.
fn copy_header(out: &mut FrameMut, from: &FrameMut) {
    out.set_frame_number(from.frame_number());
    out.set_timestamp_ns(from.timestamp_ns());
    for (k, v) in from.meta_iter() {
        // Cannot fail: the source frame held the same entries within the same limits.
        let _ = out.set_meta(k, v);
    }
}

//! A harness that drives one plugin through its real C-ABI vtable, in-process, without the
//! core: create it from settings, push frames, run a source, stop, inspect what it
//! emitted, its counters and its copy-on-write copies. Plus [`check_compliance`], which
//! every plugin's tests should call.
//!
//! ```ignore
//! let mut h = Harness::new(my_plugin::daqflow_plugin_entry, json!({"level": 10}))?;
//! h.start()?;
//! h.push(h.frame_from(&array, 7))?;
//! let out = h.take_emitted();
//! ```

mod host;

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use self::host::{HOST, Node, alloc_slot};

use ndarray::ArrayView2;

use crate::abi::{self, EntryFn, FrameSpec, HostNode, PluginDescriptor, RStr, RawFormat};
use crate::dtype::{DType, Encoding, Pixel};
use crate::error::SettingsError;
use crate::format::FrameFormat;
use crate::frame::{Frame, FrameMut};
use crate::plugin::Next;

fn descriptor(entry: EntryFn) -> &'static PluginDescriptor {
    // SAFETY: a plugin entry returns a pointer to its static descriptor.
    unsafe { &*entry() }
}

fn status_result(status: i32, errors: Vec<SettingsError>) -> Result<i32, String> {
    match status {
        abi::STATUS_OK | abi::STATUS_END => Ok(status),
        abi::STATUS_PANIC => Err(format!(
            "panicked: {}",
            errors
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; ")
        )),
        _ => Err(errors
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// One plugin instance driven through its C ABI.
pub struct Harness {
    desc: &'static PluginDescriptor,
    node: Box<Node>,
    instance: *mut c_void,
    /// The input format last told to the plugin (the core tells it on every change).
    input_format: Option<FrameFormat>,
}

impl Harness {
    /// Checks `settings` (a JSON object) the way `daqflow validate` does.
    pub fn validate(entry: EntryFn, settings: serde_json::Value) -> Result<(), Vec<SettingsError>> {
        let d = descriptor(entry);
        let json = settings.to_string();
        let mut errors: Vec<SettingsError> = Vec::new();
        // SAFETY: a valid descriptor; json and errors live across the call.
        let status = unsafe {
            (d.vtable.validate_settings.expect("validate_settings"))(
                &HOST,
                RStr::new(&json),
                &mut errors as *mut _ as *mut c_void,
            )
        };
        if status == abi::STATUS_OK {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// What `daqflow validate` learns from the plugin's settings about formats: a
    /// source's output format (`input` is `None`), a filter's output for frames of
    /// `input`, or (for a sink) `Ok(None)` when it accepts `input`. `Ok(None)` from a
    /// source or filter: known only at run time. `Err`: refused, one error per problem.
    pub fn output_format(
        entry: EntryFn,
        settings: serde_json::Value,
        input: Option<&FrameFormat>,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        let d = descriptor(entry);
        let f = d
            .vtable
            .output_format
            .expect("an ABI 1.2 plugin has output_format");
        let json = settings.to_string();
        let input_raw = input.map(FrameFormat::to_abi);
        let mut out = RawFormat::default();
        let mut errors: Vec<SettingsError> = Vec::new();
        // SAFETY: a valid descriptor; every pointer lives across the call.
        let status = unsafe {
            f(
                &HOST,
                RStr::new(&json),
                input_raw
                    .as_ref()
                    .map_or(std::ptr::null(), |r| r as *const _),
                &mut out,
                &mut errors as *mut _ as *mut c_void,
            )
        };
        match status {
            abi::STATUS_OK if d.kind == abi::KIND_SINK => Ok(None),
            abi::STATUS_OK => Ok(Some(FrameFormat::from_abi(&out).ok_or_else(|| {
                vec![SettingsError::new(
                    "",
                    format!("output format has an unknown dtype code {}", out.dtype),
                )]
            })?)),
            abi::STATUS_FORMAT_AT_RUNTIME => Ok(None),
            _ => {
                if errors.is_empty() {
                    errors.push(SettingsError::new(
                        "",
                        format!("output_format failed with status {status}"),
                    ));
                }
                Err(errors)
            }
        }
    }

    /// What a filter's `parallel` says for `settings` (`workers = N` allowed).
    pub fn parallel(entry: EntryFn, settings: serde_json::Value) -> bool {
        let d = descriptor(entry);
        let Some(f) = d.vtable.parallel else {
            return false;
        };
        let json = settings.to_string();
        // SAFETY: a valid descriptor; json lives across the call.
        unsafe { f(&HOST, RStr::new(&json)) == 1 }
    }

    /// Creates an instance named `"node"` from `settings` (a JSON object).
    pub fn new(entry: EntryFn, settings: serde_json::Value) -> Result<Harness, Vec<SettingsError>> {
        let desc = descriptor(entry);
        let node = Box::new(Node {
            name: "node".into(),
            is_sink: desc.kind == abi::KIND_SINK,
            offered: AtomicU64::new(0),
            rate_limit: AtomicU64::new(0f64.to_bits()),
            stop: AtomicBool::new(false),
            emitted: Mutex::new(Vec::new()),
            counters: Mutex::new(BTreeMap::new()),
            copies: AtomicU64::new(0),
            logs: Mutex::new(Vec::new()),
        });
        let json = settings.to_string();
        let mut errors: Vec<SettingsError> = Vec::new();
        let mut instance = std::ptr::null_mut();
        // SAFETY: valid descriptor; node is boxed (stable address) and outlives the instance.
        let status = unsafe {
            (desc.vtable.create.expect("create"))(
                &HOST,
                &*node as *const Node as *mut HostNode,
                RStr::new(&json),
                &mut instance,
                &mut errors as *mut _ as *mut c_void,
            )
        };
        if status != abi::STATUS_OK {
            if errors.is_empty() {
                errors.push(SettingsError::new(
                    "",
                    format!("create failed with status {status}"),
                ));
            }
            return Err(errors);
        }
        Ok(Harness {
            desc,
            node,
            instance,
            input_format: None,
        })
    }

    fn call(
        &mut self,
        f: unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32,
    ) -> Result<i32, String> {
        let mut errors: Vec<SettingsError> = Vec::new();
        // SAFETY: live instance; errors lives across the call.
        let status = unsafe { f(self.instance, &mut errors as *mut _ as *mut c_void) };
        status_result(status, errors)
    }

    /// Calls `start`.
    pub fn start(&mut self) -> Result<(), String> {
        self.call(self.desc.vtable.start.expect("start"))
            .map(|_| ())
    }

    /// Calls a source's `next` once.
    pub fn produce(&mut self) -> Result<Next, String> {
        let f = self.desc.vtable.next.ok_or("not a source")?;
        self.call(f).map(|s| {
            if s == abi::STATUS_END {
                Next::End
            } else {
                Next::Continue
            }
        })
    }

    /// Tells a filter or sink the format of the frames to come, as the core does before
    /// `start` (when the pipeline file determines it) and before the first frame of each
    /// new format.
    pub fn set_input_format(&mut self, format: &FrameFormat) -> Result<(), String> {
        let f = self
            .desc
            .vtable
            .input_format
            .ok_or("not a filter or sink of ABI 1.2")?;
        let raw = format.to_abi();
        let mut errors: Vec<SettingsError> = Vec::new();
        // SAFETY: live instance; raw and errors live across the call.
        let status = unsafe { f(self.instance, &raw, &mut errors as *mut _ as *mut c_void) };
        self.input_format = Some(*format);
        status_result(status, errors).map(|_| ())
    }

    /// Pushes one frame into a filter or sink. Like the core, first tells the plugin the
    /// frame's format when it differs from the last one it was told.
    pub fn push(&mut self, frame: Frame) -> Result<(), String> {
        let f = self.desc.vtable.push.ok_or("not a filter or sink")?;
        if let Some(fmt) = frame.format()
            && self.input_format.is_none_or(|last| !last.same_frames(&fmt))
        {
            self.set_input_format(&fmt)?;
        }
        self.node.offered.fetch_add(1, Ordering::Relaxed);
        let mut errors: Vec<SettingsError> = Vec::new();
        // SAFETY: live instance; ownership of the reference passes to the plugin.
        let status = unsafe {
            f(
                self.instance,
                frame.into_raw(),
                &mut errors as *mut _ as *mut c_void,
            )
        };
        status_result(status, errors).map(|_| ())
    }

    /// Calls `stop`.
    pub fn stop(&mut self) -> Result<(), String> {
        self.call(self.desc.vtable.stop.expect("stop")).map(|_| ())
    }

    /// Sets the stop flag the plugin sees through `Context::should_stop`.
    pub fn request_stop(&self) {
        self.node.stop.store(true, Ordering::Release);
    }

    /// True once the plugin asked the pipeline to stop (or `request_stop` was called).
    pub fn stop_requested(&self) -> bool {
        self.node.stop.load(Ordering::Acquire)
    }

    /// Frames the plugin emitted since the last call.
    pub fn take_emitted(&self) -> Vec<Frame> {
        std::mem::take(&mut *self.node.emitted.lock().unwrap())
    }

    /// A counter the plugin set with `Context::set_counter`.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.node.counters.lock().unwrap().get(name).copied()
    }

    /// Counts `n` frames as offered to the plugin's input but replaced by a lossy lane
    /// before it took them (what [`Context::input_frames_offered`] then reports).
    ///
    /// [`Context::input_frames_offered`]: crate::Context::input_frames_offered
    pub fn offer_dropped(&self, n: u64) {
        self.node.offered.fetch_add(n, Ordering::Relaxed);
    }

    /// The rate the plugin last asked for with `Context::limit_input_rate` (0: none).
    pub fn input_rate_limit(&self) -> f64 {
        f64::from_bits(self.node.rate_limit.load(Ordering::Relaxed))
    }

    /// Copies made by copy-on-write (`Frame::into_mut` on a shared frame).
    pub fn copies(&self) -> u64 {
        self.node.copies.load(Ordering::Relaxed)
    }

    /// Log lines the plugin wrote (level, "[target] message").
    pub fn logs(&self) -> Vec<(u32, String)> {
        self.node.logs.lock().unwrap().clone()
    }

    /// A new frame holding a copy of `pixels`, numbered `frame_number`.
    pub fn frame_from<T: Pixel>(&self, pixels: &ArrayView2<'_, T>, frame_number: u64) -> Frame {
        let (h, w) = pixels.dim();
        let mut f = self.alloc::<T>(w as u32, h as u32);
        f.set_frame_number(frame_number);
        f.view_mut::<T>()
            .expect("fresh frame of the right dtype")
            .assign(pixels);
        f.into_frame()
    }

    /// A new frame whose payload is `data_len` bytes of `encoding` (e.g. a pre-compressed
    /// chunk), for testing plugins that take encoded frames.
    pub fn alloc_encoded(
        &self,
        dtype: DType,
        encoding: Encoding,
        width: u32,
        height: u32,
        data_len: usize,
    ) -> FrameMut {
        let spec = FrameSpec {
            dtype: dtype.to_abi(),
            encoding: encoding.to_abi(),
            width,
            height,
            data_len,
        };
        // SAFETY: a fresh unique reference from our own pool.
        unsafe { FrameMut::from_raw(alloc_slot(&spec), &HOST) }
    }

    /// A new zeroed frame of `T`.
    pub fn alloc<T: Pixel>(&self, width: u32, height: u32) -> FrameMut {
        let spec = FrameSpec {
            dtype: T::DTYPE.to_abi(),
            encoding: abi::ENCODING_RAW,
            width,
            height,
            data_len: width as usize * height as usize * T::DTYPE.size_bytes(),
        };
        // SAFETY: a fresh unique reference from our own pool.
        unsafe { FrameMut::from_raw(alloc_slot(&spec), &HOST) }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.take_emitted();
        // SAFETY: the instance came from create and is destroyed once.
        unsafe { (self.desc.vtable.destroy.expect("destroy"))(self.instance) };
    }
}

/// Checks what every plugin must do: a valid descriptor, a settings schema in which every
/// setting is documented, and unknown settings refused with the key named.
/// Panics with a message saying what is wrong.
pub fn check_compliance(entry: EntryFn) {
    let d = descriptor(entry);
    assert_eq!(d.prefix.magic, abi::MAGIC, "descriptor magic");
    assert_eq!(d.prefix.abi_major, abi::ABI_MAJOR, "ABI major");
    assert!(
        d.prefix.struct_size as usize >= std::mem::size_of::<PluginDescriptor>(),
        "descriptor struct_size"
    );
    // SAFETY: descriptor strings are 'static.
    let name = unsafe { d.name.as_str() };
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "plugin name {name:?} must be lower_snake_case"
    );
    // SAFETY: descriptor strings are 'static.
    let description = unsafe { d.description.as_str() };
    assert!(!description.is_empty(), "plugin description is empty");
    assert!(matches!(
        d.kind,
        abi::KIND_SOURCE | abi::KIND_FILTER | abi::KIND_SINK
    ));

    let mut schema = String::new();
    // SAFETY: schema is a String we own for the call.
    let status = unsafe {
        (d.vtable.settings_schema.expect("settings_schema"))(
            &HOST,
            &mut schema as *mut String as *mut c_void,
        )
    };
    assert_eq!(status, abi::STATUS_OK, "settings_schema failed");
    let schema: serde_json::Value = serde_json::from_str(&schema).expect("settings schema is JSON");
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (key, prop) in props {
            let described = prop
                .get("description")
                .and_then(|d| d.as_str())
                .is_some_and(|d| !d.is_empty());
            assert!(
                described,
                "setting `{key}` of plugin {name} has no `///` doc"
            );
        }
    }
    let errors = Harness::validate(entry, serde_json::json!({"surely_not_a_setting": 1}))
        .expect_err("an unknown setting must be refused (use #[serde(deny_unknown_fields)])");
    assert!(
        errors.iter().any(
            |e| e.field == "surely_not_a_setting" || e.message.contains("surely_not_a_setting")
        ),
        "the error for an unknown setting must name it: {errors:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::MetaValue;

    #[test]
    fn metadata_round_trips_and_is_bounded() {
        let spec = FrameSpec {
            dtype: abi::DTYPE_U8,
            encoding: 0,
            width: 2,
            height: 2,
            data_len: 4,
        };
        // SAFETY: a fresh unique reference from the harness pool.
        let mut f = unsafe { FrameMut::from_raw(alloc_slot(&spec), &HOST) };
        f.set_meta("exposure_s", MetaValue::F64(0.25)).unwrap();
        f.set_meta("gain", MetaValue::Str("high".into())).unwrap();
        f.set_meta("count", MetaValue::I64(-3)).unwrap();
        f.set_meta("count", MetaValue::I64(4)).unwrap(); // replaces
        f.set_meta("shutter", MetaValue::Bool(true)).unwrap();
        assert!(f.set_meta(&"k".repeat(40), MetaValue::I64(1)).is_err());
        assert!(f.set_meta("s", MetaValue::Str("x".repeat(48))).is_err());
        let shared = f.into_frame();
        let copy = shared.clone();
        assert_eq!(copy.meta("exposure_s"), Some(MetaValue::F64(0.25)));
        assert_eq!(copy.meta("gain"), Some(MetaValue::Str("high".into())));
        assert_eq!(copy.meta("count"), Some(MetaValue::I64(4)));
        assert_eq!(copy.meta_iter().count(), 4);
        assert_eq!(copy.meta("missing"), None);
    }

    #[test]
    fn views_check_dtype() {
        let spec = FrameSpec {
            dtype: abi::DTYPE_U16,
            encoding: 0,
            width: 3,
            height: 2,
            data_len: 12,
        };
        // SAFETY: a fresh unique reference from the harness pool.
        let f = unsafe { FrameMut::from_raw(alloc_slot(&spec), &HOST) }.into_frame();
        assert_eq!(f.view::<u16>().unwrap().dim(), (2, 3));
        let e = f.view::<f32>().unwrap_err();
        assert!(e.message().contains("has dtype u16"), "{e}");
    }
}

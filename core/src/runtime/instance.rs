//! A plugin instance: the pointer a plugin's `create` returned, and the calls the runtime
//! makes on it (start, next, push, stop, destroy, and telling a filter or sink the format
//! of its frames — before its start, and before the first frame of every new format),
//! each giving back the ABI status with the plugin's error text, and [`describe_failure`]
//! to word a failed call for the report.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::Arc;

use daqflow_sdk::FrameFormat;
use daqflow_sdk::abi::{self, RStr, RawFormat};

use super::error_sink::ErrorSink;
use super::host_api::HOST_API;
use super::node::NodeState;
use super::pool::FrameRef;
use crate::plugin::Plugin;

/// A plugin instance pointer (owned by the plugin; destroyed through its vtable).
pub struct Instance {
    plugin: Plugin,
    ptr: *mut c_void,
    /// The input format last told to the plugin: `(dtype, encoding, width, height)`.
    told: Cell<Option<[u32; 4]>>,
    /// The format `validate` determined, whose rate is passed on with matching frames.
    expected: Option<FrameFormat>,
    /// The settings it was created with (for `workers = N` siblings).
    settings: String,
}

// SAFETY: plugin instances are `Send` (the SDK requires it of every plugin type) and are
// used by one thread at a time: created on the main thread, run on the node thread,
// destroyed on the main thread after that thread has finished.
unsafe impl Send for Instance {}

impl Instance {
    /// Creates an instance of `plugin` for `node` from its settings (a JSON object);
    /// `Err` is the failure, worded for the report.
    pub fn create(
        plugin: Plugin,
        node: &Arc<NodeState>,
        settings: &str,
    ) -> Result<Instance, String> {
        let mut err = ErrorSink::default();
        let mut ptr = std::ptr::null_mut();
        // SAFETY: the node state outlives the instance (the runtime keeps every node state
        // for the rest of the process); settings and err outlive the call.
        let status = unsafe {
            (plugin.vt.create)(
                &HOST_API,
                node.as_ptr(),
                RStr::new(settings),
                &mut ptr,
                err.as_ptr(),
            )
        };
        if status == abi::STATUS_OK && !ptr.is_null() {
            Ok(Instance {
                plugin,
                ptr,
                told: Cell::new(None),
                expected: node.input_format,
                settings: settings.to_string(),
            })
        } else {
            Err(describe_failure(status, "create", err.message()))
        }
    }

    fn call(&self, f: unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32) -> (i32, String) {
        let mut err = ErrorSink::default();
        // SAFETY: a live instance of this plugin; err outlives the call.
        let status = unsafe { f(self.ptr, err.as_ptr()) };
        (
            status,
            if status < 0 {
                err.message()
            } else {
                String::new()
            },
        )
    }

    /// Another instance of the same plugin and settings for the same node (`workers = N`).
    pub fn sibling(&self, node: &Arc<NodeState>) -> Result<Instance, String> {
        Instance::create(self.plugin.clone(), node, &self.settings)
    }

    /// The plugin's `start`; a filter or sink whose input format `validate` determined is
    /// told it first (a file writer creates its dataset then).
    pub fn start(&self) -> (i32, String) {
        if let Some(f) = self.expected {
            let (status, msg) = self.tell_format(&f.to_abi());
            if status < 0 {
                return (status, format!("its input format {f}: {msg}"));
            }
        }
        self.call(self.plugin.vt.start)
    }

    /// Tells the plugin the format of `frame` if it is not the one it was told last (a
    /// format announced at run time, or a new series): `None` when nothing was to tell.
    pub fn tell_format_of(&self, frame: &FrameRef) -> Option<(i32, String)> {
        let h = frame.header();
        let key = [h.dtype, h.encoding, h.width, h.height];
        if self.told.get() == Some(key) {
            return None;
        }
        let mut raw = RawFormat {
            dtype: h.dtype,
            encoding: h.encoding,
            width: h.width,
            height: h.height,
            ..RawFormat::default()
        };
        if let Some(e) = self.expected
            && e.to_abi().dtype == h.dtype
            && e.to_abi().encoding == h.encoding
            && e.width == h.width
            && e.height == h.height
        {
            raw.rate_hz = e.rate_hz.unwrap_or(0.0);
        }
        let (status, msg) = self.tell_format(&raw);
        Some((status, msg))
    }

    fn tell_format(&self, raw: &RawFormat) -> (i32, String) {
        self.told
            .set(Some([raw.dtype, raw.encoding, raw.width, raw.height]));
        let Some(f) = self.plugin.vt.input_format else {
            return (abi::STATUS_OK, String::new());
        };
        let mut err = ErrorSink::default();
        // SAFETY: a live instance; raw and err outlive the call.
        let status = unsafe { f(self.ptr, raw, err.as_ptr()) };
        (
            status,
            if status < 0 {
                err.message()
            } else {
                String::new()
            },
        )
    }

    /// A source's `next`: produce (emit) the next frame(s).
    pub fn next(&self) -> (i32, String) {
        self.call(
            self.plugin
                .vt
                .next
                .expect("checked at load: sources have next"),
        )
    }

    /// The plugin's `stop`.
    pub fn stop(&self) -> (i32, String) {
        self.call(self.plugin.vt.stop)
    }

    /// A filter's or sink's `push`: one frame; the reference passes to the plugin. A frame
    /// of a format the plugin was not told yet is announced first; if the plugin refuses
    /// it, the frame is not pushed and the refusal is the call's error.
    pub fn push(&self, frame: FrameRef) -> (i32, String) {
        if let Some((status, msg)) = self.tell_format_of(&frame)
            && status < 0
        {
            let h = frame.header();
            return (
                status,
                format!(
                    "frames of {}×{} (dtype code {}, encoding code {}) from frame {} on: {msg}",
                    h.width, h.height, h.dtype, h.encoding, h.frame_number
                ),
            );
        }
        let push = self
            .plugin
            .vt
            .push
            .expect("checked at load: filters and sinks have push");
        let mut err = ErrorSink::default();
        // SAFETY: a live instance; ownership of the frame reference passes to the plugin.
        let status = unsafe { push(self.ptr, frame.into_raw(), err.as_ptr()) };
        (
            status,
            if status < 0 {
                err.message()
            } else {
                String::new()
            },
        )
    }

    /// The plugin's `destroy`.
    pub fn destroy(self) {
        // SAFETY: created by this plugin's create, destroyed once, no thread uses it now.
        unsafe { (self.plugin.vt.destroy)(self.ptr) };
    }
}

/// A failed plugin call, worded for the log and the report.
pub fn describe_failure(status: i32, what: &str, msg: String) -> String {
    if status == abi::STATUS_PANIC {
        format!("panicked in {what}: {msg}")
    } else {
        format!("{what} failed: {msg}")
    }
}

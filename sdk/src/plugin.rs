//! What a plugin author implements: one of [`Source`], [`Filter`], [`Sink`], plus a
//! settings struct implementing [`PluginSettings`]; and the [`Context`] through which a
//! plugin talks to the core (frames, stop flag, counters, logging).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::abi::{self, FrameSpec, HostApi, HostNode, RStr, RawFrame};
use crate::frame::{DType, Encoding, Frame, FrameMut};

/// An error a plugin returns from any of its methods. The core logs it once, naming the
/// node, stops that node and drains the pipeline in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    message: String,
    aborted: bool,
}

impl PluginError {
    /// An error with a message saying the operation and the object
    /// (`"append frame 812 to /data/run.h5: No space left on device"`).
    pub fn new(message: impl Into<String>) -> Self {
        PluginError {
            message: message.into(),
            aborted: false,
        }
    }

    /// The pipeline is aborting and the call could not complete; not a plugin failure.
    /// Returned by [`Context::emit`] and [`Context::alloc`]: propagate it with `?`.
    pub fn aborted() -> Self {
        PluginError {
            message: "pipeline aborted".into(),
            aborted: true,
        }
    }

    /// True for [`PluginError::aborted`].
    pub fn is_aborted(&self) -> bool {
        self.aborted
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(s: String) -> Self {
        PluginError::new(s)
    }
}

impl From<&str> for PluginError {
    fn from(s: &str) -> Self {
        PluginError::new(s)
    }
}

/// A settings problem, naming the field (empty for the table as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The settings key (`"width"`), or a path (`"roi.x"`), or empty.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SettingsError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

/// A plugin's settings: the node's TOML table minus `plugin`, `inputs` and `queue`.
///
/// Derive `Deserialize` with `#[serde(deny_unknown_fields)]` and `JsonSchema`; the `///`
/// doc of each field and its `#[serde(default = ...)]` are what `daqflow plugins` shows.
pub trait PluginSettings: DeserializeOwned + schemars::JsonSchema + Send + 'static {
    /// Range and cross-field checks after parsing. Return every problem at once.
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        Ok(())
    }
}

/// What a plugin needs from the lane feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum InputLane {
    /// Any policy.
    Any = abi::INPUT_ANY,
    /// Every frame (a file writer): `validate` refuses `latest` and `drop_*` lanes.
    Lossless = abi::INPUT_LOSSLESS,
    /// Only the newest frame matters (a viewer): the lane defaults to `latest`.
    PrefersLatest = abi::INPUT_PREFERS_LATEST,
}

/// What a source's [`Source::next`] says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Call `next` again (unless the pipeline is stopping).
    Continue,
    /// The stream has ended: the pipeline drains and stops.
    End,
}

/// A frame producer (a detector driver, a file replay, a simulator).
///
/// The core calls [`next`](Source::next) in a loop on the node's thread until it returns
/// [`Next::End`] or the pipeline stops. Inside, get buffers with [`Context::alloc`], fill
/// them and send them with [`Context::emit`]; both block for back-pressure.
pub trait Source: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// Builds the instance from checked settings; acquire nothing yet.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// Opens the device; called after every downstream node has started.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Produces zero or more frames. Return promptly when [`Context::should_stop`].
    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError>;
    /// Closes the device.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A frame transformer: frames in, frames out (in place, or new frames of another shape).
pub trait Filter: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// What the filter needs from its input lane.
    const INPUT: InputLane = InputLane::Any;
    /// Builds the instance from checked settings.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// Called once before the first frame.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Handles one frame; emit results with [`Context::emit`].
    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError>;
    /// Input is drained; emit anything still held.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A frame consumer (a file writer, a viewer, a network sender).
pub trait Sink: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// What the sink needs from its input lane.
    const INPUT: InputLane = InputLane::Any;
    /// Builds the instance from checked settings; open nothing yet.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// Opens files, windows; called before any upstream node starts.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Takes one frame. The [`Frame`] may be kept (sent to a worker thread) past the call.
    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError>;
    /// Input is drained: finish writing and close.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A node's link to the core: frames, stop flag, counters. Cheap to clone; a clone may be
/// moved to a worker thread of the plugin (call [`Context::bind_log_thread`] there so its
/// log records carry the node name).
#[derive(Clone)]
pub struct Context {
    host: &'static HostApi,
    node: *mut HostNode,
    name: String,
}

// SAFETY: the core's node object is thread-safe (atomics and locks) and outlives every
// instance and every frame of the node.
unsafe impl Send for Context {}
// SAFETY: as above.
unsafe impl Sync for Context {}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("node", &self.name).finish()
    }
}

impl Context {
    /// Wraps the core's node handle.
    ///
    /// # Safety
    /// `node` must be a live node of `host` that outlives this context.
    pub unsafe fn from_raw(host: &'static HostApi, node: *mut HostNode, name: String) -> Self {
        Context { host, node, name }
    }

    pub(crate) fn host(&self) -> &'static HostApi {
        self.host
    }

    pub(crate) fn node_ptr(&self) -> *mut HostNode {
        self.node
    }

    /// The node's name in the pipeline file (`"detector"`).
    pub fn node_name(&self) -> &str {
        &self.name
    }

    /// True once the pipeline is stopping: a source should return from `next` soon.
    pub fn should_stop(&self) -> bool {
        // SAFETY: live node.
        unsafe { (self.host.should_stop)(self.node) != 0 }
    }

    /// True when every input lane of this node is lossless (`block`): then frame numbers
    /// from one source arrive contiguous, and a gap means frames were lost upstream.
    pub fn input_is_lossless(&self) -> bool {
        // SAFETY: live node.
        unsafe { (self.host.input_lossless)(self.node) != 0 }
    }

    /// Takes frames from this node's lossy input lanes (`latest`, `drop_oldest`,
    /// `drop_newest`) at most `max_per_sec` times a second; `0.0` removes the limit.
    ///
    /// In between, the lane goes on replacing (or evicting) frames as its policy says and
    /// counts them as its drops, so a fast source never wakes this node's thread more often
    /// than it asked: a display sink calls this with its display rate. Lossless (`block`)
    /// and `inline` inputs are never limited (they would slow acquisition down); the call
    /// is then ignored with a warning. Takes effect from the next frame; any thread.
    pub fn limit_input_rate(&self, max_per_sec: f64) {
        if self.host_has(std::mem::offset_of!(HostApi, input_rate_limit)) {
            // SAFETY: live node; the host has the entry (checked above).
            unsafe { (self.host.input_rate_limit)(self.node, max_per_sec) }
        }
    }

    /// Frames offered to this node's input lanes so far: the ones it got, plus the ones a
    /// lossy lane replaced before it took them (e.g. a viewer's "frames received" while
    /// it shows only the newest). Cheap (a few atomic loads); any thread.
    pub fn input_frames_offered(&self) -> u64 {
        if self.host_has(std::mem::offset_of!(HostApi, input_offered)) {
            // SAFETY: live node; the host has the entry (checked above).
            unsafe { (self.host.input_offered)(self.node) }
        } else {
            0
        }
    }

    /// True when the host's table includes the entry at `offset` (a core of an older ABI
    /// minor refuses newer plugins at load, so this holds for any loaded plugin; checked
    /// anyway so a mismatched table is never read past its end).
    fn host_has(&self, offset: usize) -> bool {
        offset < self.host.struct_size
    }

    /// Asks the whole pipeline to stop in order (sources stop, queues drain).
    pub fn request_stop(&self) {
        // SAFETY: live node.
        unsafe { (self.host.request_stop)(self.node) }
    }

    /// Sets a named counter of this node, shown in the run report (`"frames_written"`).
    pub fn set_counter(&self, name: &str, value: u64) {
        // SAFETY: live node; the name is borrowed for the call.
        unsafe { (self.host.set_counter)(self.node, RStr::new(name), value) }
    }

    /// Makes log records from the calling thread (a worker of the plugin) carry this
    /// node's name. Node threads are bound already.
    pub fn bind_log_thread(&self) {
        crate::export::set_current_node(self.node);
    }

    /// A new raw frame `[height, width]` of `dtype` from the pool, numbered and
    /// timestamped now. Blocks while the pool is exhausted (back-pressure).
    pub fn alloc(&self, dtype: DType, width: u32, height: u32) -> Result<FrameMut, PluginError> {
        let len = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(dtype.size_bytes()))
            .ok_or_else(|| {
                PluginError::new(format!("a {width}x{height} {dtype} frame is too large"))
            })?;
        self.alloc_encoded(dtype, Encoding::Raw, width, height, len)
    }

    /// A new frame whose payload is `data_len` bytes in `encoding` (e.g. a pre-compressed
    /// detector chunk); `set_data_len` may shrink it after filling.
    pub fn alloc_encoded(
        &self,
        dtype: DType,
        encoding: Encoding,
        width: u32,
        height: u32,
        data_len: usize,
    ) -> Result<FrameMut, PluginError> {
        let spec = FrameSpec {
            dtype: dtype.to_abi(),
            encoding: encoding.to_abi(),
            width,
            height,
            data_len,
        };
        let mut raw = RawFrame {
            handle: std::ptr::null_mut(),
            header: std::ptr::null_mut(),
            data: std::ptr::null_mut(),
            capacity: 0,
        };
        let mut err = RStr::new("");
        // SAFETY: live node; spec, out and err live across the call.
        let status = unsafe { (self.host.frame_alloc)(self.node, &spec, &mut raw, &mut err) };
        match status {
            abi::STATUS_OK => {
                // SAFETY: the core handed us a fresh, unique reference.
                let mut f = unsafe { FrameMut::from_raw(raw, self.host) };
                f.set_timestamp_ns(now_ns());
                Ok(f)
            }
            abi::STATUS_ABORTED => Err(PluginError::aborted()),
            // SAFETY: the core's error text is valid until our next host call.
            _ => Err(PluginError::new(unsafe { err.as_str() }.into_owned())),
        }
    }

    /// Sends a frame to every downstream node (shared, not copied). Blocks on a full
    /// lossless lane. Returns [`PluginError::aborted`] when the pipeline aborts.
    pub fn emit(&self, frame: impl Into<Frame>) -> Result<(), PluginError> {
        let raw = frame.into().into_raw();
        // SAFETY: live node; ownership of the reference passes to the core.
        match unsafe { (self.host.emit)(self.node, raw) } {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_ABORTED => Err(PluginError::aborted()),
            code => Err(PluginError::new(format!(
                "emit failed with status {code}: this node has no outputs"
            ))),
        }
    }

    pub(crate) fn make_unique(&self, raw: &mut RawFrame) -> Result<(), PluginError> {
        let mut err = RStr::new("");
        // SAFETY: live node; `raw` is a reference we own, replaced in place by the core.
        match unsafe { (self.host.frame_make_unique)(self.node, raw, &mut err) } {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_ABORTED => Err(PluginError::aborted()),
            // SAFETY: the core's error text is valid until our next host call.
            _ => Err(PluginError::new(unsafe { err.as_str() }.into_owned())),
        }
    }
}

/// Nanoseconds since the UNIX epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

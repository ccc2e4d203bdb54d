//! [`Context`]: a node's link to the core — frames from the pool (`alloc`,
//! `alloc_like`, copy-on-write through [`Frame::into_mut`]), `emit`, the stop flag,
//! counters, input rate limits, and [`Context::spawn_worker`] for a plugin's own threads.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::{self, FrameSpec, HostApi, HostNode, RStr, RawFrame};
use crate::dtype::{DType, Encoding};
use crate::error::{ErrorKind, PluginError};
use crate::frame::{Frame, FrameMut};
use crate::log_bridge;

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
        log_bridge::set_current_node(self.node);
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
            _ => Err(PluginError::with_kind(
                ErrorKind::Alloc,
                unsafe { err.as_str() }.into_owned(),
            )),
        }
    }

    /// A new raw `width × height` frame of `dtype` that carries `like`'s frame number,
    /// timestamp and metadata: what a filter emitting a frame of another shape or dtype
    /// (crop, bin, cast) needs. Blocks while the pool is exhausted.
    pub fn alloc_like(
        &self,
        like: &Frame,
        dtype: DType,
        width: u32,
        height: u32,
    ) -> Result<FrameMut, PluginError> {
        let mut f = self.alloc(dtype, width, height)?;
        f.copy_header_from(like);
        Ok(f)
    }

    /// Sends a frame to every downstream node (shared, not copied). Blocks on a full
    /// lossless lane. Fails with [`ErrorKind::Aborted`] when the pipeline aborts (the core
    /// counts the frame as lost), [`ErrorKind::NoOutputs`] from a sink, and
    /// [`ErrorKind::OutputsClosed`] after the node stopped.
    pub fn emit(&self, frame: impl Into<Frame>) -> Result<(), PluginError> {
        let raw = frame.into().into_raw();
        // SAFETY: live node; ownership of the reference passes to the core.
        match unsafe { (self.host.emit)(self.node, raw) } {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_ABORTED => Err(PluginError::aborted()),
            abi::STATUS_NO_OUTPUTS => Err(PluginError::with_kind(
                ErrorKind::NoOutputs,
                format!(
                    "node `{}` has no outputs: a sink cannot emit frames",
                    self.name
                ),
            )),
            abi::STATUS_OUTPUTS_CLOSED => Err(PluginError::with_kind(
                ErrorKind::OutputsClosed,
                format!(
                    "node `{}` emitted a frame after its outputs were closed (after stop)",
                    self.name
                ),
            )),
            code => Err(PluginError::new(format!(
                "node `{}`: emit failed with status {code}",
                self.name
            ))),
        }
    }

    /// Runs `f` on a new thread of this plugin, named `"<node>:<name>"`, with this node's
    /// log scope. Its result — an error, or a panic turned into an error naming the worker
    /// — comes back from [`Worker::join`]; call it from `stop` (a worker dropped without
    /// `join` is joined then, and its error logged). Use it for encoder pools, render
    /// threads, network receivers: nothing a plugin must hand-write.
    pub fn spawn_worker<F>(&self, name: &str, f: F) -> Result<Worker, PluginError>
    where
        F: FnOnce(&Context) -> Result<(), PluginError> + Send + 'static,
    {
        let ctx = self.clone();
        let label = format!("worker `{name}` of node `{}`", self.name);
        let thread_label = label.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}:{name}", self.name))
            .spawn(move || {
                ctx.bind_log_thread();
                match catch_unwind(AssertUnwindSafe(|| f(&ctx))) {
                    Ok(r) => r,
                    Err(payload) => Err(PluginError::new(format!(
                        "{thread_label} panicked: {}",
                        crate::error::panic_message(payload.as_ref())
                    ))),
                }
            })
            .map_err(|e| PluginError::new(format!("cannot start {label}: {e}")))?;
        Ok(Worker {
            label,
            handle: Some(handle),
        })
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

/// A plugin thread started by [`Context::spawn_worker`].
pub struct Worker {
    label: String,
    handle: Option<JoinHandle<Result<(), PluginError>>>,
}

impl Worker {
    /// Waits for the thread to end and returns its result (a panic as an error).
    pub fn join(mut self) -> Result<(), PluginError> {
        self.join_inner()
    }

    /// True once the thread has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    fn join_inner(&mut self) -> Result<(), PluginError> {
        match self.handle.take() {
            None => Ok(()),
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(PluginError::new(format!("{} panicked", self.label)))),
        }
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("label", &self.label)
            .finish()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Err(e) = self.join_inner() {
            log::error!("{e}");
        }
    }
}

impl Frame {
    /// A writable frame with the same contents: free when this is the only reference,
    /// otherwise the core copies the frame into a new pool buffer (copy-on-write, counted
    /// in the run report) and this reference is released.
    pub fn into_mut(self, ctx: &Context) -> Result<FrameMut, PluginError> {
        let host = self.host();
        let mut raw = self.into_raw();
        match ctx.make_unique(&mut raw) {
            // SAFETY: the core made `raw` the only reference to its slot.
            Ok(()) => Ok(unsafe { FrameMut::from_raw(raw, host) }),
            Err(e) => {
                // SAFETY: the core handed our reference back in `raw`: release it.
                drop(unsafe { Frame::from_raw(raw, host) });
                Err(e)
            }
        }
    }
}

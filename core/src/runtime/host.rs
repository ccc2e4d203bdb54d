//! The core's side of the C ABI: the [`HOST_API`] function table plugins call back into
//! (logging, frames from the pool, emit, stop flag, counters), and the per-node object
//! ([`NodeHost`]) those calls are made against.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use daqflow_sdk::abi::{self, FrameSpec, HostApi, HostNode, RStr, RawFrame};

use super::edge::EdgeTx;
use super::pool::{AllocError, FrameRef, Pool};
use crate::config::NodeKind;

/// State shared by every node of a run.
pub struct Shared {
    stop: AtomicBool,
    /// Set when the run gives up on an orderly drain.
    pub abort: Arc<AtomicBool>,
    /// The frame pool.
    pub pool: Arc<Pool>,
    /// Most frames the queues can hold at once (for the pool-size warning).
    pub frames_in_flight: usize,
    stop_reason: Mutex<Option<String>>,
}

impl Shared {
    /// New run state.
    pub fn new(pool_bytes: usize, frames_in_flight: usize) -> Arc<Shared> {
        let abort = Arc::new(AtomicBool::new(false));
        Arc::new(Shared {
            stop: AtomicBool::new(false),
            pool: Pool::new(pool_bytes, abort.clone()),
            abort,
            frames_in_flight,
            stop_reason: Mutex::new(None),
        })
    }

    /// Asks for an orderly stop; the first reason given is kept for the report.
    pub fn request_stop(&self, reason: &str) {
        let mut r = self.stop_reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        self.stop.store(true, Ordering::Release);
    }

    /// True once a stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Gives up on the orderly drain.
    pub fn abort(&self) {
        self.request_stop("aborted");
        self.abort.store(true, Ordering::Release);
    }

    /// True once aborting.
    pub fn aborting(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Why the run stopped, if it was asked to.
    pub fn stop_reason(&self) -> Option<String> {
        self.stop_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Counters of one node, updated from its thread (and plugin threads).
#[derive(Default)]
pub struct NodeStats {
    /// Frames taken from input lanes.
    pub frames_in: AtomicU64,
    /// Frames emitted.
    pub frames_out: AtomicU64,
    /// Frames that could not be handled: taken while the node had failed, or lost at abort.
    pub frames_failed: AtomicU64,
    /// Copy-on-write copies made for this node.
    pub copies: AtomicU64,
    /// Sources: ns from the first `next` call to the end of the source loop (0: never ran).
    pub active_ns: AtomicU64,
    /// Plugin-defined counters.
    pub custom: Mutex<BTreeMap<String, u64>>,
    /// The node's error, once it failed.
    pub error: Mutex<Option<String>>,
}

impl NodeStats {
    /// Records the node's first error; later ones are logged only.
    pub fn fail(&self, node: &str, message: String) {
        let mut e = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if e.is_none() {
            *e = Some(message);
        } else {
            log::error!(target: node, "{message}");
        }
    }

    /// True once the node failed.
    pub fn failed(&self) -> bool {
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// The core object behind a plugin's `HostNode` pointer.
pub struct NodeHost {
    /// Node name.
    pub name: String,
    /// Section.
    pub kind: NodeKind,
    /// Run state.
    pub shared: Arc<Shared>,
    /// Counters.
    pub stats: Arc<NodeStats>,
    /// Every input lane is lossless.
    pub input_lossless: bool,
    /// The node runs on its producer's thread (fed by an `inline` lane).
    pub input_inline: bool,
    /// The node has inputs and every one is a lossy queue (`latest`, `drop_*`): the
    /// only case where an input rate limit is honoured.
    pub input_all_lossy: bool,
    /// Counters of the input lanes (set once the lanes exist).
    pub input_stats: std::sync::OnceLock<Vec<Arc<super::edge::EdgeStats>>>,
    /// Least time between two frames taken from lossy inputs, in ns (0: no limit).
    pub input_min_interval_ns: AtomicU64,
    /// Output lanes; cleared when the node finishes so consumers see the end of stream.
    pub outputs: RwLock<Vec<EdgeTx>>,
}

impl NodeHost {
    /// The pointer handed to the plugin.
    pub fn as_ptr(self: &Arc<Self>) -> *mut HostNode {
        Arc::as_ptr(self) as *mut HostNode
    }

    /// Closes the output lanes (consumers drain what is queued, then see the end).
    pub fn close_outputs(&self) {
        let outputs = std::mem::take(&mut *self.outputs.write().unwrap_or_else(|e| e.into_inner()));
        // Outside the lock: closing an inline lane runs the consumer's `stop`.
        for o in outputs {
            o.close();
        }
    }

    /// Sends `frame` to every output lane: the same buffer to each (reference counted).
    pub fn emit(&self, frame: FrameRef) -> Result<(), &'static str> {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        if outputs.is_empty() {
            return Err(if self.kind == NodeKind::Sink {
                "a sink cannot emit frames"
            } else {
                "the node's outputs are closed"
            });
        }
        self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        let last = outputs.len() - 1;
        let mut aborted = false;
        for edge in &outputs[..last] {
            aborted |= edge.send(frame.clone(), &self.shared).is_err();
        }
        aborted |= outputs[last].send(frame, &self.shared).is_err();
        if aborted { Err("aborted") } else { Ok(()) }
    }
}

/// Collects `(field, message)` errors a plugin pushes during one call.
#[derive(Default)]
pub struct ErrorSink {
    entries: Vec<(String, String)>,
}

impl ErrorSink {
    /// The pointer passed as `err`.
    pub fn as_ptr(&mut self) -> *mut c_void {
        self as *mut ErrorSink as *mut c_void
    }

    /// The entries pushed.
    pub fn take(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.entries)
    }

    /// All messages joined.
    pub fn message(&mut self) -> String {
        let e = self.take();
        if e.is_empty() {
            "no error text given".into()
        } else {
            e.into_iter()
                .map(|(f, m)| {
                    if f.is_empty() {
                        m
                    } else {
                        format!("`{f}`: {m}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_error(err: *mut RStr, text: String) {
    LAST_ERROR.with(|l| {
        *l.borrow_mut() = text;
        if !err.is_null() {
            // SAFETY: `err` is the caller's out-parameter; the text stays in this
            // thread-local until the thread's next failing host call.
            unsafe { *err = RStr::new(l.borrow().as_str()) };
        }
    });
}

unsafe fn node<'a>(node: *mut HostNode) -> &'a NodeHost {
    // SAFETY: plugins only get pointers to NodeHosts the runtime keeps alive.
    unsafe { &*(node as *const NodeHost) }
}

unsafe extern "C" fn host_log(n: *mut HostNode, level: u32, target: RStr, message: RStr) {
    let level = match level {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    // SAFETY: strings borrowed for the call; node live or null.
    let (message, name) = unsafe {
        let name = if n.is_null() {
            format!("plugin:{}", target.as_str())
        } else {
            node(n).name.clone()
        };
        (message.as_str(), name)
    };
    log::logger().log(
        &log::Record::builder()
            .level(level)
            .target(&name)
            .args(format_args!("{message}"))
            .build(),
    );
}

unsafe extern "C" fn host_error_push(err: *mut c_void, field: RStr, message: RStr) {
    if err.is_null() {
        return;
    }
    // SAFETY: err is an ErrorSink the core passed for this call; strings borrowed.
    unsafe {
        (*(err as *mut ErrorSink))
            .entries
            .push((field.as_str().into_owned(), message.as_str().into_owned()));
    }
}

unsafe extern "C" fn host_text_append(out: *mut c_void, text: RStr) {
    // SAFETY: out is a String the core passed for this call.
    unsafe { (*(out as *mut String)).push_str(&text.as_str()) };
}

unsafe extern "C" fn host_should_stop(n: *mut HostNode) -> u32 {
    // SAFETY: live node.
    u32::from(unsafe { node(n) }.shared.stopping())
}

unsafe extern "C" fn host_request_stop(n: *mut HostNode) {
    // SAFETY: live node.
    let n = unsafe { node(n) };
    log::info!("node `{}` asked the pipeline to stop", n.name);
    n.shared
        .request_stop(&format!("requested by node `{}`", n.name));
}

unsafe extern "C" fn host_set_counter(n: *mut HostNode, name: RStr, value: u64) {
    // SAFETY: live node; name borrowed for the call.
    let (n, name) = unsafe { (node(n), name.as_str()) };
    let mut counters = n.stats.custom.lock().unwrap_or_else(|e| e.into_inner());
    // Updating an existing counter allocates nothing (plugins may call this per frame).
    match counters.get_mut(name.as_ref()) {
        Some(v) => *v = value,
        None => {
            counters.insert(name.into_owned(), value);
        }
    }
}

unsafe extern "C" fn host_frame_alloc(
    n: *mut HostNode,
    spec: *const FrameSpec,
    out: *mut RawFrame,
    err: *mut RStr,
) -> i32 {
    // SAFETY: live node; spec/out valid for the call.
    let (n, spec) = unsafe { (node(n), &*spec) };
    if abi::dtype_size(spec.dtype).is_none() {
        set_error(err, format!("unknown dtype code {}", spec.dtype));
        return abi::STATUS_ERROR;
    }
    if spec.encoding == abi::ENCODING_RAW {
        let expected = (spec.width as usize)
            .checked_mul(spec.height as usize)
            .and_then(|n| n.checked_mul(abi::dtype_size(spec.dtype).unwrap_or(1)));
        if expected != Some(spec.data_len) {
            set_error(
                err,
                format!(
                    "a raw {}x{} frame of dtype code {} cannot hold {} bytes",
                    spec.width, spec.height, spec.dtype, spec.data_len
                ),
            );
            return abi::STATUS_ERROR;
        }
    }
    if !matches!(
        spec.encoding,
        abi::ENCODING_RAW | abi::ENCODING_LZ4 | abi::ENCODING_BSLZ4 | abi::ENCODING_LZ4_BLOCK
    ) {
        set_error(err, format!("unknown encoding code {}", spec.encoding));
        return abi::STATUS_ERROR;
    }
    match n.shared.pool.acquire(spec, n.shared.frames_in_flight) {
        Ok(f) => {
            // SAFETY: out is writable.
            unsafe { *out = f.into_raw() };
            abi::STATUS_OK
        }
        Err(AllocError::Aborted) => abi::STATUS_ABORTED,
        Err(AllocError::TooLarge(msg)) => {
            set_error(err, msg);
            abi::STATUS_ERROR
        }
    }
}

unsafe extern "C" fn host_frame_retain(handle: *mut c_void) {
    // SAFETY: the plugin holds a reference, so the slot is live.
    unsafe { FrameRef::retain_handle(handle) };
}

unsafe extern "C" fn host_frame_release(handle: *mut c_void) {
    // SAFETY: the plugin gives back one reference it owns.
    drop(unsafe { FrameRef::from_handle(handle) });
}

unsafe extern "C" fn host_frame_make_unique(
    n: *mut HostNode,
    frame: *mut RawFrame,
    err: *mut RStr,
) -> i32 {
    // SAFETY: live node; `frame` is a reference the plugin owns.
    let (n, raw) = unsafe { (node(n), &mut *frame) };
    // SAFETY: the plugin passes ownership of its reference to us for the duration.
    let old = unsafe { FrameRef::from_handle(raw.handle) };
    if old.ref_count() == 1 {
        *raw = old.into_raw();
        return abi::STATUS_OK;
    }
    let mut h = *old.header();
    // Never trust a header length beyond the buffer (a C plugin may have written it).
    h.data_len = h.data_len.min(old.capacity());
    let spec = FrameSpec {
        dtype: h.dtype,
        encoding: h.encoding,
        width: h.width,
        height: h.height,
        data_len: h.data_len,
    };
    match n.shared.pool.acquire(&spec, n.shared.frames_in_flight) {
        Ok(new) => {
            let new_raw = new.into_raw();
            // SAFETY: new_raw is unique and at least data_len long; old is live.
            unsafe {
                *new_raw.header = h;
                std::ptr::copy_nonoverlapping(old.data_ptr(), new_raw.data, h.data_len);
            }
            drop(old);
            n.stats.copies.fetch_add(1, Ordering::Relaxed);
            *raw = new_raw;
            abi::STATUS_OK
        }
        Err(e) => {
            *raw = old.into_raw();
            match e {
                AllocError::Aborted => abi::STATUS_ABORTED,
                AllocError::TooLarge(msg) => {
                    set_error(err, msg);
                    abi::STATUS_ERROR
                }
            }
        }
    }
}

unsafe extern "C" fn host_emit(n: *mut HostNode, frame: RawFrame) -> i32 {
    // SAFETY: live node; ownership of the reference passes to us.
    let (n, frame) = unsafe { (node(n), FrameRef::from_handle(frame.handle)) };
    // The plugin reports the failure (its SDK words it from the status): not logged here.
    match n.emit(frame) {
        Ok(()) => abi::STATUS_OK,
        Err("aborted") => abi::STATUS_ABORTED,
        Err("a sink cannot emit frames") => abi::STATUS_NO_OUTPUTS,
        Err(_) => abi::STATUS_OUTPUTS_CLOSED,
    }
}

unsafe extern "C" fn host_node_name(n: *mut HostNode) -> RStr {
    // SAFETY: live node; the name lives as long as it.
    RStr::new(unsafe { &node(n).name })
}

unsafe extern "C" fn host_max_log_level() -> u32 {
    log::max_level() as u32
}

unsafe extern "C" fn host_input_lossless(n: *mut HostNode) -> u32 {
    // SAFETY: live node.
    u32::from(unsafe { node(n) }.input_lossless)
}

unsafe extern "C" fn host_input_rate_limit(n: *mut HostNode, max_per_sec: f64) {
    // SAFETY: live node.
    let n = unsafe { node(n) };
    let ns = if max_per_sec.is_finite() && max_per_sec > 0.0 {
        // At least 1 ns: a limit of a billion frames a second or more is no limit.
        ((1e9 / max_per_sec) as u64).max(1)
    } else {
        0
    };
    if ns > 0 && !n.input_all_lossy {
        log::warn!(
            target: &n.name,
            "input rate limit of {max_per_sec}/s ignored: {} (a limit would slow \
             acquisition down); give its inputs `queue = \"latest\"` to limit them",
            if n.input_inline {
                "the node is fed by an `inline` lane"
            } else {
                "the node has a lossless (`block`) input"
            }
        );
        return;
    }
    n.input_min_interval_ns.store(ns, Ordering::Relaxed);
}

unsafe extern "C" fn host_input_offered(n: *mut HostNode) -> u64 {
    // SAFETY: live node.
    unsafe { node(n) }.input_stats.get().map_or(0, |v| {
        v.iter().map(|s| s.offered.load(Ordering::Relaxed)).sum()
    })
}

/// The table every plugin gets.
pub static HOST_API: HostApi = HostApi {
    struct_size: std::mem::size_of::<HostApi>(),
    log: host_log,
    error_push: host_error_push,
    text_append: host_text_append,
    should_stop: host_should_stop,
    request_stop: host_request_stop,
    set_counter: host_set_counter,
    frame_alloc: host_frame_alloc,
    frame_retain: host_frame_retain,
    frame_release: host_frame_release,
    frame_make_unique: host_frame_make_unique,
    emit: host_emit,
    node_name: host_node_name,
    max_log_level: host_max_log_level,
    input_lossless: host_input_lossless,
    input_rate_limit: host_input_rate_limit,
    input_offered: host_input_offered,
};

//! The host table: [`HOST_API`], the `extern "C"` functions every plugin calls back into
//! the core with (logging, frames from the pool, emit, copy-on-write, the stop flag,
//! counters, input facts), each turning a `HostNode` pointer back into its [`NodeState`]
//! and a typed result into an ABI status code. Every `host_*` function and the table
//! stay together in this file: the ABI grows by appending entries to both.

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use daqflow_sdk::abi::{self, FrameSpec, HostApi, HostNode, RStr, RawFrame};

use super::error_sink::{ErrorSink, set_error};
use super::log_bridge;
use super::node::{EmitError, NodeState};
use super::pool::{AllocError, FrameRef};

/// The node behind a plugin's `HostNode` pointer.
///
/// # Safety
///
/// `node` must be a pointer the runtime handed to a plugin ([`NodeState::as_ptr`]); the
/// runtime keeps every `NodeState` alive for the rest of the process.
unsafe fn node<'a>(node: *mut HostNode) -> &'a NodeState {
    // SAFETY: plugins only get pointers to NodeStates the runtime keeps alive.
    unsafe { &*(node as *const NodeState) }
}

/// The status code for a failed pool allocation; the reason goes to `err`.
///
/// # Safety
///
/// `err` is null or writable (the plugin's out-parameter).
unsafe fn alloc_status(e: AllocError, err: *mut RStr) -> i32 {
    match e {
        AllocError::Aborted => abi::STATUS_ABORTED,
        AllocError::TooLarge(msg) => {
            // SAFETY: err is null or writable (this function's contract).
            unsafe { set_error(err, msg) };
            abi::STATUS_ERROR
        }
    }
}

/// Forwards a plugin log record to the core's logger, tagged with the node's name.
///
/// # Safety
///
/// `n` is null or a node pointer the runtime handed out; `target` and `message` are valid
/// for the call.
unsafe extern "C" fn host_log(n: *mut HostNode, level: u32, target: RStr, message: RStr) {
    // SAFETY: strings borrowed for the call; node live or null.
    let (message, name) = unsafe {
        let name = if n.is_null() {
            format!("plugin:{}", target.as_str())
        } else {
            node(n).name.clone()
        };
        (message.as_str(), name)
    };
    log_bridge::forward(level, &name, &message);
}

/// Adds one `(field, message)` error to the sink the core passed to the call.
///
/// # Safety
///
/// `err` is null or the [`ErrorSink`] pointer the core passed to the plugin call in
/// progress; the strings are valid for the call.
unsafe extern "C" fn host_error_push(err: *mut c_void, field: RStr, message: RStr) {
    if err.is_null() {
        return;
    }
    // SAFETY: err is an ErrorSink the core passed for this call; strings borrowed.
    unsafe {
        (*(err as *mut ErrorSink)).push(field.as_str().into_owned(), message.as_str().into_owned());
    }
}

/// Appends text to the buffer the core passed to the call (the settings schema).
///
/// # Safety
///
/// `out` is the `String` pointer the core passed to the plugin call in progress; `text` is
/// valid for the call.
unsafe extern "C" fn host_text_append(out: *mut c_void, text: RStr) {
    // SAFETY: out is a String the core passed for this call.
    unsafe { (*(out as *mut String)).push_str(&text.as_str()) };
}

/// 1 once the pipeline is stopping.
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
unsafe extern "C" fn host_should_stop(n: *mut HostNode) -> u32 {
    // SAFETY: live node.
    u32::from(unsafe { node(n) }.run.stopping())
}

/// The plugin asks the pipeline for an orderly stop.
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
unsafe extern "C" fn host_request_stop(n: *mut HostNode) {
    // SAFETY: live node.
    let n = unsafe { node(n) };
    log::info!("node `{}` asked the pipeline to stop", n.name);
    n.run
        .request_stop(&format!("requested by node `{}`", n.name));
}

/// Sets one of the node's own counters (shown in the report).
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]); `name` is valid
/// for the call.
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

/// A frame buffer from the pool for `spec` (waits while the pool is exhausted).
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]); `spec` is
/// readable and `out` writable for the call; `err` is null or writable.
unsafe extern "C" fn host_frame_alloc(
    n: *mut HostNode,
    spec: *const FrameSpec,
    out: *mut RawFrame,
    err: *mut RStr,
) -> i32 {
    // SAFETY: live node; spec/out valid for the call.
    let (n, spec) = unsafe { (node(n), &*spec) };
    if abi::dtype_size(spec.dtype).is_none() {
        // SAFETY: err is null or writable (the plugin's out-parameter).
        unsafe { set_error(err, format!("unknown dtype code {}", spec.dtype)) };
        return abi::STATUS_ERROR;
    }
    if spec.encoding == abi::ENCODING_RAW {
        let expected = (spec.width as usize)
            .checked_mul(spec.height as usize)
            .and_then(|n| n.checked_mul(abi::dtype_size(spec.dtype).unwrap_or(1)));
        if expected != Some(spec.data_len) {
            let msg = format!(
                "a raw {}x{} frame of dtype code {} cannot hold {} bytes",
                spec.width, spec.height, spec.dtype, spec.data_len
            );
            // SAFETY: err is null or writable (the plugin's out-parameter).
            unsafe { set_error(err, msg) };
            return abi::STATUS_ERROR;
        }
    }
    if !matches!(
        spec.encoding,
        abi::ENCODING_RAW | abi::ENCODING_LZ4 | abi::ENCODING_BSLZ4 | abi::ENCODING_LZ4_BLOCK
    ) {
        // SAFETY: err is null or writable (the plugin's out-parameter).
        unsafe { set_error(err, format!("unknown encoding code {}", spec.encoding)) };
        return abi::STATUS_ERROR;
    }
    match n.run.pool.acquire(spec, n.run.frames_in_flight) {
        Ok(f) => {
            // SAFETY: out is writable.
            unsafe { *out = f.into_raw() };
            abi::STATUS_OK
        }
        // SAFETY: err is null or writable (the plugin's out-parameter).
        Err(e) => unsafe { alloc_status(e, err) },
    }
}

/// One more reference to a frame.
///
/// # Safety
///
/// `handle` is a frame handle the plugin holds a reference to.
unsafe extern "C" fn host_frame_retain(handle: *mut c_void) {
    // SAFETY: the plugin holds a reference, so the slot is live.
    unsafe { FrameRef::retain_handle(handle) };
}

/// Gives back one reference to a frame.
///
/// # Safety
///
/// `handle` is a frame handle carrying a reference the plugin owns; the plugin no longer
/// uses it.
unsafe extern "C" fn host_frame_release(handle: *mut c_void) {
    // SAFETY: the plugin gives back one reference it owns.
    drop(unsafe { FrameRef::from_handle(handle) });
}

/// Makes `frame` the only reference to its buffer, copying it into a new pool buffer when
/// shared (copy-on-write).
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]); `frame` is a
/// valid frame carrying a reference the plugin owns; `err` is null or writable.
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
    match n.run.pool.acquire(&spec, n.run.frames_in_flight) {
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
            // SAFETY: err is null or writable (the plugin's out-parameter).
            unsafe { alloc_status(e, err) }
        }
    }
}

/// Sends a frame to every output lane of the node; the reference passes to the core.
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]); `frame` carries
/// a reference the plugin owns and no longer uses.
unsafe extern "C" fn host_emit(n: *mut HostNode, frame: RawFrame) -> i32 {
    // SAFETY: live node; ownership of the reference passes to us.
    let (n, frame) = unsafe { (node(n), FrameRef::from_handle(frame.handle)) };
    // The plugin reports the failure (its SDK words it from the status): not logged here.
    match n.emit(frame) {
        Ok(()) => abi::STATUS_OK,
        Err(EmitError::Aborted) => abi::STATUS_ABORTED,
        Err(EmitError::SinkCannotEmit) => abi::STATUS_NO_OUTPUTS,
        Err(EmitError::OutputsClosed) => abi::STATUS_OUTPUTS_CLOSED,
    }
}

/// The node's name (borrowed for the life of the node).
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
unsafe extern "C" fn host_node_name(n: *mut HostNode) -> RStr {
    // SAFETY: live node; the name lives as long as it.
    RStr::new(unsafe { &node(n).name })
}

/// The core's most verbose enabled log level (plugins skip formatting below it).
///
/// # Safety
///
/// None: no arguments.
unsafe extern "C" fn host_max_log_level() -> u32 {
    log::max_level() as u32
}

/// 1 when every input lane of the node is lossless.
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
unsafe extern "C" fn host_input_lossless(n: *mut HostNode) -> u32 {
    // SAFETY: live node.
    u32::from(unsafe { node(n) }.input_lossless)
}

/// Limits the frames the node is handed from lossy inputs to `max_per_sec` (0: none).
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
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

/// Frames offered to the node on all its input lanes so far.
///
/// # Safety
///
/// `n` is a node pointer the runtime handed to this plugin (see [`node`]).
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

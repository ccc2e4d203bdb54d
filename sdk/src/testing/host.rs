//! The harness's side of the host table: a heap-allocated "pool" slot per frame
//! (reference counted like the core's), the per-instance node record (emitted frames,
//! counters, logs, copies, stop flag), and the `extern "C"` functions a plugin calls back.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::abi::{self, FrameHeader, FrameSpec, HostApi, HostNode, RStr, RawFrame};
use crate::error::SettingsError;
use crate::frame::Frame;

pub(super) struct Slot {
    refs: AtomicUsize,
    header: std::cell::UnsafeCell<FrameHeader>,
    buf: Vec<u64>,
}

pub(super) struct Node {
    pub(super) name: String,
    /// A sink: `emit` fails as it does in the core.
    pub(super) is_sink: bool,
    /// Frames pushed into the plugin (all inputs of a harness are "offered" and delivered).
    pub(super) offered: AtomicU64,
    /// The last `limit_input_rate` value, as f64 bits.
    pub(super) rate_limit: AtomicU64,
    pub(super) stop: AtomicBool,
    pub(super) emitted: Mutex<Vec<Frame>>,
    pub(super) counters: Mutex<BTreeMap<String, u64>>,
    pub(super) copies: AtomicU64,
    pub(super) logs: Mutex<Vec<(u32, String)>>,
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn set_err(err: *mut RStr, text: String) {
    LAST_ERROR.with(|l| {
        *l.borrow_mut() = text;
        if !err.is_null() {
            // SAFETY: err is the caller's out-parameter; the text lives in our thread-local.
            unsafe { *err = RStr::new(l.borrow().as_str()) };
        }
    });
}

pub(super) fn alloc_slot(spec: &FrameSpec) -> RawFrame {
    let words = spec.data_len.div_ceil(8).max(1);
    let slot = Box::new(Slot {
        refs: AtomicUsize::new(1),
        header: std::cell::UnsafeCell::new(FrameHeader::new(spec)),
        buf: vec![0u64; words],
    });
    let slot = Box::into_raw(slot);
    // SAFETY: freshly allocated; we hand out the only reference.
    unsafe {
        RawFrame {
            handle: slot as *mut c_void,
            header: (*slot).header.get(),
            data: (*slot).buf.as_ptr() as *mut u8,
            capacity: words * 8,
        }
    }
}

unsafe extern "C" fn h_log(node: *mut HostNode, level: u32, target: RStr, message: RStr) {
    // SAFETY: strings borrowed for the call; node is ours or null.
    let (target, message) = unsafe { (target.as_str(), message.as_str()) };
    let line = format!("[{target}] {message}");
    if !node.is_null() {
        // SAFETY: nodes outlive their plugin instances.
        let node = unsafe { &*(node as *const Node) };
        node.logs.lock().unwrap().push((level, line.clone()));
    }
    eprintln!("harness log {level}: {line}");
}
unsafe extern "C" fn h_error_push(err: *mut c_void, field: RStr, message: RStr) {
    // SAFETY: err is a Vec we own for the call; strings borrowed.
    unsafe {
        let v = &mut *(err as *mut Vec<SettingsError>);
        v.push(SettingsError::new(
            field.as_str().into_owned(),
            message.as_str().into_owned(),
        ));
    }
}
unsafe extern "C" fn h_text_append(out: *mut c_void, text: RStr) {
    // SAFETY: out is a String we own for the call.
    unsafe { (*(out as *mut String)).push_str(&text.as_str()) };
}
unsafe extern "C" fn h_should_stop(node: *mut HostNode) -> u32 {
    // SAFETY: live node.
    u32::from(
        unsafe { &*(node as *const Node) }
            .stop
            .load(Ordering::Acquire),
    )
}
unsafe extern "C" fn h_request_stop(node: *mut HostNode) {
    // SAFETY: live node.
    unsafe { &*(node as *const Node) }
        .stop
        .store(true, Ordering::Release);
}
unsafe extern "C" fn h_set_counter(node: *mut HostNode, name: RStr, value: u64) {
    // SAFETY: live node; name borrowed.
    unsafe {
        let node = &*(node as *const Node);
        node.counters
            .lock()
            .unwrap()
            .insert(name.as_str().into_owned(), value);
    }
}
unsafe extern "C" fn h_frame_alloc(
    _node: *mut HostNode,
    spec: *const FrameSpec,
    out: *mut RawFrame,
    err: *mut RStr,
) -> i32 {
    // SAFETY: spec and out valid for the call.
    let spec = unsafe { &*spec };
    if abi::dtype_size(spec.dtype).is_none() {
        set_err(err, format!("unknown dtype code {}", spec.dtype));
        return abi::STATUS_ERROR;
    }
    // SAFETY: out is writable.
    unsafe { *out = alloc_slot(spec) };
    abi::STATUS_OK
}
unsafe extern "C" fn h_retain(handle: *mut c_void) {
    // SAFETY: a live slot.
    unsafe { &*(handle as *const Slot) }
        .refs
        .fetch_add(1, Ordering::Relaxed);
}
unsafe extern "C" fn h_release(handle: *mut c_void) {
    // SAFETY: a live slot; the last reference frees it.
    unsafe {
        if (*(handle as *const Slot))
            .refs
            .fetch_sub(1, Ordering::AcqRel)
            == 1
        {
            drop(Box::from_raw(handle as *mut Slot));
        }
    }
}
unsafe extern "C" fn h_make_unique(
    node: *mut HostNode,
    frame: *mut RawFrame,
    _err: *mut RStr,
) -> i32 {
    // SAFETY: frame is a reference the caller owns; node is live.
    unsafe {
        let old = *frame;
        let slot = &*(old.handle as *const Slot);
        if slot.refs.load(Ordering::Acquire) == 1 {
            return abi::STATUS_OK;
        }
        let h = *old.header;
        let spec = FrameSpec {
            dtype: h.dtype,
            encoding: h.encoding,
            width: h.width,
            height: h.height,
            data_len: h.data_len,
        };
        let new = alloc_slot(&spec);
        *new.header = h;
        std::ptr::copy_nonoverlapping(old.data, new.data, h.data_len);
        h_release(old.handle);
        *frame = new;
        (*(node as *const Node))
            .copies
            .fetch_add(1, Ordering::Relaxed);
    }
    abi::STATUS_OK
}
unsafe extern "C" fn h_emit(node: *mut HostNode, frame: RawFrame) -> i32 {
    // SAFETY: ownership of the reference passes to us.
    unsafe {
        let node = &*(node as *const Node);
        let frame = Frame::from_raw(frame, &HOST);
        if node.is_sink {
            return abi::STATUS_NO_OUTPUTS;
        }
        node.emitted.lock().unwrap().push(frame);
    }
    abi::STATUS_OK
}
unsafe extern "C" fn h_node_name(node: *mut HostNode) -> RStr {
    // SAFETY: live node; its name lives as long as it.
    RStr::new(unsafe { &(*(node as *const Node)).name })
}
unsafe extern "C" fn h_max_log_level() -> u32 {
    abi::LOG_TRACE
}

unsafe extern "C" fn h_input_lossless(_node: *mut HostNode) -> u32 {
    1
}

unsafe extern "C" fn h_input_rate_limit(node: *mut HostNode, max_per_sec: f64) {
    // SAFETY: live node.
    unsafe { &*(node as *const Node) }
        .rate_limit
        .store(max_per_sec.to_bits(), Ordering::Relaxed);
}

unsafe extern "C" fn h_input_offered(node: *mut HostNode) -> u64 {
    // SAFETY: live node.
    unsafe { &*(node as *const Node) }
        .offered
        .load(Ordering::Relaxed)
}

pub(super) static HOST: HostApi = HostApi {
    struct_size: std::mem::size_of::<HostApi>(),
    log: h_log,
    error_push: h_error_push,
    text_append: h_text_append,
    should_stop: h_should_stop,
    request_stop: h_request_stop,
    set_counter: h_set_counter,
    frame_alloc: h_frame_alloc,
    frame_retain: h_retain,
    frame_release: h_release,
    frame_make_unique: h_make_unique,
    emit: h_emit,
    node_name: h_node_name,
    max_log_level: h_max_log_level,
    input_lossless: h_input_lossless,
    input_rate_limit: h_input_rate_limit,
    input_offered: h_input_offered,
};

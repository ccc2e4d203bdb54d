//! The log bridge: this library's `log` statics are its own (each plugin has its own std
//! and `log`), so records are forwarded to the core through the host table, tagged with
//! the node the calling thread is working for.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::abi::{HostApi, HostNode, RStr};

static HOST: AtomicPtr<HostApi> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    static CURRENT_NODE: Cell<*mut HostNode> = const { Cell::new(std::ptr::null_mut()) };
}

pub(crate) fn set_current_node(node: *mut HostNode) {
    CURRENT_NODE.with(|c| c.set(node));
}

/// Tags log records of the calling thread with `node` until dropped (then restores the
/// previous node: an `inline` consumer runs inside its producer's call).
pub(crate) struct NodeScope(*mut HostNode);

impl NodeScope {
    pub(crate) fn enter(node: *mut HostNode) -> NodeScope {
        NodeScope(CURRENT_NODE.with(|c| c.replace(node)))
    }
}

impl Drop for NodeScope {
    fn drop(&mut self) {
        CURRENT_NODE.with(|c| c.set(self.0));
    }
}

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let host = HOST.load(Ordering::Acquire);
        if host.is_null() {
            return;
        }
        let node = CURRENT_NODE.with(|c| c.get());
        let message = record.args().to_string();
        // SAFETY: HOST is the core's static HostApi; strings are borrowed for the call.
        unsafe {
            ((*host).log)(
                node,
                record.level() as u32,
                RStr::new(record.target()),
                RStr::new(&message),
            )
        };
    }

    fn flush(&self) {}
}

static BRIDGE: Bridge = Bridge;

pub(crate) fn install_host(host: *const HostApi) {
    if host.is_null() {
        return;
    }
    if HOST.swap(host as *mut HostApi, Ordering::AcqRel).is_null() {
        // Fails only if this library's `log` already has a logger (an rlib test binary).
        let _ = log::set_logger(&BRIDGE);
    }
    // SAFETY: a live HostApi from the core.
    let level = unsafe { ((*host).max_log_level)() };
    log::set_max_level(match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    });
}

//! The state every node of one run shares: the stop and abort flags (with the first reason
//! given for the stop), the frame pool, and the most frames the lanes can hold at once.
//! A leaf: lanes, node states, the host table and the supervisor all read it; it knows
//! none of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::pool::Pool;

/// State shared by every node of a run.
pub struct RunState {
    stop: AtomicBool,
    /// Set when the run gives up on an orderly drain.
    pub abort: Arc<AtomicBool>,
    /// The frame pool.
    pub pool: Arc<Pool>,
    /// Most frames the queues can hold at once (for the pool-size warning).
    pub frames_in_flight: usize,
    stop_reason: Mutex<Option<String>>,
}

impl RunState {
    /// New run state.
    pub fn new(pool_bytes: usize, frames_in_flight: usize) -> Arc<RunState> {
        let abort = Arc::new(AtomicBool::new(false));
        Arc::new(RunState {
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

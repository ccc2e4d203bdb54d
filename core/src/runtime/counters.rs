//! The counters of a run, updated lock-free while it goes on: per node ([`NodeStats`]) and
//! per lane ([`LaneStats`]). The live status reads them during the run and the report
//! reads them at its end. A leaf.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};

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

/// Counters of one lane.
#[derive(Default, Debug)]
pub struct LaneStats {
    /// Frames the producer sent into the lane (whatever became of them).
    pub offered: AtomicU64,
    /// Frames put in the queue.
    pub sent: AtomicU64,
    /// Frames taken out by the consumer.
    pub received: AtomicU64,
    /// Frames discarded by the lane's policy.
    pub dropped: AtomicU64,
    /// Frames lost because the run aborted or the consumer was gone.
    pub lost: AtomicU64,
    /// The producer has ended the lane (what is queued is all that will come).
    pub closed: AtomicBool,
}

//! Nodes on an `inline` lane: no thread of their own; the producer's `emit` calls the
//! plugin directly on the producer's thread ([`InlineConsumer::push`]), and the producer
//! finishing its lane stops the plugin and closes the node's own outputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use daqflow_sdk::abi;

use super::instance::{Instance, describe_failure};
use super::lane::{Aborted, InlineConsumer};
use super::node::NodeState;
use super::pool::FrameRef;

/// A node on an `inline` lane: no thread of its own; its producer's thread calls it.
pub struct InlineNode {
    node: Arc<NodeState>,
    inst: Mutex<Option<Instance>>,
    healthy: AtomicBool,
    started: AtomicBool,
    finished: AtomicBool,
}

impl InlineNode {
    /// An inline node for `node`, without an instance yet.
    pub fn new(node: Arc<NodeState>) -> InlineNode {
        InlineNode {
            node,
            inst: Mutex::new(None),
            healthy: AtomicBool::new(false),
            started: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Instance>> {
        self.inst.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the node its plugin instance (before the start).
    pub fn set_instance(&self, inst: Instance) {
        *self.lock() = Some(inst);
    }

    /// Takes the instance back (to destroy it, once the producer is done).
    pub fn take_instance(&self) -> Option<Instance> {
        self.lock().take()
    }

    /// Calls the plugin's `start` (on the supervisor thread, in start order).
    pub fn start(&self) -> bool {
        let guard = self.lock();
        let Some(inst) = guard.as_ref() else {
            return false;
        };
        let (status, msg) = inst.start();
        if status == abi::STATUS_OK {
            self.started.store(true, Ordering::Release);
            self.healthy.store(true, Ordering::Release);
            true
        } else {
            self.node.fail(describe_failure(status, "start", msg));
            false
        }
    }
}

impl InlineConsumer for InlineNode {
    /// One frame from the producer, handled on the producer's thread.
    fn push(&self, frame: FrameRef) -> Result<(), Aborted> {
        let stats = &self.node.stats;
        stats.frames_in.fetch_add(1, Ordering::Relaxed);
        if !self.healthy.load(Ordering::Acquire) || self.node.run.aborting() {
            stats.frames_failed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let guard = self.lock();
        let Some(inst) = guard.as_ref() else {
            stats.frames_failed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let (status, msg) = inst.push(frame);
        match status {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_ABORTED => Err(Aborted),
            s => {
                self.healthy.store(false, Ordering::Release);
                self.node.fail(describe_failure(s, "handling a frame", msg));
                Ok(())
            }
        }
    }

    /// The producer is done: stop the plugin (if it started) and close its own outputs.
    fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.started.load(Ordering::Acquire) {
            let guard = self.lock();
            if let Some(inst) = guard.as_ref() {
                let (status, msg) = inst.stop();
                if status < 0 {
                    self.node.fail(describe_failure(status, "stop", msg));
                }
            }
        }
        self.node.close_outputs();
    }
}

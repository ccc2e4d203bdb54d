//! One node of a running pipeline as the core sees it: [`NodeState`] — its name, kind,
//! counters, what its inputs allow (lossless, inline, rate limit) and its output lanes —
//! the object behind the `HostNode` pointer a plugin calls the host table with. Emitting
//! (the same buffer to every output lane) and failing a node live here; each failure of
//! an emit is an [`EmitError`].

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::Duration;

use daqflow_sdk::abi::HostNode;
use thiserror::Error;

use super::counters::{LaneStats, NodeStats};
use super::lane::LaneTx;
use super::pool::FrameRef;
use super::state::RunState;
use crate::config::NodeKind;

/// Why a node's emit did not deliver its frame.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The run is aborting: the frame was counted as lost.
    #[error("aborted")]
    Aborted,
    /// The node has finished (or never started): its lanes are closed.
    #[error("the node's outputs are closed")]
    OutputsClosed,
    /// Sinks have no output lanes.
    #[error("a sink cannot emit frames")]
    SinkCannotEmit,
}

/// The core's state of one node for the length of a run (and, for plugins that keep a
/// `Context`, for the rest of the process).
pub struct NodeState {
    /// Node name.
    pub name: String,
    /// Section.
    pub kind: NodeKind,
    /// Run state.
    pub run: Arc<RunState>,
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
    pub input_stats: OnceLock<Vec<Arc<LaneStats>>>,
    /// Least time between two frames taken from lossy inputs, in ns (0: no limit).
    pub input_min_interval_ns: AtomicU64,
    /// Output lanes; cleared when the node finishes so consumers see the end of stream.
    pub outputs: RwLock<Vec<LaneTx>>,
    /// The format of the frames it takes in, when `validate` could tell (told to the
    /// plugin before its start).
    pub input_format: Option<daqflow_sdk::FrameFormat>,
    /// `workers = N`: instances of the plugin processing frames side by side.
    pub workers: usize,
    /// With several workers: whose turn it is to emit, so the output keeps input order.
    pub order: EmitOrder,
}

thread_local! {
    /// The input sequence number of the frame the calling node-worker thread is handling
    /// (`workers = N` only): its emits wait for that frame's turn.
    static SEQUENCE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The emit turn of a node with several workers. Frames get consecutive sequence numbers
/// in the order they are taken from the input lanes; a worker's emits for frame `s` wait
/// until every frame before `s` is done, and finishing frame `s` passes the turn on — so
/// N workers compute side by side while their output leaves in input order, with no
/// buffer in between. Emits from a plugin's own threads are not ordered.
#[derive(Default)]
pub struct EmitOrder {
    turn: Mutex<u64>,
    changed: Condvar,
}

impl EmitOrder {
    /// Waits until it is frame `seq`'s turn (or the run aborts: then order no longer
    /// matters, every frame is counted as lost).
    fn wait_for(&self, seq: u64, run: &RunState) {
        let mut turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        while *turn < seq && !run.aborting() {
            turn = self
                .changed
                .wait_timeout(turn, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Frame `seq` is done: after its turn came, the next frame's turn.
    fn finish(&self, seq: u64, run: &RunState) {
        self.wait_for(seq, run);
        let mut turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        *turn = (*turn).max(seq + 1);
        self.changed.notify_all();
    }
}

/// The calling thread handles frame `seq` of a node with several workers until dropped;
/// dropping it passes the emit turn on.
pub struct Turn<'a> {
    node: &'a NodeState,
    seq: u64,
}

impl<'a> Turn<'a> {
    /// Enters frame `seq`'s handling on this thread.
    pub fn enter(node: &'a NodeState, seq: u64) -> Turn<'a> {
        SEQUENCE.with(|c| c.set(Some(seq)));
        Turn { node, seq }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        SEQUENCE.with(|c| c.set(None));
        self.node.order.finish(self.seq, &self.node.run);
    }
}

impl NodeState {
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
    /// On a node with several workers, first waits for the turn of the frame the calling
    /// worker is handling.
    pub fn emit(&self, frame: FrameRef) -> Result<(), EmitError> {
        if self.workers > 1
            && let Some(seq) = SEQUENCE.with(Cell::get)
        {
            self.order.wait_for(seq, &self.run);
        }
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        if outputs.is_empty() {
            return Err(if self.kind == NodeKind::Sink {
                EmitError::SinkCannotEmit
            } else {
                EmitError::OutputsClosed
            });
        }
        self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        let last = outputs.len() - 1;
        let mut aborted = false;
        for lane in &outputs[..last] {
            aborted |= lane.send(frame.clone(), &self.run).is_err();
        }
        aborted |= outputs[last].send(frame, &self.run).is_err();
        if aborted {
            Err(EmitError::Aborted)
        } else {
            Ok(())
        }
    }

    /// Records `msg` as the node's failure and asks the pipeline for an orderly stop.
    pub fn fail(&self, msg: String) {
        log::error!(target: &self.name, "{msg}; stopping the pipeline");
        self.stats.fail(&self.name, msg);
        self.run
            .request_stop(&format!("node `{}` failed", self.name));
    }
}

//! The thread of one node: start the plugin, then a source calls `next` until its stream
//! ends, the run stops or `stop_after_frames` is reached, while a filter or sink takes
//! frames from its input lanes until they end (a failed node keeps draining them, counting
//! the frames as failed, so upstream never blocks on it); then `stop`, always, and the
//! node's output lanes are closed so its consumers see the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_sdk::abi;

use super::instance::{Instance, describe_failure};
use super::lane::{Inputs, Recv};
use super::node::NodeState;
use crate::config::NodeKind;

/// Tells the supervisor a node thread ended, however it ended.
pub struct DoneGuard(pub crossbeam_channel::Sender<usize>, pub usize);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.0.try_send(self.1);
    }
}

/// Runs one node on the current thread; reports its start on `started` and returns the
/// instance for the supervisor to destroy.
pub fn node_thread(
    inst: Instance,
    node: Arc<NodeState>,
    mut inputs: Inputs,
    limit: Option<u64>,
    started: crossbeam_channel::Sender<bool>,
) -> Instance {
    let (status, msg) = inst.start();
    let ok = status == abi::STATUS_OK;
    let _ = started.send(ok);
    drop(started);
    let mut healthy = ok;
    if !ok {
        node.fail(describe_failure(status, "start", msg));
    }

    match node.kind {
        NodeKind::Source if healthy => {
            let began = Instant::now();
            loop {
                if node.run.stopping() {
                    break;
                }
                if let Some(l) = limit
                    && node.stats.frames_out.load(Ordering::Relaxed) >= l
                {
                    break;
                }
                let (status, msg) = inst.next();
                match status {
                    abi::STATUS_OK => {}
                    abi::STATUS_END | abi::STATUS_ABORTED => break,
                    s => {
                        node.fail(describe_failure(s, "next", msg));
                        healthy = false;
                        break;
                    }
                }
            }
            let ns = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
            node.stats.active_ns.store(ns.max(1), Ordering::Relaxed);
        }
        NodeKind::Source => {}
        NodeKind::Filter | NodeKind::Sink => loop {
            let min_interval =
                Duration::from_nanos(node.input_min_interval_ns.load(Ordering::Relaxed));
            match inputs.recv(min_interval) {
                Recv::Frame(f) => {
                    node.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    if !healthy || node.run.aborting() {
                        // The node cannot take it: counted, never silently gone.
                        node.stats.frames_failed.fetch_add(1, Ordering::Relaxed);
                        drop(f);
                        continue;
                    }
                    let (status, msg) = inst.push(f);
                    match status {
                        abi::STATUS_OK | abi::STATUS_ABORTED => {}
                        s => {
                            node.fail(describe_failure(s, "handling a frame", msg));
                            healthy = false;
                        }
                    }
                }
                Recv::Idle => {
                    if node.run.aborting() {
                        inputs.discard_all();
                        break;
                    }
                }
                Recv::End => break,
            }
        },
    }

    // Always give the plugin its stop (after a failure too: it may close a file).
    if ok {
        let (status, msg) = inst.stop();
        if status < 0 {
            node.fail(describe_failure(status, "stop", msg));
        }
    }
    node.close_outputs();
    let _ = healthy;
    inst
}

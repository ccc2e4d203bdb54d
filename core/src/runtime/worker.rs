//! The thread of one node: start the plugin, then a source calls `next` until its stream
//! ends, the run stops or `stop_after_frames` is reached, while a filter or sink takes
//! frames from its input lanes until they end (a failed node keeps draining them, counting
//! the frames as failed, so upstream never blocks on it); then `stop`, always, and the
//! node's output lanes are closed so its consumers see the end.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daqflow_sdk::abi;

use super::instance::{Instance, describe_failure};
use super::lane::{Inputs, Recv};
use super::node::{NodeState, Turn};
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
        NodeKind::Filter | NodeKind::Sink if ok && node.workers > 1 => {
            healthy = run_workers(&inst, &node, inputs);
        }
        NodeKind::Filter | NodeKind::Sink => {
            let min_interval =
                || Duration::from_nanos(node.input_min_interval_ns.load(Ordering::Relaxed));
            consume(&inst, &node, &mut healthy, || {
                (next_input(&mut inputs, &node, min_interval()), None)
            });
        }
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

/// The next frame (or the end) from the node's input lanes; on abort, the frames still
/// queued are discarded (counted as lost) and the input ends.
fn next_input(inputs: &mut Inputs, node: &NodeState, min_interval: Duration) -> Recv {
    loop {
        match inputs.recv(min_interval) {
            Recv::Idle if node.run.aborting() => {
                inputs.discard_all();
                return Recv::End;
            }
            Recv::Idle => {}
            r => return r,
        }
    }
}

/// Hands frames to `inst` until the input ends. `next` gives the next frame and, with
/// several workers, its sequence number. A failed node keeps taking frames, counting them
/// as failed, so upstream never blocks on it.
fn consume(
    inst: &Instance,
    node: &NodeState,
    healthy: &mut bool,
    mut next: impl FnMut() -> (Recv, Option<u64>),
) {
    loop {
        let (r, seq) = next();
        let f = match r {
            Recv::Frame(f) => f,
            Recv::Idle => continue,
            Recv::End => break,
        };
        // With workers, the frame's emit turn passes on however its handling ends.
        let _turn = seq.map(|s| Turn::enter(node, s));
        node.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        if !*healthy || node.run.aborting() {
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
                *healthy = false;
            }
        }
    }
}

/// `workers = N`: N − 1 more instances on threads of their own, all taking frames from
/// the node's input lanes in turn; each frame gets the next sequence number as it is
/// taken, and [`Turn`] makes every emit wait for its frame's turn, so the output keeps the
/// input order. Returns whether every instance stayed healthy. The extra instances are
/// started, stopped and destroyed here; `inst` (started already) is the caller's.
fn run_workers(inst: &Instance, node: &Arc<NodeState>, inputs: Inputs) -> bool {
    let mut extra = Vec::with_capacity(node.workers - 1);
    for _ in 1..node.workers {
        match inst.sibling(node) {
            Ok(sib) => {
                let (status, msg) = sib.start();
                if status != abi::STATUS_OK {
                    node.fail(describe_failure(status, "start of a worker instance", msg));
                    sib.destroy();
                    break;
                }
                extra.push(sib);
            }
            Err(msg) => {
                node.fail(format!("a worker instance: {msg}"));
                break;
            }
        }
    }
    let started_all = extra.len() + 1 == node.workers;
    let shared = Mutex::new((inputs, 0u64));
    let next = || {
        let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
        let min_interval = Duration::from_nanos(node.input_min_interval_ns.load(Ordering::Relaxed));
        let r = next_input(&mut g.0, node, min_interval);
        let seq = matches!(r, Recv::Frame(_)).then(|| {
            g.1 += 1;
            g.1 - 1
        });
        (r, seq)
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = extra
            .into_iter()
            .enumerate()
            .map(|(k, sib)| {
                let next = &next;
                std::thread::Builder::new()
                    .name(format!("node:{}#{}", node.name, k + 1))
                    .spawn_scoped(scope, move || {
                        let mut ok = started_all;
                        consume(&sib, node, &mut ok, next);
                        let (status, msg) = sib.stop();
                        if status < 0 {
                            node.fail(describe_failure(status, "stop of a worker instance", msg));
                            ok = false;
                        }
                        sib.destroy();
                        ok
                    })
            })
            .collect();
        let mut ok = started_all;
        consume(inst, node, &mut ok, next);
        for h in handles {
            match h {
                Ok(h) => ok &= h.join().unwrap_or(false),
                Err(e) => {
                    node.fail(format!("cannot spawn a worker thread: {e}"));
                    ok = false;
                }
            }
        }
        ok
    })
}

//! Bringing a wired pipeline up: every plugin instance is created first (a settings
//! problem fails the run before anything starts), then the nodes start in groups — sinks,
//! then filters, then sources — each group only once the previous one started, so no
//! frame is produced before its consumers are ready. Threaded nodes are spawned here;
//! inline nodes are started on this thread.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::control::RunControl;
use super::instance::Instance;
use super::lane::{Inputs, LaneRx};
use super::wiring::Wiring;
use super::worker::{DoneGuard, node_thread};
use crate::config::NodeKind;
use crate::validate::Validated;

/// The running nodes, for the supervisor.
pub struct Started {
    /// The thread of each threaded node that was spawned; it returns the instance.
    pub threads: Vec<Option<JoinHandle<Instance>>>,
    /// Each node thread sends its index here when it ends, however it ends.
    pub done: Receiver<usize>,
    /// Input lanes not handed to a thread (dropped once the threads are joined).
    pub inputs: Vec<Option<Vec<LaneRx>>>,
}

/// Creates every node's plugin instance; an inline node keeps its own. A failure is
/// recorded on the node and stops the run before anything starts.
pub fn create_instances(v: &Validated, w: &Wiring) -> Vec<Option<Instance>> {
    let mut instances = Vec::with_capacity(w.nodes.len());
    for (i, node) in v.file.nodes.iter().enumerate() {
        let json = serde_json::Value::Object(node.settings.clone()).to_string();
        match Instance::create(v.plugins[i].clone(), &w.nodes[i], &json) {
            Ok(inst) => match &w.inline[i] {
                Some(target) => {
                    target.set_instance(inst);
                    instances.push(None);
                }
                None => instances.push(Some(inst)),
            },
            Err(msg) => {
                log::error!(target: &node.name, "{msg}");
                w.nodes[i].stats.fail(&node.name, msg);
                w.run
                    .request_stop(&format!("node `{}` failed to start", node.name));
                instances.push(None);
            }
        }
    }
    instances
}

/// Starts the nodes group by group (sinks, filters, sources); Ctrl-C during a slow start
/// stops the groups not yet started. Nodes that never ran have their lanes closed and
/// their instances destroyed.
pub fn start_nodes(
    v: &Validated,
    w: &mut Wiring,
    mut instances: Vec<Option<Instance>>,
    control: &RunControl,
) -> Started {
    let file = &v.file;
    let n = file.nodes.len();
    let run = &w.run;
    let (done_tx, done_rx) = crossbeam_channel::bounded::<usize>(n.max(1));
    let mut threads: Vec<Option<JoinHandle<Instance>>> = (0..n).map(|_| None).collect();
    let mut unspawned: Vec<usize> = Vec::new();
    let mut inputs: Vec<Option<Vec<LaneRx>>> = std::mem::take(&mut w.inputs)
        .into_iter()
        .map(Some)
        .collect();
    for kind in [NodeKind::Sink, NodeKind::Filter, NodeKind::Source] {
        let group: Vec<usize> = (0..n).filter(|&i| file.nodes[i].kind == kind).collect();
        let (started_tx, started_rx) = crossbeam_channel::bounded::<bool>(group.len().max(1));
        let mut spawned = 0;
        for &i in &group {
            if let Some(target) = &w.inline[i] {
                if !run.stopping() && !target.start() {
                    run.request_stop("a node failed to start");
                }
                continue;
            }
            if run.stopping() {
                unspawned.push(i);
                continue;
            }
            let Some(inst) = instances[i].take() else {
                unspawned.push(i);
                continue;
            };
            let node = w.nodes[i].clone();
            let ins = Inputs::new(inputs[i].take().unwrap_or_default());
            let limit = if kind == NodeKind::Source {
                file.pipeline.stop_after_frames
            } else {
                None
            };
            let done = done_tx.clone();
            let started_tx = started_tx.clone();
            let name = node.name.clone();
            let spawn = std::thread::Builder::new()
                .name(format!("node:{name}"))
                .spawn(move || {
                    let _done = DoneGuard(done, i);
                    node_thread(inst, node, ins, limit, started_tx)
                });
            match spawn {
                Ok(h) => {
                    threads[i] = Some(h);
                    spawned += 1;
                }
                Err(e) => {
                    // The instance went down with the closure (not destroyed: a leak, but
                    // no call into a plugin that never started).
                    w.nodes[i]
                        .stats
                        .fail(&name, format!("cannot spawn its thread: {e}"));
                    run.request_stop("a node thread could not be spawned");
                    unspawned.push(i);
                }
            }
        }
        // Wait for this group's starts; Ctrl-C during a slow start (a device that does not
        // answer) stops the remaining groups from starting.
        drop(started_tx);
        let mut waiting = spawned;
        while waiting > 0 {
            match started_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ok) => {
                    waiting -= 1;
                    if !ok {
                        run.request_stop("a node failed to start");
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if control.count() > 0 && !run.stopping() {
                        eprintln!(
                            "daqflow: stopping while starting — nodes not yet started will not start"
                        );
                        run.request_stop("Ctrl-C");
                        break;
                    }
                }
            }
        }
    }
    drop(done_tx);
    // Nodes that never ran: close their lanes so consumers see the end, free instances.
    for i in unspawned {
        w.nodes[i].close_outputs();
        if let Some(inst) = instances[i].take() {
            inst.destroy();
        }
        // Receivers dropped with `inputs`: producers now see their consumer gone.
        inputs[i] = None;
    }
    Started {
        threads,
        done: done_rx,
        inputs,
    }
}

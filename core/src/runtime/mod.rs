//! Running a validated pipeline: one thread per node, bounded lanes between them, the
//! frame pool, and the lifecycle — start (sinks → filters → sources), steady state, stop
//! (sources stop; queues drain; sinks finish and close files), report. Ctrl-C asks for the
//! same orderly stop; a second Ctrl-C, or a drain that overruns its timeout, aborts:
//! queued frames are counted as lost and every node is still asked to `stop` (so files are
//! closed) before the report says what was lost.
//!
//! This module owns [`run`] (the report is made from what it returns, in
//! [`crate::report`]) and calls one submodule per job: [`wiring`], [`start`],
//! [`supervise`]; the node threads are [`worker`], nodes without one [`inline`]. Below
//! them: [`node`] and [`lane`] (the data path), [`instance`] (calls into a plugin),
//! [`host_api`] (the table plugins call back into), and the leaves [`control`], [`state`],
//! [`counters`], [`pool`], [`error_sink`], [`log_bridge`].

pub mod control;
pub mod counters;
pub mod error_sink;
pub mod host_api;
pub mod inline;
pub mod instance;
pub mod lane;
pub mod log_bridge;
pub mod node;
pub mod pool;
pub mod start;
pub mod state;
pub mod supervise;
pub mod wiring;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::control::{RunControl, RunOptions, StatusMode};
use self::counters::{LaneStats, NodeStats};
use self::pool::PoolStats;
pub use self::supervise::{Live, LiveLane, LiveNode, Monitor};
use crate::validate::Validated;

/// What a finished run leaves for its report ([`crate::report::RunReport::from_run`]): the
/// counters, the pool's statistics, and how it stopped.
pub struct RunTotals {
    /// The orderly drain was abandoned.
    pub aborted: bool,
    /// The first reason a stop was asked for (`None`: the sources ended by themselves).
    pub stop_reason: Option<String>,
    /// Wall time, seconds.
    pub duration_secs: f64,
    /// Counters of each node, in file order.
    pub nodes: Vec<Arc<NodeStats>>,
    /// Counters of each lane, in graph order.
    pub lanes: Vec<Arc<LaneStats>>,
    /// Pool statistics.
    pub pool: PoolStats,
    /// Nodes whose threads were still inside plugin code when the run gave up.
    pub stuck_nodes: Vec<String>,
}

/// Runs `v` until its sources end, it is stopped (Ctrl-C, `stop_after_*`, a plugin's
/// request, a failure) or aborted, calling `monitor` periodically meanwhile (unless
/// `opts.status` is [`StatusMode::Off`]); returns what the report is made from.
pub fn run(
    v: &Validated,
    control: &RunControl,
    opts: &RunOptions,
    monitor: Option<&mut dyn Monitor>,
) -> RunTotals {
    let started = Instant::now();
    let mut w = wiring::wire(v);
    let instances = start::create_instances(v, &w);
    let s = start::start_nodes(v, &mut w, instances, control);

    let drain_timeout = opts
        .drain_timeout
        .unwrap_or(Duration::from_secs_f64(v.file.pipeline.drain_timeout_secs));
    let monitor = monitor.filter(|_| opts.status == StatusMode::Auto);
    let remaining = supervise::supervise(
        &w,
        &s,
        &v.file.pipeline,
        drain_timeout,
        control,
        started,
        monitor,
    );
    let stuck_nodes = supervise::collect(&w, s, remaining);

    let totals = RunTotals {
        aborted: w.run.aborting(),
        stop_reason: w.run.stop_reason(),
        duration_secs: started.elapsed().as_secs_f64(),
        nodes: w.nodes.iter().map(|n| n.stats.clone()).collect(),
        lanes: w.lanes.iter().map(|l| l.stats.clone()).collect(),
        pool: w.run.pool.stats(),
        stuck_nodes,
    };
    // A plugin may keep a clone of its Context (a detached thread, a static) and call it
    // after the run: node states live for the rest of the process, like the libraries.
    // Each is a few hundred bytes; their lanes and frames are released already.
    for node in std::mem::take(&mut w.nodes) {
        std::mem::forget(node);
    }
    totals
}

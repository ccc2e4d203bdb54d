//! Supervising a started run until its node threads end: Ctrl-C (the first asks for the
//! orderly stop, the second aborts), `stop_after_secs`, the drain timeout, the grace period
//! after an abort, and the periodic call to the caller's [`Monitor`] with a [`Live`] view
//! of the counters. Then collecting: joining the threads, destroying instances, finishing
//! inline nodes, and naming the threads still stuck in plugin code.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::control::RunControl;
use super::lane::InlineConsumer as _;
use super::node::NodeState;
use super::start::Started;
use super::wiring::{LaneProbe, Wiring};
use crate::config::{NodeKind, PipelineSection};

/// Watches a run while it goes on: the CLI's live status line is one.
pub trait Monitor {
    /// Time between two [`Monitor::update`] calls.
    fn interval(&self) -> Duration;
    /// Supervision begins (the nodes have started).
    fn begin(&mut self) {}
    /// The counters now.
    fn update(&mut self, live: &Live<'_>);
    /// Erase whatever is drawn: the supervisor is about to print, or the run is over.
    fn clear(&mut self);
}

/// What a [`Monitor`] reads while the run goes on.
pub struct Live<'a> {
    nodes: &'a [Arc<NodeState>],
    lanes: &'a [LaneProbe],
    started: Instant,
}

/// One node's counters now.
#[derive(Debug, Clone, Copy)]
pub struct LiveNode<'a> {
    /// Name.
    pub name: &'a str,
    /// Kind.
    pub kind: NodeKind,
    /// Frames taken from input lanes.
    pub frames_in: u64,
    /// Frames emitted.
    pub frames_out: u64,
}

/// One lane's state now.
#[derive(Debug, Clone, Copy)]
pub struct LiveLane<'a> {
    /// Producer name.
    pub from: &'a str,
    /// Consumer name.
    pub to: &'a str,
    /// Frames queued now (0 for inline lanes).
    pub queued: usize,
    /// Capacity (0 for inline lanes).
    pub capacity: usize,
    /// Frames dropped by the lane's policy so far.
    pub dropped: u64,
}

impl<'a> Live<'a> {
    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every node, in file order.
    pub fn nodes(&self) -> impl Iterator<Item = LiveNode<'a>> + 'a {
        self.nodes.iter().map(|n| LiveNode {
            name: &n.name,
            kind: n.kind,
            frames_in: n.stats.frames_in.load(Ordering::Relaxed),
            frames_out: n.stats.frames_out.load(Ordering::Relaxed),
        })
    }

    /// Every lane, in graph order.
    pub fn lanes(&self) -> impl Iterator<Item = LiveLane<'a>> + 'a {
        let nodes = self.nodes;
        self.lanes.iter().map(move |l| {
            // Read from the producer's side: a receiver kept here would keep lanes connected.
            let queued = nodes[l.from]
                .outputs
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(l.slot)
                .map_or(0, |tx| tx.queued());
            LiveLane {
                from: &nodes[l.from].name,
                to: &nodes[l.to].name,
                queued,
                capacity: l.capacity,
                dropped: l.stats.dropped.load(Ordering::Relaxed),
            }
        })
    }
}

/// Watches the run until every node thread has ended, or an abort's grace period is
/// over; returns how many threads had not ended.
pub fn supervise(
    w: &Wiring,
    s: &Started,
    pipeline: &PipelineSection,
    drain_timeout: Duration,
    control: &RunControl,
    started: Instant,
    mut monitor: Option<&mut dyn Monitor>,
) -> usize {
    let run = &w.run;
    let live = Live {
        nodes: &w.nodes,
        lanes: &w.lanes,
        started,
    };
    if let Some(m) = monitor.as_deref_mut() {
        m.begin();
    }
    let mut last_update = Instant::now();
    let mut remaining = s.threads.iter().filter(|t| t.is_some()).count();
    let mut drain_deadline: Option<Instant> = None;
    let mut abort_deadline: Option<Instant> = None;
    let mut seen_interrupts = 0;
    while remaining > 0 {
        match s.done.recv_timeout(Duration::from_millis(100)) {
            Ok(_) => {
                remaining -= 1;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let k = control.count();
        if k > seen_interrupts {
            clear(&mut monitor);
            if k == 1 || !run.stopping() {
                eprintln!("daqflow: stopping — sources stop, queues drain (Ctrl-C again to abort)");
                run.request_stop("Ctrl-C");
            }
            if k >= 2 && !run.aborting() {
                eprintln!("daqflow: aborting — queued frames will be counted as lost");
                run.abort();
            }
            seen_interrupts = k;
        }
        if let Some(secs) = pipeline.stop_after_secs
            && started.elapsed().as_secs_f64() >= secs
        {
            run.request_stop("stop_after_secs reached");
        }
        if run.stopping() && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + drain_timeout);
        }
        if let Some(d) = drain_deadline
            && Instant::now() > d
            && !run.aborting()
        {
            clear(&mut monitor);
            log::error!(
                "the drain did not finish within {:.1} s; aborting (raise [pipeline] drain_timeout_secs for slow sinks)",
                drain_timeout.as_secs_f64()
            );
            run.abort();
        }
        if run.aborting() {
            let d = *abort_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
            if Instant::now() > d {
                break;
            }
        }
        if let Some(m) = monitor.as_deref_mut()
            && last_update.elapsed() >= m.interval()
        {
            last_update = Instant::now();
            m.update(&live);
        }
    }
    clear(&mut monitor);
    remaining
}

fn clear(monitor: &mut Option<&mut dyn Monitor>) {
    if let Some(m) = monitor.as_deref_mut() {
        m.clear();
    }
}

/// Ends the run: joins the threads that finished and destroys their instances, then (when
/// no thread is stuck) finishes the inline nodes; returns the names of the stuck nodes.
pub fn collect(w: &Wiring, s: Started, remaining: usize) -> Vec<String> {
    let mut stuck = Vec::new();
    for (i, t) in s.threads.into_iter().enumerate() {
        let Some(t) = t else { continue };
        if t.is_finished() || remaining == 0 {
            match t.join() {
                Ok(inst) => inst.destroy(),
                Err(_) => w.nodes[i].stats.fail(
                    &w.nodes[i].name,
                    "the node thread panicked in the core".into(),
                ),
            }
        } else {
            stuck.push(w.nodes[i].name.clone());
        }
    }
    drop(s.inputs);
    if stuck.is_empty() {
        for target in w.inline.iter().flatten() {
            target.finish();
            if let Some(inst) = target.take_instance() {
                inst.destroy();
            }
        }
    }
    w.run.pool.release_idle();
    stuck
}

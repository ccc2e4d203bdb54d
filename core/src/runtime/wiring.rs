//! Wiring a validated pipeline before anything runs: the run state and frame pool, one
//! [`NodeState`] per node, an [`InlineNode`] for each node fed by an `inline` lane, and
//! every lane of the graph — the sending end in its producer's outputs, the receiving end
//! kept for its consumer's thread, and a [`LaneProbe`] for the status and the report.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

use super::counters::{LaneStats, NodeStats};
use super::inline::InlineNode;
use super::lane::{self, LaneRx};
use super::node::{EmitOrder, NodeState};
use super::state::RunState;
use crate::config::WhenFull;
use crate::validate::Validated;

/// A lane as the status line and the report see it.
pub struct LaneProbe {
    /// Producer index.
    pub from: usize,
    /// Consumer index.
    pub to: usize,
    /// Capacity (0 for inline lanes).
    pub capacity: usize,
    /// Counters.
    pub stats: Arc<LaneStats>,
    /// Index of this lane in its producer's outputs.
    pub slot: usize,
}

/// Everything a run is made of before any plugin is created.
pub struct Wiring {
    /// State shared by every node.
    pub run: Arc<RunState>,
    /// Node states, indexed like the pipeline's nodes.
    pub nodes: Vec<Arc<NodeState>>,
    /// The inline node of each node fed by an `inline` lane.
    pub inline: Vec<Option<Arc<InlineNode>>>,
    /// The receiving ends of each node's queued input lanes.
    pub inputs: Vec<Vec<LaneRx>>,
    /// Every lane, in graph order.
    pub lanes: Vec<LaneProbe>,
}

/// Builds the run state, the node states and the lanes of `v`.
pub fn wire(v: &Validated) -> Wiring {
    let file = &v.file;
    let n = file.nodes.len();
    let frames_in_flight: usize = v
        .graph
        .lanes
        .iter()
        .map(|l| l.policy.capacity)
        .sum::<usize>()
        + 2 * n;
    let pool_bytes =
        usize::try_from(file.pipeline.pool_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let run = RunState::new(pool_bytes, frames_in_flight);

    let nodes: Vec<Arc<NodeState>> = file
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let mut inputs = v.graph.lanes.iter().filter(|l| l.to == i).peekable();
            let has_inputs = inputs.peek().is_some();
            let (mut all_lossless, mut any_inline, mut all_lossy) = (true, false, true);
            for l in inputs {
                all_lossless &= l.policy.is_lossless();
                any_inline |= l.policy.when_full == WhenFull::Inline;
                all_lossy &= !l.policy.is_lossless();
            }
            Arc::new(NodeState {
                input_lossless: all_lossless,
                input_inline: any_inline,
                input_all_lossy: has_inputs && all_lossy,
                input_stats: OnceLock::new(),
                input_min_interval_ns: AtomicU64::new(0),
                name: node.name.clone(),
                kind: node.kind,
                run: run.clone(),
                stats: Arc::new(NodeStats::default()),
                outputs: RwLock::new(Vec::new()),
                input_format: v.formats.of_node_input(i),
                workers: node.workers,
                order: EmitOrder::default(),
            })
        })
        .collect();
    // Nodes fed by an `inline` lane run on their producer's thread.
    let inline: Vec<Option<Arc<InlineNode>>> = nodes
        .iter()
        .map(|node| {
            node.input_inline
                .then(|| Arc::new(InlineNode::new(node.clone())))
        })
        .collect();

    let mut inputs: Vec<Vec<LaneRx>> = (0..n).map(|_| Vec::new()).collect();
    let mut lanes = Vec::new();
    for l in &v.graph.lanes {
        let (tx, capacity) = match &inline[l.to] {
            Some(target) => (lane::inline_lane(target.clone()), 0),
            None => {
                let (tx, rx) = lane::lane(l.policy);
                inputs[l.to].push(rx);
                (tx, l.policy.capacity)
            }
        };
        let mut outs = nodes[l.from]
            .outputs
            .write()
            .unwrap_or_else(|p| p.into_inner());
        lanes.push(LaneProbe {
            from: l.from,
            to: l.to,
            capacity,
            stats: tx.stats.clone(),
            slot: outs.len(),
        });
        outs.push(tx);
    }

    for (i, node) in nodes.iter().enumerate() {
        let stats = lanes
            .iter()
            .filter(|l| l.to == i)
            .map(|l| l.stats.clone())
            .collect();
        let _ = node.input_stats.set(stats);
    }

    Wiring {
        run,
        nodes,
        inline,
        inputs,
        lanes,
    }
}

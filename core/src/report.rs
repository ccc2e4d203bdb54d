//! The run report: its types (printed as text, written as JSON — the JSON field names are
//! a stable interface users parse), its assembly from a finished run's counters, and the
//! verdict — the lossless check (`sent == received` on every lossless lane, no frame
//! failed or lost anywhere) that settles the outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::config::NodeKind;
use crate::runtime::RunTotals;
use crate::runtime::pool::PoolStats;
use crate::validate::Validated;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every node finished, every lossless lane delivered every frame.
    Ok,
    /// A node failed or a lossless lane lost frames.
    Failed,
    /// The orderly drain was abandoned (second Ctrl-C or drain timeout).
    Aborted,
}

/// One node in the report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: NodeKind,
    /// Plugin name.
    pub plugin: String,
    /// Frames taken from input lanes.
    pub frames_in: u64,
    /// Frames emitted.
    pub frames_out: u64,
    /// Frames received but not handled (the node had failed, or the run aborted).
    pub frames_failed: u64,
    /// Copy-on-write copies.
    pub copies: u64,
    /// Plugin counters (`frames_written`, ...).
    pub counters: BTreeMap<String, u64>,
    /// The node's error.
    pub error: Option<String>,
    /// Sources: seconds from their first `next` call to their end (the acquisition time,
    /// without the start of other nodes or the drain after it). `None` for other nodes
    /// and for a source that never ran.
    pub active_secs: Option<f64>,
}

/// One lane in the report.
#[derive(Debug, Clone, Serialize)]
pub struct LaneReport {
    /// Producer.
    pub from: String,
    /// Consumer.
    pub to: String,
    /// Policy (`block(16)`, `latest`, ...).
    pub policy: String,
    /// Lossless lane.
    pub lossless: bool,
    /// Frames queued.
    pub sent: u64,
    /// Frames taken by the consumer.
    pub received: u64,
    /// Frames dropped by the policy.
    pub dropped: u64,
    /// Frames lost (abort, or the consumer was gone).
    pub lost: u64,
}

/// The run report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Pipeline name.
    pub pipeline: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it stopped (`end of stream`, `Ctrl-C`, `node ... failed`, ...).
    pub stop_reason: String,
    /// Wall time, seconds.
    pub duration_secs: f64,
    /// Nodes, in file order.
    pub nodes: Vec<NodeReport>,
    /// Lanes, in graph order.
    #[serde(rename = "edges")]
    pub lanes: Vec<LaneReport>,
    /// Pool statistics.
    pub pool: PoolStats,
    /// Everything that went wrong, one sentence each.
    pub errors: Vec<String>,
    /// Nodes whose threads were still inside plugin code when the run gave up.
    pub stuck_nodes: Vec<String>,
}

impl RunReport {
    /// The settled report of the run of `v` that left `totals`.
    pub fn from_run(v: &Validated, totals: RunTotals) -> RunReport {
        let file = &v.file;
        let stop_reason = totals.stop_reason.unwrap_or_else(|| {
            if file.pipeline.stop_after_frames.is_some() {
                "stop_after_frames reached or end of stream".into()
            } else {
                "end of stream".into()
            }
        });
        let mut report = RunReport {
            pipeline: file.pipeline.name.clone(),
            outcome: Outcome::Ok,
            stop_reason,
            duration_secs: totals.duration_secs,
            nodes: file
                .nodes
                .iter()
                .zip(&totals.nodes)
                .map(|(node, stats)| NodeReport {
                    name: node.name.clone(),
                    kind: node.kind,
                    plugin: node.plugin.clone(),
                    frames_in: stats.frames_in.load(Ordering::Relaxed),
                    frames_out: stats.frames_out.load(Ordering::Relaxed),
                    frames_failed: stats.frames_failed.load(Ordering::Relaxed),
                    copies: stats.copies.load(Ordering::Relaxed),
                    counters: stats
                        .custom
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                    error: stats
                        .error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                    active_secs: match stats.active_ns.load(Ordering::Relaxed) {
                        0 => None,
                        ns => Some(ns as f64 * 1e-9),
                    },
                })
                .collect(),
            lanes: v
                .graph
                .lanes
                .iter()
                .zip(&totals.lanes)
                .map(|(l, stats)| LaneReport {
                    from: v.graph.names[l.from].clone(),
                    to: v.graph.names[l.to].clone(),
                    policy: l.policy.to_string(),
                    lossless: l.policy.is_lossless(),
                    sent: stats.sent.load(Ordering::Relaxed),
                    received: stats.received.load(Ordering::Relaxed),
                    dropped: stats.dropped.load(Ordering::Relaxed),
                    lost: stats.lost.load(Ordering::Relaxed),
                })
                .collect(),
            pool: totals.pool,
            errors: Vec::new(),
            stuck_nodes: totals.stuck_nodes,
        };
        report.settle(totals.aborted);
        report
    }

    /// Adds the lossless check and the node errors to `errors`, and settles the outcome.
    pub fn settle(&mut self, aborted: bool) {
        for n in &self.nodes {
            if let Some(e) = &n.error {
                self.errors.push(format!("node `{}` failed: {e}", n.name));
            }
            // By convention a plugin that loses frames on its own (a writer whose disk
            // filled) says so in a `frames_lost` counter: that breaks the lossless promise.
            if let Some(&lost) = n.counters.get("frames_lost")
                && lost > 0
            {
                self.errors
                    .push(format!("node `{}` reports {lost} frame(s) lost", n.name));
            }
            if n.frames_failed > 0 {
                self.errors.push(format!(
                    "node `{}` did not handle {} frame(s) it received",
                    n.name, n.frames_failed
                ));
            }
        }
        for e in &self.lanes {
            if e.lost > 0 {
                self.errors.push(format!(
                    "lane {} -> {} lost {} frame(s)",
                    e.from, e.to, e.lost
                ));
            } else if e.lossless && e.sent != e.received {
                self.errors.push(format!(
                    "lossless lane {} -> {}: {} sent but {} received",
                    e.from, e.to, e.sent, e.received
                ));
            }
        }
        if !self.stuck_nodes.is_empty() {
            self.errors.push(format!(
                "threads still inside plugin code at exit: {}",
                self.stuck_nodes.join(", ")
            ));
        }
        self.outcome = if aborted {
            Outcome::Aborted
        } else if self.errors.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
    }

    /// Human-readable rendering.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run report: pipeline \"{}\" — {} after {:.2} s ({})",
            self.pipeline,
            match self.outcome {
                Outcome::Ok => "OK",
                Outcome::Failed => "FAILED",
                Outcome::Aborted => "ABORTED",
            },
            self.duration_secs,
            self.stop_reason
        );
        let _ = writeln!(
            s,
            "  {:<14} {:<7} {:<14} {:>10} {:>10} {:>8} {:>7}  other",
            "node", "kind", "plugin", "in", "out", "failed", "copies"
        );
        for n in &self.nodes {
            let other: Vec<String> = n.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let dash = |v: u64, show: bool| if show { v.to_string() } else { "-".into() };
            let _ = writeln!(
                s,
                "  {:<14} {:<7} {:<14} {:>10} {:>10} {:>8} {:>7}  {}",
                n.name,
                n.kind.to_string(),
                n.plugin,
                dash(n.frames_in, n.kind != NodeKind::Source),
                dash(n.frames_out, n.kind != NodeKind::Sink),
                n.frames_failed,
                n.copies,
                other.join(" ")
            );
        }
        for n in &self.nodes {
            if let Some(secs) = n.active_secs.filter(|&t| t > 0.0) {
                let _ = writeln!(
                    s,
                    "  source {}: {} frames in {secs:.2} s = {:.0} frames/s",
                    n.name,
                    n.frames_out,
                    n.frames_out as f64 / secs
                );
            }
        }
        let _ = writeln!(
            s,
            "  {:<30} {:<16} {:>10} {:>10} {:>10} {:>6}",
            "lane", "policy", "sent", "received", "dropped", "lost"
        );
        for e in &self.lanes {
            let _ = writeln!(
                s,
                "  {:<30} {:<16} {:>10} {:>10} {:>10} {:>6}",
                format!("{} -> {}", e.from, e.to),
                e.policy,
                e.sent,
                e.received,
                e.dropped,
                e.lost
            );
        }
        let _ = writeln!(
            s,
            "  pool: {} buffers allocated, peak {:.1} MiB of {} MiB, {} waits for a free buffer",
            self.pool.buffers_allocated,
            self.pool.peak_bytes as f64 / 1048576.0,
            self.pool.budget_bytes >> 20,
            self.pool.waits
        );
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        if self.outcome == Outcome::Ok {
            let lossless = self.lanes.iter().filter(|e| e.lossless).count();
            let _ = writeln!(
                s,
                "  every lossless lane ({lossless}) delivered every frame"
            );
        }
        s
    }
}

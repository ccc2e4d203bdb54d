//! Accounting: per-node and per-edge counters gathered into the run report (printed, and
//! written as JSON), the lossless check (`sent == received` on every lossless lane, no
//! frame failed anywhere), and the one-line live status.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::config::NodeKind;
use crate::runtime::pool::PoolStats;

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
pub struct EdgeReport {
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
    /// Lanes.
    pub edges: Vec<EdgeReport>,
    /// Pool statistics.
    pub pool: PoolStats,
    /// Everything that went wrong, one sentence each.
    pub errors: Vec<String>,
    /// Nodes whose threads were still inside plugin code when the run gave up.
    pub stuck_nodes: Vec<String>,
}

impl RunReport {
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
        for e in &self.edges {
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
        for e in &self.edges {
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
            let lossless = self.edges.iter().filter(|e| e.lossless).count();
            let _ = writeln!(
                s,
                "  every lossless lane ({lossless}) delivered every frame"
            );
        }
        s
    }
}

/// Rates between two samples of the counters, for the status line.
pub struct StatusLine {
    last: Vec<u64>,
    last_t: std::time::Instant,
}

impl StatusLine {
    /// Starts sampling.
    pub fn new(n: usize) -> StatusLine {
        StatusLine {
            last: vec![0; n],
            last_t: std::time::Instant::now(),
        }
    }

    /// One status line from the live counters.
    pub fn render(&mut self, rt: &crate::runtime::Live<'_>) -> String {
        let now = std::time::Instant::now();
        let dt = now.duration_since(self.last_t).as_secs_f64().max(1e-3);
        self.last_t = now;
        let mut parts = Vec::new();
        for (i, n) in rt.nodes.iter().enumerate() {
            let count = match n.kind {
                NodeKind::Source => n.stats.frames_out.load(Ordering::Relaxed),
                _ => n.stats.frames_in.load(Ordering::Relaxed),
            };
            let rate = (count - self.last[i].min(count)) as f64 / dt;
            self.last[i] = count;
            parts.push(format!("{} {:.0} fps", n.name, rate));
        }
        let mut lanes = Vec::new();
        let mut drops = 0;
        for (e, tx_len) in rt.edges.iter().zip(rt.queue_lens()) {
            drops += e.stats.dropped.load(Ordering::Relaxed);
            lanes.push(format!(
                "{}→{} {}/{}",
                rt.names[e.from], rt.names[e.to], tx_len, e.capacity
            ));
        }
        format!(
            "[{:>6.1}s] {} | queues {} | dropped {}",
            rt.elapsed().as_secs_f64(),
            parts.join(", "),
            lanes.join(" "),
            drops
        )
    }
}

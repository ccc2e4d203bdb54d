//! The pipeline as a graph: nodes, the lanes between them with their policy, topological
//! order, and the structural checks (unknown or missing inputs, sources with inputs, sinks
//! nobody feeds, filters nobody reads, cycles printed as paths, lossy lanes into plugins
//! that need every frame).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{NodeKind, PipelineFile, QueuePolicy};
use crate::diag::Diagnostic;
use crate::plugin::InputRequirement;

/// A lane between two nodes.
#[derive(Debug, Clone, Serialize)]
pub struct Lane {
    /// Producer node index.
    pub from: usize,
    /// Consumer node index.
    pub to: usize,
    /// The lane's policy.
    pub policy: QueuePolicy,
}

/// The checked graph.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// Node names, indexed like `PipelineFile::nodes`.
    pub names: Vec<String>,
    /// Node kinds.
    pub kinds: Vec<NodeKind>,
    /// Lanes in file order.
    pub lanes: Vec<Lane>,
    /// Node indices, producers before consumers.
    pub order: Vec<usize>,
}

/// Builds the graph of `file`. `inputs_req[i]` is what node i's plugin needs from its lane
/// (`None` when its plugin could not be loaded). Problems are appended to `diags`.
pub fn build(
    file: &PipelineFile,
    inputs_req: &[Option<InputRequirement>],
    diags: &mut Vec<Diagnostic>,
) -> Graph {
    let index: BTreeMap<&str, usize> = file
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let names: Vec<String> = file.nodes.iter().map(|n| n.name.clone()).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut lanes = Vec::new();
    let mut consumers = vec![0usize; file.nodes.len()];

    for (to, node) in file.nodes.iter().enumerate() {
        let line = node.line_of("inputs");
        let d = |msg: String| {
            Diagnostic::new(&file.path, msg)
                .line(Some(line))
                .node(&node.name)
        };
        match node.kind {
            NodeKind::Source if !node.inputs.is_empty() => {
                diags.push(
                    d("a source cannot have `inputs`".into())
                        .help("remove `inputs`, or declare the node under [filters] or [sinks]"),
                );
                continue;
            }
            NodeKind::Filter | NodeKind::Sink if node.inputs.is_empty() => {
                diags.push(
                    d(format!("a {} needs `inputs`; nothing feeds it", node.kind))
                        .line(Some(node.line))
                        .help(format!(
                            "add inputs = [\"NODE\"] with one of: {}",
                            name_refs.join(", ")
                        )),
                );
                continue;
            }
            _ => {}
        }
        let req = inputs_req.get(to).copied().flatten();
        let policy = node.queue.unwrap_or(match req {
            Some(InputRequirement::PrefersLatest) => QueuePolicy::LATEST,
            _ => QueuePolicy::BLOCK,
        });
        if req == Some(InputRequirement::Lossless) && !policy.is_lossless() {
            diags.push(
                Diagnostic::new(&file.path, format!(
                    "plugin `{}` needs every frame, but its input lane is `{policy}`, which drops frames",
                    node.plugin
                ))
                .line(Some(node.line_of("queue")))
                .node(&node.name)
                .help("use queue = \"block\" or queue = { capacity = N, when_full = \"block\" }"),
            );
        }
        if policy.when_full == crate::config::WhenFull::Inline && node.inputs.len() != 1 {
            diags.push(
                d(format!(
                    "an `inline` lane needs exactly one input (it runs on that input's thread), not {}",
                    node.inputs.len()
                ))
                .line(Some(node.line_of("queue"))),
            );
        }
        let mut seen = Vec::new();
        for input in &node.inputs {
            if seen.contains(&input) {
                diags.push(d(format!("input `{input}` is listed twice")));
                continue;
            }
            seen.push(input);
            match index.get(input.as_str()) {
                None => {
                    let mut m = format!("unknown input `{input}`");
                    if let Some(g) = crate::suggest::closest(input, &name_refs) {
                        let _ = write!(m, " (did you mean `{g}`?)");
                    }
                    diags.push(
                        d(m).help(format!("nodes in this pipeline: {}", name_refs.join(", "))),
                    );
                }
                Some(&from) => {
                    if file.nodes[from].kind == NodeKind::Sink {
                        diags.push(d(format!(
                            "input `{input}` is a sink; sinks produce no frames"
                        )));
                        continue;
                    }
                    consumers[from] += 1;
                    lanes.push(Lane { from, to, policy });
                }
            }
        }
    }

    for (i, node) in file.nodes.iter().enumerate() {
        if node.kind != NodeKind::Sink && consumers[i] == 0 {
            diags.push(
                Diagnostic::new(
                    &file.path,
                    format!(
                        "the {}'s frames go nowhere: no node lists it in `inputs`",
                        node.kind
                    ),
                )
                .line(Some(node.line))
                .node(&node.name)
                .help(format!(
                    "add \"{}\" to the inputs of a sink (e.g. a `discard` sink)",
                    node.name
                )),
            );
        }
    }

    let order = match topo_order(file.nodes.len(), &lanes) {
        Ok(o) => o,
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            let first = cycle[0];
            diags.push(
                Diagnostic::new(&file.path, format!("cycle: {}", path.join(" -> ")))
                    .line(Some(file.nodes[first].line_of("inputs")))
                    .node(&names[first])
                    .help("frames must flow from sources to sinks; remove one of these inputs"),
            );
            (0..file.nodes.len()).collect()
        }
    };

    Graph {
        names,
        kinds: file.nodes.iter().map(|n| n.kind).collect(),
        lanes,
        order,
    }
}

/// Kahn's algorithm; on a cycle, returns one cycle as a closed path of node indices.
fn topo_order(n: usize, lanes: &[Lane]) -> Result<Vec<usize>, Vec<usize>> {
    let mut indeg = vec![0; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in lanes {
        indeg[e.to] += 1;
        out[e.from].push(e.to);
    }
    // Among ready nodes, the earliest in the file first: the order reads like the file.
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &out[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(std::cmp::Reverse(j));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk backwards along remaining lanes from any node left: we must revisit one.
    let remaining: Vec<bool> = (0..n).map(|i| indeg[i] > 0).collect();
    let start = (0..n).find(|&i| remaining[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = lanes
            .iter()
            .find(|e| e.from == cur && remaining[e.to])
            .map(|e| e.to)
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(next);
            return Err(cycle);
        }
        path.push(next);
        cur = next;
    }
}

impl Graph {
    /// Text rendering: one line per node with its inputs, lane policies and the format of
    /// the frames on each lane (`formats[i]`: node i's output, `None` when only the run
    /// will tell).
    pub fn to_text(&self, file: &PipelineFile, formats: &[Option<String>]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "pipeline \"{}\" ({} nodes, {} lanes)",
            file.pipeline.name,
            self.names.len(),
            self.lanes.len()
        );
        for &i in &self.order {
            let n = &file.nodes[i];
            let _ = write!(
                s,
                "  {:<8} {:<16} plugin={}",
                n.kind.to_string(),
                n.name,
                n.plugin
            );
            let ins: Vec<String> = self
                .lanes
                .iter()
                .filter(|e| e.to == i)
                .map(|e| {
                    format!(
                        "{} [{}; {}]",
                        self.names[e.from],
                        e.policy,
                        lane_format(formats, e.from)
                    )
                })
                .collect();
            if !ins.is_empty() {
                let _ = write!(s, "  <- {}", ins.join(", "));
            }
            s.push('\n');
        }
        s
    }

    /// Graphviz DOT rendering, each lane labelled with its policy and format.
    pub fn to_dot(&self, file: &PipelineFile, formats: &[Option<String>]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "digraph \"{}\" {{\n  rankdir=LR;",
            file.pipeline.name.replace('"', "'")
        );
        for (i, n) in file.nodes.iter().enumerate() {
            let shape = match n.kind {
                NodeKind::Source => "invhouse",
                NodeKind::Filter => "box",
                NodeKind::Sink => "house",
            };
            let _ = writeln!(
                s,
                "  \"{}\" [shape={shape}, label=\"{}\\n({})\"];",
                self.names[i], n.name, n.plugin
            );
        }
        for e in &self.lanes {
            let style = if e.policy.is_lossless() {
                "solid"
            } else {
                "dashed"
            };
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [label=\"{}\\n{}\", style={style}];",
                self.names[e.from],
                self.names[e.to],
                e.policy,
                lane_format(formats, e.from)
            );
        }
        s.push_str("}\n");
        s
    }
}

/// The format shown for a lane out of `from`.
fn lane_format(formats: &[Option<String>], from: usize) -> &str {
    formats
        .get(from)
        .and_then(|f| f.as_deref())
        .unwrap_or("format known at run time")
}

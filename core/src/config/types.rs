//! The pipeline file's typed model: node kinds, lane policies (the TOML `queue` key), the
//! `[pipeline]` section and the nodes as written, with the TOML line of every key. Plain
//! data: parsing lives in [`super::parse`], checks across nodes in [`crate::graph`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Default capacity of a lossless (`block`) lane, in frames.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16;
/// Default memory budget of the frame pool.
pub const DEFAULT_POOL_MB: u64 = 2048;
/// Default time allowed for an orderly drain before the run aborts.
pub const DEFAULT_DRAIN_TIMEOUT_SECS: f64 = 30.0;

/// Which section a node is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// `[sources.NAME]`
    Source,
    /// `[filters.NAME]`
    Filter,
    /// `[sinks.NAME]`
    Sink,
}

impl NodeKind {
    /// The TOML section name.
    pub fn section(self) -> &'static str {
        match self {
            NodeKind::Source => "sources",
            NodeKind::Filter => "filters",
            NodeKind::Sink => "sinks",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Source => "source",
            NodeKind::Filter => "filter",
            NodeKind::Sink => "sink",
        })
    }
}

/// What a lane does when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait: lossless back-pressure.
    Block,
    /// Discard the oldest queued frame to make room.
    DropOldest,
    /// Discard the new frame.
    DropNewest,
    /// No queue: the producer's thread calls the consumer directly (GStreamer's direct
    /// link). Lossless and cheapest; the consumer's time adds to the producer's.
    Inline,
}

/// A lane policy: capacity and what happens when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueuePolicy {
    /// Frames the lane holds.
    pub capacity: usize,
    /// What a full lane does.
    pub when_full: WhenFull,
}

impl QueuePolicy {
    /// `latest`: one frame, the newest.
    pub const LATEST: QueuePolicy = QueuePolicy {
        capacity: 1,
        when_full: WhenFull::DropOldest,
    };
    /// The default lossless lane.
    pub const BLOCK: QueuePolicy = QueuePolicy {
        capacity: DEFAULT_QUEUE_CAPACITY,
        when_full: WhenFull::Block,
    };

    /// `inline`: no queue, no thread of its own.
    pub const INLINE: QueuePolicy = QueuePolicy {
        capacity: 0,
        when_full: WhenFull::Inline,
    };

    /// True when the lane never drops.
    pub fn is_lossless(&self) -> bool {
        matches!(self.when_full, WhenFull::Block | WhenFull::Inline)
    }
}

impl fmt::Display for QueuePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.when_full, self.capacity) {
            (WhenFull::DropOldest, 1) => write!(f, "latest"),
            (WhenFull::Block, c) => write!(f, "block({c})"),
            (WhenFull::DropOldest, c) => write!(f, "drop_oldest({c})"),
            (WhenFull::DropNewest, c) => write!(f, "drop_newest({c})"),
            (WhenFull::Inline, _) => write!(f, "inline"),
        }
    }
}

/// The `[pipeline]` section.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineSection {
    /// Name shown in status and report (default: the file stem).
    pub name: String,
    /// Each source ends its stream after this many frames.
    pub stop_after_frames: Option<u64>,
    /// The run stops in order after this many seconds.
    pub stop_after_secs: Option<f64>,
    /// Extra plugin directories, relative to the pipeline file.
    pub plugin_path: Vec<PathBuf>,
    /// Memory budget of the frame pool, MiB.
    pub pool_mb: u64,
    /// Time allowed for an orderly drain before aborting, seconds.
    pub drain_timeout_secs: f64,
}

/// One node of the pipeline as written in the file.
#[derive(Debug, Clone, Serialize)]
pub struct NodeConfig {
    /// The node name (`detector` in `[sources.detector]`).
    pub name: String,
    /// The section it is declared in.
    pub kind: NodeKind,
    /// `plugin = "..."`: a plugin name or a path to a library.
    pub plugin: String,
    /// `inputs = [...]`.
    pub inputs: Vec<String>,
    /// `queue = ...` if given.
    pub queue: Option<QueuePolicy>,
    /// `workers = N` (filters): instances processing frames side by side, output in input
    /// order. 1 when not given.
    pub workers: usize,
    /// Everything else: the plugin's own settings.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Line of the node's header.
    pub line: usize,
    /// Line of each key in the node's table.
    pub key_lines: BTreeMap<String, usize>,
}

impl NodeConfig {
    /// Line of `key` in this node, falling back to the node's header.
    pub fn line_of(&self, key: &str) -> usize {
        let top = key.split(['.', '[']).next().unwrap_or(key);
        self.key_lines.get(top).copied().unwrap_or(self.line)
    }
}

/// A loaded pipeline file.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `[pipeline]`.
    pub pipeline: PipelineSection,
    /// Sources, filters, sinks in file order.
    pub nodes: Vec<NodeConfig>,
}

impl PipelineFile {
    /// The directory relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

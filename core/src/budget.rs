//! The pre-flight budget `validate` prints: per lane, bytes per frame, frames/s, MB/s and
//! the memory its queue can pin, from the formats and rates known before the run; and the
//! checks that follow — a frame bigger than the pool (an error: the run would fail on its
//! first frame), lanes that can pin more than the pool (a warning: back-pressure, not
//! loss), and a file sink whose run would write more than the free space of its disk.
//!
//! Nothing is measured: the file-size check reads the free space (`statvfs`) of the
//! directory a sink's `path` setting names — the convention for sinks that write files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{NodeKind, PipelineFile, WhenFull};
use crate::diag::Diagnostic;
use crate::formats::{Formats, FrameFormatView};
use crate::graph::Graph;

/// One lane's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct LaneBudget {
    /// Producer node.
    pub from: String,
    /// Consumer node.
    pub to: String,
    /// The lane's policy (`block(16)`, `latest`, …).
    pub policy: String,
    /// The frames on it, when known before the run.
    pub format: Option<FrameFormatView>,
    /// Bytes of one frame (decoded size for compressed frames).
    pub bytes_per_frame: Option<u64>,
    /// Nominal frames per second.
    pub frames_per_sec: Option<f64>,
    /// Nominal MB/s (10^6 bytes).
    pub mb_per_sec: Option<f64>,
    /// Frames the queue can hold (0 for `inline`).
    pub queue_frames: usize,
    /// Bytes the queue can pin in the pool when full.
    pub pinned_bytes: Option<u64>,
}

/// A file sink's expected output against the free space where it writes.
#[derive(Debug, Clone, Serialize)]
pub struct FileEstimate {
    /// The sink node.
    pub node: String,
    /// Its `path` setting.
    pub path: PathBuf,
    /// Expected bytes written (uncompressed), when the run's length is known.
    pub expected_bytes: Option<u64>,
    /// Free bytes on the file system of the path's directory, when it exists.
    pub free_bytes: Option<u64>,
}

/// The whole table.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// Every lane, in file order.
    pub lanes: Vec<LaneBudget>,
    /// `[pipeline] pool_mb` in bytes.
    pub pool_bytes: u64,
    /// Sum of `pinned_bytes` over the lanes whose format is known.
    pub pinned_bytes: u64,
    /// File sinks.
    pub files: Vec<FileEstimate>,
}

/// Computes the budget; errors go to `diags`, warnings to `warnings`.
pub fn compute(
    file: &PipelineFile,
    graph: &Graph,
    formats: &Formats,
    diags: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Budget {
    let pool_bytes = file.pipeline.pool_mb.saturating_mul(1 << 20);
    let mut lanes = Vec::with_capacity(graph.lanes.len());
    for e in &graph.lanes {
        let fmt = formats.of_node_output(e.from);
        let queue_frames = match e.policy.when_full {
            WhenFull::Inline => 0,
            _ => e.policy.capacity,
        };
        let bytes = fmt.map(|f| f.frame_bytes());
        lanes.push(LaneBudget {
            from: graph.names[e.from].clone(),
            to: graph.names[e.to].clone(),
            policy: e.policy.to_string(),
            format: fmt.map(Into::into),
            bytes_per_frame: bytes,
            frames_per_sec: fmt.and_then(|f| f.rate_hz),
            mb_per_sec: fmt.and_then(|f| f.bytes_per_sec()).map(|b| b / 1e6),
            queue_frames,
            pinned_bytes: bytes.map(|b| b.saturating_mul(queue_frames as u64)),
        });
    }

    // A frame that can never fit in the pool fails the run on its first frame.
    for (i, node) in file.nodes.iter().enumerate() {
        let Some(f) = formats.of_node_output(i) else {
            continue;
        };
        // Reported where frames first become too big, not again downstream.
        let input_too_big = formats
            .of_node_input(i)
            .is_some_and(|f| f.frame_bytes() > pool_bytes);
        if f.frame_bytes() > pool_bytes && !input_too_big {
            let need_mb = f.frame_bytes().div_ceil(1 << 20);
            diags.push(
                Diagnostic::new(
                    &file.path,
                    format!(
                        "its frames ({f}) are {} each, more than the whole frame pool ({}, [pipeline] pool_mb = {})",
                        human_bytes(f.frame_bytes()),
                        human_bytes(pool_bytes),
                        file.pipeline.pool_mb
                    ),
                )
                .line(Some(node.line))
                .node(&node.name)
                .help(format!(
                    "make the frames smaller (width/height/dtype), or set [pipeline] pool_mb to at least {} (a few frames more than that, for the queues)",
                    need_mb.saturating_mul(4)
                )),
            );
        }
    }

    let pinned: u64 = lanes.iter().filter_map(|l| l.pinned_bytes).sum();
    if pinned > pool_bytes {
        let worst = lanes
            .iter()
            .filter(|l| l.pinned_bytes.is_some())
            .max_by_key(|l| l.pinned_bytes)
            .map(|l| {
                format!(
                    " (the largest: `{}` -> `{}`, {})",
                    l.from,
                    l.to,
                    human_bytes(l.pinned_bytes.unwrap_or(0))
                )
            })
            .unwrap_or_default();
        warnings.push(
            Diagnostic::new(
                &file.path,
                format!(
                    "the lanes can hold {} of frames{worst}, more than the frame pool ({}): when they fill, the pool runs dry first and producers wait (back-pressure, no loss)",
                    human_bytes(pinned),
                    human_bytes(pool_bytes)
                ),
            )
            .help(format!(
                "set [pipeline] pool_mb = {} or lower the queue capacities",
                pinned.div_ceil(1 << 20) + 1
            )),
        );
    }

    let mut files = Vec::new();
    for (i, node) in file.nodes.iter().enumerate() {
        if node.kind != NodeKind::Sink {
            continue;
        }
        let Some(path) = node.settings.get("path").and_then(|v| v.as_str()) else {
            continue;
        };
        let path = PathBuf::from(path);
        let dir = existing_dir(&path);
        let free_bytes = dir.as_deref().and_then(free_space);
        let expected_bytes = expected_frames(file, graph, formats, i)
            .zip(formats.of_node_input(i))
            .map(|(frames, f)| frames.saturating_mul(f.frame_bytes()));
        if let (Some(expected), Some(free)) = (expected_bytes, free_bytes)
            && expected > free
        {
            let compressed = node
                .settings
                .get("compression")
                .and_then(|v| v.as_str())
                .is_some_and(|c| c != "none");
            let d = Diagnostic::new(
                &file.path,
                format!(
                    "this run writes ~{} to {}{}, {} free on {}",
                    human_bytes(expected),
                    path.display(),
                    if compressed { " before compression" } else { "" },
                    human_bytes(free),
                    dir.as_deref().unwrap_or(Path::new(".")).display()
                ),
            )
            .line(Some(node.line_of("path")))
            .node(&node.name)
            .help("free space, write to another disk, compress, or shorten the run (stop_after_frames / stop_after_secs)");
            if compressed {
                warnings.push(d);
            } else {
                diags.push(d);
            }
        }
        files.push(FileEstimate {
            node: node.name.clone(),
            path,
            expected_bytes,
            free_bytes,
        });
    }

    Budget {
        lanes,
        pool_bytes,
        pinned_bytes: pinned,
        files,
    }
}

/// Frames node `i` should see in a bounded run: `stop_after_secs` × its input rate, or
/// `stop_after_frames` × the sources upstream (scaled when the rates tell that filters
/// between them drop or merge frames). `None` for a run of unknown length.
fn expected_frames(file: &PipelineFile, graph: &Graph, formats: &Formats, i: usize) -> Option<u64> {
    let rate_in = formats.of_node_input(i).and_then(|f| f.rate_hz);
    if let Some(secs) = file.pipeline.stop_after_secs {
        return rate_in.map(|r| (r * secs).ceil() as u64);
    }
    let n = file.pipeline.stop_after_frames?;
    let sources = upstream_sources(graph, i);
    let source_rate: Option<f64> = sources
        .iter()
        .map(|&s| formats.of_node_output(s).and_then(|f| f.rate_hz))
        .sum();
    let frames = n.saturating_mul(sources.len() as u64);
    Some(match (rate_in, source_rate) {
        (Some(r), Some(s)) if s > 0.0 && r < s => (frames as f64 * r / s).ceil() as u64,
        _ => frames,
    })
}

fn upstream_sources(graph: &Graph, i: usize) -> Vec<usize> {
    let mut seen = vec![false; graph.names.len()];
    let mut stack = vec![i];
    let mut sources = Vec::new();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        let ins: Vec<usize> = graph
            .lanes
            .iter()
            .filter(|e| e.to == n)
            .map(|e| e.from)
            .collect();
        if ins.is_empty() && n != i {
            sources.push(n);
        }
        stack.extend(ins);
    }
    sources
}

/// The nearest existing directory containing `path` (relative paths: from the current
/// directory, where the sink will resolve them).
fn existing_dir(path: &Path) -> Option<PathBuf> {
    let mut dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.as_os_str().is_empty() {
        dir = PathBuf::from(".");
    }
    loop {
        if dir.is_dir() {
            return Some(dir);
        }
        dir = dir.parent()?.to_path_buf();
        if dir.as_os_str().is_empty() {
            dir = PathBuf::from(".");
        }
    }
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data, fully written on success; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path pointer and out-parameter for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// `8.0 MiB`, `7.2 GiB`, `512 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Budget {
    /// The table `validate` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<28} {:<26} {:>11} {:>9} {:>10} {:>6} {:>10}",
            "lane", "format", "bytes/frame", "frames/s", "MB/s", "queue", "can pin"
        );
        let dash = "-";
        for l in &self.lanes {
            let name = format!("{} -> {}", l.from, l.to);
            let fmt = l.format.as_ref().map_or_else(
                || "known at run time".to_string(),
                |f| {
                    let mut f = f.format();
                    f.rate_hz = None;
                    f.to_string()
                },
            );
            let _ = writeln!(
                s,
                "{:<28} {:<26} {:>11} {:>9} {:>10} {:>6} {:>10}",
                name,
                fmt,
                l.bytes_per_frame.map_or(dash.into(), human_bytes),
                l.frames_per_sec.map_or(dash.into(), |r| format!("{r:.1}")),
                l.mb_per_sec.map_or(dash.into(), |r| format!("{r:.1}")),
                if l.queue_frames == 0 {
                    "inline".to_string()
                } else {
                    l.queue_frames.to_string()
                },
                l.pinned_bytes.map_or(dash.into(), human_bytes),
            );
        }
        let _ = writeln!(
            s,
            "frame pool: {}; the lanes can pin {}",
            human_bytes(self.pool_bytes),
            human_bytes(self.pinned_bytes)
        );
        for f in &self.files {
            let _ = writeln!(
                s,
                "file `{}`: {} -> expected {}, free {}",
                f.node,
                f.path.display(),
                f.expected_bytes
                    .map_or("unknown (run length not set)".into(), human_bytes),
                f.free_bytes.map_or("unknown".into(), human_bytes)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8 << 20), "8.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn free_space_of_an_existing_directory() {
        let dir = existing_dir(Path::new("/surely/not/here/run.h5")).unwrap();
        assert_eq!(dir, PathBuf::from("/"));
        assert!(free_space(&dir).is_some());
    }
}

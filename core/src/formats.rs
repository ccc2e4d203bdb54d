//! Frame formats through the graph, before the first frame: each source states what it
//! will produce (from its settings), each filter maps its input format to its output
//! format, each sink accepts or refuses; a refusal becomes a diagnostic naming both nodes,
//! the setting's TOML line and the fix. Unknown formats (a network detector's geometry,
//! plugins older than ABI 1.2) pass unchecked, and are checked at run time instead.

use daqflow_sdk::FrameFormat;
use serde::Serialize;

use crate::config::{NodeKind, PipelineFile};
use crate::diag::Diagnostic;
use crate::graph::Graph;
use crate::plugin::{FormatAnswer, Plugin};

/// The formats `validate` could determine; `None` where only the run will tell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Formats {
    /// The format of the frames each node takes in (same index as the file's nodes).
    pub input: Vec<Option<FrameFormatView>>,
    /// The format of the frames each node emits.
    pub output: Vec<Option<FrameFormatView>>,
}

/// A [`FrameFormat`] as the report and `--json` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameFormatView {
    /// `u16`, …
    pub dtype: &'static str,
    /// `raw`, `lz4`, `bslz4`, …
    pub encoding: String,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Nominal frames per second, when known.
    pub rate_hz: Option<f64>,
    /// Bytes of one decoded frame.
    pub frame_bytes: u64,
    #[serde(skip)]
    format: FrameFormat,
}

impl From<FrameFormat> for FrameFormatView {
    fn from(f: FrameFormat) -> Self {
        FrameFormatView {
            dtype: f.dtype.name(),
            encoding: f.encoding.name(),
            width: f.width,
            height: f.height,
            rate_hz: f.rate_hz,
            frame_bytes: f.frame_bytes(),
            format: f,
        }
    }
}

impl FrameFormatView {
    /// The SDK format.
    pub fn format(&self) -> FrameFormat {
        self.format
    }
}

impl Formats {
    /// The format on the lane out of node `from` (its output), if known.
    pub fn of_node_output(&self, from: usize) -> Option<FrameFormat> {
        self.output
            .get(from)
            .and_then(Option::as_ref)
            .map(FrameFormatView::format)
    }

    /// The format node `i` takes in, if known.
    pub fn of_node_input(&self, i: usize) -> Option<FrameFormat> {
        self.input
            .get(i)
            .and_then(Option::as_ref)
            .map(FrameFormatView::format)
    }
}

/// Propagates formats in topological order; refusals are appended to `diags`.
/// `plugins[i]` is `None` when node i's plugin could not be loaded (already reported).
pub fn propagate(
    file: &PipelineFile,
    plugins: &[Option<Plugin>],
    graph: &Graph,
    diags: &mut Vec<Diagnostic>,
) -> Formats {
    let n = file.nodes.len();
    let mut input: Vec<Option<FrameFormat>> = vec![None; n];
    let mut output: Vec<Option<FrameFormat>> = vec![None; n];
    for &i in &graph.order {
        let node = &file.nodes[i];
        let Some(plugin) = plugins.get(i).and_then(Option::as_ref) else {
            continue;
        };
        let froms: Vec<usize> = graph
            .lanes
            .iter()
            .filter(|e| e.to == i)
            .map(|e| e.from)
            .collect();
        let fed = merge_inputs(froms.iter().map(|&f| output[f]));
        input[i] = fed;
        let answer = match node.kind {
            NodeKind::Source => plugin.output_format(&node.settings, None),
            NodeKind::Filter | NodeKind::Sink => match &fed {
                Some(f) => plugin.output_format(&node.settings, Some(f)),
                None => FormatAnswer::Unknown,
            },
        };
        match answer {
            FormatAnswer::Known(f) if node.kind != NodeKind::Sink => output[i] = Some(f),
            FormatAnswer::Known(_) | FormatAnswer::Unknown => {}
            FormatAnswer::Refused(problems) => {
                let feeders: Vec<&str> = froms.iter().map(|&f| graph.names[f].as_str()).collect();
                let what = fed.map_or_else(|| "its input".to_string(), |f| f.to_string());
                for (field, message) in problems {
                    let line = if field.is_empty() {
                        node.line
                    } else {
                        node.line_of(&field)
                    };
                    let mut d = Diagnostic::new(
                        &file.path,
                        if node.kind == NodeKind::Source {
                            format!("plugin `{}`: {message}", plugin.name)
                        } else {
                            format!(
                                "plugin `{}` cannot take the frames of `{}` ({what}): {message}",
                                plugin.name,
                                feeders.join("`, `")
                            )
                        },
                    )
                    .line(Some(line))
                    .node(&node.name);
                    if node.kind != NodeKind::Source {
                        d = d.help(format!(
                            "change the settings of `{}`, or of `{}` upstream; `daqflow graph` shows the format of every lane",
                            node.name,
                            feeders.join("`, `")
                        ));
                    }
                    diags.push(d);
                }
            }
        }
    }
    Formats {
        input: input.into_iter().map(|f| f.map(Into::into)).collect(),
        output: output.into_iter().map(|f| f.map(Into::into)).collect(),
    }
}

/// The format of a node fed by lanes of `formats`: known only when every lane's is, and
/// all carry the same frames (then the rates add up: frames from two sources interleave).
fn merge_inputs(mut formats: impl Iterator<Item = Option<FrameFormat>>) -> Option<FrameFormat> {
    let first = formats.next()??;
    let mut merged = first;
    for f in formats {
        let f = f?;
        if !f.same_frames(&first) {
            return None;
        }
        merged.rate_hz = match (merged.rate_hz, f.rate_hz) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use daqflow_sdk::DType;

    use super::*;

    #[test]
    fn fan_in_of_equal_frames_adds_rates() {
        let a = FrameFormat::raw(DType::U16, 4, 4).with_rate(Some(10.0));
        let b = a.with_rate(Some(5.0));
        let m = merge_inputs([Some(a), Some(b)].into_iter()).unwrap();
        assert_eq!(m.rate_hz, Some(15.0));
        let c = FrameFormat::raw(DType::U8, 4, 4);
        assert_eq!(merge_inputs([Some(a), Some(c)].into_iter()), None);
        assert_eq!(merge_inputs([Some(a), None].into_iter()), None);
        assert_eq!(merge_inputs(std::iter::empty()), None);
    }
}

//! Parsing pipeline TOML into a [`PipelineFile`], with spans: syntax, sections, reserved
//! keys (`plugin`, `inputs`, `queue`) and `[pipeline]` values are checked here, and every
//! problem becomes a [`Diagnostic`] with its line — all of them, not only the first.
//! Plugin settings stay untyped (a JSON object): each plugin checks its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::types::{
    DEFAULT_DRAIN_TIMEOUT_SECS, DEFAULT_POOL_MB, DEFAULT_QUEUE_CAPACITY, NodeConfig, NodeKind,
    PipelineFile, PipelineSection, QueuePolicy, WhenFull,
};
use crate::diag::{Diagnostic, line_of};
use crate::suggest::closest;

const SECTIONS: [&str; 4] = ["pipeline", "sources", "filters", "sinks"];
const PIPELINE_KEYS: [&str; 6] = [
    "name",
    "stop_after_frames",
    "stop_after_secs",
    "plugin_path",
    "pool_mb",
    "drain_timeout_secs",
];

/// Parses pipeline TOML `text` that came from `path`.
pub fn parse(path: &Path, text: &str) -> (Option<PipelineFile>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_string();
            diags.push(Diagnostic::new(path, format!("TOML syntax error: {msg}")).line(line));
            return (None, diags);
        }
    };
    let p = Parser { path, text, diags };
    p.run(doc.into_inner())
}

struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

type Sp<T> = toml::Spanned<T>;

impl Parser<'_> {
    fn line(&self, pos: usize) -> usize {
        line_of(self.text, pos)
    }

    fn err(&mut self, line: usize, node: Option<&str>, msg: String, help: Option<String>) {
        let mut d = Diagnostic::new(self.path, msg).line(Some(line));
        if let Some(n) = node {
            d = d.node(n);
        }
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
    }

    fn run(mut self, doc: DeTable<'_>) -> (Option<PipelineFile>, Vec<Diagnostic>) {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into());
        let mut pipeline = PipelineSection {
            name: stem,
            stop_after_frames: None,
            stop_after_secs: None,
            plugin_path: Vec::new(),
            pool_mb: DEFAULT_POOL_MB,
            drain_timeout_secs: DEFAULT_DRAIN_TIMEOUT_SECS,
        };
        let mut nodes = Vec::new();
        let mut seen: BTreeMap<String, (NodeKind, usize)> = BTreeMap::new();

        for (key, value) in doc.iter() {
            let key_line = self.line(key.span().start);
            let name = key.get_ref().as_ref();
            match name {
                "pipeline" => match value.get_ref() {
                    DeValue::Table(t) => self.pipeline_section(t, &mut pipeline),
                    _ => self.err(
                        key_line,
                        None,
                        "`pipeline` must be a table: [pipeline]".into(),
                        None,
                    ),
                },
                "sources" | "filters" | "sinks" => {
                    let kind = match name {
                        "sources" => NodeKind::Source,
                        "filters" => NodeKind::Filter,
                        _ => NodeKind::Sink,
                    };
                    let DeValue::Table(t) = value.get_ref() else {
                        self.err(
                            key_line,
                            None,
                            format!("`{name}` must be a table of nodes: [{name}.NAME]"),
                            None,
                        );
                        continue;
                    };
                    for (node_key, node_val) in t.iter() {
                        let node_name = node_key.get_ref().as_ref().to_string();
                        let line = self.line(node_key.span().start);
                        if let Some((other_kind, other_line)) = seen.get(&node_name) {
                            self.err(
                                line,
                                Some(&node_name),
                                format!(
                                    "node name used twice (also [{}.{node_name}] at line {other_line})",
                                    other_kind.section()
                                ),
                                Some("node names are unique across sources, filters and sinks".into()),
                            );
                            continue;
                        }
                        seen.insert(node_name.clone(), (kind, line));
                        if let Some(n) = self.node(kind, node_name, line, node_val) {
                            nodes.push(n);
                        }
                    }
                }
                other => {
                    let guess = closest(other, &SECTIONS);
                    self.err(
                        key_line,
                        None,
                        format!("unknown section `{other}`"),
                        Some(match guess {
                            Some(g) => format!("did you mean `{g}`? Sections are: pipeline, sources, filters, sinks"),
                            None => "sections are: pipeline, sources, filters, sinks".into(),
                        }),
                    );
                }
            }
        }
        nodes.sort_by_key(|n| n.line);
        if nodes.is_empty() && self.diags.is_empty() {
            self.diags.push(
                Diagnostic::new(self.path, "the pipeline has no nodes")
                    .help("declare at least one [sources.NAME] and one [sinks.NAME]"),
            );
        }
        let file = PipelineFile {
            path: self.path.to_path_buf(),
            pipeline,
            nodes,
        };
        (Some(file), self.diags)
    }

    fn pipeline_section(&mut self, t: &DeTable<'_>, p: &mut PipelineSection) {
        for (key, value) in t.iter() {
            let k = key.get_ref().as_ref();
            let line = self.line(key.span().start);
            let v = value.get_ref();
            match k {
                "name" => match v {
                    DeValue::String(s) => p.name = s.to_string(),
                    _ => self.err(line, None, "`pipeline.name` must be a string".into(), None),
                },
                "stop_after_frames" => match as_u64(v) {
                    Some(n) if n > 0 => p.stop_after_frames = Some(n),
                    _ => self.err(
                        line,
                        None,
                        "`stop_after_frames` must be a positive integer".into(),
                        Some("omit it to run until the sources end or Ctrl-C".into()),
                    ),
                },
                "stop_after_secs" => match as_f64(v) {
                    Some(s) if s > 0.0 => p.stop_after_secs = Some(s),
                    _ => self.err(
                        line,
                        None,
                        "`stop_after_secs` must be a positive number".into(),
                        None,
                    ),
                },
                "drain_timeout_secs" => match as_f64(v) {
                    Some(s) if s > 0.0 => p.drain_timeout_secs = s,
                    _ => self.err(
                        line,
                        None,
                        "`drain_timeout_secs` must be a positive number".into(),
                        None,
                    ),
                },
                "pool_mb" => match as_u64(v) {
                    Some(n) if n > 0 => p.pool_mb = n,
                    _ => self.err(
                        line,
                        None,
                        "`pool_mb` must be a positive integer (MiB)".into(),
                        None,
                    ),
                },
                "plugin_path" => match v {
                    DeValue::String(s) => p.plugin_path = vec![PathBuf::from(s.as_ref())],
                    DeValue::Array(a) => {
                        let mut paths = Vec::new();
                        for item in a.iter() {
                            match item.get_ref() {
                                DeValue::String(s) => paths.push(PathBuf::from(s.as_ref())),
                                _ => {
                                    self.err(
                                        line,
                                        None,
                                        "`plugin_path` entries must be strings".into(),
                                        None,
                                    );
                                }
                            }
                        }
                        p.plugin_path = paths;
                    }
                    _ => self.err(
                        line,
                        None,
                        "`plugin_path` must be a directory or a list of directories".into(),
                        None,
                    ),
                },
                other => {
                    let help = match closest(other, &PIPELINE_KEYS) {
                        Some(g) => format!(
                            "did you mean `{g}`? Valid keys: {}",
                            PIPELINE_KEYS.join(", ")
                        ),
                        None => format!("valid keys: {}", PIPELINE_KEYS.join(", ")),
                    };
                    self.err(
                        line,
                        None,
                        format!("unknown key `{other}` in [pipeline]"),
                        Some(help),
                    );
                }
            }
        }
    }

    fn node(
        &mut self,
        kind: NodeKind,
        name: String,
        line: usize,
        value: &Sp<DeValue<'_>>,
    ) -> Option<NodeConfig> {
        let section = kind.section();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.err(
                line,
                Some(&name),
                "node names may contain only letters, digits, `_` and `-`".into(),
                None,
            );
        }
        let DeValue::Table(t) = value.get_ref() else {
            self.err(
                line,
                Some(&name),
                format!("must be a table: [{section}.{name}]"),
                None,
            );
            return None;
        };
        let mut node = NodeConfig {
            name: name.clone(),
            kind,
            plugin: String::new(),
            inputs: Vec::new(),
            queue: None,
            workers: 1,
            settings: serde_json::Map::new(),
            line,
            key_lines: BTreeMap::new(),
        };
        let mut has_plugin = false;
        for (key, v) in t.iter() {
            let k = key.get_ref().as_ref().to_string();
            let kline = self.line(key.span().start);
            node.key_lines.insert(k.clone(), kline);
            match k.as_str() {
                "plugin" => match v.get_ref() {
                    DeValue::String(s) if !s.is_empty() => {
                        node.plugin = s.to_string();
                        has_plugin = true;
                    }
                    _ => {
                        has_plugin = true;
                        self.err(
                            kline,
                            Some(&name),
                            "`plugin` must be a plugin name or a path to a plugin library".into(),
                            Some("run `daqflow plugins` to list the plugins found".into()),
                        );
                    }
                },
                "inputs" => match v.get_ref() {
                    DeValue::Array(a) => {
                        for item in a.iter() {
                            match item.get_ref() {
                                DeValue::String(s) => node.inputs.push(s.to_string()),
                                _ => self.err(
                                    kline,
                                    Some(&name),
                                    "`inputs` must be a list of node names".into(),
                                    None,
                                ),
                            }
                        }
                    }
                    DeValue::String(s) => node.inputs.push(s.to_string()),
                    _ => self.err(
                        kline,
                        Some(&name),
                        "`inputs` must be a list of node names, e.g. inputs = [\"detector\"]"
                            .into(),
                        None,
                    ),
                },
                "queue" => match parse_queue(v.get_ref()) {
                    Ok(q) => node.queue = Some(q),
                    Err(msg) => self.err(
                        kline,
                        Some(&name),
                        format!("invalid `queue`: {msg}"),
                        Some(
                            "use \"block\", \"latest\", \"drop_oldest\", \"drop_newest\", \"inline\" \
                             or { capacity = 64, when_full = \"block\" }"
                                .into(),
                        ),
                    ),
                },
                "workers" => match as_u64(v.get_ref()) {
                    Some(n) if (1..=MAX_WORKERS).contains(&n) && kind == NodeKind::Filter => {
                        node.workers = n as usize;
                    }
                    Some(_) if kind != NodeKind::Filter => self.err(
                        kline,
                        Some(&name),
                        format!("`workers` is for filters; a {kind} runs on one thread"),
                        Some("remove `workers`".into()),
                    ),
                    _ => self.err(
                        kline,
                        Some(&name),
                        format!("`workers` must be a whole number from 1 to {MAX_WORKERS}"),
                        Some("e.g. workers = 2: two instances process frames side by side, the output keeps the input order".into()),
                    ),
                },
                _ => match to_json(v.get_ref()) {
                    Ok(j) => {
                        node.settings.insert(k.clone(), j);
                    }
                    Err(msg) => self.err(kline, Some(&name), format!("setting `{k}`: {msg}"), None),
                },
            }
        }
        if !has_plugin {
            self.err(
                line,
                Some(&name),
                "missing `plugin`".into(),
                Some(
                    "add plugin = \"NAME\"; run `daqflow plugins` to list the plugins found".into(),
                ),
            );
        }
        Some(node)
    }
}

/// Most instances `workers = N` may ask for.
const MAX_WORKERS: u64 = 64;

fn as_u64(v: &DeValue<'_>) -> Option<u64> {
    as_i64(v).and_then(|i| u64::try_from(i).ok())
}

fn as_i64(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

fn as_f64(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Float(f) => f.as_str().parse().ok(),
        DeValue::Integer(_) => as_i64(v).map(|i| i as f64),
        _ => None,
    }
}

/// A TOML value as JSON (how settings cross to plugins). Values JSON cannot carry
/// exactly are errors, never silently changed.
fn to_json(v: &DeValue<'_>) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => match as_i64(v) {
            Some(n) => J::from(n),
            None => J::from(u64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                format!("integer {} is out of range (64 bits at most)", i.as_str())
            })?),
        },
        DeValue::Float(f) => match as_f64(v).and_then(serde_json::Number::from_f64) {
            Some(n) => J::Number(n),
            None => return Err(format!("{} is not a finite number", f.as_str())),
        },
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(a) => J::Array(
            a.iter()
                .map(|x| to_json(x.get_ref()))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, x)| Ok((k.get_ref().to_string(), to_json(x.get_ref())?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn parse_queue(v: &DeValue<'_>) -> Result<QueuePolicy, String> {
    fn when_full(s: &str) -> Result<WhenFull, String> {
        match s {
            "block" => Ok(WhenFull::Block),
            "drop_oldest" => Ok(WhenFull::DropOldest),
            "drop_newest" => Ok(WhenFull::DropNewest),
            other => Err(format!(
                "unknown policy `{other}` (expected block, drop_oldest or drop_newest)"
            )),
        }
    }
    match v {
        DeValue::String(s) => match s.as_ref() {
            "latest" => Ok(QueuePolicy::LATEST),
            "inline" => Ok(QueuePolicy::INLINE),
            other => Ok(QueuePolicy {
                capacity: DEFAULT_QUEUE_CAPACITY,
                when_full: when_full(other).map_err(|_| {
                    format!("unknown policy `{other}` (expected block, latest, drop_oldest, drop_newest or inline)")
                })?,
            }),
        },
        DeValue::Table(t) => {
            let mut q = QueuePolicy::BLOCK;
            for (k, x) in t.iter() {
                match (k.get_ref().as_ref(), x.get_ref()) {
                    ("capacity", x) => match as_u64(x) {
                        Some(c) if (1..=1_000_000).contains(&c) => q.capacity = c as usize,
                        _ => return Err("`capacity` must be an integer from 1 to 1000000".into()),
                    },
                    ("when_full", DeValue::String(s)) => q.when_full = when_full(s)?,
                    ("when_full", _) => return Err("`when_full` must be a string".into()),
                    (other, _) => {
                        return Err(format!("unknown key `{other}` (expected capacity, when_full)"));
                    }
                }
            }
            Ok(q)
        }
        _ => Err("must be a string or a table".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Option<PipelineFile>, Vec<Diagnostic>) {
        parse(Path::new("t.toml"), text)
    }

    #[test]
    fn parses_nodes_settings_and_lines() {
        let (f, d) = parse_str(
            "[pipeline]\nstop_after_frames = 10_000\n\n[sources.det]\nplugin = \"sim_detector\"\nwidth = 0x10\n\
             rate_hz = 2.5\n\n[sinks.v]\nplugin = \"viewer\"\ninputs = [\"det\"]\nqueue = \"latest\"\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let f = f.unwrap();
        assert_eq!(f.pipeline.stop_after_frames, Some(10_000));
        let det = f.node("det").unwrap();
        assert_eq!(det.line, 4);
        assert_eq!(det.settings["width"], serde_json::json!(16));
        assert_eq!(det.settings["rate_hz"], serde_json::json!(2.5));
        assert_eq!(det.line_of("rate_hz"), 7);
        let v = f.node("v").unwrap();
        assert_eq!(v.queue, Some(QueuePolicy::LATEST));
        assert_eq!(v.inputs, vec!["det"]);
    }

    #[test]
    fn collects_every_error() {
        let (_, d) = parse_str(
            "[pipline]\nname = 1\n[sources.a]\nwidth = 3\n[sinks.b]\nplugin = \"x\"\nqueue = \"sometimes\"\n",
        );
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(d.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("unknown section `pipline`")
                && text[0].contains("did you mean `pipeline`")
        );
        assert!(
            text.iter()
                .any(|t| t.contains("t.toml:3: node `a`: missing `plugin`"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("t.toml:7: node `b`: invalid `queue`"))
        );
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (f, d) = parse_str("[pipeline]\nname = \"x\"\n[sources.a\n");
        assert!(f.is_none());
        assert_eq!(d[0].line, Some(3), "{d:?}");
    }

    #[test]
    fn values_json_cannot_carry_are_errors() {
        let (_, d) =
            parse_str("[sources.a]\nplugin = \"x\"\nrate = inf\nbig = 18446744073709551615\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].to_string()
                .contains("t.toml:3: node `a`: setting `rate`: inf is not a finite number"),
            "{d:?}"
        );
    }

    #[test]
    fn queue_table() {
        let (f, d) = parse_str(
            "[sinks.f]\nplugin = \"hdf5\"\nqueue = { capacity = 64, when_full = \"drop_newest\" }\n",
        );
        assert!(d.is_empty());
        assert_eq!(
            f.unwrap().nodes[0].queue,
            Some(QueuePolicy {
                capacity: 64,
                when_full: WhenFull::DropNewest
            })
        );
    }
}

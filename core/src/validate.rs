//! `validate`: everything that can be checked before a run, all at once — the file, the
//! plugins it names (found, right kind), each plugin's own settings, and the graph.

use std::path::{Path, PathBuf};

use crate::budget::{self, Budget};
use crate::config::{self, PipelineFile};
use crate::diag::Diagnostic;
use crate::formats::{self, Formats};
use crate::graph::{self, Graph};
use crate::plugin::{self, Plugin, Registry, SearchPath};

/// A pipeline that passed every check, with its plugins loaded.
#[derive(Debug)]
pub struct Validated {
    /// The file.
    pub file: PipelineFile,
    /// The plugin of each node (same index as `file.nodes`).
    pub plugins: Vec<Plugin>,
    /// The graph.
    pub graph: Graph,
    /// The frame formats known before the run.
    pub formats: Formats,
    /// The pre-flight budget.
    pub budget: Budget,
    /// Problems that do not stop the run (printed by `validate` and `run`).
    pub warnings: Vec<Diagnostic>,
}

/// Loads and checks the pipeline at `path`, looking for plugins in `plugin_dirs` first.
pub fn validate(path: &Path, plugin_dirs: &[PathBuf]) -> Result<Validated, Vec<Diagnostic>> {
    let (file, mut diags) = config::load(path);
    let Some(mut file) = file else {
        return Err(diags);
    };
    let base = file.base_dir();
    let search = SearchPath::new(plugin_dirs, &file.pipeline.plugin_path, Some(&base));
    let registry = Registry::scan(search);
    for e in &registry.errors {
        log::debug!("skipped a library on the plugin path: {e}");
    }

    let mut plugins: Vec<Option<Plugin>> = Vec::with_capacity(file.nodes.len());
    for idx in 0..file.nodes.len() {
        let node = &file.nodes[idx];
        if node.plugin.is_empty() {
            plugins.push(None);
            continue;
        }
        let plugin_line = Some(node.line_of("plugin"));
        let p = match registry.resolve(&node.plugin, &base) {
            Ok(p) => p,
            Err(e) => {
                diags.push(
                    Diagnostic::new(&file.path, e.to_string())
                        .line(plugin_line)
                        .node(&node.name)
                        .help("run `daqflow plugins` to list plugins; add directories with --plugin-path, DAQFLOW_PLUGIN_PATH or [pipeline] plugin_path"),
                );
                plugins.push(None);
                continue;
            }
        };
        if p.kind != node.kind {
            let same: Vec<&str> = registry
                .plugins
                .values()
                .filter(|q| q.kind == node.kind)
                .map(|q| q.name.as_str())
                .collect();
            diags.push(
                Diagnostic::new(
                    &file.path,
                    format!(
                        "plugin `{}` is a {}, but the node is declared under [{}]",
                        p.name,
                        p.kind,
                        node.kind.section()
                    ),
                )
                .line(plugin_line)
                .node(&node.name)
                .help(format!(
                    "declare it as [{}.{}], or use a {} plugin{}",
                    p.kind.section(),
                    node.name,
                    node.kind,
                    if same.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", same.join(", "))
                    }
                )),
            );
            plugins.push(None);
            continue;
        }
        if p.panic_abort {
            log::warn!(
                "node `{}`: plugin {} was built with panic = \"abort\": a panic in it ends the whole process without draining",
                node.name,
                p.path.display()
            );
        }
        resolve_pipeline_paths(&mut file.nodes[idx].settings, &p, &base);
        let node = &file.nodes[idx];
        let errors = p.validate_settings(&node.settings);
        if !errors.is_empty() {
            let valid = p
                .settings_schema()
                .ok()
                .map(|s| plugin::describe_settings(&s))
                .unwrap_or_default();
            let valid_names: Vec<&str> = valid.iter().map(|s| s.name.as_str()).collect();
            for (field, msg) in errors {
                let line = if field.is_empty() {
                    node.line
                } else {
                    node.line_of(&field)
                };
                let mut d = Diagnostic::new(
                    &file.path,
                    if field.is_empty() {
                        format!("settings of plugin `{}`: {msg}", p.name)
                    } else {
                        format!("setting `{field}`: {msg}")
                    },
                )
                .line(Some(line))
                .node(&node.name);
                if !valid_names.is_empty() && names_a_settings_field(&msg) {
                    d = d.help(format!(
                        "settings of `{}`: {} (see `daqflow plugins {}`)",
                        p.name,
                        valid_names.join(", "),
                        p.name
                    ));
                }
                diags.push(d);
            }
        }
        plugins.push(Some(p));
    }

    let reqs: Vec<_> = plugins
        .iter()
        .map(|p| p.as_ref().map(|p| p.input))
        .collect();
    let graph = graph::build(&file, &reqs, &mut diags);
    check_workers(&file, &plugins, &graph, &mut diags);
    let mut warnings = Vec::new();
    let (formats, budget) = if diags.is_empty() {
        // Formats need an acyclic graph of loaded plugins.
        let formats = formats::propagate(&file, &plugins, &graph, &mut diags);
        let budget = budget::compute(&file, &graph, &formats, &mut diags, &mut warnings);
        (formats, budget)
    } else {
        (
            Formats::default(),
            budget::compute(
                &file,
                &graph,
                &Formats::default(),
                &mut Vec::new(),
                &mut Vec::new(),
            ),
        )
    };
    if !diags.is_empty() {
        diags.sort_by_key(|d| d.line.unwrap_or(0));
        return Err(diags);
    }
    let plugins = plugins
        .into_iter()
        .map(|p| p.expect("no diagnostics means every plugin loaded"))
        .collect();
    Ok(Validated {
        file,
        plugins,
        graph,
        formats,
        budget,
        warnings,
    })
}

/// The JSON Schema extension a plugin puts on a string setting that names a file relative
/// to the pipeline file (`#[schemars(extend("x-daqflow-path" = "pipeline-relative"))]`).
pub const PIPELINE_RELATIVE: (&str, &str) = ("x-daqflow-path", "pipeline-relative");

/// Rewrites the relative paths of settings marked [`PIPELINE_RELATIVE`] in the plugin's
/// schema to start at the pipeline file's directory (`base`), so the plugin — which does
/// not know the file — gets a path that works from any working directory. `~` paths and
/// absolute paths are left alone.
fn resolve_pipeline_paths(
    settings: &mut serde_json::Map<String, serde_json::Value>,
    plugin: &Plugin,
    base: &Path,
) {
    let Ok(schema) = plugin.settings_schema() else {
        return;
    };
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    for (key, prop) in props {
        if prop.get(PIPELINE_RELATIVE.0).and_then(|v| v.as_str()) != Some(PIPELINE_RELATIVE.1) {
            continue;
        }
        if let Some(serde_json::Value::String(s)) = settings.get_mut(key)
            && !s.starts_with('~')
            && Path::new(s.as_str()).is_relative()
        {
            *s = base.join(s.as_str()).to_string_lossy().into_owned();
        }
    }
}

/// True when a plugin's settings error is about which fields exist (an unknown or a
/// missing field), so listing the valid settings helps. The plugin reports only text
/// today, so this reads serde's wording; the only place that does, until the ABI carries
/// a typed error kind.
fn names_a_settings_field(msg: &str) -> bool {
    msg.contains("unknown field") || msg.contains("missing field")
}

/// `workers = N > 1` needs a filter that says its frames are independent, fed by queued
/// lanes (an `inline` node runs on its producer's thread).
fn check_workers(
    file: &PipelineFile,
    plugins: &[Option<Plugin>],
    graph: &Graph,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, node) in file.nodes.iter().enumerate() {
        if node.workers <= 1 {
            continue;
        }
        let line = Some(node.line_of("workers"));
        if let Some(p) = plugins.get(i).and_then(Option::as_ref)
            && p.parallel(&node.settings) != Some(true)
        {
            diags.push(
                Diagnostic::new(
                    &file.path,
                    format!(
                        "plugin `{}` cannot run as {} workers: {}",
                        p.name,
                        node.workers,
                        if p.abi.1 < 2 {
                            "it predates ABI 1.2 and does not say whether its frames are independent".to_string()
                        } else {
                            "it carries state from frame to frame (with these settings), so instances side by side would change its results".to_string()
                        }
                    ),
                )
                .line(line)
                .node(&node.name)
                .help("remove `workers`"),
            );
        }
        if graph
            .lanes
            .iter()
            .any(|l| l.to == i && l.policy.when_full == crate::config::WhenFull::Inline)
        {
            diags.push(
                Diagnostic::new(
                    &file.path,
                    "`workers` needs a queued input lane: an `inline` node runs on its producer's thread",
                )
                .line(line)
                .node(&node.name)
                .help("remove `queue = \"inline\"` or `workers`"),
            );
        }
    }
}

//! The `daqflow` command line: `run`, `validate`, `plugins`, `graph`.
//!
//! Exit codes: 0 success; 1 the run failed (a node failed, or a lossless lane lost
//! frames); 2 the pipeline file or the command line is invalid; 3 the run was aborted
//! (second Ctrl-C or drain timeout); 130 a third Ctrl-C exited at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use daqflow::plugin::{Registry, SearchPath, describe_settings};
use daqflow::{Diagnostic, Outcome, RunControl, RunOptions, StatusMode};

const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_ABORTED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "daqflow",
    version,
    about = "Run data-acquisition pipelines of source, filter and sink plugins"
)]
struct Cli {
    /// Extra directory to search for plugins (before DAQFLOW_PLUGIN_PATH, the pipeline's
    /// plugin_path and the executable's directory). Repeatable.
    #[arg(long = "plugin-path", global = true, value_name = "DIR")]
    plugin_path: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its sources end, it is stopped (Ctrl-C) or it fails.
    Run {
        /// The pipeline file.
        file: PathBuf,
        /// Also write the run report as JSON to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// No live status line.
        #[arg(long, short)]
        quiet: bool,
        /// Seconds allowed for the orderly drain after a stop (overrides the file).
        #[arg(long, value_name = "SECS")]
        drain_timeout_secs: Option<f64>,
    },
    /// Check a pipeline file and print every problem at once.
    Validate {
        /// The pipeline file.
        file: PathBuf,
    },
    /// List the plugins found on the search path, with their settings.
    Plugins {
        /// Show only this plugin.
        name: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the pipeline graph.
    Graph {
        /// The pipeline file.
        file: PathBuf,
        /// Graphviz DOT instead of text.
        #[arg(long)]
        dot: bool,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            use std::io::Write as _;
            // A log line must not glue onto the live status line: erase it first.
            let erase = daqflow::runtime::take_status_line();
            let level = buf.default_level_style(record.level());
            writeln!(
                buf,
                "{erase}[{} {level}{:<5}{level:#} {}] {}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .init();
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("daqflow: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("error: {d}");
    }
    eprintln!(
        "{} problem{} found",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    );
}

fn real_main(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate { file } => match daqflow::validate(&file, &cli.plugin_path) {
            Ok(v) => {
                println!(
                    "{}: OK — pipeline \"{}\", {} nodes, {} lanes",
                    file.display(),
                    v.file.pipeline.name,
                    v.file.nodes.len(),
                    v.graph.edges.len()
                );
                Ok(0)
            }
            Err(d) => {
                print_diagnostics(&d);
                Ok(EXIT_INVALID)
            }
        },
        Command::Graph { file, dot } => match daqflow::validate(&file, &cli.plugin_path) {
            Ok(v) => {
                if dot {
                    print!("{}", v.graph.to_dot(&v.file));
                } else {
                    print!("{}", v.graph.to_text(&v.file));
                }
                Ok(0)
            }
            Err(d) => {
                print_diagnostics(&d);
                Ok(EXIT_INVALID)
            }
        },
        Command::Plugins { name, json } => plugins(&cli.plugin_path, name.as_deref(), json),
        Command::Run {
            file,
            report,
            quiet,
            drain_timeout_secs,
        } => run(
            &file,
            &cli.plugin_path,
            report.as_deref(),
            quiet,
            drain_timeout_secs,
        ),
    }
}

fn run(
    file: &Path,
    dirs: &[PathBuf],
    report_path: Option<&Path>,
    quiet: bool,
    drain: Option<f64>,
) -> anyhow::Result<u8> {
    let v = match daqflow::validate(file, dirs) {
        Ok(v) => v,
        Err(d) => {
            print_diagnostics(&d);
            return Ok(EXIT_INVALID);
        }
    };
    let control = RunControl::new();
    let c = control.clone();
    ctrlc::set_handler(move || {
        c.interrupt();
        if c.count() >= 3 {
            // Last resort when a plugin is stuck where the abort cannot reach it.
            eprintln!("\ndaqflow: third Ctrl-C: exiting now, without a report");
            std::process::exit(130);
        }
    })
    .context("installing the Ctrl-C handler")?;
    let opts = RunOptions {
        status: if quiet {
            StatusMode::Off
        } else {
            StatusMode::Auto
        },
        drain_timeout: match drain {
            Some(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
            Some(s) => anyhow::bail!("--drain-timeout-secs must be a positive number, not {s}"),
            None => None,
        },
    };
    log::info!(
        "running pipeline \"{}\" ({} nodes); Ctrl-C stops it in order",
        v.file.pipeline.name,
        v.file.nodes.len()
    );
    let report = daqflow::run(&v, &control, &opts);
    eprint!("{}", report.to_text());
    if let Some(p) = report_path {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        std::fs::write(p, json + "\n")
            .with_context(|| format!("writing the report to {}", p.display()))?;
    }
    Ok(match report.outcome {
        Outcome::Ok => 0,
        Outcome::Failed => EXIT_FAILED,
        Outcome::Aborted => EXIT_ABORTED,
    })
}

fn plugins(dirs: &[PathBuf], only: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let reg = Registry::scan(SearchPath::new(dirs, &[], None));
    let selected: Vec<_> = reg
        .plugins
        .values()
        .filter(|p| only.is_none_or(|n| p.name == n))
        .collect();
    if let Some(n) = only
        && selected.is_empty()
    {
        eprintln!(
            "daqflow: no plugin named `{n}` on the search path: {}",
            reg.search_description()
        );
        return Ok(EXIT_INVALID);
    }
    if json {
        let list: Vec<serde_json::Value> = selected
            .iter()
            .map(|p| {
                let settings = p
                    .settings_schema()
                    .map(|s| describe_settings(&s))
                    .unwrap_or_default();
                serde_json::json!({
                    "name": p.name, "kind": p.kind, "version": p.version,
                    "abi": format!("{}.{}", p.abi.0, p.abi.1), "sdk_version": p.sdk_version,
                    "description": p.description, "path": p.path, "input": p.input,
                    "settings": settings,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!("search path:");
    for (d, origin) in &reg.search.dirs {
        println!(
            "  {} ({origin}){}",
            d.display(),
            if d.is_dir() { "" } else { " — missing" }
        );
    }
    if selected.is_empty() {
        println!("\nno plugins found");
    }
    for p in selected {
        println!(
            "\n{} — {} v{} (ABI {}.{}, sdk {})\n  {}\n  {}",
            p.name,
            p.kind,
            p.version,
            p.abi.0,
            p.abi.1,
            p.sdk_version,
            p.description,
            p.path.display()
        );
        match p.input {
            daqflow::plugin::InputRequirement::Lossless => println!("  input: lossless lanes only"),
            daqflow::plugin::InputRequirement::PrefersLatest => {
                println!("  input: `latest` lane by default")
            }
            daqflow::plugin::InputRequirement::Any => {}
        }
        match p.settings_schema() {
            Ok(schema) => {
                let settings = describe_settings(&schema);
                if settings.is_empty() {
                    println!("  settings: none");
                } else {
                    println!("  settings:");
                }
                for s in settings {
                    let default = match (&s.default, s.required) {
                        (Some(d), _) => format!("default {d}"),
                        (None, true) => "required".into(),
                        (None, false) => "optional".into(),
                    };
                    println!("    {:<22} {} ({default})", s.name, s.ty);
                    for line in s.doc.lines() {
                        println!("        {line}");
                    }
                }
            }
            Err(e) => println!("  settings: {e}"),
        }
    }
    for e in &reg.errors {
        println!("\nnot loaded: {e}");
    }
    Ok(0)
}

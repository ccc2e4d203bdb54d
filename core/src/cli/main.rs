//! The `daqflow` command line: `run`, `validate`, `plugins`, `graph` — argument parsing
//! (clap), the logger, and exit codes; `anyhow` is used only here, in the CLI.
//!
//! Exit codes: 0 success; 1 the run failed (a node failed, or a lossless lane lost
//! frames); 2 the pipeline file or the command line is invalid; 3 the run was aborted
//! (second Ctrl-C or drain timeout); 130 a third Ctrl-C exited at once.

mod plugins;
mod run;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use daqflow::Diagnostic;

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
    /// Check a pipeline file and print every problem at once, then the pre-flight budget
    /// (per lane: frame format, bytes per frame, frames/s, MB/s, memory its queue can pin).
    Validate {
        /// The pipeline file.
        file: PathBuf,
        /// Print the result (problems, warnings, formats, budget) as JSON on stdout.
        #[arg(long)]
        json: bool,
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
            let erase = status::take_status_line();
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
    if !matches!(cli.command, Command::Run { .. }) {
        restore_default_sigpipe();
    }
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("daqflow: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Commands that only print (`plugins`, `validate`, `graph`) end quietly when their reader
/// goes away (`daqflow plugins genicam | head`), as other Unix tools do, instead of
/// panicking on a broken pipe. `run` keeps SIGPIPE ignored: network sinks write to sockets
/// whose peers may vanish, and that must be an error they handle, not a killed process.
fn restore_default_sigpipe() {
    // SAFETY: called once at start, before any thread is spawned; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Warnings: problems that do not stop the run.
fn print_warnings(warnings: &[Diagnostic]) {
    for w in warnings {
        eprintln!("warning: {w}");
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
        Command::Validate { file, json } => match daqflow::validate(&file, &cli.plugin_path) {
            Ok(v) if json => {
                let out = serde_json::json!({
                    "ok": true,
                    "pipeline": v.file.pipeline.name,
                    "errors": [],
                    "warnings": v.warnings,
                    "formats": v.formats,
                    "budget": v.budget,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                Ok(0)
            }
            Ok(v) => {
                print_warnings(&v.warnings);
                println!(
                    "{}: OK — pipeline \"{}\", {} nodes, {} lanes",
                    file.display(),
                    v.file.pipeline.name,
                    v.file.nodes.len(),
                    v.graph.lanes.len()
                );
                println!();
                print!("{}", v.budget.to_text());
                Ok(0)
            }
            Err(d) if json => {
                let out = serde_json::json!({ "ok": false, "errors": d });
                println!("{}", serde_json::to_string_pretty(&out)?);
                Ok(EXIT_INVALID)
            }
            Err(d) => {
                print_diagnostics(&d);
                Ok(EXIT_INVALID)
            }
        },
        Command::Graph { file, dot } => match daqflow::validate(&file, &cli.plugin_path) {
            Ok(v) => {
                let formats: Vec<Option<String>> = (0..v.file.nodes.len())
                    .map(|i| v.formats.of_node_output(i).map(|f| f.to_string()))
                    .collect();
                if dot {
                    print!("{}", v.graph.to_dot(&v.file, &formats));
                } else {
                    print!("{}", v.graph.to_text(&v.file, &formats));
                }
                Ok(0)
            }
            Err(d) => {
                print_diagnostics(&d);
                Ok(EXIT_INVALID)
            }
        },
        Command::Plugins { name, json } => plugins::list(&cli.plugin_path, name.as_deref(), json),
        Command::Run {
            file,
            report,
            quiet,
            drain_timeout_secs,
        } => run::run(
            &file,
            &cli.plugin_path,
            report.as_deref(),
            quiet,
            drain_timeout_secs,
        ),
    }
}

//! # daqflow: the core runtime
//!
//! Loads source, filter and sink plugins (dynamic libraries built with `daqflow-sdk`) and
//! runs them as a pipeline described by a TOML file: one thread per node, bounded lanes
//! between them, frames moved by pointer from a shared pool, an orderly stop that drains
//! every lossless lane, and a report that accounts for every frame.
//!
//! - [`config`]: the pipeline file; [`graph`]: nodes, lanes and structural checks;
//! - [`plugin`]: search path, loading and the ABI handshake; [`validate`]: all checks at once;
//! - [`formats`]: frame formats along every lane; [`budget`]: the pre-flight memory/disk budget;
//! - [`runtime`]: threads, lanes, pool, lifecycle; [`report`]: the run report;
//! - [`diag`]: diagnostics with their TOML line; [`suggest`]: did-you-mean.
//!
//! The `daqflow` binary (`src/cli/`) is built on this library.

pub mod budget;
pub mod config;
pub mod diag;
pub mod formats;
pub mod graph;
pub mod plugin;
pub mod report;
pub mod runtime;
pub mod suggest;
pub mod validate;

pub use diag::Diagnostic;
pub use report::{Outcome, RunReport};
pub use runtime::{Monitor, RunControl, RunOptions, StatusMode};
pub use validate::{Validated, validate};

/// Runs a validated pipeline until its sources end, it is stopped (Ctrl-C through
/// `control`, `stop_after_*`, a plugin's request, a failure) or aborted; returns the
/// report. No live status: see [`run_monitored`].
pub fn run(v: &Validated, control: &RunControl, opts: &RunOptions) -> RunReport {
    run_monitored(v, control, opts, None)
}

/// [`run`], with `monitor` told about the counters periodically while the run goes on
/// (unless `opts.status` is [`StatusMode::Off`]): the CLI's live status line.
pub fn run_monitored(
    v: &Validated,
    control: &RunControl,
    opts: &RunOptions,
    monitor: Option<&mut dyn Monitor>,
) -> RunReport {
    RunReport::from_run(v, runtime::run(v, control, opts, monitor))
}

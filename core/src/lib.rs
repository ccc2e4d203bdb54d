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
//! - [`runtime`]: threads, lanes, pool, lifecycle; [`stats`]: the run report.

pub mod budget;
pub mod config;
pub mod diag;
pub mod formats;
pub mod graph;
pub mod plugin;
pub mod runtime;
pub mod stats;
pub mod validate;

pub use diag::Diagnostic;
pub use runtime::{RunControl, RunOptions, StatusMode, run};
pub use stats::{Outcome, RunReport};
pub use validate::{Validated, validate};

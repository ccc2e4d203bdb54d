//! The pipeline TOML: its typed model ([`types`]) and the parser that builds it with a
//! line for every key ([`parse`]). Loading collects every problem as a [`Diagnostic`]
//! instead of stopping at the first; checks that need plugins or the whole graph are in
//! [`crate::validate`] and [`crate::graph`].

mod parse;
mod types;

use std::path::Path;

pub use parse::parse;
pub use types::*;

use crate::diag::Diagnostic;

/// Reads and checks a pipeline file. Returns the file when it could be understood well
/// enough to go on (possibly with diagnostics), and every problem found.
pub fn load(path: &Path) -> (Option<PipelineFile>, Vec<Diagnostic>) {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => (
            None,
            vec![Diagnostic::new(
                path,
                format!("cannot read the pipeline file: {e}"),
            )],
        ),
    }
}

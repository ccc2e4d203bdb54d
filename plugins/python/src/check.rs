//! `daqflow validate`'s look at the script, running none of its code: compile it (every
//! `SyntaxError` with file:line:column), then read its syntax tree for the functions the
//! settings name, and their signatures.

use std::path::Path;

use daqflow_sdk::SettingsError;
use pyo3::prelude::*;

use crate::interp;

/// The functions the settings name.
pub struct Wanted<'a> {
    /// Called per frame as `function(frame, meta)`.
    pub function: &'a str,
    /// Called once as `setup(args)`.
    pub setup: Option<&'a str>,
    /// Called once as `teardown()`.
    pub teardown: Option<&'a str>,
}

/// Every problem found in `source` (read from `path`), as settings errors.
pub fn check_script(path: &Path, source: &str, wanted: &Wanted<'_>) -> Vec<SettingsError> {
    let mut list = vec![(
        "function",
        wanted.function.to_string(),
        2,
        format!("{}(frame, meta)", wanted.function),
    )];
    if let Some(s) = wanted.setup {
        list.push(("setup", s.to_string(), 1, format!("{s}(args)")));
    }
    if let Some(t) = wanted.teardown {
        list.push(("teardown", t.to_string(), 0, format!("{t}()")));
    }
    let path_s = path.display().to_string();
    Python::attach(|py| {
        let found = interp::support(py)
            .and_then(|m| m.getattr("check")?.call1((&path_s, source, list)))
            .and_then(|r| r.extract::<Vec<(String, String)>>());
        match found {
            Ok(errors) => errors
                .into_iter()
                .map(|(field, msg)| SettingsError::new(field, msg))
                .collect(),
            Err(e) => vec![SettingsError::new(
                "script",
                format!("cannot check {path_s}: {}", interp::format_err(py, &e)),
            )],
        }
    })
}

//! `daqflow run`: validate, install the Ctrl-C handler (the first press stops in order,
//! the second aborts, the third exits at once), run with the live status line, print the
//! report and write it as JSON; the exit code says how the run ended.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use daqflow::{Outcome, RunControl, RunOptions, StatusMode};

use crate::status::StatusLine;
use crate::{EXIT_ABORTED, EXIT_FAILED, EXIT_INVALID, print_diagnostics, print_warnings};

pub fn run(
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
    print_warnings(&v.warnings);
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
    let mut status = StatusLine::new();
    let report = daqflow::run_monitored(&v, &control, &opts, Some(&mut status));
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

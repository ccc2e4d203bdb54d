//! Running the real `daqflow` binary from `target/<profile>/`: the workspace's shared
//! end-to-end helpers (`daqflow-tests`), behind a check that this plugin's library there is
//! built and not older than its sources.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use daqflow_tests::{Outcome, run_cmd, toml_path, wait_or_kill};

/// `target/<profile>`, holding `daqflow` and `libdaqflow_plugin_*.so`.
pub fn target_dir() -> PathBuf {
    let dir = daqflow_tests::target_dir();
    for file in [
        "daqflow",
        "libdaqflow_plugin_sim_detector.so",
        "libdaqflow_plugin_hdf5.so",
    ] {
        assert!(
            dir.join(file).exists(),
            "{} is missing: build first with `cargo build -p daqflow -p daqflow-plugin-sim-detector \
             -p daqflow-plugin-hdf5` (or `cargo build --workspace`)",
            dir.join(file).display()
        );
    }
    // The binary loads target/<profile>/libdaqflow_plugin_hdf5.so, which only `cargo build`
    // refreshes (`cargo test` builds its own copy in deps/): refuse to test a stale one.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lib = dir.join("libdaqflow_plugin_hdf5.so");
    let newest = newest_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    if let (Some(built), Some(newest)) = (modified(&lib), newest) {
        assert!(
            built >= newest,
            "{} is older than the plugin's sources: run `cargo build -p daqflow-plugin-hdf5` first",
            lib.display()
        );
    }
    dir
}

/// Modification time of the newest file below `dir` (the sources are in subdirectories too).
fn newest_file(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                newest_file(&path)
            } else {
                std::fs::metadata(&path).and_then(|m| m.modified()).ok()
            }
        })
        .max()
}

/// The `daqflow` binary with a clean plugin environment (after the freshness check).
pub fn daqflow() -> Command {
    target_dir();
    daqflow_tests::daqflow()
}

/// Writes `toml` to `dir/pipeline.toml` and runs `daqflow run --quiet --report`.
pub fn run_pipeline(dir: &Path, toml: &str, timeout: Duration) -> Outcome {
    target_dir();
    daqflow_tests::run_pipeline(dir, toml, timeout)
}

/// `daqflow validate` on `toml` written to `dir/pipeline.toml`.
pub fn validate_text(dir: &Path, toml: &str) -> Outcome {
    target_dir();
    daqflow_tests::validate_text(dir, toml)
}

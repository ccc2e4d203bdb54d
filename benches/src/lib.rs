//! Helpers for the benches: run a pipeline in-process with the real plugin libraries of
//! the same build profile, and time it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `target/<profile>` of the running bench binary (where the plugins are).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// A test-only plugin library by name.
pub fn test_plugin(name: &str) -> String {
    let p = target_dir().join(format!("libdaqflow_testplugin_{name}.so"));
    assert!(
        p.exists(),
        "{} missing: run scripts/bench.sh (it builds the workspace in release first)",
        p.display()
    );
    format!("{:?}", p.display().to_string())
}

/// Runs pipeline text; returns the wall time and the report.
pub fn run(toml: &str) -> (Duration, daqflow::RunReport) {
    let dir = std::env::temp_dir().join(format!("daqflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bench.toml");
    std::fs::write(&file, toml).unwrap();
    let v = daqflow::validate(&file, &[target_dir()]).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let t = Instant::now();
    let report = daqflow::run(
        &v,
        &daqflow::RunControl::new(),
        &daqflow::RunOptions {
            status: daqflow::StatusMode::Off,
            drain_timeout: None,
        },
    );
    let dt = t.elapsed();
    assert_eq!(report.outcome, daqflow::Outcome::Ok, "{}", report.to_text());
    (dt, report)
}

/// Median of `runs` timings of `f`.
pub fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

//! Acquisition throughput with the viewer attached vs without, in the same bench run.
//!
//! Baseline: `sim_detector` (1024² u16, "bars" pattern, as fast as possible) → `discard`.
//! Measured: the same plus `viewer` on a `latest` lane — headless, and also in a window
//! when a display is available (run under `xvfb-run -a` to include it). Each variant runs
//! `ROUNDS` times, interleaved; the medians and their ratio are printed. Target: ≥ 98 %.
//!
//! Needs release binaries: `cargo build --release --workspace` then
//! `cargo bench -p daqflow-plugin-viewer --bench overhead`.

use std::path::PathBuf;
use std::time::Duration;

use daqflow_tests::run_pipeline;

const FRAMES: u64 = 4000;
const ROUNDS: usize = 5;

fn pipeline(viewer: Option<&str>, dir: &std::path::Path) -> String {
    let mut t = format!(
        r#"
[pipeline]
name = "overhead"

[sources.det]
plugin = "sim_detector"
width = 1024
height = 1024
dtype = "u16"
rate_hz = 0
frames = {FRAMES}
pattern = "bars"

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#
    );
    if let Some(mode) = viewer {
        let snap = format!("{:?}", dir.join("overhead.png").display().to_string());
        t.push_str(&format!(
            r#"
[sinks.view]
plugin = "viewer"
inputs = ["det"]
mode = "{mode}"
snapshot_path = {snap}
snapshot_every_frames = 500
"#
        ));
    }
    t
}

/// Frames per second of the acquisition (frames that reached `discard` / wall time).
fn run_once(viewer: Option<&str>, dir: &std::path::Path) -> f64 {
    let o = run_pipeline(dir, &pipeline(viewer, dir), Duration::from_secs(600));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let report = o.report.as_ref().expect("report");
    let all = o.node("all");
    assert_eq!(all["frames_in"], FRAMES, "discard must get every frame");
    FRAMES as f64 / report["duration_secs"].as_f64().unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let dir: PathBuf = std::env::temp_dir().join(format!("viewer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut variants: Vec<(&str, Option<&str>)> = vec![
        ("sim → discard (baseline)", None),
        ("+ viewer headless", Some("headless")),
    ];
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if display {
        variants.push(("+ viewer window", Some("window")));
    }
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..ROUNDS {
        for (i, (_, v)) in variants.iter().enumerate() {
            let fps = run_once(*v, &dir);
            results[i].push(fps);
            eprintln!("round {round}: {} {fps:.0} frames/s", variants[i].0);
        }
    }
    let base = median(results[0].clone());
    println!(
        "viewer overhead: {FRAMES} frames of 1024² u16 per run, median of {ROUNDS} interleaved runs"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let m = median(results[i].clone());
        println!(
            "  {name:<26} {m:>9.0} frames/s  {:>6.1} % of baseline",
            100.0 * m / base
        );
    }
    if !display {
        println!("  (no display: run under `xvfb-run -a` to include the window)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

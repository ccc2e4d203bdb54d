//! End to end: the real `daqflow` binary loads the viewer `.so` next to `sim_detector` and
//! `discard`. Needs the workspace built (`cargo build --workspace`, as scripts/test.sh
//! does); outside CI a missing binary skips with a message, under `CI=true` it fails.
//!
//! - full rate into viewer (headless) + discard: discard gets every frame, the viewer
//!   some, and a snapshot is written;
//! - a real window under Xvfb for a few seconds, with a screenshot of the screen.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use daqflow_plugin_viewer::render::RgbaImage;
use daqflow_tests::{Outcome, run_cmd, run_pipeline, toml_path};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// target/<profile>, if `daqflow` and the plugins were built there.
fn built() -> Option<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent()?.parent()?.to_path_buf();
    let needed = [
        "daqflow",
        "libdaqflow_plugin_viewer.so",
        "libdaqflow_plugin_sim_detector.so",
        "libdaqflow_plugin_discard.so",
    ];
    let missing: Vec<_> = needed.iter().filter(|f| !dir.join(f).exists()).collect();
    if missing.is_empty() {
        return Some(dir);
    }
    let msg = format!(
        "{missing:?} not built in {}: run `cargo build --workspace` first",
        dir.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("viewer-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn counter(o: &Outcome, node: &str, name: &str) -> u64 {
    o.node(node)["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("counter {name} of {node}: {:#?}", o.report))
}

fn full_rate_toml(dir: &Path, frames: u64, viewer_extra: &str) -> String {
    let snap = toml_path(&dir.join("{node}.png"));
    format!(
        r#"
[pipeline]
name = "viewer-full-rate"

[sources.det]
plugin = "sim_detector"
width = 1024
height = 1024
dtype = "u16"
rate_hz = 0
frames = {frames}
pattern = "bars"

[sinks.view]
plugin = "viewer"
inputs = ["det"]
snapshot_path = {snap}
snapshot_every_frames = 200
{viewer_extra}

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#
    )
}

#[test]
fn full_rate_into_headless_viewer_and_discard() {
    let Some(_) = built() else { return };
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("full-rate");
    let frames = 3000;
    let o = run_pipeline(
        &dir,
        &full_rate_toml(&dir, frames, "mode = \"headless\""),
        Duration::from_secs(120),
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    // Lossless path: discard got every frame.
    assert_eq!(o.node("all")["frames_in"], frames, "{}", o.stderr);
    // The viewer got some (its lane is `latest` by default: it may skip many).
    let viewer_in = o.node("view")["frames_in"].as_u64().unwrap();
    assert!(
        viewer_in >= 1 && viewer_in <= frames,
        "viewer got {viewer_in}"
    );
    let lane = o.edge("det", "view");
    assert_eq!(lane["policy"], "latest", "{lane}");
    assert_eq!(counter(&o, "view", "frames_received"), viewer_in);
    assert!(counter(&o, "view", "frames_displayed") >= 1);
    assert!(counter(&o, "view", "snapshots_written") >= 1);
    let png = RgbaImage::read_png(&dir.join("view.png")).unwrap();
    assert_eq!((png.width, png.height), (1024, 1024));
    assert!(o.stderr.contains("viewer headless on"), "{}", o.stderr);
    eprintln!(
        "viewer received {viewer_in} of {frames}, displayed {}, in {:.2} s",
        counter(&o, "view", "frames_displayed"),
        o.report.as_ref().unwrap()["duration_secs"]
    );
}

#[test]
fn auto_mode_without_display_falls_back_to_headless_with_a_log_line() {
    let Some(_) = built() else { return };
    let dir = temp_dir("auto");
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, full_rate_toml(&dir, 50, "")).unwrap();
    let mut cmd = daqflow_tests::daqflow();
    cmd.env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(["run", "--quiet"])
        .arg(&file);
    let o = run_cmd(cmd, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("no DISPLAY or WAYLAND_DISPLAY"),
        "{}",
        o.stderr
    );
}

/// Opens the real window under Xvfb for a few seconds, takes a screenshot with
/// ImageMagick's `import`, and checks the window drew the image (not a blank screen).
#[test]
fn window_under_xvfb_smoke() {
    let Some(_) = built() else { return };
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("xvfb-run") && have("import")) {
        assert!(
            !in_ci(),
            "xvfb-run and ImageMagick's import are needed (scripts/setup.sh)"
        );
        eprintln!("SKIPPED: xvfb-run or import missing (scripts/setup.sh installs them)");
        return;
    }
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("xvfb");
    let shot = dir.join("screen.png");
    let report = dir.join("report.json");
    let toml = r#"
[pipeline]
name = "viewer-window"
stop_after_secs = 6

[sources.det]
plugin = "sim_detector"
width = 512
height = 512
dtype = "u16"
rate_hz = 200
pattern = "bars"

[sinks.view]
plugin = "viewer"
inputs = ["det"]
mode = "window"
colormap = "viridis"
window_size = [1000, 700]

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#;
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let daqflow = built().unwrap().join("daqflow");
    let script = format!(
        "{daqflow} run --quiet --report {report} {file} & pid=$!; sleep 4; \
         import -window root {shot}; wait $pid",
        daqflow = daqflow.display(),
        report = report.display(),
        file = file.display(),
        shot = shot.display(),
    );
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "-s", "-screen 0 1280x800x24", "sh", "-c", &script])
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DAQFLOW_PLUGIN_PATH");
    let o = run_cmd(cmd, Duration::from_secs(90));
    assert!(o.status.success(), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("viewer window open on"), "{}", o.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let view = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "view")
        .unwrap()
        .clone();
    let displayed = view["counters"]["frames_displayed"].as_u64().unwrap();
    assert!(
        displayed >= 5,
        "the window displayed {displayed} frames: {view:#}"
    );

    // The screenshot: many distinct colours (the viridis image and the egui panel), not
    // a blank screen.
    let png = RgbaImage::read_png(&shot).unwrap();
    let mut colours: Vec<[u8; 3]> = png
        .pixels
        .chunks_exact(4)
        .step_by(7)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 50,
        "screenshot has {} colours",
        colours.len()
    );
    // Keep it for a person to look at.
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-xvfb-screen.png");
    let _ = std::fs::copy(&shot, &keep);
    eprintln!("screenshot: {}", keep.display());
}

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

use daqflow_display::RgbaImage;
use daqflow_tests::{Outcome, run_cmd, run_pipeline, toml_path};

/// Window tests run one at a time: each needs its own X display, and two servers started
/// at once could pick the same display number.
static DISPLAY_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn display_lock() -> std::sync::MutexGuard<'static, ()> {
    DISPLAY_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
    // Every frame was offered to the viewer; its lane replaced the ones it did not take.
    assert_eq!(counter(&o, "view", "frames_received"), frames);
    assert_eq!(lane["received"], viewer_in, "{lane}");
    assert_eq!(
        viewer_in + lane["dropped"].as_u64().unwrap(),
        frames,
        "{lane}"
    );
    // The viewer asked for at most two frames per repaint (2 × max_fps = 120/s): the
    // core never woke it for each of the thousands of frames a second.
    let secs = o.report.as_ref().unwrap()["duration_secs"]
        .as_f64()
        .unwrap();
    assert!(
        viewer_in as f64 <= 120.0 * secs + 2.0,
        "viewer took {viewer_in} frames in {secs} s"
    );
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
    let _display = display_lock();
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

/// An Xvfb server of our own (killed on drop), so the test can talk to it too.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        let n = (90..190).find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })?;
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let x = Xvfb { child, display };
        let socket = format!("/tmp/.X11-unix/X{n}");
        for _ in 0..100 {
            if Path::new(&socket).exists() {
                return Some(x);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks every top-level window of `display` that speaks WM_DELETE_WINDOW to close, as a
/// window manager's close button does. Returns how many were asked.
fn close_windows(display: &str) -> usize {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt, EventMask};
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let atom = |name: &[u8]| conn.intern_atom(false, name).unwrap().reply().unwrap().atom;
    let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
    let mut asked = 0;
    for w in conn.query_tree(root).unwrap().reply().unwrap().children {
        let p = conn
            .get_property(false, w, protocols, AtomEnum::ATOM, 0, 16)
            .unwrap()
            .reply()
            .unwrap();
        if p.value32().is_some_and(|mut v| v.any(|a| a == delete)) {
            let ev = ClientMessageEvent::new(32, w, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, w, EventMask::NO_EVENT, ev).unwrap();
            asked += 1;
        }
    }
    conn.flush().unwrap();
    asked
}

/// Runs a window pipeline on a private Xvfb, closes the window after `close_after`, and
/// returns the outcome (with its report).
fn run_and_close_window(
    name: &str,
    close_stops_pipeline: bool,
    stop_after_secs: u64,
) -> Option<Outcome> {
    built()?;
    if !Path::new("/usr/bin/Xvfb").exists() {
        assert!(!in_ci(), "Xvfb is needed (scripts/setup.sh)");
        eprintln!("SKIPPED: no Xvfb");
        return None;
    }
    common::gpu()?;
    let _display = display_lock();
    let x = Xvfb::start().expect("start Xvfb");
    let dir = temp_dir(name);
    let toml = format!(
        r#"
[pipeline]
name = "{name}"
stop_after_secs = {stop_after_secs}

[sources.det]
plugin = "sim_detector"
width = 256
height = 256
dtype = "u16"
rate_hz = 100

[sinks.view]
plugin = "viewer"
inputs = ["det"]
mode = "window"
close_stops_pipeline = {close_stops_pipeline}

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#
    );
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let report = dir.join("report.json");
    let mut cmd = daqflow_tests::daqflow();
    cmd.env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .args(["run", "--quiet", "--report"])
        .arg(&report)
        .arg(&file);
    let closer_display = x.display.clone();
    let closer = std::thread::spawn(move || {
        // Wait for the window, then close it; ask again until it is gone (a request that
        // arrives while the window is still being set up may be ignored).
        let mut asked = false;
        for _ in 0..150 {
            std::thread::sleep(Duration::from_millis(300));
            match (close_windows(&closer_display), asked) {
                (0, true) => return true,
                (0, false) => {}
                _ => asked = true,
            }
        }
        false
    });
    let mut o = run_cmd(cmd, Duration::from_secs(stop_after_secs + 60));
    assert!(
        closer.join().unwrap(),
        "the window did not appear, or did not close"
    );
    o.report = std::fs::read_to_string(&report)
        .ok()
        .map(|s| serde_json::from_str(&s).unwrap());
    drop(x);
    Some(o)
}

#[test]
fn closing_the_window_stops_only_the_viewer() {
    let Some(o) = run_and_close_window("close-viewer", false, 6) else {
        return;
    };
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(o.stderr.contains("acquisition goes on"), "{}", o.stderr);
    let r = o.report.as_ref().unwrap();
    // The run went on to its end after the window closed.
    assert!(r["duration_secs"].as_f64().unwrap() >= 5.5, "{r:#}");
    let produced = o.node("det")["frames_out"].as_u64().unwrap();
    assert_eq!(o.node("all")["frames_in"], produced);
    assert!(produced >= 500, "{produced}");
}

#[test]
fn closing_the_window_stops_the_pipeline_when_asked() {
    let Some(o) = run_and_close_window("close-pipeline", true, 60) else {
        return;
    };
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(o.stderr.contains("stopping the pipeline"), "{}", o.stderr);
    let r = o.report.as_ref().unwrap();
    assert!(r["duration_secs"].as_f64().unwrap() < 40.0, "{r:#}");
    // An orderly stop: the lossless lane delivered everything.
    let produced = o.node("det")["frames_out"].as_u64().unwrap();
    assert_eq!(o.node("all")["frames_in"], produced);
}

#[test]
fn a_compressing_detector_is_shown_like_a_raw_one() {
    let Some(_) = built() else { return };
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("encoded");
    let snapshot = |encoding: &str| {
        let snap = dir.join(format!("{encoding}.png"));
        let toml = format!(
            r#"
[pipeline]
name = "encoded-{encoding}"

[sources.det]
plugin = "sim_detector"
width = 300
height = 200
dtype = "u16"
rate_hz = 0
frames = 40
pattern = "bars"
encoding = "{encoding}"

[sinks.view]
plugin = "viewer"
inputs = ["det"]
mode = "headless"
snapshot_path = {}
"#,
            toml_path(&snap)
        );
        let o = run_pipeline(&dir, &toml, Duration::from_secs(120));
        assert_eq!(o.code(), 0, "{}", o.stderr);
        assert_eq!(counter(&o, "view", "frames_unshowable"), 0, "{encoding}");
        assert_eq!(counter(&o, "view", "snapshots_written"), 1, "{encoding}");
        let sent = counter(&o, "det", "bytes_out");
        let raw = 40 * 300 * 200 * 2;
        assert!(
            (encoding == "raw") == (sent == raw),
            "{encoding}: the source sent {sent} bytes for {raw} bytes of pixels"
        );
        RgbaImage::read_png(&snap).unwrap()
    };
    let raw = snapshot("raw");
    for encoding in ["lz4", "bslz4"] {
        let png = snapshot(encoding);
        assert!(
            png.pixels == raw.pixels,
            "{encoding}: the last frame looks different"
        );
    }
}

#[test]
fn a_second_window_viewer_is_told_who_has_the_window() {
    // winit allows one event loop per process: with two viewers, `auto` gives the second a
    // headless renderer (logged, naming the owner), `window` refuses to start.
    let Some(_) = built() else { return };
    if !Path::new("/usr/bin/Xvfb").exists() {
        assert!(!in_ci(), "Xvfb is needed (scripts/setup.sh)");
        eprintln!("SKIPPED: no Xvfb");
        return;
    }
    if common::gpu().is_none() {
        return;
    }
    let _display = display_lock();
    let x = Xvfb::start().expect("start Xvfb");
    let dir = temp_dir("two-windows");
    let toml = |mode: &str| {
        let snap = toml_path(&dir.join("{node}.png"));
        format!(
            r#"
[pipeline]
name = "two-windows"
stop_after_frames = 300

[sources.det]
plugin = "sim_detector"
width = 128
height = 128
dtype = "u16"
rate_hz = 200

[sinks.first]
plugin = "viewer"
inputs = ["det"]
mode = "{mode}"
snapshot_path = {snap}

[sinks.second]
plugin = "viewer"
inputs = ["det"]
mode = "{mode}"
snapshot_path = {snap}

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#
        )
    };
    let run = |mode: &str| {
        let file = dir.join(format!("{mode}.toml"));
        std::fs::write(&file, toml(mode)).unwrap();
        let mut cmd = daqflow_tests::daqflow();
        cmd.env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .args(["run", "--quiet"])
            .arg(&file);
        run_cmd(cmd, Duration::from_secs(120))
    };

    let o = run("auto");
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let told = |owner: &str| o.stderr.contains(&format!("viewer '{owner}' already has"));
    assert!(told("first") || told("second"), "{}", o.stderr);
    assert!(o.stderr.contains("→ headless"), "{}", o.stderr);
    let headless = if told("first") { "second" } else { "first" };
    assert!(
        dir.join(format!("{headless}.png")).exists(),
        "the headless one wrote its snapshot: {}",
        o.stderr
    );

    let o = run("window");
    assert_eq!(o.code(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("already has this process's window")
            && o.stderr.contains("mode = \"headless\""),
        "{}",
        o.stderr
    );
    drop(x);
}

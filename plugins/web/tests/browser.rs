//! The web sink's page in a real browser: Debian's headless Chromium driven by Playwright
//! (the system browser, never Playwright's download). The page loads, paints frames
//! through WebGL2, and its canvas — read back pixel by pixel — equals the frame on screen
//! colormapped by `daqflow-display` (the native viewer's reference). Then the pipeline
//! stops: the page says "pipeline stopped"; it runs again on the same port (released at
//! stop) and the page reconnects and paints by itself. The first run sends lossless
//! frames deflated, the second raw (`raw_min_fps`): the page's pixels are checked for
//! both. Screenshots are kept under `target/debug/web-test/browser/` as artefacts.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use daqflow_display::{Colormap, Mapping, OwnedImage, map_image_cpu};

#[test]
fn page_paints_the_colormapped_frame() {
    let py = common::browser_python();
    let out = common::artefacts("browser");
    let dir = tempfile::tempdir().unwrap();
    // A fixed port, so that the restarted pipeline is where the page reconnects.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = |raw_min_fps: &str| {
        format!(
            r#"
[pipeline]
name = "web-browser"
stop_after_secs = 120

[sources.det]
plugin = {det}
width = 300
height = 200
dtype = "u16"
rate_hz = 20
pattern = "ramp"

[sinks.web]
plugin = {web}
inputs = ["det"]
bind = "127.0.0.1:{port}"
raw_min_fps = {raw_min_fps}
"#,
            det = daqflow_tests::toml_path(&daqflow_tests::plugin("sim_detector")),
            web = daqflow_tests::toml_path(&daqflow_tests::plugin("web")),
        )
    };
    // Deflated lossless frames first (never raw), raw ones after the restart.
    let run = common::start(dir.path(), &toml("1e9"));
    let url = format!("http://127.0.0.1:{port}/");
    let mut browser = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.py"))
        .arg(&url)
        .arg(&out)
        .env("DAQFLOW_PID", run.child.id().to_string())
        .spawn()
        .unwrap();
    // The script stops the pipeline once it has checked the pixels; then the pipeline
    // runs again on the same port (released at stop) and the page reconnects by itself.
    let (report, _) = run.finish(Duration::from_secs(120));
    assert!(
        common::counters(&report, "web")["frames_acked"]
            .as_u64()
            .unwrap()
            >= 5
    );
    let again = common::start(dir.path(), &toml("0"));
    let status = daqflow_tests::wait_or_kill(&mut browser, Duration::from_secs(120), "browser.py");
    assert!(status.success(), "browser.py failed");
    let (report, _) = again.interrupt(Duration::from_secs(60));
    assert_eq!(
        common::counters(&report, "web")["clients_accepted"],
        1,
        "the page came back"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    check_pixels(&result, &out, "pixels.rgba", "deflate");
    check_pixels(&result["restart"], &out, "pixels-restart.rgba", "raw");
    assert_eq!(result["errors"], 0, "{result:#}");
    assert_eq!(result["restart"]["stopped_shown"], true, "{result:#}");
    assert_eq!(result["restart"]["reconnected"], true, "{result:#}");
}

/// The canvas read back into `file` equals the frame on screen (its header in
/// `snap["header"]`, sent with `codec`) colormapped on the CPU with viridis, 100–700.
fn check_pixels(snap: &serde_json::Value, out: &Path, file: &str, codec: &str) {
    let h = &snap["header"];
    assert!(h["codec"] == codec && h["bin"] == 1, "{file}: {snap:#}");
    let (w, hh) = (
        snap["w"].as_u64().unwrap() as u32,
        snap["h"].as_u64().unwrap() as u32,
    );
    assert_eq!((w, hh), (300, 200));
    // The frame on screen, as the ramp source made it.
    let f = h["frame"].as_u64().unwrap() as u32;
    let values: Vec<u16> = (0..w * hh)
        .map(|i| ((i % w + i / w + f) % 65536) as u16)
        .collect();
    let image = OwnedImage::from_u16(w, hh, &values);
    let expected = map_image_cpu(
        &image.as_ref(),
        &Mapping::linear(100.0, 700.0),
        Colormap::Viridis,
    );
    let got = std::fs::read(out.join(file)).unwrap();
    assert_eq!(got.len(), expected.len());
    let wrong = got
        .chunks(4)
        .zip(expected.chunks(4))
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        wrong,
        0,
        "{file}: pixels differing from the CPU reference (frame {f}, {codec}); see {}",
        out.display()
    );
}

//! The web sink over a slow link: 10 Mbit/s with a ~50 ms round trip, made inside a
//! private network namespace (`unshare -n`, `tc tbf` on loopback, a delay proxy; see
//! tests/slowlink.py), with headless Chromium as the client. Asserts: the page keeps
//! painting, frame age stays bounded (no backlog), the server's memory stays flat, and
//! acquisition is untouched (a lossless `discard` beside it gets every frame).
//! 2048² u16 frames at 100 Hz. Skipped, with a message, only where `unshare -n` is not
//! permitted.

mod common;

use std::path::Path;
use std::process::Command;

fn unshare_allowed() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn ten_megabit_link_stays_live() {
    if !unshare_allowed() {
        eprintln!("SKIPPED: `unshare -n` is not permitted here (needs root or user namespaces)");
        return;
    }
    let py = common::browser_python();
    let out = common::artefacts("slow-link");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    let report = dir.path().join("report.json");
    std::fs::write(
        &pipeline,
        format!(
            r#"
[pipeline]
name = "web-slow-link"

[sources.det]
plugin = {det}
width = 2048
height = 2048
dtype = "u16"
rate_hz = 100
pattern = "bars"

[sinks.all]
plugin = {discard}
inputs = ["det"]

[sinks.web]
plugin = {web}
inputs = ["det"]
bind = "127.0.0.1:0"
"#,
            det = daqflow_tests::toml_path(&daqflow_tests::plugin("sim_detector")),
            discard = daqflow_tests::toml_path(&daqflow_tests::plugin("discard")),
            web = daqflow_tests::toml_path(&daqflow_tests::plugin("web")),
        ),
    )
    .unwrap();
    let status = Command::new("unshare")
        .arg("-n")
        .arg(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slowlink.py"))
        .arg(daqflow_tests::target_dir().join("daqflow"))
        .arg(&pipeline)
        .arg(&report)
        .arg(&out)
        .args(["10", "50", "20"])
        .env_remove("DAQFLOW_PLUGIN_PATH")
        .status()
        .unwrap();
    assert!(status.success(), "slowlink.py failed");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("slowlink.json")).unwrap()).unwrap();
    assert_eq!(result["exit"], 0, "{result:#}");
    assert_eq!(result["errors"], 0, "{result:#}");
    let samples = result["samples"].as_array().unwrap();
    assert!(samples.len() >= 15, "{result:#}");
    // The page keeps updating: every second has newly painted frames.
    let painted: Vec<u64> = samples
        .iter()
        .map(|s| s["painted"].as_u64().unwrap())
        .collect();
    assert!(
        painted.windows(2).all(|w| w[1] > w[0]),
        "painted per second: {painted:?}"
    );
    // Memory flat: the second half never above the first half's peak + 32 MiB.
    let rss: Vec<u64> = samples
        .iter()
        .map(|s| s["rss_kib"].as_u64().unwrap())
        .collect();
    let (first, second) = rss.split_at(rss.len() / 2);
    let peak = first.iter().max().unwrap();
    assert!(
        second.iter().all(|r| *r <= peak + 32 * 1024),
        "server VmRSS (KiB): {rss:?}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let produced = common::node(&report, "det")["frames_out"].as_u64().unwrap();
    assert_eq!(
        common::node(&report, "all")["frames_in"].as_u64().unwrap(),
        produced
    );
    let c = common::counters(&report, "web");
    // No backlog: 95 % of frames are painted within a second of acquisition (the issue:
    // "well under a second" for 2048² u16 at 100 Hz over 10 Mbit/s; 160–210 ms on a quiet
    // machine, see the README's table). The bound leaves room for a loaded CI machine,
    // whose software-rendered Chromium and nice +10 server threads are slow; a pushed
    // stream would age by the seconds its socket buffers hold, and keep ageing.
    let p95 = c["frame_age_p95_ms"].as_u64().unwrap();
    eprintln!("slow link: {c:#}\nsamples: {samples:?}");
    assert!(p95 <= 1000, "frame age p95 {p95} ms at 10 Mbit/s: {c:#}");
}

//! Runs of the real `daqflow` binary with real plugin libraries: lossless lanes under a
//! slow consumer, lossy lanes counting drops exactly, fan-out sharing one buffer,
//! copy-on-write, plugin panics and errors turned into clean failures, driver swaps —
//! plus an in-process run that checks no thread is left behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use daqflow_tests::{run_pipeline, target_dir, test_plugin, toml_path, validate_text};

const T: Duration = Duration::from_secs(120);

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn lossless_lane_delivers_every_frame_under_a_slow_sink() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_pipeline(
        dir.path(),
        r#"
[sources.det]
plugin = "sim_detector"
width = 128
height = 64
rate_hz = 0
frames = 300

[sinks.slow]
plugin = "discard"
inputs = ["det"]
delay_ms = 2
queue = { capacity = 4, when_full = "block" }
"#,
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let e = o.edge("det", "slow");
    assert_eq!(
        (
            u(&e["sent"]),
            u(&e["received"]),
            u(&e["dropped"]),
            u(&e["lost"])
        ),
        (300, 300, 0, 0)
    );
    let slow = o.node("slow");
    assert_eq!(u(&slow["counters"]["frames"]), 300);
    assert_eq!(u(&slow["counters"]["gaps"]), 0, "frame numbers contiguous");
    assert_eq!(u(&slow["counters"]["last_frame_number"]), 299);
    assert_eq!(o.report.as_ref().unwrap()["outcome"], "ok");
    assert!(
        o.stderr
            .contains("every lossless lane (1) delivered every frame"),
        "{}",
        o.stderr
    );
}

#[test]
fn lossy_lanes_never_block_the_source_and_count_drops_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 64
height = 64
rate_hz = 0
frames = {n}

[sinks.fast]
plugin = "discard"
inputs = ["det"]

[sinks.latest]
plugin = "discard"
inputs = ["det"]
delay_ms = 20
queue = "latest"

[sinks.newest_dropped]
plugin = "discard"
inputs = ["det"]
delay_ms = 20
queue = {{ capacity = 3, when_full = "drop_newest" }}

[sinks.oldest_dropped]
plugin = "discard"
inputs = ["det"]
delay_ms = 20
queue = {{ capacity = 3, when_full = "drop_oldest" }}
"#
        ),
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(u(&o.node("det")["frames_out"]), n);
    for sink in ["latest", "newest_dropped", "oldest_dropped"] {
        let e = o.edge("det", sink);
        let (sent, received, dropped, lost) = (
            u(&e["sent"]),
            u(&e["received"]),
            u(&e["dropped"]),
            u(&e["lost"]),
        );
        assert_eq!(lost, 0, "{sink}: {e}");
        // A slow sink saw only some frames: had the lane blocked, it would have seen all.
        assert!(
            received < n,
            "{sink} received every frame: the lane blocked the source: {e}"
        );
        assert_eq!(u(&o.node(sink)["counters"]["frames"]), received, "{sink}");
        if sink == "newest_dropped" {
            assert_eq!(
                sent + dropped,
                n,
                "{sink}: every frame either queued or dropped: {e}"
            );
            assert_eq!(received, sent, "{sink}: {e}");
        } else {
            // drop_oldest queues every frame, evicting the oldest queued one when full.
            assert_eq!(sent, n, "{sink}: {e}");
            assert_eq!(received + dropped, n, "{sink}: {e}");
        }
    }
    // The lossless sibling still got every frame.
    assert_eq!(u(&o.edge("det", "fast")["received"]), n);
    assert_eq!(u(&o.node("fast")["counters"]["gaps"]), 0);
}

fn probe_lines(path: &Path) -> BTreeMap<u64, (String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let n = it.next().unwrap().parse().unwrap();
            (
                n,
                (
                    it.next().unwrap().to_string(),
                    it.next().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn fan_out_shares_one_buffer_and_copy_on_write_protects_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[pipeline]
pool_mb = 64

[sources.det]
plugin = "sim_detector"
width = 32
height = 32
rate_hz = 0
frames = 50
pattern = "ramp"

[filters.thr]
plugin = "threshold"
inputs = ["det"]
level = 40

[sinks.a]
plugin = {probe}
inputs = ["det"]
path = {a}
hold_all = true

[sinks.b]
plugin = {probe}
inputs = ["det"]
path = {b}
hold_all = true

[sinks.after_thr]
plugin = "discard"
inputs = ["thr"]
"#,
            probe = toml_path(&test_plugin("probe")),
            a = toml_path(&a),
            b = toml_path(&b),
        ),
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let (la, lb) = (probe_lines(&a), probe_lines(&b));
    assert_eq!(la.len(), 50);
    // Same frame number -> same payload address and contents in both consumers.
    assert_eq!(la, lb, "fan-out consumers must see the same buffer");
    // The probes hold every frame, so the threshold always met a shared frame: it must
    // have copied each one (and the probes verified at stop their frames were untouched).
    assert_eq!(u(&o.node("thr")["copies"]), 50);
    assert_eq!(u(&o.node("det")["copies"]), 0);
    assert_eq!(u(&o.node("after_thr")["counters"]["frames"]), 50);
}

#[test]
fn a_panicking_plugin_fails_the_run_cleanly_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 16
height = 16
rate_hz = 0

[filters.boom]
plugin = {fault}
inputs = ["det"]
mode = "panic"
at_frame = 25

[sinks.out]
plugin = "discard"
inputs = ["boom"]
"#,
            fault = toml_path(&test_plugin("fault"))
        ),
        T,
    );
    assert_eq!(o.code(), 1, "{}", o.stderr);
    let r = o.report.as_ref().unwrap();
    assert_eq!(r["outcome"], "failed");
    let err = o.node("boom")["error"].as_str().unwrap();
    assert_eq!(
        err,
        "panicked in handling a frame: fault injected: panic in process at frame 25"
    );
    assert!(
        r["stop_reason"]
            .as_str()
            .unwrap()
            .contains("node `boom` failed"),
        "{r:#}"
    );
    // Frames before the panic went through; the sink after it saw 0..=24 and finished.
    assert_eq!(u(&o.node("out")["counters"]["frames"]), 25);
    // The plugin's stop still ran (it closes files in real plugins), and its log reached us.
    assert!(o.stderr.contains("fault stop called"), "{}", o.stderr);
    assert!(
        o.stderr.contains(" boom] fault stop called"),
        "log tagged with the node: {}",
        o.stderr
    );
    // Whatever reached the failed node after the panic is accounted for, not silently gone.
    let failed = u(&o.node("boom")["frames_failed"]);
    let received = u(&o.edge("det", "boom")["received"]);
    assert_eq!(received, 26 + failed, "{r:#}");
}

#[test]
fn plugin_errors_in_start_process_and_stop_are_reported() {
    for (phase, expect) in [
        ("start", "start failed: fault injected: error in start"),
        (
            "process",
            "handling a frame failed: fault injected: error in process at frame 3",
        ),
        ("stop", "stop failed: fault injected: error in stop"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_pipeline(
            dir.path(),
            &format!(
                "[sources.det]\nplugin = \"sim_detector\"\nrate_hz = 0\nframes = 10\nwidth = 8\nheight = 8\n\n\
                 [filters.f]\nplugin = {}\ninputs = [\"det\"]\nmode = \"error\"\nphase = \"{phase}\"\nat_frame = 3\n\n\
                 [sinks.out]\nplugin = \"discard\"\ninputs = [\"f\"]\n",
                toml_path(&test_plugin("fault"))
            ),
            T,
        );
        assert_eq!(o.code(), 1, "{phase}: {}", o.stderr);
        assert_eq!(o.node("f")["error"].as_str().unwrap(), expect, "{phase}");
        if phase == "start" {
            // Sources never started: nothing was produced.
            assert_eq!(u(&o.node("det")["frames_out"]), 0);
        }
    }
}

#[test]
fn stop_after_frames_is_exact_and_report_json_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_pipeline(
        dir.path(),
        "[pipeline]\nname = \"exact\"\nstop_after_frames = 123\n\n[sources.det]\nplugin = \"sim_detector\"\nrate_hz = 0\nwidth = 8\nheight = 8\n\n[sinks.out]\nplugin = \"discard\"\ninputs = [\"det\"]\n",
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let r = o.report.as_ref().unwrap();
    assert_eq!(r["pipeline"], "exact");
    assert_eq!(u(&o.node("det")["frames_out"]), 123);
    assert_eq!(u(&o.node("out")["frames_in"]), 123);
    for key in ["duration_secs", "pool", "errors", "edges", "stop_reason"] {
        assert!(r.get(key).is_some(), "report lacks {key}: {r:#}");
    }
    assert!(
        u(&r["pool"]["buffers_allocated"]) < 123,
        "buffers are recycled: {r:#}"
    );
    // The source's acquisition time: within the run, and only for sources.
    let active = o.node("det")["active_secs"].as_f64().expect("active_secs");
    assert!(
        active > 0.0 && active <= r["duration_secs"].as_f64().unwrap(),
        "{r:#}"
    );
    assert!(o.node("out")["active_secs"].is_null(), "{r:#}");
    assert!(
        o.stderr.contains("source det: 123 frames in "),
        "{}",
        o.stderr
    );
}

#[test]
fn swapping_the_driver_is_one_line_of_toml() {
    let pipeline = |plugin: &str| {
        format!(
            "[sources.det]\nplugin = {plugin}\nframes = 7\n\n[sinks.out]\nplugin = \"discard\"\ninputs = [\"det\"]\n"
        )
    };
    let by_name = "\"sim_detector\"".to_string();
    let by_path = toml_path(&target_dir().join("libdaqflow_plugin_sim_detector.so"));
    let other_driver = toml_path(&test_plugin("counter"));
    for (plugin, expected_bytes) in [
        (by_name, 7 * 512 * 512 * 2),
        (by_path, 7 * 512 * 512 * 2),
        (other_driver, 7 * 16 * 16),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_pipeline(dir.path(), &pipeline(&plugin), T);
        assert_eq!(o.code(), 0, "{plugin}: {}", o.stderr);
        assert_eq!(u(&o.node("out")["counters"]["frames"]), 7, "{plugin}");
        assert_eq!(
            u(&o.node("out")["counters"]["bytes"]),
            expected_bytes,
            "{plugin}"
        );
    }
}

#[test]
fn invalid_pipeline_exits_2_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_pipeline(
        dir.path(),
        "[sources.det]\nplugin = \"sim_detector\"\nbogus = 1\n",
        T,
    );
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(o.report.is_none());
    assert!(o.stderr.contains("setting `bogus`"), "{}", o.stderr);
}

#[test]
fn inline_lanes_run_on_the_producer_thread_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 32
height = 32
rate_hz = 0
frames = 500

[filters.thr]
plugin = "threshold"
inputs = ["det"]
level = 100
queue = "inline"

[filters.boom]
plugin = {fault}
inputs = ["thr"]
queue = "inline"
mode = "panic"
at_frame = 400

[sinks.out]
plugin = "discard"
inputs = ["boom"]

[sinks.direct]
plugin = "discard"
inputs = ["thr"]
queue = "inline"
"#,
            fault = toml_path(&test_plugin("fault"))
        ),
        T,
    );
    assert_eq!(o.code(), 1, "{}", o.stderr);
    assert_eq!(
        o.node("boom")["error"].as_str().unwrap(),
        "panicked in handling a frame: fault injected: panic in process at frame 400"
    );
    let e = o.edge("det", "thr");
    assert_eq!(e["policy"], "inline");
    assert_eq!(e["sent"], e["received"]);
    // Before the panic every frame went through both inline consumers and the queue after.
    assert_eq!(u(&o.node("out")["counters"]["frames"]), 400);
    assert_eq!(u(&o.node("out")["counters"]["gaps"]), 0);
    let thr_in = u(&o.node("thr")["frames_in"]);
    assert_eq!(u(&o.node("direct")["counters"]["frames"]), thr_in);
    // Inline consumers' stop ran (fault logs it) and their logs carry their node name.
    assert!(
        o.stderr.contains(" boom] fault stop called"),
        "{}",
        o.stderr
    );
    assert!(
        u(&o.node("boom")["frames_failed"]) + 401 == u(&o.node("boom")["frames_in"]),
        "{}",
        o.stderr
    );
}

#[test]
fn inline_needs_exactly_one_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = daqflow_tests::validate_text(
        dir.path(),
        "[sources.a]\nplugin = \"sim_detector\"\n[sources.b]\nplugin = \"sim_detector\"\n\
         [sinks.o]\nplugin = \"discard\"\ninputs = [\"a\", \"b\"]\nqueue = \"inline\"\n",
    );
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr
            .contains("pipeline.toml:8: node `o`: an `inline` lane needs exactly one input"),
        "{}",
        o.stderr
    );
}

#[test]
fn absurd_frame_sizes_are_errors_not_crashes() {
    for len in [u64::MAX - 100, 1 << 60] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_pipeline(
            dir.path(),
            &format!(
                "[sources.c]\nplugin = {}\nencoded_len = {len}\n\n[sinks.o]\nplugin = \"discard\"\ninputs = [\"c\"]\n",
                toml_path(&test_plugin("counter"))
            ),
            T,
        );
        assert_eq!(o.code(), 1, "{}", o.stderr);
        let err = o.node("c")["error"].as_str().unwrap();
        assert!(err.contains("does not fit in the frame pool"), "{err}");
    }
}

#[test]
fn a_rate_limited_latest_input_gets_few_frames_the_newest_last_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("probe.txt");
    let limited = dir.path().join("limited.txt");
    let n = 600;
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 64
height = 64
rate_hz = 400
frames = {n}

[sinks.all]
plugin = "discard"
inputs = ["det"]

[sinks.monitor]
plugin = {probe}
inputs = ["det"]
queue = "latest"
path = {limited}
max_rate = 10.0

[sinks.lossless]
plugin = {probe}
inputs = ["det"]
path = {lines}
max_rate = 10.0
"#,
            probe = toml_path(&test_plugin("probe")),
            limited = toml_path(&limited),
            lines = toml_path(&lines),
        ),
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let secs = o.report.as_ref().unwrap()["duration_secs"]
        .as_f64()
        .unwrap();
    let got = probe_lines(&limited);
    let e = o.edge("det", "monitor");
    // At most one frame per 100 ms (plus the first), by construction of the limit.
    assert!(
        (got.len() as f64) <= secs * 10.0 + 2.0,
        "{} frames in {secs} s at max_rate 10: {e}",
        got.len()
    );
    assert!(
        got.len() < n as usize / 4,
        "the limit did not thin the input: {}",
        got.len()
    );
    // Not starved either: the newest frame at the end of the stream is always delivered.
    assert_eq!(got.keys().next_back(), Some(&(n - 1)), "the last frame");
    assert_eq!(u(&e["received"]), got.len() as u64, "{e}");
    assert_eq!(u(&e["received"]) + u(&e["dropped"]), n, "{e}");
    assert_eq!(u(&e["lost"]), 0, "{e}");
    assert_eq!(u(&o.node("monitor")["counters"]["offered"]), n);
    // A lossless input is never limited: the call is refused with a warning.
    assert_eq!(probe_lines(&lines).len(), n as usize);
    assert_eq!(u(&o.node("lossless")["counters"]["offered"]), n);
    assert!(
        o.stderr
            .contains("input rate limit of 10/s ignored: the node has a lossless (`block`) input"),
        "{}",
        o.stderr
    );
    assert_eq!(u(&o.node("all")["counters"]["gaps"]), 0);
}

#[test]
fn a_rate_limited_input_drains_at_once_when_its_producer_ends() {
    // The limit paces live frames only: 40 frames queued on a deep lossy lane at 1/s would
    // otherwise take 40 s to drain at the end of the stream.
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("got.txt");
    let n = 40;
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 16
height = 16
rate_hz = 0
frames = {n}

[sinks.slow]
plugin = {probe}
inputs = ["det"]
queue = {{ capacity = {n}, when_full = "drop_oldest" }}
path = {got}
max_rate = 1.0
"#,
            probe = toml_path(&test_plugin("probe")),
            got = toml_path(&got),
        ),
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let e = o.edge("det", "slow");
    assert_eq!(
        probe_lines(&got).len(),
        n as usize,
        "every queued frame: {e}"
    );
    assert_eq!(u(&e["dropped"]), 0, "{e}");
    let secs = o.report.as_ref().unwrap()["duration_secs"]
        .as_f64()
        .unwrap();
    assert!(secs < n as f64 / 2.0, "paced at the limit: {secs} s");
}

#[test]
fn workers_process_side_by_side_and_keep_the_input_order() {
    // Frames take 0–3 ms each at random, on 3 workers: they finish out of order, and the
    // discard sink (on a lossless lane it fails on any gap or reordering of frame
    // numbers) must still see 0, 1, 2, … in order.
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[pipeline]\nstop_after_frames = 200\n\n[sources.det]\nplugin = \"sim_detector\"\nwidth = 8\nheight = 8\nrate_hz = 0\n\n\
         [filters.slow]\nplugin = {}\ninputs = [\"det\"]\nworkers = 3\njitter_micros = 3000\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"slow\"]\n",
        toml_path(&test_plugin("burn"))
    );
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(120));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.node("slow")["frames_in"], 200);
    assert_eq!(o.node("slow")["frames_out"], 200);
    assert_eq!(o.node("out")["frames_in"], 200, "{}", o.stderr);
}

#[test]
fn workers_are_refused_for_stateful_filters_and_inline_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sources.det]\nplugin = \"sim_detector\"\n\n\
         [filters.slow]\nplugin = {}\ninputs = [\"det\"]\nworkers = 2\nparallel = false\nqueue = \"inline\"\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"slow\"]\nworkers = 2\n",
        toml_path(&test_plugin("burn"))
    );
    let o = validate_text(dir.path(), &toml);
    assert_eq!(o.code(), 2, "{}", o.stderr);
    for needle in [
        "pipeline.toml:7: node `slow`: plugin `burn` cannot run as 2 workers: it carries state",
        "pipeline.toml:7: node `slow`: `workers` needs a queued input lane",
        "pipeline.toml:14: node `out`: `workers` is for filters",
    ] {
        assert!(
            o.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            o.stderr
        );
    }
}

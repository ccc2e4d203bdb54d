//! The typed pipeline end to end: formats known at `validate` (mismatches reported with
//! their line and fix, the budget table), and the standard filters' output checked against
//! numpy — `sim_detector → crop → bin → stats → hdf5` next to a raw fan-out into a second
//! file, both read back with h5py and compared exactly.

use std::time::Duration;

use daqflow_tests::{
    daqflow, run_cmd, run_pipeline, run_python, test_plugin, toml_path, validate_text,
};

#[test]
fn validate_reports_format_problems_with_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sources.det]\nplugin = \"sim_detector\"\nwidth = 512\nheight = 256\ndtype = \"u32\"\n\n\
         [filters.roi]\nplugin = \"crop\"\ninputs = [\"det\"]\nx = 100\nwidth = 500\n\n\
         [filters.picky]\nplugin = {}\ninputs = [\"det\"]\naccept = [\"u8\", \"u16\"]\n\n\
         [sources.huge]\nplugin = \"sim_detector\"\nwidth = 60000\nheight = 60000\nrate_hz = 1000\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"roi\", \"picky\", \"huge\"]\n",
        toml_path(&test_plugin("burn"))
    );
    let o = validate_text(dir.path(), &toml);
    assert_eq!(o.code(), 2, "{}", o.stderr);
    for needle in [
        // The crop's width line, the input size, both nodes and how far it may go.
        "pipeline.toml:11: node `roi`: plugin `crop` cannot take the frames of `det` (512×256 u32 @ 100 Hz): x + width = 600 exceeds the input width 512; at most 412 fits from x = 100",
        // A dtype the filter does not take, with the fix.
        "pipeline.toml:16: node `picky`: plugin `burn` cannot take the frames of `det` (512×256 u32 @ 100 Hz): burn takes u8 or u16 frames, not u32; insert a `cast` filter before it",
        // A frame bigger than the pool, at the source's line.
        "pipeline.toml:18: node `huge`: its frames (60000×60000 u16 @ 1000 Hz) are 6.7 GiB each, more than the whole frame pool",
        "help: make the frames smaller",
    ] {
        assert!(
            o.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            o.stderr
        );
    }
}

#[test]
fn validate_prints_the_budget_and_graph_the_formats() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[pipeline]\nstop_after_frames = 100\n\n[sources.det]\nplugin = \"sim_detector\"\nwidth = 2048\nheight = 2048\nrate_hz = 500\n\n\
                [filters.roi]\nplugin = \"crop\"\ninputs = [\"det\"]\nwidth = 1024\nheight = 512\n\n\
                [filters.binned]\nplugin = \"bin\"\ninputs = [\"roi\"]\nx = 2\ny = 2\n\n\
                [sinks.view]\nplugin = \"discard\"\ninputs = [\"binned\"]\nqueue = \"latest\"\n";
    let o = validate_text(dir.path(), toml);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    for needle in [
        "det -> roi                   2048×2048 u16                  8.0 MiB     500.0     4194.3     16  128.0 MiB",
        "roi -> binned                1024×512 u16                   1.0 MiB     500.0      524.3     16   16.0 MiB",
        // bin sums widen u16 to u32.
        "binned -> view               512×256 u32                  512.0 KiB     500.0      262.1      1  512.0 KiB",
        "frame pool: 2.0 GiB; the lanes can pin 144.5 MiB",
    ] {
        assert!(
            o.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            o.stdout
        );
    }
    let file = dir.path().join("pipeline.toml");
    let mut c = daqflow();
    c.arg("validate").arg("--json").arg(&file);
    let o = run_cmd(c, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let lane = &v["budget"]["lanes"][2];
    assert_eq!(lane["from"], "binned");
    assert_eq!(lane["format"]["dtype"], "u32");
    assert_eq!(lane["format"]["width"], 512);
    assert_eq!(lane["bytes_per_frame"], 512 * 256 * 4);
    assert_eq!(lane["pinned_bytes"], 512 * 256 * 4);

    let mut c = daqflow();
    c.arg("graph").arg(&file);
    let o = run_cmd(c, Duration::from_secs(60));
    assert!(
        o.stdout
            .contains("<- roi [block(16); 1024×512 u16 @ 500 Hz]"),
        "{}",
        o.stdout
    );
}

#[test]
fn crop_bin_stats_into_hdf5_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.h5");
    let processed = dir.path().join("processed.h5");
    let toml = format!(
        "[pipeline]\nstop_after_frames = 12\n\n\
         [sources.det]\nplugin = \"sim_detector\"\nwidth = 96\nheight = 64\ndtype = \"u16\"\nrate_hz = 0\nseed = 7\n\n\
         [filters.roi]\nplugin = \"crop\"\ninputs = [\"det\"]\nx = 10\ny = 6\nwidth = 64\nheight = 40\n\n\
         [filters.binned]\nplugin = \"bin\"\ninputs = [\"roi\"]\nx = 2\ny = 4\nmode = \"sum\"\n\n\
         [filters.measure]\nplugin = \"stats\"\ninputs = [\"binned\"]\nabove = 4000\n\n\
         [sinks.processed]\nplugin = \"hdf5\"\ninputs = [\"measure\"]\npath = {}\n\n\
         [sinks.raw]\nplugin = \"hdf5\"\ninputs = [\"det\"]\npath = {}\n",
        toml_path(&processed),
        toml_path(&raw)
    );
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(120));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let out = run_python(
        r#"
raw = h5py.File(sys.argv[1], "r")["/entry/instrument/detector"]
out = h5py.File(sys.argv[2], "r")["/entry/instrument/detector"]
frames = raw["data"][()]
assert frames.shape == (12, 64, 96) and frames.dtype == np.uint16, frames.shape
roi = frames[:, 6:46, 10:74].astype(np.uint32)
binned = roi.reshape(12, 10, 4, 32, 2).sum(axis=(2, 4), dtype=np.uint32)
data = out["data"][()]
assert data.dtype == np.uint32, data.dtype
assert np.array_equal(data, binned), "binned pixels differ"
assert np.array_equal(out["frame_number"][()], raw["frame_number"][()])
meta = out["frame_metadata"]
f = binned.astype(np.float64)
ys, xs = np.mgrid[0:10, 0:32]
for i in range(12):
    img = f[i]
    s = img.sum()
    assert meta["stats_sum"][i] == s, (i, meta["stats_sum"][i], s)
    assert meta["stats_min"][i] == img.min() and meta["stats_max"][i] == img.max()
    assert int(meta["stats_count_above"][i]) == int((binned[i] > 4000).sum())
    assert np.isclose(meta["stats_mean"][i], img.mean(), rtol=1e-12, atol=0)
    assert np.isclose(meta["stats_std"][i], img.std(), rtol=1e-9, atol=0)
    assert np.isclose(meta["stats_centroid_x"][i], (xs * img).sum() / s, rtol=1e-12, atol=0)
    assert np.isclose(meta["stats_centroid_y"][i], (ys * img).sum() / s, rtol=1e-12, atol=0)
print("ok", data.shape)
"#,
        &[raw.to_str().unwrap(), processed.to_str().unwrap()],
    );
    assert!(out.contains("ok (12, 10, 32)"), "{out}");
}

#[test]
fn a_run_without_frames_leaves_the_dataset_shaped_by_the_format() {
    // The writer learns the format before the first frame: the file of a run that ends
    // before any frame still holds `(0, height, width)` of the right dtype and
    // compression, where a consumer can find it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.h5");
    let toml = format!(
        "[sources.det]\nplugin = {}\nframes = 0\nside = 30\n\n\
         [filters.roi]\nplugin = \"crop\"\ninputs = [\"det\"]\nwidth = 20\n\n\
         [sinks.file]\nplugin = \"hdf5\"\ninputs = [\"roi\"]\ncompression = \"bslz4\"\npath = {}\n",
        toml_path(&test_plugin("counter")),
        toml_path(&file)
    );
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.node("file")["frames_in"], 0, "{}", o.stderr);
    let out = run_python(
        r#"
f = h5py.File(sys.argv[1], "r")
d = f["/entry/instrument/detector/data"]
print("shape", d.shape, d.dtype, d.chunks, list(d._filters.keys()))
assert f["/entry/data/data"].shape == (0, 30, 20)
"#,
        &[file.to_str().unwrap()],
    );
    assert!(out.contains("shape (0, 30, 20) uint8 (1, 30, 20)"), "{out}");
    assert!(out.contains("32008"), "bitshuffle filter set: {out}");
}

#[test]
fn a_new_format_mid_run_goes_to_a_new_file() {
    // Frames announce a format learnt at run time: from frame 5 on they are twice as wide.
    // The writer is told before that frame, finishes its file, and continues in a second.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("series.h5");
    let toml = format!(
        "[sources.det]\nplugin = {}\nframes = 8\nside = 4\nwiden_at = 5\n\n\
         [sinks.file]\nplugin = \"hdf5\"\ninputs = [\"det\"]\npath = {}\n",
        toml_path(&test_plugin("counter")),
        toml_path(&file)
    );
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(o.stderr.contains("series_s001.h5"), "{}", o.stderr);
    let second = dir.path().join("series_s001.h5");
    let out = run_python(
        r#"
for path in sys.argv[1:]:
    d = h5py.File(path, "r")["/entry/instrument/detector"]
    print(d["data"].shape, d["frame_number"][()].tolist(), d["data"][()].reshape(d["data"].shape[0], -1)[:, 0].tolist())
"#,
        &[file.to_str().unwrap(), second.to_str().unwrap()],
    );
    assert!(
        out.contains("(5, 4, 4) [0, 1, 2, 3, 4] [0, 1, 2, 3, 4]"),
        "{out}"
    );
    assert!(out.contains("(3, 4, 8) [5, 6, 7] [5, 6, 7]"), "{out}");
}

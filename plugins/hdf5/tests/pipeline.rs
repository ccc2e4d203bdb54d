//! The sink inside real pipelines: the `daqflow` binary loads `sim_detector` and this
//! plugin as shared libraries. Needs them built first:
//! `cargo build -p daqflow -p daqflow-plugin-sim-detector -p daqflow-plugin-hdf5`
//! (or `cargo build --workspace`).

mod common;
mod e2e;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::run_python;
use e2e::{daqflow, run_cmd, run_pipeline, toml_path, validate_text, wait_or_kill};

const TIMEOUT: Duration = Duration::from_secs(120);

fn source(dtype: &str, frames: u64, rate_hz: u32) -> String {
    format!(
        r#"
[sources.detector]
plugin = "sim_detector"
width = 96
height = 64
dtype = "{dtype}"
rate_hz = {rate_hz}
frames = {frames}
pattern = "ramp"
"#
    )
}

fn hdf5_sink(name: &str, path: &Path, extra: &str) -> String {
    format!(
        "\n[sinks.{name}]\nplugin = \"hdf5\"\ninputs = [\"detector\"]\npath = {}\n{extra}\n",
        toml_path(path)
    )
}

/// Python check: every frame of `path` is the sim_detector ramp `(x + y + n)` of `dtype`.
const CHECK_RAMP: &str = r#"
path, dtype, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = dict(libver="latest", swmr=True) if len(sys.argv) > 4 and sys.argv[4] == "swmr" else {}
with h5py.File(path, "r", **kw) as f:
    d = f["entry/data/data"]
    got = d[()]
    if n >= 0:
        assert d.shape == (n, 64, 96), d.shape
    n = d.shape[0]
    fn = f["entry/instrument/detector/frame_number"][()][:n]
y, x = np.mgrid[0:64, 0:96]
for i in range(n):
    v = (x + y + int(fn[i])).astype(np.uint64)
    exp = (v % (1 << 24)).astype(dtype) if dtype == "float32" else v.astype(dtype)
    assert (got[i] == exp).all(), f"frame {i} differs"
assert list(fn) == list(range(len(fn))), fn[:20]
print(n)
"#;

#[test]
fn daqflow_run_records_every_frame_bit_exact_for_every_dtype_and_compression() {
    let dir = tempfile::tempdir().unwrap();
    for (dtype, np_dtype) in [
        ("u8", "uint8"),
        ("u16", "uint16"),
        ("u32", "uint32"),
        ("f32", "float32"),
    ] {
        // One source fanned out to three writers: the frames are shared, not copied.
        let mut toml = format!(
            "[pipeline]\nname = \"rec-{dtype}\"\n{}",
            source(dtype, 120, 0)
        );
        for c in ["none", "lz4", "bslz4"] {
            let path = dir.path().join(format!("{dtype}_{{node}}_{{run}}.h5"));
            toml += &hdf5_sink(c, &path, &format!("compression = \"{c}\"\nrun_id = \"r1\""));
        }
        // And rotated parts behind a master file.
        let master = dir.path().join(format!("{dtype}_rotated.h5"));
        toml += &hdf5_sink(
            "rotated",
            &master,
            "frames_per_file = 50\ncompression = \"bslz4\"",
        );
        let o = run_pipeline(dir.path(), &toml, TIMEOUT);
        assert_eq!(o.code(), 0, "{}", o.stderr);
        for c in ["none", "lz4", "bslz4"] {
            let node = o.node(c);
            assert_eq!(node["frames_in"], 120, "{node}");
            assert_eq!(node["counters"]["frames_written"], 120, "{node}");
            assert_eq!(node["counters"]["frames_lost"], 0, "{node}");
            let file = dir.path().join(format!("{dtype}_{c}_r1.h5"));
            let out = run_python(CHECK_RAMP, &[file.to_str().unwrap(), np_dtype, "120"]);
            assert_eq!(out.trim(), "120", "{c} {dtype}");
        }
        let out = run_python(CHECK_RAMP, &[master.to_str().unwrap(), np_dtype, "120"]);
        assert_eq!(out.trim(), "120", "rotated {dtype}");
        assert!(
            dir.path()
                .join(format!("{dtype}_rotated_data_000003.h5"))
                .is_file()
        );
    }
}

#[test]
fn frames_compressed_by_the_source_are_stored_or_transcoded_bit_exact() {
    // A detector that compresses on board: its chunks go into a file of the same
    // compression as they are, and are decoded (and re-encoded) for any other.
    let dir = tempfile::tempdir().unwrap();
    for encoding in ["lz4", "bslz4"] {
        let mut toml = format!(
            "[pipeline]\nname = \"enc-{encoding}\"\n{}encoding = \"{encoding}\"\n",
            source("u16", 60, 0)
        );
        for c in ["none", "lz4", "bslz4"] {
            let path = dir.path().join(format!("{encoding}_{{node}}.h5"));
            toml += &hdf5_sink(c, &path, &format!("compression = \"{c}\""));
        }
        let o = run_pipeline(dir.path(), &toml, TIMEOUT);
        assert_eq!(o.code(), 0, "{}", o.stderr);
        let sent = o.node("detector")["counters"]["bytes_out"]
            .as_u64()
            .unwrap();
        assert!(
            sent < 60 * 96 * 64 * 2,
            "the source sent {encoding} chunks: {sent} bytes"
        );
        for c in ["none", "lz4", "bslz4"] {
            assert_eq!(
                o.node(c)["counters"]["frames_written"],
                60,
                "{encoding} → {c}"
            );
            let file = dir.path().join(format!("{encoding}_{c}.h5"));
            let out = run_python(CHECK_RAMP, &[file.to_str().unwrap(), "uint16", "60"]);
            assert_eq!(out.trim(), "60", "{encoding} → {c}");
        }
    }
}

#[test]
fn validate_refuses_a_lossy_lane_into_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[pipeline]\nname = \"lossy\"\n{}{}queue = \"latest\"\n",
        source("u16", 10, 0),
        hdf5_sink("file", &dir.path().join("x.h5"), "")
    );
    let o = validate_text(dir.path(), &toml);
    assert_ne!(o.code(), 0, "{o:?}");
    let text = format!("{}{}", o.stdout, o.stderr);
    assert!(text.contains("`file`") && text.contains("latest"), "{text}");
}

#[test]
fn an_existing_file_stops_the_run_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.h5");
    std::fs::write(&path, b"keep").unwrap();
    let toml = format!(
        "[pipeline]\nname = \"exists\"\n{}{}",
        source("u16", 10, 0),
        hdf5_sink("file", &path, "")
    );
    let o = run_pipeline(dir.path(), &toml, TIMEOUT);
    assert_ne!(o.code(), 0);
    assert!(
        o.stderr.contains(path.to_str().unwrap()) && o.stderr.contains("overwrite"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
}

#[test]
fn disk_full_stops_the_pipeline_with_the_frame_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.h5");
    let toml = format!(
        "[pipeline]\nname = \"full\"\n{}{}",
        source("u32", 2000, 0),
        hdf5_sink("file", &path, "flush_every_frames = 10")
    );
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    // A 4 MiB file-size limit; SIGXFSZ ignored so that write() fails with EFBIG instead.
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4096; exec "$0" run --quiet "$1""#)
        .arg(e2e::target_dir().join("daqflow"))
        .arg(&file);
    let o = run_cmd(cmd, TIMEOUT);
    assert_ne!(o.status.code(), Some(0), "{}", o.stderr);
    assert!(o.status.code().is_some(), "died by a signal: {}", o.stderr);
    let line = o
        .stderr
        .lines()
        .find(|l| l.contains("File too large"))
        .unwrap_or_else(|| panic!("{}", o.stderr));
    assert!(
        line.contains("append frame") && line.contains(path.to_str().unwrap()),
        "{line}"
    );
    // What was written before the error is a valid file.
    let out = run_python(CHECK_RAMP, &[path.to_str().unwrap(), "uint32", "-1"]);
    assert!(out.trim().parse::<u64>().unwrap() > 10, "{out}");
}

/// Starts an endless `daqflow run`, waits until `path` holds `bytes`, then SIGKILLs it.
fn kill_when_written(dir: &Path, path: &Path, extra: &str, bytes: u64) {
    let toml = format!(
        "[pipeline]\nname = \"kill\"\n{}{}",
        source("u16", 0, 500),
        hdf5_sink("file", path, extra)
    );
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let mut child = daqflow()
        .args(["run", "--quiet"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < bytes {
        assert!(
            start.elapsed() < TIMEOUT,
            "the writer did not reach {bytes} bytes"
        );
        assert!(child.try_wait().unwrap().is_none(), "daqflow exited early");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    wait_or_kill(&mut child, TIMEOUT, "killed daqflow");
}

#[test]
fn sigkill_of_daqflow_leaves_every_flushed_frame_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.h5");
    // 96x64 u16 = 12 KiB per frame: 60 frames written means 50 flushed at least.
    kill_when_written(dir.path(), &path, "flush_every_frames = 10", 60 * 12 * 1024);
    let n: u64 = run_python(CHECK_RAMP, &[path.to_str().unwrap(), "uint16", "-1"])
        .trim()
        .parse()
        .unwrap();
    assert!(n >= 50, "{n} frames");
}

#[test]
fn sigkill_of_daqflow_in_swmr_mode_leaves_a_file_swmr_readers_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed_swmr.h5");
    kill_when_written(
        dir.path(),
        &path,
        "swmr = true\ncompression = \"bslz4\"",
        64 * 1024,
    );
    let n: u64 = run_python(
        CHECK_RAMP,
        &[path.to_str().unwrap(), "uint16", "-1", "swmr"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!(n >= 1, "{n} frames");
}

/// SIGINT (Ctrl-C) mid-run: the queue drains and the file is closed complete, with as
/// many frames as the report says were written, while a SWMR reader watched it grow.
#[test]
fn ctrl_c_drains_and_closes_a_complete_file_that_a_swmr_reader_saw_grow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.h5");
    let report = dir.path().join("report.json");
    let toml = format!(
        "[pipeline]\nname = \"live\"\n{}{}",
        source("u16", 0, 200),
        hdf5_sink("file", &path, "swmr = true\ncompression = \"lz4\"")
    );
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let mut child = daqflow()
        .args(["run", "--quiet", "--report"])
        .arg(&report)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < TIMEOUT);
        std::thread::sleep(Duration::from_millis(10));
    }
    // The reader sees the file grow by 20 frames while daqflow runs.
    let seen = run_python(
        r#"
import time
f = None
deadline = time.time() + 120
while f is None:
    try:
        f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
        d = f["entry/data/data"]
    except (OSError, KeyError):
        f = None
        assert time.time() < deadline
        time.sleep(0.05)
first = d.shape[0]
while d.shape[0] < first + 20:
    assert time.time() < deadline, d.shape
    time.sleep(0.02)
    d.refresh()
print("grew")
"#,
        &[path.to_str().unwrap()],
    );
    assert_eq!(seen.trim(), "grew");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_or_kill(&mut child, TIMEOUT, "daqflow after Ctrl-C");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let node = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "file")
        .unwrap();
    let written = node["counters"]["frames_written"].as_u64().unwrap();
    assert_eq!(node["frames_in"].as_u64(), Some(written), "{node}");
    let out = run_python(
        CHECK_RAMP,
        &[path.to_str().unwrap(), "uint16", &written.to_string()],
    );
    assert_eq!(out.trim(), written.to_string());
    let end = run_python(
        "with h5py.File(sys.argv[1], 'r') as f:\n    print(f['entry/end_time'][()].decode().endswith('Z'), int(f['entry/frame_count'][()]))",
        &[path.to_str().unwrap()],
    );
    assert_eq!(end.trim(), format!("True {written}"));
}

//! The `dectris` source end to end: a real sender process (tests/python/stream_sender.py:
//! pyzmq + cbor2, chunks compressed by HDF5's own filters through hdf5plugin) pushes a
//! DECTRIS stream v2 or v1 on 127.0.0.1 (a port the OS picks), the real `daqflow` binary
//! receives it with the `dectris` plugin and writes HDF5 with the `hdf5` plugin, and
//! h5py checks the file against what was sent: pixels bit-exact, compressed chunks
//! byte-identical (`read_direct_chunk`), the series' NeXus fields, one file per series,
//! and every lost or malformed message counted in the report.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use daqflow_tests::{plugin, python, run_pipeline, run_python, toml_path, wait_or_kill};
use serde_json::json;

/// A running `stream_sender.py`.
pub struct Sender {
    child: Child,
    endpoint: String,
    out: PathBuf,
}

impl Sender {
    fn start(dir: &Path, mut args: serde_json::Value) -> Sender {
        let out = dir.join("sent");
        args["endpoint"] = json!("tcp://127.0.0.1:*");
        args["out"] = json!(out.display().to_string());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/stream_sender.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(args.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start stream_sender.py");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line.trim().to_owned();
        assert!(
            endpoint.starts_with("tcp://127.0.0.1:"),
            "sender said {line:?}"
        );
        Sender {
            child,
            endpoint,
            out,
        }
    }

    fn npz(&self) -> String {
        format!("{}.npz", self.out.display())
    }

    fn wait(mut self) {
        let s = wait_or_kill(&mut self.child, Duration::from_secs(60), "stream_sender.py");
        assert!(s.success(), "sender failed: {s:?}");
    }
}

/// `dectris` (from `endpoint`, ending after `series` series) → `hdf5` at `dir/out_{series}.h5`.
fn receiver_pipeline(dir: &Path, endpoint: &str, protocol: &str, series: u64) -> String {
    format!(
        r#"
[pipeline]
name = "receive"

[sources.det]
plugin = {}
endpoint = "{endpoint}"
protocol = "{protocol}"
series = {series}
idle_log_secs = 1

[sinks.file]
plugin = {}
inputs = ["det"]
path = {}
"#,
        toml_path(&plugin("dectris")),
        toml_path(&plugin("hdf5")),
        toml_path(&dir.join("out_{series}.h5"))
    )
}

/// Checks `dir/out_<series>.h5` against what the sender saved: pixels bit-exact, chunks
/// byte-identical when compressed, the series' NeXus fields.
fn check_file(dir: &Path, npz: &str, series: u64, compression: &str, v1_lz4: bool) {
    let file = dir.join(format!("out_{series}.h5"));
    run_python(
        r#"
path, npz, series, comp, v1_lz4 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
sent = np.load(npz)
frames = sent[f"frames_{series}"]
with h5py.File(path, "r") as f:
    d = f["entry/instrument/detector/data"]
    assert d.shape == frames.shape and d.dtype == frames.dtype, (d.shape, d.dtype, frames.shape)
    assert (d[()] == frames).all(), "pixels differ"
    assert (f["entry/instrument/detector/frame_number"][()] == np.arange(len(frames))).all()
    if comp != "none":
        for i in range(len(frames)):
            _, chunk = d.id.read_direct_chunk((i, 0, 0))
            want = sent[f"chunk_{series}_{i}"].tobytes()
            if v1_lz4:
                # v1 `lz4<` is the bare block: the file has it under a 16-byte LZ4-filter header.
                assert chunk[16:] == want[16:], f"chunk {i} differs"
            else:
                assert chunk == want, f"chunk {i} differs ({len(chunk)} vs {len(want)} bytes)"
    det = f["entry/instrument/detector"]
    assert abs(det["count_time"][()] - 0.099) < 1e-12 and det["count_time"].attrs["units"] == "s"
    assert abs(det["beam_center_x"][()] - 512.5) < 1e-12
    assert abs(det["y_pixel_size"][()] - 7.5e-05) < 1e-15
    assert det["sensor_material"][()].decode() == "Si"
    assert det["description"][()].decode() == "Dectris EIGER2 Si 500K"
    assert det["serial_number"][()].decode() == "E-02-0123"
    assert det["detectorSpecific/nimages"][()] == len(frames)
    assert det["detectorSpecific/series_id"][()] == series
    beam = f["entry/instrument/beam"]
    assert beam.attrs["NX_class"] == "NXbeam"
    assert abs(beam["incident_wavelength"][()] - 1.0332) < 1e-12
    assert (det["frame_metadata/series_id"][()] == series).all()
print("ok")
"#,
        &[
            file.to_str().unwrap(),
            npz,
            &series.to_string(),
            compression,
            if v1_lz4 { "1" } else { "0" },
        ],
    );
}

fn counter(o: &daqflow_tests::Outcome, node: &str, name: &str) -> u64 {
    let n = o.node(node);
    n["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("counter {name} of {node} in {n:#}"))
}

fn receive_one_series(protocol: &str, dtype: &str, compression: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sender = Sender::start(
        dir.path(),
        json!({"protocol": protocol, "dtype": dtype, "compression": compression,
               "width": 96, "height": 40, "series": [5], "images": 6}),
    );
    let toml = receiver_pipeline(dir.path(), &sender.endpoint, protocol, 1);
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(90));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let npz = sender.npz();
    sender.wait();
    assert_eq!(counter(&o, "det", "images_received"), 6, "{}", o.stderr);
    for c in [
        "images_missing",
        "malformed_messages",
        "ends_missing",
        "starts_missing",
    ] {
        assert_eq!(counter(&o, "det", c), 0, "{c}: {}", o.stderr);
    }
    assert_eq!(counter(&o, "file", "frames_written"), 6);
    check_file(
        dir.path(),
        &npz,
        5,
        compression,
        protocol == "legacy" && compression == "lz4",
    );
}

#[test]
fn v2_u8_raw() {
    receive_one_series("stream2", "u8", "none");
}

#[test]
fn v2_u16_raw() {
    receive_one_series("stream2", "u16", "none");
}

#[test]
fn v2_u32_raw() {
    receive_one_series("stream2", "u32", "none");
}

#[test]
fn v2_u16_bslz4_chunks_stored_as_sent() {
    receive_one_series("stream2", "u16", "bslz4");
}

#[test]
fn v2_u32_bslz4_chunks_stored_as_sent() {
    receive_one_series("stream2", "u32", "bslz4");
}

#[test]
fn v2_u8_lz4_chunks_stored_as_sent() {
    receive_one_series("stream2", "u8", "lz4");
}

#[test]
fn v1_u16_raw() {
    receive_one_series("legacy", "u16", "none");
}

#[test]
fn v1_u16_bslz4() {
    receive_one_series("legacy", "u16", "bslz4");
}

#[test]
fn v1_u32_lz4_block() {
    receive_one_series("legacy", "u32", "lz4");
}

#[test]
fn two_series_make_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let sender = Sender::start(
        dir.path(),
        json!({"dtype": "u16", "compression": "bslz4", "width": 64, "height": 32,
               "series": [3, 4], "images": 5}),
    );
    let toml = receiver_pipeline(dir.path(), &sender.endpoint, "stream2", 2);
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(90));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let npz = sender.npz();
    sender.wait();
    assert_eq!(counter(&o, "det", "series_completed"), 2);
    assert_eq!(counter(&o, "det", "images_received"), 10);
    assert_eq!(counter(&o, "file", "frames_written"), 10);
    check_file(dir.path(), &npz, 3, "bslz4", false);
    check_file(dir.path(), &npz, 4, "bslz4", false);
}

#[test]
fn malformed_messages_are_counted_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let sender = Sender::start(
        dir.path(),
        json!({"dtype": "u16", "compression": "none", "width": 16, "height": 8,
               "series": [1], "images": 3, "malformed": true}),
    );
    let toml = receiver_pipeline(dir.path(), &sender.endpoint, "stream2", 1);
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(90));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let npz = sender.npz();
    sender.wait();
    let expected = run_python("print(str(np.load(sys.argv[1])['corpus']))", &[&npz]);
    let expected: serde_json::Value = serde_json::from_str(expected.trim()).unwrap();
    for (kind, n) in expected.as_object().unwrap() {
        assert_eq!(
            counter(&o, "det", kind),
            n.as_u64().unwrap(),
            "{kind}: {}",
            o.stderr
        );
    }
    assert_eq!(counter(&o, "det", "images_received"), 3);
    // Each kind is logged once, with its first example.
    assert_eq!(
        o.stderr.matches("malformed_messages:").count(),
        1,
        "{}",
        o.stderr
    );
    check_file(dir.path(), &npz, 1, "none", false);
}

/// A `daqflow run` in the background, its log lines readable as they come.
struct Background {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    report: PathBuf,
}

impl Background {
    fn start(dir: &Path, toml: &str) -> Background {
        let file = dir.join("pipeline.toml");
        std::fs::write(&file, toml).unwrap();
        let report = dir.join("report.json");
        let mut child = daqflow_tests::daqflow()
            .arg("run")
            .arg("--quiet")
            .arg("--report")
            .arg(&report)
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        // A std channel: the reader thread is bounded by the child's output anyway.
        #[allow(clippy::disallowed_methods)]
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines,
            seen: Vec::new(),
            report,
        }
    }

    /// Waits (at most 60 s) for a log line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(needle);
                self.seen.push(l);
                if hit {
                    return;
                }
            }
        }
        let _ = self.child.kill();
        panic!("no log line with {needle:?}:\n{}", self.seen.join("\n"));
    }

    /// Ctrl-C, then the exit status and the report.
    fn interrupt(mut self) -> (i32, serde_json::Value, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = wait_or_kill(
            &mut self.child,
            Duration::from_secs(30),
            "daqflow after Ctrl-C",
        );
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        let report = std::fs::read_to_string(&self.report).expect("a report after Ctrl-C");
        (
            status.code().expect("an exit code, not a signal"),
            serde_json::from_str(&report).unwrap(),
            self.seen.join("\n"),
        )
    }
}

fn report_counter(report: &serde_json::Value, node: &str, name: &str) -> u64 {
    let n = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .unwrap();
    n["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("counter {name} in {n:#}"))
}

#[test]
fn a_sender_killed_mid_series_is_reported_and_the_file_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let sender = Sender::start(
        dir.path(),
        json!({"dtype": "u16", "compression": "none", "width": 64, "height": 32,
               "series": [1], "images": 20, "kill_after": 8}),
    );
    let toml = receiver_pipeline(dir.path(), &sender.endpoint, "stream2", 1);
    let mut run = Background::start(dir.path(), &toml);
    run.wait_for("went away during series 1");
    let npz = sender.npz();
    sender.wait();
    let (code, report, log) = run.interrupt();
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        report_counter(&report, "det", "images_received"),
        8,
        "{log}"
    );
    assert_eq!(
        report_counter(&report, "det", "images_missing"),
        12,
        "{log}"
    );
    assert_eq!(report_counter(&report, "det", "ends_missing"), 1, "{log}");
    assert_eq!(
        report_counter(&report, "file", "frames_written"),
        8,
        "{log}"
    );
    run_python(
        r#"
sent = np.load(sys.argv[2])["frames_1"][:8]
with h5py.File(sys.argv[1], "r") as f:
    d = f["entry/instrument/detector/data"]
    assert d.shape == sent.shape, d.shape
    assert (d[()] == sent).all()
print("ok")
"#,
        &[dir.path().join("out_1.h5").to_str().unwrap(), &npz],
    );
}

#[test]
fn ctrl_c_while_waiting_for_a_sender_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on (bound and released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = receiver_pipeline(dir.path(), &format!("tcp://127.0.0.1:{port}"), "stream2", 1);
    let mut run = Background::start(dir.path(), &toml);
    run.wait_for("waiting for a series");
    let (code, report, log) = run.interrupt();
    assert_eq!(code, 0, "{log}");
    assert_eq!(report_counter(&report, "det", "images_received"), 0);
    assert_eq!(report_counter(&report, "det", "series_started"), 0);
}

/// A stream v1 from LiberTEM's `libertem-dectris` simulator (an implementation we did
/// not write: header and config as two messages, bitshuffle chunks with a zeroed
/// header), passed through unchanged: every image stored, pixels equal to DECTRIS's own
/// decompression of the sender's bytes, the detector description in the NeXus file.
#[test]
fn libertem_dectris_simulator_v1_is_received() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("peer");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/peer_libertem.py");
    let mut peer = Command::new(python())
        .arg(script)
        .arg("6")
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut endpoint = String::new();
    BufReader::new(peer.stdout.as_mut().unwrap())
        .read_line(&mut endpoint)
        .unwrap();
    let toml = receiver_pipeline(dir.path(), endpoint.trim(), "legacy", 1);
    let o = run_pipeline(dir.path(), &toml, Duration::from_secs(90));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let s = wait_or_kill(&mut peer, Duration::from_secs(60), "peer_libertem.py");
    assert!(s.success());
    assert_eq!(counter(&o, "det", "images_received"), 6, "{}", o.stderr);
    assert_eq!(
        counter(&o, "det", "bad_compressed_images"),
        0,
        "{}",
        o.stderr
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h5"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    run_python(
        r#"
from dectris.compression import decompress
rec = np.load(sys.argv[2])
x, y = (int(v) for v in rec["shape"])
with h5py.File(sys.argv[1], "r") as f:
    d = f["entry/instrument/detector/data"]
    assert d.shape == (6, y, x) and d.dtype == np.uint16, d.shape
    assert f["entry/instrument/detector/description"][()].decode() == str(rec["description"])
    for i in range(6):
        blob = rec[f"blob_{i}"].tobytes()
        _, chunk = d.id.read_direct_chunk((i, 0, 0))
        # The chunk is the sender's blocks under a complete HDF5 bitshuffle header
        # (the sender's own, or ours in place of a zeroed or missing one).
        if blob[:8] == chunk[:8]:
            assert chunk == blob
        elif blob[:12] == bytes(12):
            assert chunk[12:] == blob[12:]
        else:
            assert chunk[12:] == blob
        want = np.frombuffer(decompress(chunk, "bslz4", elem_size=2), np.uint16).reshape(y, x)
        assert (d[i] == want).all()
print("ok")
"#,
        &[
            files[0].to_str().unwrap(),
            &format!("{}.npz", out.display()),
        ],
    );
}

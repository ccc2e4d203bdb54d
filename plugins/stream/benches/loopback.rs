//! Throughput of the stream plugins on loopback (127.0.0.1), printed as ratios against
//! named baselines (no assertions):
//!
//! 1. `sim_detector → stream` ⟶ `dectris → discard`, two real `daqflow` processes, 4 MiB
//!    frames (2048×1024 u16), vs a bare libzmq PUSH→PULL of the same CBOR messages (the
//!    bytes `stream` sends), in this process, in the same run (target ≥ 0.9×).
//! 2. Compressed pass-through into HDF5: a sender that replays one prepared message
//!    (bitshuffle-LZ4, or raw) ⟶ `dectris → hdf5`; GB/s of uncompressed-equivalent data
//!    written, bslz4 vs raw frames (the uncompressed writer).
//!
//! The receiving process starts last, so its `dectris` source's active time (first
//! `next` to end of series, from the run report) is the transfer time.
//!
//! Run: `cargo build -p daqflow -p daqflow-plugin-sim-detector -p daqflow-plugin-stream
//! -p daqflow-plugin-dectris -p daqflow-plugin-discard -p daqflow-plugin-hdf5 && cargo
//! bench -p daqflow-plugin-stream --bench loopback`. `DAQFLOW_BENCH_FRAMES` (default 200).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use daqflow_plugin_stream::encode::{self, ImageInfo, StartInfo};
use daqflow_sdk::{DType, Encoding};
use daqflow_tests::{daqflow, plugin, toml_path, wait_or_kill};

const W: u32 = 2048;
const H: u32 = 1024;
const FRAME: usize = (W * H * 2) as usize;

fn frames() -> u64 {
    std::env::var("DAQFLOW_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The image message `stream` sends for a frame of `payload` bytes.
fn image_message(id: u64, encoding: Encoding, payload: &[u8]) -> Vec<u8> {
    let mut head = Vec::new();
    encode::image_header(
        &ImageInfo {
            series_id: 1,
            unique_id: "bench",
            series_date: "2026-01-01T00:00:00.000000Z",
            image_id: id,
            since_start_ns: id * 1000,
            channel: "threshold_1",
            width: W,
            height: H,
            dtype: DType::U16,
            encoding,
            payload_len: payload.len(),
        },
        &mut head,
    )
    .unwrap();
    head.extend_from_slice(payload);
    head
}

/// Bare libzmq PUSH → PULL (two threads, tcp loopback) of `n` messages like `msg`.
fn bare_zmq(n: u64, msg: &[u8]) -> f64 {
    let ctx = zmq::Context::new();
    let port = free_port();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_sndhwm(16).unwrap();
    push.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_rcvhwm(16).unwrap();
    pull.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut m = zmq::Message::new();
        pull.recv(&mut m, 0).unwrap();
        let t0 = Instant::now();
        let mut bytes = m.len();
        for _ in 1..n {
            pull.recv(&mut m, 0).unwrap();
            bytes += m.len();
        }
        (bytes, t0.elapsed())
    });
    for _ in 0..n {
        // Like `stream`: the message is built (one copy of the frame) per send.
        push.send(zmq::Message::from(msg), 0).unwrap();
    }
    let (bytes, t) = receiver.join().unwrap();
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn spawn(dir: &Path, name: &str, toml: &str) -> Child {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).unwrap();
    daqflow()
        .args(["run", "--quiet", "--report"])
        .arg(dir.join(format!("{name}.json")))
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for a run; returns its report.
fn finish(dir: &Path, name: &str, mut child: Child) -> serde_json::Value {
    let s = wait_or_kill(&mut child, Duration::from_secs(600), name);
    assert!(s.success(), "{name}: {s:?}");
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
        .unwrap()
}

fn node<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap()
}

/// The receiving `dectris` source's active seconds and images received.
fn receive_time(report: &serde_json::Value) -> (f64, u64) {
    let det = node(report, "det");
    (
        det["active_secs"].as_f64().expect("active_secs of det"),
        det["counters"]["images_received"].as_u64().unwrap(),
    )
}

fn receiver_toml(endpoint: &str, sink: &str) -> String {
    format!(
        "[pipeline]\nname = \"rx\"\n\n[sources.det]\nplugin = {}\nendpoint = \"{endpoint}\"\nseries = 1\nrcvhwm = 16\n\n{sink}",
        toml_path(&plugin("dectris"))
    )
}

/// Part 1: sim_detector → stream ⟶ dectris → discard.
fn daqflow_pair(dir: &Path, n: u64) -> f64 {
    let port = free_port();
    let tx = spawn(
        dir,
        "tx",
        &format!(
            "[pipeline]\nname = \"tx\"\n\n[sources.cam]\nplugin = {}\nwidth = {W}\nheight = {H}\ndtype = \"u16\"\nrate_hz = 0\nframes = {n}\npattern = \"none\"\n\n[sinks.net]\nplugin = {}\ninputs = [\"cam\"]\nbind = \"tcp://127.0.0.1:{port}\"\n",
            toml_path(&plugin("sim_detector")),
            toml_path(&plugin("stream")),
        ),
    );
    std::thread::sleep(Duration::from_millis(500));
    let rx = spawn(
        dir,
        "rx",
        &receiver_toml(
            &format!("tcp://127.0.0.1:{port}"),
            &format!(
                "[sinks.drop]\nplugin = {}\ninputs = [\"det\"]\n",
                toml_path(&plugin("discard"))
            ),
        ),
    );
    finish(dir, "tx", tx);
    let (secs, got) = receive_time(&finish(dir, "rx", rx));
    assert_eq!(got, n);
    (n as f64 * FRAME as f64) / secs / 1e9
}

/// Part 2: a Python sender replaying one message (`compression` none or bslz4) ⟶
/// dectris → hdf5. Uncompressed-equivalent GB/s and the chunk size.
fn into_hdf5(dir: &Path, n: u64, compression: &str) -> (f64, usize) {
    let py = daqflow_tests::python();
    let script = r#"
import sys, cbor2, zmq, numpy as np, h5py, hdf5plugin, tempfile, os
n, comp = int(sys.argv[1]), sys.argv[2]
W, H = 2048, 1024
rng = np.random.default_rng(1)
f = rng.poisson(2.0, size=(H, W)).astype(np.uint16)
f[rng.random((H, W)) < 0.01] = 3000
if comp == "none":
    arr = cbor2.CBORTag(69, f.tobytes()); size = f.nbytes
else:
    p = tempfile.mktemp()
    with h5py.File(p, "w") as h:
        d = h.create_dataset("d", data=f[None], chunks=(1, H, W), **hdf5plugin.Bitshuffle(cname="lz4"))
        chunk = d.id.read_direct_chunk((0, 0, 0))[1]
    os.unlink(p)
    arr = cbor2.CBORTag(69, cbor2.CBORTag(56500, ["bslz4", 2, chunk])); size = len(chunk)
ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.setsockopt(zmq.LINGER, 60000)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), size, flush=True)
s.send(cbor2.dumps(cbor2.CBORTag(55799, {"type": "start", "series_id": 1, "number_of_images": n})))
for i in range(n):
    s.send(cbor2.dumps(cbor2.CBORTag(55799, {"type": "image", "series_id": 1, "image_id": i,
        "data": {"threshold_1": cbor2.CBORTag(40, [[H, W], arr])}})), copy=False)
s.send(cbor2.dumps(cbor2.CBORTag(55799, {"type": "end", "series_id": 1})))
s.close(); ctx.term()
"#;
    let mut sender = Command::new(py)
        .args(["-c", script, &n.to_string(), compression])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sender.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let mut parts = line.split_whitespace();
    let endpoint = parts.next().unwrap().to_owned();
    let chunk: usize = parts.next().unwrap().parse().unwrap();
    // Let the sender queue its first messages before the receiver starts.
    std::thread::sleep(Duration::from_millis(500));
    let path = dir.join(format!("bench_{compression}.h5"));
    let _ = std::fs::remove_file(&path);
    let rx = spawn(
        dir,
        "rx",
        &receiver_toml(
            &endpoint,
            &format!(
                "[sinks.file]\nplugin = {}\ninputs = [\"det\"]\npath = {}\n",
                toml_path(&plugin("hdf5")),
                toml_path(&path)
            ),
        ),
    );
    let (secs, got) = receive_time(&finish(dir, "rx", rx));
    wait_or_kill(&mut sender, Duration::from_secs(60), "sender");
    assert_eq!(got, n);
    let _ = std::fs::remove_file(&path);
    ((n as f64 * FRAME as f64) / secs / 1e9, chunk)
}

fn main() {
    let n = frames();
    let dir = std::env::var_os("DAQFLOW_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("daqflow-stream-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let payload = vec![7u8; FRAME];
    let msg = image_message(0, Encoding::Raw, &payload);
    let _ = StartInfo::default();

    println!("stream loopback, {n} frames of {W}×{H} u16 (4 MiB), 127.0.0.1");
    let bare = bare_zmq(n, &msg);
    let ours = daqflow_pair(&dir, n);
    let bare2 = bare_zmq(n, &msg);
    let base = (bare + bare2) / 2.0;
    println!(
        "  bare libzmq PUSH→PULL (same messages) {bare:.2} / {bare2:.2} GB/s\n  \
         sim_detector → stream ⟶ dectris → discard {ours:.2} GB/s\n  \
         ratio {:.2}× (target ≥ 0.9×)",
        ours / base
    );

    println!("compressed pass-through into HDF5 (uncompressed-equivalent GB/s)");
    let (raw, raw_len) = into_hdf5(&dir, n, "none");
    let (bs, bs_len) = into_hdf5(&dir, n, "bslz4");
    println!(
        "  raw frames → uncompressed writer {raw:.2} GB/s ({raw_len} B/frame)\n  \
         bslz4 frames stored as they are {bs:.2} GB/s ({bs_len} B/frame, {:.1}:1)\n  \
         ratio {:.2}×",
        raw_len as f64 / bs_len as f64,
        bs / raw
    );
    let _ = std::fs::remove_dir_all(&dir);
}

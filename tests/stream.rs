//! The `stream` sink end to end: daqflow → daqflow across two real processes on
//! 127.0.0.1 (raw and compressed frames, bit-exact, chunks byte-identical), an
//! independent reader of our output (pyzmq + cbor2 + DECTRIS's `dectris-compression`),
//! two endpoints with frames in blocks and start/end to both.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use daqflow_tests::{daqflow, plugin, python, run_python, toml_path, wait_or_kill};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `daqflow run` of `toml` in the background (report in `dir/<name>.json`).
fn spawn(dir: &Path, name: &str, toml: &str) -> Child {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).unwrap();
    daqflow()
        .arg("run")
        .arg("--quiet")
        .arg("--report")
        .arg(dir.join(format!("{name}.json")))
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a background run; its exit code must be 0. Returns its report.
fn finish(dir: &Path, name: &str, mut child: Child) -> serde_json::Value {
    let mut log = String::new();
    let mut err = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = wait_or_kill(&mut child, Duration::from_secs(90), name);
    log.push_str(&t.join().unwrap());
    assert!(status.success(), "{name}: {status:?}\n{log}");
    let r = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&r).unwrap()
}

fn counter(report: &serde_json::Value, node: &str, name: &str) -> u64 {
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

/// sim_detector → [stream on `endpoints`, hdf5 at `dir/sent.h5`].
fn sender_toml(
    dir: &Path,
    endpoints: &[String],
    dtype: &str,
    encoding: &str,
    frames: u64,
) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    format!(
        r#"
[pipeline]
name = "send"

[sources.cam]
plugin = {}
width = 64
height = 48
dtype = "{dtype}"
rate_hz = 0
frames = {frames}
seed = 5
encoding = "{encoding}"

[sinks.net]
plugin = {}
inputs = ["cam"]
endpoints = [{}]
block_frames = 3
stop_timeout_ms = 20000

[sinks.file]
plugin = {}
inputs = ["cam"]
path = {}
"#,
        toml_path(&plugin("sim_detector")),
        toml_path(&plugin("stream")),
        eps.join(", "),
        toml_path(&plugin("hdf5")),
        toml_path(&dir.join("sent.h5")),
    )
}

/// dectris (one series) → hdf5 at `dir/<name>_{series}.h5`.
fn receiver_toml(dir: &Path, name: &str, endpoint: &str) -> String {
    format!(
        r#"
[pipeline]
name = "{name}"

[sources.det]
plugin = {}
endpoint = "{endpoint}"
series = 1

[sinks.file]
plugin = {}
inputs = ["det"]
path = {}
"#,
        toml_path(&plugin("dectris")),
        toml_path(&plugin("hdf5")),
        toml_path(&dir.join(format!("{name}_{{series}}.h5"))),
    )
}

fn relay(dtype: &str, encoding: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rx = spawn(
        dir.path(),
        "rx",
        &receiver_toml(dir.path(), "rx", &format!("tcp://127.0.0.1:{port}")),
    );
    let tx = spawn(
        dir.path(),
        "tx",
        &sender_toml(
            dir.path(),
            &[format!("tcp://127.0.0.1:{port}")],
            dtype,
            encoding,
            12,
        ),
    );
    let txr = finish(dir.path(), "tx", tx);
    let rxr = finish(dir.path(), "rx", rx);
    assert_eq!(counter(&txr, "net", "images_sent"), 12);
    assert_eq!(counter(&txr, "net", "frames_lost"), 0);
    assert_eq!(counter(&rxr, "det", "images_received"), 12);
    assert_eq!(counter(&rxr, "det", "images_missing"), 0);
    run_python(
        r#"
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    da, db = a["entry/instrument/detector/data"], b["entry/instrument/detector/data"]
    assert da.shape == db.shape == (12, 48, 64) and da.dtype == db.dtype, (da.shape, db.shape)
    assert (da[()] == db[()]).all()
    assert (b["entry/instrument/detector/frame_number"][()] == np.arange(12)).all()
    for i in range(12):
        assert da.id.read_direct_chunk((i, 0, 0))[1] == db.id.read_direct_chunk((i, 0, 0))[1]
print("ok")
"#,
        &[
            dir.path().join("sent.h5").to_str().unwrap(),
            dir.path().join("rx_1.h5").to_str().unwrap(),
        ],
    );
}

#[test]
fn daqflow_to_daqflow_raw_u32() {
    relay("u32", "raw");
}

#[test]
fn daqflow_to_daqflow_bslz4_u16_chunks_unchanged() {
    relay("u16", "bslz4");
}

#[test]
fn daqflow_to_daqflow_lz4_u8_chunks_unchanged() {
    relay("u8", "lz4");
}

/// Our stream read by pyzmq + cbor2 + DECTRIS's decompression package.
fn independent_reader(dtype: &str, encoding: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let out = dir.path().join("read.npz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/stream_reader.py");
    let mut reader = Command::new(python())
        .arg(script)
        .arg(&endpoint)
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(reader.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "connected");
    let tx = spawn(
        dir.path(),
        "tx",
        &sender_toml(dir.path(), &[endpoint], dtype, encoding, 7),
    );
    finish(dir.path(), "tx", tx);
    let s = wait_or_kill(&mut reader, Duration::from_secs(60), "stream_reader.py");
    assert!(s.success());
    run_python(
        r#"
got = np.load(sys.argv[2])
start = json.loads(str(got["start"]))
assert start["image_size_x"] == 64 and start["image_size_y"] == 48, start
assert start["channels"] == ["threshold_1"] and str(got["channel"]) == "threshold_1"
with h5py.File(sys.argv[1], "r") as a:
    d = a["entry/instrument/detector/data"]
    for i in range(7):
        img = got[f"image_{i}"]
        assert img.shape == (48, 64) and img.dtype == d.dtype, (img.shape, img.dtype)
        assert (img == d[i]).all(), f"image {i} differs"
        if sys.argv[3] != "raw":
            assert str(got[f"alg_{i}"]) == sys.argv[3]
            assert got[f"chunk_{i}"].tobytes() == d.id.read_direct_chunk((i, 0, 0))[1]
print("ok")
"#,
        &[
            dir.path().join("sent.h5").to_str().unwrap(),
            out.to_str().unwrap(),
            encoding,
        ],
    );
}

#[test]
fn independent_reader_raw_u16() {
    independent_reader("u16", "raw");
}

#[test]
fn independent_reader_bslz4_u32() {
    independent_reader("u32", "bslz4");
}

#[test]
fn independent_reader_lz4_u16() {
    independent_reader("u16", "lz4");
}

#[test]
fn two_endpoints_get_blocks_and_both_get_start_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let eps = [free_port(), free_port()].map(|p| format!("tcp://127.0.0.1:{p}"));
    let a = spawn(dir.path(), "a", &receiver_toml(dir.path(), "a", &eps[0]));
    let b = spawn(dir.path(), "b", &receiver_toml(dir.path(), "b", &eps[1]));
    let tx = spawn(
        dir.path(),
        "tx",
        &sender_toml(dir.path(), &eps, "u16", "raw", 20),
    );
    finish(dir.path(), "tx", tx);
    let ar = finish(dir.path(), "a", a);
    let br = finish(dir.path(), "b", b);
    assert_eq!(counter(&ar, "det", "series_completed"), 1);
    assert_eq!(counter(&br, "det", "series_completed"), 1);
    run_python(
        r#"
sent = h5py.File(sys.argv[1], "r")["entry/instrument/detector/data"][()]
for path, want in ((sys.argv[2], [0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19]),
                   (sys.argv[3], [3, 4, 5, 9, 10, 11, 15, 16, 17])):
    with h5py.File(path, "r") as f:
        n = f["entry/instrument/detector/frame_number"][()]
        assert list(n) == want, (path, list(n))
        assert (f["entry/instrument/detector/data"][()] == sent[want]).all()
print("ok")
"#,
        &[
            dir.path().join("sent.h5").to_str().unwrap(),
            dir.path().join("a_1.h5").to_str().unwrap(),
            dir.path().join("b_1.h5").to_str().unwrap(),
        ],
    );
}

/// configs/spread-*.toml as a test: the three processes (ports, sizes and `out/` adapted;
/// the acquiring process also records what it sent), then scripts/stream_master.py; the
/// master must hold every frame exactly once, in order, bit-exact.
#[test]
fn spread_configs_make_a_master_with_every_frame_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ports = [free_port(), free_port()];
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let adapt = |name: &str| {
        let text = std::fs::read_to_string(root.join("configs").join(name)).unwrap();
        text.replace("31001", &ports[0].to_string())
            .replace("31002", &ports[1].to_string())
            .replace("\"out/", &format!("\"{}/", out.display()))
            .replace("stop_after_frames = 1000", "stop_after_frames = 230")
            .replace("width = 512", "width = 128")
            .replace("height = 512", "height = 64")
            .replace("rate_hz = 200", "rate_hz = 0")
            .replace(
                "plugin = \"sim_detector\"",
                &format!("plugin = {}", toml_path(&plugin("sim_detector"))),
            )
            .replace(
                "plugin = \"stream\"",
                &format!("plugin = {}", toml_path(&plugin("stream"))),
            )
            .replace(
                "plugin = \"dectris\"",
                &format!("plugin = {}", toml_path(&plugin("dectris"))),
            )
            .replace(
                "plugin = \"hdf5\"",
                &format!("plugin = {}", toml_path(&plugin("hdf5"))),
            )
    };
    let a = spawn(dir.path(), "a", &adapt("spread-write-a.toml"));
    let b = spawn(dir.path(), "b", &adapt("spread-write-b.toml"));
    let acquire = format!(
        "{}\n[sinks.sent]\nplugin = {}\ninputs = [\"detector\"]\npath = {}\n",
        adapt("spread-acquire.toml"),
        toml_path(&plugin("hdf5")),
        toml_path(&dir.path().join("sent.h5"))
    );
    let tx = spawn(dir.path(), "tx", &acquire);
    let txr = finish(dir.path(), "tx", tx);
    finish(dir.path(), "a", a);
    finish(dir.path(), "b", b);
    assert_eq!(counter(&txr, "net", "images_sent"), 230);
    let master = out.join("spread.h5");
    let script = root.join("scripts/stream_master.py");
    let o = Command::new(python())
        .arg(script)
        .arg(&master)
        .arg(out.join("spread_a_1.h5"))
        .arg(out.join("spread_b_1.h5"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_python(
        r#"
with h5py.File(sys.argv[1], "r") as m, h5py.File(sys.argv[2], "r") as s:
    sent = s["entry/instrument/detector/data"][()]
    d = m["entry/data/data"]
    assert d.shape == sent.shape == (230, 64, 128), (d.shape, sent.shape)
    assert (d[()] == sent).all(), "master differs from what was sent"
    assert (m["entry/instrument/detector/frame_number"][()] == np.arange(230)).all()
    with h5py.File(sys.argv[3], "r") as a:
        n = a["entry/instrument/detector/frame_number"][()]
        assert list(n[:52]) == list(range(50)) + [100, 101], list(n[:52])
print("ok")
"#,
        &[
            master.to_str().unwrap(),
            dir.path().join("sent.h5").to_str().unwrap(),
            out.join("spread_a_1.h5").to_str().unwrap(),
        ],
    );
}

//! The `genicam` source against Aravis's own fake GigE Vision camera
//! (`arv-fake-gv-camera-0.8`, a separate process we did not write), each test in its own
//! private network namespace that has only `lo` (`unshare -n`): nothing leaves the
//! machine, nothing broadcasts on a real interface, and every test has its own camera on
//! 127.0.0.1, so the tests run in parallel. Frames go through the real `daqflow` binary
//! into the real HDF5 writer and are read back with h5py, bit-exact against the fake
//! camera's pattern: pixel (x, y) of frame id n is `(x + y + n) % 255` (Mono8) or
//! `(256 (x + y + n)) % 65535` (Mono16) at gain 0 and exposure 10 ms (scale 1).
//! Every camera setting is set explicitly in each test (the fake camera keeps settings
//! between clients).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use daqflow_tests::{Outcome, run_cmd, run_python, target_dir, toml_path, validate_text};

const T: Duration = Duration::from_secs(60);

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

/// A private network namespace with only `lo` (up), held by a `sleep` process.
struct Netns {
    holder: Child,
    user_ns: bool,
}

impl Netns {
    fn new() -> Netns {
        // As root: a plain network namespace; otherwise inside a user namespace too.
        // SAFETY: geteuid has no preconditions.
        let user_ns = unsafe { libc::geteuid() } != 0;
        let mut c = Command::new("unshare");
        if user_ns {
            c.arg("-r");
        }
        c.args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && echo ready && exec sleep 300",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        let mut holder = c.spawn().expect("spawn unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "could not make a network namespace (unshare -n; needs root or user namespaces)"
        );
        Netns { holder, user_ns }
    }

    /// `program` run inside the namespace.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.holder.id().to_string());
        if self.user_ns {
            c.args(["-U", "--preserve-credentials"]);
        }
        c.args(["-n", "--"]).arg(program);
        c
    }

    /// Starts the fake camera (`extra` options, e.g. `-r 30`) and waits until it answers.
    fn fake_camera(&self, extra: &[&str]) -> Child {
        let mut c = self.cmd("arv-fake-gv-camera-0.8");
        c.args(["-i", "127.0.0.1", "-s", "DAQFLOW1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c
            .spawn()
            .expect("arv-fake-gv-camera-0.8 (aravis-tools; run scripts/setup.sh)");
        let start = Instant::now();
        while self.control(&["DeviceID"]).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the fake camera never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// `arv-tool-0.8 -a 127.0.0.1 control <features>` (read or `Name=value` write).
    fn control(&self, features: &[&str]) -> Result<String, String> {
        let out = self
            .cmd("arv-tool-0.8")
            .args(["-a", "127.0.0.1", "control"])
            .args(features)
            .output()
            .expect("arv-tool-0.8 (aravis-tools-cli)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() && !text.contains("not found") && !text.contains("rror") {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// `daqflow run --report` of `toml` (written to `dir`) inside the namespace.
    fn run(&self, dir: &Path, toml: &str) -> Outcome {
        let mut cmd = self.run_cmd(dir, toml);
        cmd.stdout(Stdio::piped());
        let mut o = run_cmd(cmd, T);
        o.report = read_report(dir);
        o
    }

    fn run_cmd(&self, dir: &Path, toml: &str) -> Command {
        let file = dir.join("pipeline.toml");
        std::fs::write(&file, toml).unwrap();
        let _ = std::fs::remove_file(dir.join("report.json"));
        let mut cmd = self.cmd(target_dir().join("daqflow"));
        cmd.env_remove("DAQFLOW_PLUGIN_PATH")
            .env("RUST_LOG", "info")
            .arg("run")
            .arg("--quiet")
            .arg("--report")
            .arg(dir.join("report.json"))
            .arg(&file);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn read_report(dir: &Path) -> Option<serde_json::Value> {
    std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .map(|s| serde_json::from_str(&s).expect("report is JSON"))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A camera → HDF5 pipeline; `camera` holds the genicam settings lines.
fn camera_to_file(h5: &Path, camera: &str) -> String {
    format!(
        r#"
[sources.cam]
plugin = "genicam"
camera = "127.0.0.1"
{camera}

[sinks.file]
plugin = "hdf5"
inputs = ["cam"]
path = {}
"#,
        toml_path(h5)
    )
}

/// Checks every frame of `h5` not flagged `incomplete` against the fake camera's
/// pattern; returns (frames, first number, last number, gaps in numbers).
fn check_pattern(h5: &Path, mono16: bool) -> (u64, u64, u64, u64) {
    let (n, first, last, gaps, _) = check_pattern_flagged(h5, mono16);
    (n, first, last, gaps)
}

/// As `check_pattern`, plus the number of frames flagged incomplete.
fn check_pattern_flagged(h5: &Path, mono16: bool) -> (u64, u64, u64, u64, u64) {
    let out = run_python(
        r#"
f = h5py.File(sys.argv[1], "r")
d = f["/entry/instrument/detector/data"][...]
n = f["/entry/instrument/detector/frame_number"][...].astype(np.int64)
mono16 = sys.argv[2] == "1"
assert d.dtype == (np.uint16 if mono16 else np.uint8), d.dtype
g = f["/entry/instrument/detector"]
flag = g["frame_metadata/incomplete"][...] if "frame_metadata/incomplete" in g else np.zeros(len(n), bool)
y, x = np.mgrid[0:d.shape[1], 0:d.shape[2]]
for i in range(d.shape[0]):
    if flag[i]:
        continue  # passed on flagged incomplete: its missing bytes are unspecified
    fid = int(n[i]) % 65535 or 65535
    if mono16:
        want = ((256 * (x + y + fid)) % 65535).astype(np.uint16)
    else:
        want = ((x + y + fid) % 255).astype(np.uint8)
    bad = np.count_nonzero(d[i] != want)
    assert bad == 0, f"frame {i} (number {n[i]}): {bad} pixels differ"
gaps = int(np.sum(np.diff(n) - 1)) if len(n) > 1 else 0
assert np.all(np.diff(n) > 0), "frame numbers increase"
print(json.dumps([int(d.shape[0]), int(n[0]), int(n[-1]), gaps, int(np.count_nonzero(flag))]))
"#,
        &[h5.to_str().unwrap(), if mono16 { "1" } else { "0" }],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (u(&v[0]), u(&v[1]), u(&v[2]), u(&v[3]), u(&v[4]))
}

fn h5_shape(h5: &Path) -> Vec<u64> {
    let out = run_python(
        r#"print(json.dumps(list(h5py.File(sys.argv[1], "r")["/entry/instrument/detector/data"].shape)))"#,
        &[h5.to_str().unwrap()],
    );
    serde_json::from_str::<Vec<u64>>(out.trim()).unwrap()
}

fn h5file(dir: &Path) -> PathBuf {
    dir.join("cam.h5")
}

#[test]
fn mono8_roi_and_binning_free_running_bit_exact() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&[]);
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono8"
roi = { x = 16, y = 8, width = 96, height = 40 }
binning = { x = 2, y = 2 }
exposure_time = 0.01
gain = 0
frame_rate = 200
trigger_mode = "internal"
frames = 40"#,
        ),
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let c = &o.node("cam")["counters"];
    assert_eq!(u(&c["frames_delivered"]), 40, "{c:#}");
    assert_eq!(u(&c["frames_lost"]), 0, "{c:#}");
    assert_eq!(u(&c["frames_incomplete"]), 0, "{c:#}");
    let (n, first, last, gaps) = check_pattern(&h5, false);
    assert_eq!((n, gaps), (40, 0));
    assert_eq!(last - first, 39);
    assert_eq!(h5_shape(&h5), [40, 40, 96]);
    // The camera holds what was asked (read back by Aravis's own tool).
    let state = ns
        .control(&[
            "BinningHorizontal",
            "BinningVertical",
            "OffsetX",
            "OffsetY",
            "AcquisitionFrameRate",
            "TriggerMode",
        ])
        .unwrap();
    for want in [
        "BinningHorizontal = 2",
        "BinningVertical = 2",
        "OffsetX = 16",
        "OffsetY = 8",
        "AcquisitionFrameRate = 200",
        "TriggerMode = Off",
    ] {
        assert!(state.contains(want), "{want} in\n{state}");
    }
    stop(cam);
}

#[test]
fn mono16_software_trigger_bit_exact() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&[]);
    // Leave the camera in other states than the test asks for: the source must set them.
    ns.control(&[
        "PixelFormat=Mono8",
        "Width=8",
        "TriggerMode=Off",
        "GainRaw=3",
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono16"
roi = { x = 0, y = 0, width = 48, height = 24 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
trigger_mode = "software"
frame_rate = 100
frames = 12"#,
        ),
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let c = &o.node("cam")["counters"];
    assert_eq!(u(&c["frames_delivered"]), 12, "{c:#}");
    let (n, _, _, gaps) = check_pattern(&h5, true);
    assert_eq!((n, gaps), (12, 0));
    assert_eq!(h5_shape(&h5), [12, 24, 48]);
    let state = ns
        .control(&["TriggerMode", "TriggerSource", "PixelFormat"])
        .unwrap();
    for want in [
        "TriggerMode = On",
        "TriggerSource = Software",
        "PixelFormat = Mono16",
    ] {
        assert!(state.contains(want), "{want} in\n{state}");
    }
    stop(cam);
}

#[test]
fn lost_packets_are_counted_and_no_damaged_frame_passes_as_whole() {
    let ns = Netns::new();
    // 0.5 % of the stream packets lost by the camera itself (about one frame in three
    // of ~90 packets loses one; the fake camera does not answer resend requests).
    let cam = ns.fake_camera(&["-r", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono8"
roi = { x = 0, y = 0, width = 512, height = 256 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
frame_rate = 100
trigger_mode = "internal"
incomplete = "drop"
frames = 40"#,
        ),
    );
    let c = &o.node("cam")["counters"];
    // Packets were lost and asked for again; what Aravis could not recover is counted.
    assert!(
        u(&c["packets_missing"]) > 0 || u(&c["resend_requests"]) > 0,
        "{c:#}"
    );
    assert_eq!(u(&c["frames_delivered"]), 40, "{c:#}");
    // Every frame that reached the file is whole (bit-exact), and the gaps in its frame
    // numbers are frames the source reports lost; `frames_lost` may also hold dropped
    // frames just before the first or after the last frame in the file.
    let (n, _, _, gaps) = check_pattern(&h5, false);
    assert_eq!(n, 40);
    let lost = u(&c["frames_lost"]);
    let dropped = u(&c["frames_incomplete_dropped"]);
    assert!(gaps <= lost && lost <= gaps + dropped, "gaps {gaps}: {c:#}");
    assert!(
        u(&c["frames_incomplete"]) > 0,
        "some frames lost packets: {c:#}"
    );
    if lost > 0 {
        assert_ne!(
            o.code(),
            0,
            "lost frames fail the lossless verdict: {}",
            o.stderr
        );
    } else {
        assert_eq!(o.code(), 0, "{}", o.stderr);
    }
    stop(cam);
}

#[test]
fn incomplete_frames_passed_on_are_flagged_and_counted() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&["-r", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono8"
roi = { x = 0, y = 0, width = 512, height = 256 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
frame_rate = 100
trigger_mode = "internal"
incomplete = "pass"
frames = 40"#,
        ),
    );
    let c = &o.node("cam")["counters"];
    assert_eq!(u(&c["frames_delivered"]), 40, "{c:#}");
    // Whole frames are bit-exact; the flagged ones are exactly those counted incomplete
    // and passed on.
    let (n, _, _, _, flagged) = check_pattern_flagged(&h5, false);
    assert_eq!(n, 40);
    let passed = u(&c["frames_incomplete"]) - u(&c["frames_incomplete_dropped"]);
    assert_eq!(flagged, passed, "{c:#}");
    assert!(flagged > 0, "some frames lost packets: {c:#}");
    stop(cam);
}

#[test]
fn a_camera_killed_mid_run_stops_the_source_with_a_clear_error_and_the_file_is_complete() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&[]);
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let mut cmd = ns.run_cmd(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono8"
roi = { x = 0, y = 0, width = 64, height = 64 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
frame_rate = 50
trigger_mode = "internal"
frames = 0"#,
        ),
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut run = cmd.spawn().unwrap();
    // Kill the camera once frames are flowing (the log names the configured camera).
    let stderr = run.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stderr).lines() {
            lines.push(l.unwrap());
        }
        lines.join("\n")
    });
    std::thread::sleep(Duration::from_secs(2));
    stop(cam);
    let status = daqflow_tests::wait_or_kill(&mut run, T, "daqflow after the camera died");
    let stderr = reader.join().unwrap();
    assert_ne!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("disappeared"), "{stderr}");
    let report = read_report(dir.path()).expect("a report");
    let cam_node = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "cam")
        .unwrap();
    let delivered = u(&cam_node["counters"]["frames_delivered"]);
    assert!(delivered > 0, "frames flowed before the kill: {stderr}");
    // The writer drained and closed: every delivered frame is in a readable file.
    let (n, _, _, gaps) = check_pattern(&h5, false);
    assert_eq!((n, gaps), (delivered, 0));
}

#[test]
fn a_wrong_feature_name_or_value_names_the_feature_and_what_the_camera_allows() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&[]);
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let base = r#"pixel_format = "Mono8"
roi = { x = 0, y = 0, width = 32, height = 32 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
frame_rate = 50
trigger_mode = "internal"
frames = 3"#;
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            &format!("{base}\nfeatures = {{ TestRegister = 7, ExposureTimeAbz = 2000 }}"),
        ),
    );
    assert_ne!(o.code(), 0);
    assert!(o.stderr.contains("`ExposureTimeAbz`"), "{}", o.stderr);
    assert!(o.stderr.contains("no such feature"), "{}", o.stderr);
    assert!(
        o.stderr.contains("did you mean `ExposureTimeAbs`"),
        "{}",
        o.stderr
    );
    // Features are set in the order given: TestRegister came first and was set.
    assert!(
        ns.control(&["TestRegister"])
            .unwrap()
            .contains("TestRegister = 7")
    );
    let h5 = dir.path().join("cam2.h5");
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            &format!("{base}\nfeatures = {{ TriggerActivation = \"FallingEdge\" }}"),
        ),
    );
    assert_ne!(o.code(), 0);
    assert!(
        o.stderr.contains("`TriggerActivation` = \"FallingEdge\"")
            && o.stderr.contains("\"RisingEdge\""),
        "{}",
        o.stderr
    );
    let h5 = dir.path().join("cam3.h5");
    let o = ns.run(
        dir.path(),
        &camera_to_file(&h5, &base.replace("width = 32", "width = 4000")),
    );
    assert_ne!(o.code(), 0);
    assert!(
        o.stderr.contains("`Width` = 4000") && o.stderr.contains("allows 1..=2048"),
        "{}",
        o.stderr
    );
    stop(cam);
}

#[test]
fn a_busy_camera_is_retried_until_its_holder_lets_go() {
    let ns = Netns::new();
    let cam = ns.fake_camera(&[]);
    // Another client holds the camera for ~9 s: longer than Aravis's own retries when
    // taking control (~3 s), so the source sees a busy camera and retries.
    let mut holder = ns
        .cmd("arv-camera-test-0.8")
        .args(["-n", "127.0.0.1", "--duration", "9"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let dir = tempfile::tempdir().unwrap();
    let h5 = h5file(dir.path());
    let o = ns.run(
        dir.path(),
        &camera_to_file(
            &h5,
            r#"pixel_format = "Mono8"
roi = { x = 0, y = 0, width = 32, height = 16 }
binning = { x = 1, y = 1 }
exposure_time = 0.01
gain = 0
frame_rate = 100
trigger_mode = "internal"
open_timeout = 30
frames = 5"#,
        ),
    );
    let _ = holder.wait();
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("busy") && o.stderr.contains("retrying"),
        "{}",
        o.stderr
    );
    let (n, ..) = check_pattern(&h5, false);
    assert_eq!(n, 5);
    stop(cam);
}

#[test]
fn colour_formats_are_refused_at_validate_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let o = validate_text(
        dir.path(),
        r#"
[sources.cam]
plugin = "genicam"
camera = "127.0.0.1"
pixel_format = "BayerRG8"

[sinks.out]
plugin = "discard"
inputs = ["cam"]
"#,
    );
    assert_eq!(o.code(), 2, "{}", o.stderr);
    let all = o.stdout + &o.stderr;
    assert!(
        all.contains("pixel_format") && all.contains("colour formats are not supported"),
        "{all}"
    );
}

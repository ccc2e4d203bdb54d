//! `genicam → discard` against Aravis's own `arv-camera-test-0.8` on the same fake
//! camera (`arv-fake-gv-camera-0.8`), same settings, same run, in turns: frames/s, MB/s,
//! the ratio (target ≥ 0.95×), and CPU per frame of each client (user + system time of
//! the client process; the fake camera's own CPU is not counted). Everything runs in a
//! private network namespace with only `lo` (`unshare -n`, as root).
//!
//! Build first (same profile as the bench), then run:
//!
//! ```text
//! cargo build --release -p daqflow -p daqflow-plugin-genicam -p daqflow-plugin-discard
//! cargo bench -p daqflow-plugin-genicam
//! ```
//!
//! `GENICAM_BENCH_SECS` (default 5) sets the length of each turn, `GENICAM_BENCH_ROUNDS`
//! (default 3) the turns per client, `GENICAM_BENCH_CASES` e.g. `512x512:Mono8:1000`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

struct Netns {
    holder: Child,
}

impl Netns {
    fn new() -> Netns {
        let mut holder = Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && echo ready && exec sleep 3600",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "unshare -n failed (run as root)");
        Netns { holder }
    }
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-n", "--"])
            .arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Waits for `child`; returns its CPU seconds (user + system).
fn wait_cpu(child: &mut Child) -> f64 {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; status and ru are valid for writes.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, child.id() as i32, "wait4");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Case {
    width: u32,
    height: u32,
    format: String,
    rate: f64,
}

struct Turn {
    fps: f64,
    mbs: f64,
    cpu_per_frame_us: f64,
}

fn bytes_per_pixel(format: &str) -> u32 {
    if format == "Mono8" { 1 } else { 2 }
}

/// `arv-camera-test-0.8` for `secs`: its per-second lines say frames/s; the final
/// statistics give the completed buffers.
fn arv_turn(ns: &Netns, c: &Case, secs: u64) -> Turn {
    let mut child = ns
        .cmd("arv-camera-test-0.8")
        .args([
            "-n",
            "127.0.0.1",
            "-w",
            &c.width.to_string(),
            "-h",
            &c.height.to_string(),
        ])
        .args([
            "-f",
            &c.rate.to_string(),
            "--h-binning",
            "1",
            "--v-binning",
            "1",
        ])
        .args(["-e", "10000", "-g", "0"])
        .args([
            "--features",
            &format!(
                "PixelFormat={} OffsetX=0 OffsetY=0 TriggerMode=Off",
                c.format
            ),
        ])
        .args(["--duration", &secs.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("arv-camera-test-0.8 (aravis-tools)");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let cpu = wait_cpu(&mut child);
    let completed: f64 = out
        .lines()
        .find(|l| l.trim_start().starts_with("n_completed_buffers"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no n_completed_buffers in arv-camera-test output:\n{out}"));
    // Its per-second rates, skipping the first second (start-up).
    let rates: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("frames/s"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let steady = if rates.len() > 2 {
        rates[1..].iter().sum::<f64>() / (rates.len() - 1) as f64
    } else {
        completed / secs as f64
    };
    let frame_bytes = (c.width * c.height * bytes_per_pixel(&c.format)) as f64;
    Turn {
        fps: steady,
        mbs: steady * frame_bytes / 1e6,
        cpu_per_frame_us: cpu / completed.max(1.0) * 1e6,
    }
}

/// `daqflow run` of genicam → discard for `secs`; rate from the report's source
/// `active_secs` and frames.
fn daqflow_turn(ns: &Netns, c: &Case, secs: u64, dir: &Path) -> Turn {
    let toml = format!(
        r#"[pipeline]
name = "genicam-bench"
stop_after_secs = {secs}

[sources.cam]
plugin = "genicam"
camera = "127.0.0.1"
pixel_format = "{}"
roi = {{ x = 0, y = 0, width = {}, height = {} }}
binning = {{ x = 1, y = 1 }}
exposure_time = 0.01
gain = 0
frame_rate = {}
trigger_mode = "internal"
buffers = 16

[sinks.out]
plugin = "discard"
inputs = ["cam"]
"#,
        c.format, c.width, c.height, c.rate
    );
    let file = dir.join("bench.toml");
    std::fs::write(&file, toml).unwrap();
    let report = dir.join("report.json");
    let mut child = ns
        .cmd(target_dir().join("daqflow"))
        .env_remove("DAQFLOW_PLUGIN_PATH")
        .env("RUST_LOG", "warn")
        .args(["run", "--quiet", "--report"])
        .arg(&report)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daqflow");
    let cpu = wait_cpu(&mut child);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).unwrap();
    let cam = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "cam")
        .unwrap();
    let frames = cam["counters"]["frames_delivered"].as_f64().unwrap_or(0.0);
    let active = cam["active_secs"].as_f64().unwrap_or(secs as f64);
    let fps = frames / active.max(1e-9);
    let frame_bytes = (c.width * c.height * bytes_per_pixel(&c.format)) as f64;
    Turn {
        fps,
        mbs: fps * frame_bytes / 1e6,
        cpu_per_frame_us: cpu / frames.max(1.0) * 1e6,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let bin = target_dir().join("daqflow");
    assert!(
        bin.exists() && target_dir().join("libdaqflow_plugin_genicam.so").exists(),
        "build first: cargo build --release -p daqflow -p daqflow-plugin-genicam -p daqflow-plugin-discard"
    );
    let secs: u64 = std::env::var("GENICAM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rounds: usize = std::env::var("GENICAM_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cases: Vec<Case> = std::env::var("GENICAM_BENCH_CASES")
        .unwrap_or_else(|_| "512x512:Mono8:1000,2048x2048:Mono16:1000".into())
        .split(',')
        .map(|c| {
            let p: Vec<&str> = c.split(':').collect();
            let (w, h) = p[0].split_once('x').unwrap();
            Case {
                width: w.parse().unwrap(),
                height: h.parse().unwrap(),
                format: p[1].to_string(),
                rate: p[2].parse().unwrap(),
            }
        })
        .collect();
    let ns = Netns::new();
    let mut cam = ns
        .cmd("arv-fake-gv-camera-0.8")
        .args(["-i", "127.0.0.1", "-s", "BENCH1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("arv-fake-gv-camera-0.8");
    std::thread::sleep(Duration::from_millis(500));
    let dir = std::env::temp_dir().join(format!("genicam-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "genicam → discard vs arv-camera-test-0.8, fake GigE camera on loopback, {secs} s turns, {rounds} rounds each (medians)"
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>7} {:>12} {:>12}",
        "case", "arv fps", "arv MB/s", "ours fps", "ours MB/s", "ratio", "arv µs/fr", "ours µs/fr"
    );
    for c in &cases {
        let t0 = Instant::now();
        let (mut arv, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            arv.push(arv_turn(&ns, c, secs));
            ours.push(daqflow_turn(&ns, c, secs, &dir));
        }
        let m = |v: &[Turn], f: fn(&Turn) -> f64| median(v.iter().map(f).collect());
        let (af, of) = (m(&arv, |t| t.fps), m(&ours, |t| t.fps));
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>6.3}× {:>12.1} {:>12.1}   ({:.0} s)",
            format!("{}x{} {} @{}", c.width, c.height, c.format, c.rate),
            af,
            m(&arv, |t| t.mbs),
            of,
            m(&ours, |t| t.mbs),
            of / af,
            m(&arv, |t| t.cpu_per_frame_us),
            m(&ours, |t| t.cpu_per_frame_us),
            t0.elapsed().as_secs_f64()
        );
    }
    let _ = cam.kill();
    let _ = cam.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

//! Running the real `daqflow` binary from `target/<profile>/` (where cargo also puts the
//! plugin libraries): a few helpers, kept here rather than depending on the core's test
//! crate so that this plugin's tests build on their own.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>`, holding `daqflow` and `libdaqflow_plugin_*.so`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    for file in [
        "daqflow",
        "libdaqflow_plugin_sim_detector.so",
        "libdaqflow_plugin_hdf5.so",
    ] {
        assert!(
            dir.join(file).exists(),
            "{} is missing: build first with `cargo build -p daqflow -p daqflow-plugin-sim-detector \
             -p daqflow-plugin-hdf5` (or `cargo build --workspace`)",
            dir.join(file).display()
        );
    }
    // The binary loads target/<profile>/libdaqflow_plugin_hdf5.so, which only `cargo build`
    // refreshes (`cargo test` builds its own copy in deps/): refuse to test a stale one.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lib = dir.join("libdaqflow_plugin_hdf5.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let newest = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| modified(&e.unwrap().path()))
        .max();
    if let (Some(built), Some(newest)) = (modified(&lib), newest) {
        assert!(
            built >= newest,
            "{} is older than the plugin's sources: run `cargo build -p daqflow-plugin-hdf5` first",
            lib.display()
        );
    }
    dir
}

/// The `daqflow` binary with a clean plugin environment.
pub fn daqflow() -> Command {
    let mut c = Command::new(target_dir().join("daqflow"));
    c.env_remove("DAQFLOW_PLUGIN_PATH").env("RUST_LOG", "info");
    c
}

/// Waits up to `timeout`; kills the child and panics when it has not exited.
pub fn wait_or_kill(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What one `daqflow` invocation did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs and report text).
    pub stderr: String,
    /// The JSON report of `run --report`.
    pub report: Option<serde_json::Value>,
}

impl Outcome {
    /// Exit code; panics when killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }

    /// The report entry of node `name`.
    pub fn node(&self, name: &str) -> &serde_json::Value {
        let r = self.report.as_ref().expect("a report");
        r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {r:#}"))
    }
}

/// Runs `cmd` to completion (killed after `timeout`), capturing its output.
pub fn run_cmd(mut cmd: Command, timeout: Duration) -> Outcome {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_or_kill(&mut child, timeout, "daqflow");
    Outcome {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        report: None,
    }
}

/// Writes `toml` to `dir/pipeline.toml` and runs `daqflow run --quiet --report`.
pub fn run_pipeline(dir: &Path, toml: &str, timeout: Duration) -> Outcome {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let mut cmd = daqflow();
    cmd.args(["run", "--quiet", "--report"])
        .arg(&report)
        .arg(&file);
    let mut o = run_cmd(cmd, timeout);
    o.report = std::fs::read_to_string(&report)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("JSON report"));
    o
}

/// `daqflow validate` on `toml` written to `dir/pipeline.toml`.
pub fn validate_text(dir: &Path, toml: &str) -> Outcome {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = daqflow();
    cmd.arg("validate").arg(&file);
    run_cmd(cmd, Duration::from_secs(60))
}

/// A TOML string literal of a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

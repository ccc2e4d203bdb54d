//! Helpers for daqflow's end-to-end tests: find the built `daqflow` binary and plugin
//! libraries, write pipeline files, run the real process with a timeout, read its report.
//!
//! The tests need the whole workspace built first (`cargo build --workspace`, which
//! `scripts/test.sh` does): plugins are separate `cdylib` crates, not dependencies.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>`: where cargo put `daqflow` and the plugin libraries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let bin = dir.join("daqflow");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test.sh does)",
        bin.display()
    );
    dir
}

/// The real `daqflow` binary, with a clean plugin environment.
pub fn daqflow() -> Command {
    let mut c = Command::new(target_dir().join("daqflow"));
    c.env_remove("DAQFLOW_PLUGIN_PATH").env("RUST_LOG", "info");
    c
}

/// A library built from `tests/plugins/<name>`.
pub fn test_plugin(name: &str) -> PathBuf {
    let p = target_dir().join(format!("libdaqflow_testplugin_{name}.so"));
    assert!(
        p.exists(),
        "{} is missing: build the workspace first",
        p.display()
    );
    p
}

/// A product plugin library (`plugins/<name>`).
pub fn plugin(name: &str) -> PathBuf {
    let p = target_dir().join(format!("libdaqflow_plugin_{name}.so"));
    assert!(
        p.exists(),
        "{} is missing: build the workspace first",
        p.display()
    );
    p
}

/// Waits for `child` up to `timeout`; kills it and panics when it does not exit.
pub fn wait_or_kill(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: did not exit within {timeout:?} (hung); killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The outcome of one `daqflow` invocation.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs, status, report text).
    pub stderr: String,
    /// The JSON report, when `run --report` wrote one.
    pub report: Option<serde_json::Value>,
}

impl Outcome {
    /// Exit code (panics on death by signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }

    /// A node of the report by name.
    pub fn node(&self, name: &str) -> &serde_json::Value {
        let r = self.report.as_ref().expect("a report");
        r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("node {name} in report {r:#}"))
    }

    /// The lane `from -> to` of the report.
    pub fn edge(&self, from: &str, to: &str) -> &serde_json::Value {
        let r = self.report.as_ref().expect("a report");
        r["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .unwrap_or_else(|| panic!("lane {from} -> {to} in report {r:#}"))
    }
}

/// Runs a `daqflow` command to completion (with a timeout), capturing everything.
pub fn run_cmd(mut cmd: Command, timeout: Duration) -> Outcome {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn daqflow");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
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

/// Writes `toml` as `dir/pipeline.toml` and runs it with `daqflow run --quiet --report`.
pub fn run_pipeline(dir: &Path, toml: &str, timeout: Duration) -> Outcome {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let mut cmd = daqflow();
    cmd.arg("run")
        .arg("--quiet")
        .arg("--report")
        .arg(&report)
        .arg(&file);
    let mut o = run_cmd(cmd, timeout);
    o.report = std::fs::read_to_string(&report)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("report is JSON"));
    o
}

/// Runs `daqflow validate` on pipeline text written to `dir/pipeline.toml`.
pub fn validate_text(dir: &Path, toml: &str) -> Outcome {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = daqflow();
    cmd.arg("validate").arg(&file);
    run_cmd(cmd, Duration::from_secs(60))
}

/// A TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// The reference reader's Python (the project's `.venv`, with h5py + hdf5plugin + numpy).
/// Missing is a failure, never a skip: run `scripts/setup.sh`.
pub fn python() -> PathBuf {
    let p = std::env::var_os("DAQFLOW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = Command::new(&p)
        .args(["-c", "import h5py, hdf5plugin, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} with h5py + hdf5plugin + numpy is needed by these tests: run scripts/setup.sh \
         (or set DAQFLOW_PYTHON)",
        p.display()
    );
    p
}

/// Runs a Python script (h5py, hdf5plugin, numpy as np, json, sys imported) with `args`;
/// panics with its output on failure; returns stdout.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let full = format!("import sys, json, numpy as np, h5py, hdf5plugin\n{script}");
    let out = Command::new(python())
        .arg("-c")
        .arg(full)
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

//! Pins the Python this crate embeds: the interpreter named by `PYO3_PYTHON` (set in
//! `.cargo/config.toml`, overridable from the environment) is the one pyo3 links against;
//! its executable, prefix and version are compiled in, so the plugin starts exactly that
//! installation at run time (not whichever `python3` is first on PATH).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let Ok(python) = std::env::var("PYO3_PYTHON") else {
        panic!(
            "daqflow-python: PYO3_PYTHON is not set. The workspace's .cargo/config.toml sets it \
             to /usr/bin/python3.11; build from the workspace, or export PYO3_PYTHON=/path/to/python3.X \
             (the interpreter whose libpython3.X.so the plugin will load)"
        );
    };
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, sysconfig; print(sys.executable); print('%d.%d' % sys.version_info[:2]); \
             print(sysconfig.get_config_var('Py_ENABLE_SHARED'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("daqflow-python: cannot run PYO3_PYTHON={python}: {e}"));
    assert!(
        out.status.success(),
        "daqflow-python: PYO3_PYTHON={python} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let exe = lines.next().unwrap_or_default().to_string();
    let version = lines.next().unwrap_or_default().to_string();
    let shared = lines.next().unwrap_or_default().trim().to_string();
    assert!(
        shared == "1",
        "daqflow-python: PYO3_PYTHON={python} ({exe}) has no shared libpython (Py_ENABLE_SHARED={shared}); \
         install Debian's python3.11-dev (libpython3.11.so) or build Python with --enable-shared"
    );
    println!("cargo:rustc-env=DAQFLOW_PYTHON_EXE={exe}");
    println!("cargo:rustc-env=DAQFLOW_PYTHON_VERSION={version}");
}

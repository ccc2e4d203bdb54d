//! Shared helpers of the replay tests: the built binary and plugins (checked fresh), and
//! the reference reader (h5py + hdf5plugin in the project's virtualenv).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use daqflow_tests::{Outcome, run_python, toml_path};

pub const TIMEOUT: Duration = Duration::from_secs(120);

/// `target/<profile>` with `daqflow` and the plugins these tests load, refusing a replay
/// library older than its sources (`cargo test` does not rebuild the `.so`).
pub fn target_dir() -> PathBuf {
    let dir = daqflow_tests::target_dir();
    for name in ["sim_detector", "stats", "hdf5", "hdf5_replay", "discard"] {
        let lib = dir.join(format!("libdaqflow_plugin_{name}.so"));
        assert!(
            lib.exists(),
            "{} is missing: build first with `cargo build -p daqflow -p daqflow-plugin-sim-detector \
             -p daqflow-plugin-stats -p daqflow-plugin-hdf5 -p daqflow-plugin-hdf5-replay \
             -p daqflow-plugin-discard`",
            lib.display()
        );
    }
    let lib = dir.join("libdaqflow_plugin_hdf5_replay.so");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let newest = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| modified(&e.unwrap().path()))
        .max();
    if let (Some(built), Some(newest)) = (modified(&lib), newest) {
        assert!(
            built >= newest,
            "{} is older than its sources: run `cargo build -p daqflow-plugin-hdf5-replay` first",
            lib.display()
        );
    }
    dir
}

/// Runs `toml` (written to `dir/pipeline.toml`) with `daqflow run --report`.
pub fn run_pipeline(dir: &Path, toml: &str) -> Outcome {
    target_dir();
    daqflow_tests::run_pipeline(dir, toml, TIMEOUT)
}

/// `daqflow validate` on `toml`.
pub fn validate_text(dir: &Path, toml: &str) -> Outcome {
    target_dir();
    daqflow_tests::validate_text(dir, toml)
}

/// A `hdf5` sink node.
pub fn writer(name: &str, input: &str, path: &Path, extra: &str) -> String {
    format!(
        "\n[sinks.{name}]\nplugin = \"hdf5\"\ninputs = [\"{input}\"]\npath = {}\n{extra}\n",
        toml_path(path)
    )
}

/// A `hdf5_replay` source node.
pub fn replay(name: &str, path: &Path, extra: &str) -> String {
    format!(
        "\n[sources.{name}]\nplugin = \"hdf5_replay\"\npath = {}\n{extra}\n",
        toml_path(path)
    )
}

/// Python: asserts two files' frames, frame numbers, timestamps and frame_metadata are
/// equal (bit for bit), and — when `chunks` is "1" — that every stored chunk is
/// byte-identical (`read_direct_chunk`). Args: a, dataset a, b, dataset b, chunks.
/// Prints the frame count.
pub const SAME_FILES: &str = r#"
a, da, b, db, chunks = sys.argv[1:6]
fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
xa, xb = fa[da], fb[db]
assert xa.shape == xb.shape and xa.dtype == xb.dtype, (xa.shape, xb.shape, xa.dtype, xb.dtype)
assert xa[()].tobytes() == xb[()].tobytes(), "pixels differ"
def group(f, d):
    # the per-frame datasets sit beside the real dataset (the NXdata `data` is a link)
    g = f[d].parent
    return g if "frame_number" in g else f["/entry/instrument/detector"]
ga, gb = group(fa, da), group(fb, db)
for k in ["frame_number", "timestamp"]:
    if k in ga:
        assert np.array_equal(ga[k][()], gb[k][()]), (k, ga[k][()], gb[k][()])
ma = ga.get("frame_metadata"); mb = gb.get("frame_metadata")
if ma is not None:
    assert sorted(ma.keys()) == sorted(mb.keys()), (list(ma.keys()), list(mb.keys()))
    for k in ma.keys():
        assert ma[k][()].tobytes() == mb[k][()].tobytes(), ("frame_metadata", k)
if chunks == "1":
    for i in range(xa.shape[0]):
        ca = xa.id.read_direct_chunk((i, 0, 0))
        cb = xb.id.read_direct_chunk((i, 0, 0))
        assert ca == cb, ("chunk", i, len(ca[1]), len(cb[1]))
print(xa.shape[0])
"#;

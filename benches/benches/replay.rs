//! `hdf5_replay` throughput (issue 15): frames of a bitshuffle-LZ4 file written by h5py +
//! hdf5plugin, replayed into `discard`, in GB/s of uncompressed-equivalent data (frames ×
//! 2048² × 2 bytes / wall time). Baselines, measured in the same run on the same file (in
//! the page cache): h5py reading every frame (`d[i]`, decompressing) and h5py reading every
//! stored chunk (`read_direct_chunk`, as replay does). Also an uncompressed file, read by
//! replay through `H5Dread`, against h5py's `d[i]`.
//!
//! `DAQFLOW_BENCH_FRAMES` (default 400: with 100, first-touch page faults of the frame
//! pool's 64 fresh 8 MiB slots dominated the replay side) frames. No assertions on time: the numbers are for
//! people. Run with `scripts/bench.sh` (release plugins first).

use daqflow_benches::run;
use daqflow_tests::run_python;

const ROUNDS: usize = 3;
const SIDE: usize = 2048;

/// Python: writes `bslz4.h5` and `none.h5` with photon-counting-like u16 frames.
const WRITE: &str = r#"
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
base = rng.poisson(0.6, (8, 2048, 2048)).astype("u2")
hot = rng.random((8, 2048, 2048)) < 0.01
base[hot] = rng.integers(0, 4000, hot.sum())
for name, kw in [("bslz4", hdf5plugin.Bitshuffle(cname="lz4")), ("none", {})]:
    with h5py.File(f"{d}/{name}.h5", "w") as f:
        ds = f.create_dataset("/entry/data/data", (n, 2048, 2048), "u2", chunks=(1, 2048, 2048), **kw)
        for i in range(n):
            ds[i] = base[i % 8]
"#;

/// Python: best-of-3 seconds for h5py reading all frames, and all stored chunks.
const READ: &str = r#"
import time
path, direct = sys.argv[1], sys.argv[2] == "1"
best = [1e9, 1e9]
with h5py.File(path, "r") as f:
    d = f["/entry/data/data"]
    for _ in range(3):
        t = time.perf_counter()
        for i in range(d.shape[0]):
            d[i]
        best[0] = min(best[0], time.perf_counter() - t)
        if direct:
            t = time.perf_counter()
            for i in range(d.shape[0]):
                d.id.read_direct_chunk((i, 0, 0))
            best[1] = min(best[1], time.perf_counter() - t)
print(best[0], best[1])
"#;

/// Median over ROUNDS runs of the replay source's active time (first `next` to its end,
/// as h5py's loop is timed without opening the file), and of the whole run's wall time.
fn replay_secs(path: &std::path::Path, frames: u64) -> (f64, f64) {
    let toml = format!(
        "[pipeline]\npool_mb = 512\n\n[sources.replay]\nplugin = \"hdf5_replay\"\npath = {:?}\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"replay\"]\n",
        path.display().to_string()
    );
    let (mut active, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (dt, report) = run(&toml);
        let sink = report.nodes.iter().find(|n| n.name == "out").unwrap();
        assert_eq!(sink.frames_in, frames, "{}", report.to_text());
        let source = report.nodes.iter().find(|n| n.name == "replay").unwrap();
        active.push(source.active_secs.expect("the source ran"));
        wall.push(dt.as_secs_f64());
    }
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (mid(active), mid(wall))
}

fn main() {
    let n: u64 = std::env::var("DAQFLOW_BENCH_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_python(WRITE, &[d.to_str().unwrap(), &n.to_string()]);
    let bytes = n as f64 * (SIDE * SIDE * 2) as f64;
    let gb = |secs: f64| bytes / secs / 1e9;
    let size = |name: &str| std::fs::metadata(d.join(name)).unwrap().len() as f64 / 1048576.0;
    println!(
        "hdf5_replay bench: {n} frames of {SIDE}x{SIDE} u16 ({:.0} MiB raw; bslz4 file {:.0} MiB), \
         GB/s of uncompressed-equivalent data, median of {ROUNDS} runs (h5py: best of 3)",
        bytes / 1048576.0,
        size("bslz4.h5")
    );
    let (ours, wall) = replay_secs(&d.join("bslz4.h5"), n);
    let out = run_python(READ, &[d.join("bslz4.h5").to_str().unwrap(), "1"]);
    let t: Vec<f64> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    println!(
        "bslz4: hdf5_replay -> discard {:.2} GB/s (whole run with start and stop: {:.2} GB/s); \
         h5py d[i] {:.2} GB/s -> ratio {:.2}x; h5py read_direct_chunk {:.2} GB/s -> ratio {:.2}x",
        gb(ours),
        gb(wall),
        gb(t[0]),
        t[0] / ours,
        gb(t[1]),
        t[1] / ours
    );
    let (ours, wall) = replay_secs(&d.join("none.h5"), n);
    let out = run_python(READ, &[d.join("none.h5").to_str().unwrap(), "0"]);
    let t: Vec<f64> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    println!(
        "uncompressed: hdf5_replay -> discard {:.2} GB/s (whole run: {:.2} GB/s); h5py d[i] {:.2} GB/s -> ratio {:.2}x",
        gb(ours),
        gb(wall),
        gb(t[0]),
        t[0] / ours
    );
}

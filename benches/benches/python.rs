//! The `python` filter's cost (issue 14), at 512² u16:
//!
//! 1. **Passthrough overhead**: `sim_detector` (`pattern = "none"`, `rate_hz = 0`) → filter
//!    → `discard`, where the filter is `python` with `def process(frame, meta): pass`
//!    against the Rust `identity` test filter (`ctx.emit(frame)`). The difference of the
//!    two runs' wall times over the frame count is what the Python call adds per frame:
//!    attach, the numpy array over the pool buffer and its guard, the `meta` dict, the
//!    call, the kept-reference check. Target: ≤ 2 µs per frame.
//! 2. **A typical numpy operation** (`frame[frame < 300] = 0` then
//!    `frame.astype(np.float32).mean()`) on the frame's array inside the plugin against the
//!    same operation on a numpy-owned copy of the same pixels, timed by the script in the
//!    same run, alternating per frame; and against a standalone `python3.11` on an array
//!    of the same shape. Target: ratio ≥ 0.9× (plain / plugin).
//!
//! Medians of [`ROUNDS`] runs. No assertions on time: the numbers are for people. Run with
//! `scripts/bench.sh` (release plugins first) or `cargo bench -p daqflow-benches --bench python`.

use std::time::Duration;

use daqflow_benches::{median, run, test_plugin};

const W: usize = 512;
const H: usize = 512;
const FRAMES: u64 = 20_000;
const OP_FRAMES: u64 = 2_000;
const ROUNDS: usize = 3;

fn pipeline(filter: &str, frames: u64, pattern: &str) -> String {
    let lane = "{ capacity = 4, when_full = \"block\" }";
    format!(
        "[pipeline]\npool_mb = 256\n\n\
         [sources.src]\nplugin = \"sim_detector\"\nwidth = {W}\nheight = {H}\ndtype = \"u16\"\n\
         rate_hz = 0\nframes = {frames}\npattern = \"{pattern}\"\n\n\
         [filters.f]\ninputs = [\"src\"]\nqueue = {lane}\n{filter}\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"f\"]\nqueue = {lane}\n"
    )
}

fn timed(toml: &str, frames: u64) -> Duration {
    let (dt, report) = run(toml);
    let out = report.nodes.iter().find(|n| n.name == "out").unwrap();
    assert_eq!(out.frames_in, frames, "{}", report.to_text());
    dt
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("daqflow-bench-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pass = dir.join("pass.py");
    std::fs::write(&pass, "def process(frame, meta):\n    pass\n").unwrap();
    let rust = pipeline(
        &format!("plugin = {}", test_plugin("identity")),
        FRAMES,
        "none",
    );
    let py = pipeline(
        &format!(
            "plugin = \"python\"\nscript = {:?}",
            pass.display().to_string()
        ),
        FRAMES,
        "none",
    );
    // Warm-up (the interpreter and numpy start once per process).
    let warm = pipeline(
        &format!(
            "plugin = \"python\"\nscript = {:?}",
            pass.display().to_string()
        ),
        100,
        "none",
    );
    timed(&warm, 100);
    let t_rust = median(ROUNDS, || timed(&rust, FRAMES));
    let t_py = median(ROUNDS, || timed(&py, FRAMES));
    let per = |t: Duration| t.as_secs_f64() * 1e6 / FRAMES as f64;
    println!("python passthrough, {W}×{H} u16, {FRAMES} frames, medians of {ROUNDS}:");
    println!(
        "  rust identity : {:8.0} frames/s  {:6.2} µs/frame",
        FRAMES as f64 / t_rust.as_secs_f64(),
        per(t_rust)
    );
    println!(
        "  python pass   : {:8.0} frames/s  {:6.2} µs/frame",
        FRAMES as f64 / t_py.as_secs_f64(),
        per(t_py)
    );
    println!(
        "  overhead      : {:6.2} µs/frame (target ≤ 2)",
        per(t_py) - per(t_rust)
    );

    // A numpy operation on the pool buffer vs on a numpy-owned copy, same run.
    let times = dir.join("op_times.txt");
    let op = "    a[a < 300] = 0\n    a.astype(np.float32).mean()\n";
    let script = format!(
        "import time\nimport numpy as np\n\n\
         def op(a):\n{op}\n\
         plain = None\nt_frame = 0.0\nt_plain = 0.0\n\n\
         def process(frame, meta):\n    global plain, t_frame, t_plain\n\
         \x20   if plain is None:\n        plain = np.empty_like(frame)\n\
         \x20   plain[...] = frame\n\
         \x20   t0 = time.perf_counter(); op(frame); t1 = time.perf_counter()\n\
         \x20   op(plain); t2 = time.perf_counter()\n\
         \x20   t_frame += t1 - t0; t_plain += t2 - t1\n\n\
         def teardown():\n    open({:?}, 'w').write('%r %r' % (t_frame, t_plain))\n",
        times.display().to_string()
    );
    let op_py = dir.join("op.py");
    std::fs::write(&op_py, script).unwrap();
    let toml = pipeline(
        &format!(
            "plugin = \"python\"\nscript = {:?}\nteardown = \"teardown\"",
            op_py.display().to_string()
        ),
        OP_FRAMES,
        "bars",
    );
    let mut ratios = Vec::new();
    let mut per_frame = Vec::new();
    for _ in 0..ROUNDS {
        timed(&toml, OP_FRAMES);
        let text = std::fs::read_to_string(&times).unwrap();
        let mut it = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
        let (tf, tp) = (it.next().unwrap(), it.next().unwrap());
        ratios.push(tp / tf);
        per_frame.push((tf, tp));
    }
    ratios.sort_by(f64::total_cmp);
    let (tf, tp) = per_frame[ROUNDS / 2];
    // Standalone Python on an array of the same shape and pixels' kind.
    let standalone = std::process::Command::new(daqflow_python_exe())
        .arg("-c")
        .arg(format!(
            "import time, numpy as np\nrng = np.random.default_rng(1)\n\
             src = rng.integers(0, 1000, ({H}, {W}), dtype=np.uint16)\na = np.empty_like(src)\n\
             def op(a):\n{op}\n\
             t = 0.0\nfor i in range({OP_FRAMES}):\n    a[...] = src\n    t0 = time.perf_counter(); op(a); t += time.perf_counter() - t0\n\
             print(t)\n"
        ))
        .output()
        .expect("run python3.11");
    let t_alone: f64 = String::from_utf8_lossy(&standalone.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    println!("numpy op (`a[a < 300] = 0; a.astype(np.float32).mean()`), {W}×{H} u16:");
    println!(
        "  on the frame (pool buffer) : {:7.1} µs",
        tf * 1e6 / OP_FRAMES as f64
    );
    println!(
        "  on a numpy copy, same run  : {:7.1} µs   ratio plain/plugin {:.2}× (median of {ROUNDS}; target ≥ 0.9)",
        tp * 1e6 / OP_FRAMES as f64,
        ratios[ROUNDS / 2]
    );
    println!(
        "  standalone python3.11      : {:7.1} µs   ratio {:.2}×",
        t_alone * 1e6 / OP_FRAMES as f64,
        t_alone / tf
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The interpreter the plugin embeds (the build's `PYO3_PYTHON`).
fn daqflow_python_exe() -> String {
    std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3.11".into())
}

//! `workers = N`: the gain of running a stateless filter as 2 instances side by side
//! (issue 10 §5). Baseline: the same pipeline with `workers = 1`; the ideal on 2 idle cores
//! is 2×, less what the source, the sink and the reordering of the output take.
//!
//! 1. `burn` (the test plugin spending `micros` of CPU on each frame, here 2 ms) on small
//!    frames, so the filter is all the cost;
//! 2. a real filter: `transform` with `rotate = 90` on 2048² u16 frames (a transposing copy,
//!    bounded by memory as much as by the CPU).
//!
//! Throughput is frames / wall time of the run, median of [`ROUNDS`]. No assertions on time:
//! the numbers are for people. Run with `scripts/bench.sh` (release plugins first).

use daqflow_benches::{median, run, test_plugin};

const ROUNDS: usize = 3;

fn pipeline(side: u32, frames: u64, plugin: &str, settings: &str, workers: usize) -> String {
    let lane = "{ capacity = 16, when_full = \"block\" }";
    format!(
        "[pipeline]\npool_mb = 512\n\n\
         [sources.src]\nplugin = \"sim_detector\"\nwidth = {side}\nheight = {side}\ndtype = \"u16\"\n\
         rate_hz = 0\nframes = {frames}\npattern = \"none\"\n\n\
         [filters.f]\nplugin = {plugin}\ninputs = [\"src\"]\nqueue = {lane}\nworkers = {workers}\n{settings}\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"f\"]\nqueue = {lane}\n"
    )
}

/// Frames per second with `workers` instances (median of [`ROUNDS`] runs).
fn rate(side: u32, frames: u64, plugin: &str, settings: &str, workers: usize) -> f64 {
    let toml = pipeline(side, frames, plugin, settings, workers);
    let dt = median(ROUNDS, || {
        let (dt, report) = run(&toml);
        let sink = report.nodes.iter().find(|n| n.name == "out").unwrap();
        assert_eq!(sink.frames_in, frames, "{}", report.to_text());
        dt
    });
    frames as f64 / dt.as_secs_f64()
}

fn compare(what: &str, side: u32, frames: u64, plugin: &str, settings: &str) {
    let one = rate(side, frames, plugin, settings, 1);
    let two = rate(side, frames, plugin, settings, 2);
    println!(
        "{what:<46} {one:>13.1} {two:>13.1} {:>9.2}x {:>7.1}x",
        two / one,
        2.0
    );
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("workers = 2 vs workers = 1 (baseline), {cores} CPUs, median of {ROUNDS} runs");
    println!(
        "{:<46} {:>13} {:>13} {:>10} {:>8}",
        "filter", "1 worker f/s", "2 workers f/s", "gain", "ideal"
    );
    compare(
        "burn micros=2000, 64x64 u16, 500 frames",
        64,
        500,
        &test_plugin("burn"),
        "micros = 2000",
    );
    compare(
        "transform rotate=90, 2048x2048 u16, 200 frames",
        2048,
        200,
        "\"transform\"",
        "rotate = 90",
    );
}

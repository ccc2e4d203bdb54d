//! Every standard filter on 2048² u16 frames: throughput through daqflow against the same
//! kernel in a plain Rust loop (issue 10 §4).
//!
//! - **daqflow**: `sim_detector` (`pattern = "none"`, `rate_hz = 0`: the source writes no
//!   pixels, so it costs next to nothing) → the filter → `discard`, on blocking lanes of 4,
//!   with the release-built plugin libraries; frames / wall time of the whole run (plugin
//!   loading, threads, the first touch of the pool's buffers and, for `dark_subtract` and
//!   `flat_field`, reading the 16 MiB reference file included).
//! - **baseline, "plain"**: the filter crate's own kernel (`crop_into`, `bin_into`, …; the
//!   threshold loop is written here, its `apply` being private) on the same number of
//!   frames, one thread, no framework, on rings of [`RING`] input and output frames
//!   allocated and written once before timing (64 MiB, over this machine's 8 MiB L3). The
//!   kernels' settings go through `black_box`: run-time values, as in the plugins, not
//!   constants the compiler could fold into the loop (a constant divisor alone made
//!   accumulate's mean 20 % faster).
//!
//! Each round runs plain, daqflow, plain on the same frame count (~[`RUN_SECS`] of the
//! plain loop); the round's ratio is daqflow against the mean of its two plain runs, so
//! the drifts of a shared machine cancel; medians of [`ROUNDS`] rounds are printed. Target:
//! ≥ 0.9×.
//!
//! Caveat, `pattern = "none"`: the source's pool buffers hold zeros nobody wrote, i.e. the
//! kernel's shared zero page, which reads from cache. Filters whose output has another size
//! (crop, bin, cast, stats, accumulate) never write those buffers, so through daqflow they
//! read cached zeros while the baseline reads real memory: ratios above 1 there (crop most)
//! are this, not daqflow being faster. In-place filters and same-size outputs recycle the
//! buffers, which are then real memory.
//!
//! `throttle` reads no pixels, so it has no plain loop: it is compared with the same
//! pipeline without it (the cost of one more hop). No assertions on time: the numbers are
//! for people. Run with `scripts/bench.sh` (release plugins first); `-- crop stats` after
//! `--bench filters` runs only those.

use std::hint::black_box;
use std::time::{Duration, Instant};

use daqflow_benches::run;
use daqflow_plugin_accumulate::kernel::{add_frame, finish_mean, finish_sum};
use daqflow_plugin_bin::{BinMode, bin_into};
use daqflow_plugin_cast::cast_into;
use daqflow_plugin_crop::crop_into;
use daqflow_plugin_dark_subtract::subtract;
use daqflow_plugin_flat_field::{DEFAULT_DATASET, apply_gain, gain_from_flat};
use daqflow_plugin_mask::{fill_runs, runs_from_mask};
use daqflow_plugin_stats::frame_stats;
use daqflow_plugin_transform::{Flip, Orientation, Settings as TransformSettings, transform_into};
use daqflow_reference::write_dataset;
use daqflow_sdk::Pixel;
use daqflow_sdk::ndarray::{Array2, ArrayView2, ArrayViewMut2};

const W: usize = 2048;
const H: usize = 2048;
const FRAME_MIB: usize = (W * H * 2) >> 20;
/// Seconds a run should last (the plain loop's speed sets the frame count).
const RUN_SECS: f64 = 1.5;
/// Frame counts are multiples of this (accumulate's group).
const GROUP: u64 = 10;
/// The source's pixels: see the module docs.
const PATTERN: &str = "pattern = \"none\"";
/// Runs per measurement; the median is printed.
const ROUNDS: usize = 3;
/// Frames in the baseline's input and output rings.
const RING: usize = 4;

/// `sim_detector` → `[filters.f]` with `settings` → `discard` with `sink`.
fn pipeline(plugin: &str, settings: &str, sink: &str, frames: u64) -> String {
    let lane = "{ capacity = 4, when_full = \"block\" }";
    format!(
        "[pipeline]\npool_mb = 512\n\n\
         [sources.src]\nplugin = \"sim_detector\"\nwidth = {W}\nheight = {H}\ndtype = \"u16\"\n\
         rate_hz = 0\nframes = {frames}\n{}\n\n\
         [filters.f]\nplugin = \"{plugin}\"\ninputs = [\"src\"]\nqueue = {lane}\n{settings}\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"f\"]\nqueue = {lane}\n{sink}\n",
        PATTERN
    )
}

/// One run of `toml` through daqflow: its wall time; checks that `expect_out` frames
/// reached the sink.
fn daqflow_once(toml: &str, expect_out: u64) -> Duration {
    let (dt, report) = run(toml);
    let out = report.nodes.iter().find(|n| n.name == "out").unwrap();
    assert_eq!(out.frames_in, expect_out, "{}", report.to_text());
    dt
}

/// A ring of `n` `h × w` frames of zeros, written once (so they are in memory, not the
/// kernel's shared zero page).
fn ring<T: Pixel>(n: usize, h: usize, w: usize) -> Vec<Array2<T>> {
    (0..n)
        .map(|_| {
            let mut a = Array2::from_shape_vec((h, w), vec![T::default(); h * w]).unwrap();
            a.fill(black_box(T::default()));
            a
        })
        .collect()
}

/// The plain loop of one kernel, ready to run: `run(frames)` times `frames` frames.
struct Plain {
    /// Frames per run, for about [`RUN_SECS`] a run (a multiple of [`GROUP`]).
    frames: u64,
    run: Box<dyn FnMut(u64) -> Duration>,
}

/// `kernel(frame index, input, output)` over rings of [`RING`] inputs and outputs
/// allocated here, once; warmed up and its run length calibrated.
fn plain<T: Pixel, U: Pixel>(
    out_shape: (usize, usize),
    mut kernel: impl FnMut(u64, ArrayView2<'_, T>, ArrayViewMut2<'_, U>) + 'static,
) -> Plain {
    let inputs = ring::<T>(RING, H, W);
    let mut outputs = ring::<U>(RING, out_shape.0, out_shape.1);
    let mut run: Box<dyn FnMut(u64) -> Duration> = Box::new(move |frames: u64| {
        let t = Instant::now();
        for i in 0..frames {
            let k = i as usize % RING;
            kernel(i, black_box(inputs[k].view()), outputs[k].view_mut());
            black_box(&mut outputs[k]);
        }
        t.elapsed()
    });
    let per_frame = run(GROUP).as_secs_f64() / GROUP as f64;
    Plain {
        frames: ((RUN_SECS / per_frame) as u64 / GROUP).clamp(2, 2000) * GROUP,
        run,
    }
}

/// `v`, opaque to the optimiser: the kernels' settings are run-time values in the plugins,
/// so they must not be constants the compiler folds into the baseline's loop.
fn rt<T>(v: T) -> T {
    black_box(v)
}

/// Every frame reaches the sink.
const ALL: fn(u64) -> u64 = |n| n;

/// A `H × W` f32 image of `value` in a new HDF5 file, at the dataset `dark_subtract` and
/// `flat_field` read by default; returns its path.
fn reference_file(name: &str, value: f32) -> String {
    let dir = std::env::temp_dir().join(format!("daqflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.h5"));
    let image = Array2::from_elem((H, W), value);
    write_dataset(&path, DEFAULT_DATASET, image.view()).unwrap();
    path.display().to_string()
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    filter: &'static str,
    settings: &'static str,
    daqflow: f64,
    plain: f64,
    ratio: f64,
}

fn transform(flip: Flip, rotate: u32) -> Orientation {
    Orientation::of(&TransformSettings {
        flip,
        rotate,
        transpose: false,
    })
}

/// Measures one filter (unless the command line names others) on as many frames as its
/// plain loop does in [`RUN_SECS`]. Each round runs plain, daqflow, plain: the round's ratio
/// is daqflow against the mean of its two plain runs, so the drifts of a shared machine
/// cancel; the median of the rounds is printed and returned. `out(frames)`: the frames the
/// sink gets.
fn measure(
    only: &[String],
    filter: &'static str,
    label: &'static str,
    settings: &str,
    out: fn(u64) -> u64,
    plain: impl FnOnce() -> Plain,
) -> Option<Row> {
    if !only.is_empty() && !only.iter().any(|o| o == filter) {
        return None;
    }
    let mut p = plain();
    let frames = p.frames;
    // Frames merged (accumulate) or held back (a reference from the first frames): the
    // output's frame numbers have gaps.
    let sink = if out(frames) == frames {
        ""
    } else {
        "check_frame_numbers = false"
    };
    let toml = pipeline(filter, settings, sink, frames);
    let (mut daq, mut base, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = (p.run)(frames);
        let d = daqflow_once(&toml, out(frames));
        let b = (p.run)(frames);
        let d = frames as f64 / d.as_secs_f64();
        let pl = 2.0 * frames as f64 / (a + b).as_secs_f64();
        daq.push(d);
        base.push(pl);
        ratios.push(d / pl);
    }
    let row = Row {
        filter,
        settings: label,
        daqflow: median_f64(daq),
        plain: median_f64(base),
        ratio: median_f64(ratios),
    };
    print_row(&row);
    Some(row)
}

fn main() {
    // `cargo bench -p daqflow-benches --bench filters -- crop stats` runs those two only;
    // `cargo bench` itself passes --bench.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "Filters on {W}x{H} u16 frames ({FRAME_MIB} MiB): daqflow (sim_detector -> filter -> discard)"
    );
    println!(
        "vs the filter's kernel in a plain loop on preallocated buffers; runs of ~{RUN_SECS} s, median of {ROUNDS}"
    );
    println!();
    print_header();
    let flip = rt(transform(Flip::Horizontal, 0));
    let rot = rt(transform(Flip::None, 90));
    let threshold = |level: u16| {
        // The plugin's private `apply`, on integers: pixels below `level` become 0, in place.
        move |_, _: ArrayView2<'_, u16>, mut f: ArrayViewMut2<'_, u16>| {
            f.mapv_inplace(|p| if p < level { 0 } else { p })
        }
    };
    let mut rows = vec![
        measure(
            &only,
            "crop",
            "x=512 y=512 width=1024 height=1024",
            "x = 512\ny = 512\nwidth = 1024\nheight = 1024",
            ALL,
            || {
                let (x, y) = rt((512, 512));
                plain::<u16, u16>((1024, 1024), move |_, i, o| crop_into(i, o, x, y))
            },
        ),
        measure(
            &only,
            "bin",
            "x=2 y=2 sum (u16 -> u32)",
            "x = 2\ny = 2\nmode = \"sum\"",
            ALL,
            || {
                let (x, y, mode) = rt((2, 2, BinMode::Sum));
                plain::<u16, u32>((H / 2, W / 2), move |_, i, o| bin_into(i, o, x, y, mode))
            },
        ),
        measure(
            &only,
            "bin",
            "x=4 y=4 mean (u16)",
            "x = 4\ny = 4\nmode = \"mean\"",
            ALL,
            || {
                let (x, y, mode) = rt((4, 4, BinMode::Mean));
                plain::<u16, u16>((H / 4, W / 4), move |_, i, o| bin_into(i, o, x, y, mode))
            },
        ),
        measure(
            &only,
            "transform",
            "flip=horizontal",
            "flip = \"horizontal\"",
            ALL,
            || plain::<u16, u16>((H, W), move |_, i, o| transform_into(i, o, flip)),
        ),
        measure(&only, "transform", "rotate=90", "rotate = 90", ALL, || {
            plain::<u16, u16>((W, H), move |_, i, o| transform_into(i, o, rot))
        }),
        measure(
            &only,
            "cast",
            "dtype=f32 scale=0.5 offset=1",
            "dtype = \"f32\"\nscale = 0.5\noffset = 1",
            ALL,
            || {
                let (scale, offset) = rt((0.5, 1.0));
                plain::<u16, f32>((H, W), move |_, i, o| cast_into(i, o, scale, offset))
            },
        ),
        measure(
            &only,
            "cast",
            "dtype=u8 scale=0.00390625",
            "dtype = \"u8\"\nscale = 0.00390625",
            ALL,
            || {
                let (scale, offset) = rt((0.00390625, 0.0));
                plain::<u16, u8>((H, W), move |_, i, o| cast_into(i, o, scale, offset))
            },
        ),
        measure(
            &only,
            "stats",
            "above=1000",
            "above = 1000",
            ALL,
            // Writes nothing: a one-pixel dummy output ring.
            || {
                let above = rt(Some(1000.0));
                plain::<u16, u8>((1, 1), move |_, i, _| {
                    black_box(frame_stats(&i, above));
                })
            },
        ),
        measure(
            &only,
            "threshold",
            "level=1000 (in place)",
            "level = 1000",
            ALL,
            || plain::<u16, u16>((H, W), threshold(rt(1000))),
        ),
        // One running sum, finished every GROUP frames into the output ring.
        measure(
            &only,
            "accumulate",
            "frames=10 sum (u16 -> u32)",
            "frames = 10\nmode = \"sum\"",
            |n| n / GROUP,
            || {
                let mut acc = vec![0u32; W * H];
                plain::<u16, u32>((H, W), move |n, i, mut o| {
                    add_frame(&mut acc, i.as_slice().unwrap());
                    if (n + 1) % GROUP == 0 {
                        finish_sum(&mut acc, o.as_slice_mut().unwrap());
                    }
                })
            },
        ),
    ];
    rows.push(measure(
        &only,
        "accumulate",
        "frames=10 mean (u16)",
        "frames = 10\nmode = \"mean\"",
        |n| n / GROUP,
        || {
            let mut acc = vec![0u32; W * H];
            let frames = rt(GROUP as u32);
            plain::<u16, u16>((H, W), move |n, i, mut o| {
                add_frame(&mut acc, i.as_slice().unwrap());
                if (n + 1) % GROUP == 0 {
                    finish_mean(&mut acc, frames, o.as_slice_mut().unwrap());
                }
            })
        },
    ));

    // The corrections, with their references from HDF5 files (as in production; a
    // reference from the first frames would be the stale zeros of `pattern = "none"`, and a
    // flat of zeros is refused).
    let dark = reference_file("dark", 100.0);
    let flat = reference_file("flat", 1.0);
    rows.push(measure(
        &only,
        "dark_subtract",
        "reference file (in place)",
        &format!("reference = {dark:?}"),
        ALL,
        || {
            let dark = rt(vec![100f32; W * H]);
            plain::<u16, u16>((H, W), move |_, _, mut f| {
                subtract(f.as_slice_mut().unwrap(), &dark)
            })
        },
    ));
    rows.push(measure(
        &only,
        "flat_field",
        "reference file (in place)",
        &format!("reference = {flat:?}"),
        ALL,
        || {
            let (gain, _) = gain_from_flat(&vec![1f32; W * H], None).unwrap();
            let gain = rt(gain);
            plain::<u16, u16>((H, W), move |_, _, mut f| {
                apply_gain(f.as_slice_mut().unwrap(), &gain)
            })
        },
    ));
    // A cross of detector-module gaps: 16 full rows and a 16-column stripe.
    rows.push(measure(
        &only,
        "mask",
        "rects: 16 rows + 16 columns (in place)",
        "rects = [{x = 0, y = 1016, width = 2048, height = 16}, \
         {x = 1016, y = 0, width = 16, height = 2048}]",
        ALL,
        || {
            let mut mask = vec![false; W * H];
            for (i, m) in mask.iter_mut().enumerate() {
                let (y, x) = (i / W, i % W);
                *m = (1016..1032).contains(&y) || (1016..1032).contains(&x);
            }
            let runs = rt(runs_from_mask(&mask));
            let value = rt(0u16);
            plain::<u16, u16>((H, W), move |_, _, mut f| {
                fill_runs(f.as_slice_mut().unwrap(), &runs, value)
            })
        },
    ));

    let rows: Vec<Row> = rows.into_iter().flatten().collect();
    println!();
    let short: Vec<&Row> = rows.iter().filter(|r| r.ratio < 0.9).collect();
    if short.is_empty() {
        println!("every filter at >= 0.9x its plain loop");
    }
    for r in short {
        println!(
            "short of 0.9x: {} {} at {:.2}x",
            r.filter, r.settings, r.ratio
        );
    }
    println!();
    if only.is_empty() || only.iter().any(|o| o == "throttle") {
        throttle();
    }
}

fn print_header() {
    println!(
        "{:<11} {:<36} {:>12} {:>12} {:>10}",
        "filter", "settings", "daqflow f/s", "plain f/s", "ratio"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:<11} {:<36} {:>12.1} {:>12.1} {:>9.2}x",
        r.filter, r.settings, r.daqflow, r.plain, r.ratio
    );
}

/// `throttle` never reads pixels: compared with the same pipeline without it (rounds of
/// without, with, without, as in [`measure`]).
fn throttle() {
    let frames = 20_000u64;
    let lane = "{ capacity = 4, when_full = \"block\" }";
    let without = format!(
        "[pipeline]\npool_mb = 512\n\n\
         [sources.src]\nplugin = \"sim_detector\"\nwidth = {W}\nheight = {H}\ndtype = \"u16\"\n\
         rate_hz = 0\nframes = {frames}\n{PATTERN}\n\n\
         [sinks.out]\nplugin = \"discard\"\ninputs = [\"src\"]\nqueue = {lane}\n"
    );
    let with = pipeline("throttle", "every_nth = 1", "", frames);
    let (mut w, mut wo, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = daqflow_once(&without, frames);
        let d = daqflow_once(&with, frames);
        let b = daqflow_once(&without, frames);
        let d = frames as f64 / d.as_secs_f64();
        let base = 2.0 * frames as f64 / (a + b).as_secs_f64();
        w.push(d);
        wo.push(base);
        ratios.push(d / base);
    }
    let (with, base) = (median_f64(w), median_f64(wo));
    println!(
        "throttle every_nth=1 reads no pixels; baseline: the same pipeline without it ({frames} frames):"
    );
    println!(
        "  {with:.0} frames/s with, {base:.0} without: {:.2}x; {:.2} µs more per frame (one more hop)",
        median_f64(ratios),
        1e6 / with - 1e6 / base
    );
}

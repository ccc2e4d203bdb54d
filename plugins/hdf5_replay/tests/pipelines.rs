//! `hdf5_replay` in real pipelines: the `daqflow` binary loads it, `sim_detector`, `stats`
//! and the `hdf5` writer as shared libraries, and h5py + hdf5plugin read the files back.
//! Build first: `cargo build -p daqflow -p daqflow-plugin-sim-detector -p
//! daqflow-plugin-stats -p daqflow-plugin-hdf5 -p daqflow-plugin-hdf5-replay -p
//! daqflow-plugin-discard`.

mod common;

use common::*;

const DTYPES: [&str; 4] = ["u8", "u16", "u32", "f32"];
const COMPRESSIONS: [&str; 3] = ["none", "lz4", "bslz4"];

#[test]
fn recorded_files_round_trip_bit_exact_for_every_dtype_and_compression() {
    // hdf5 → hdf5_replay → hdf5: pixels, frame numbers, timestamps and the stats filter's
    // per-frame metadata equal; compressed chunks byte-identical.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut record = String::from("[pipeline]\nname = \"record\"\n");
    let mut again = String::from("[pipeline]\nname = \"replay\"\n");
    for t in DTYPES {
        record += &format!(
            "\n[sources.d_{t}]\nplugin = \"sim_detector\"\nwidth = 40\nheight = 24\n\
             dtype = \"{t}\"\nframes = 7\npattern = \"bars\"\n\
             \n[filters.s_{t}]\nplugin = \"stats\"\ninputs = [\"d_{t}\"]\n"
        );
        for c in COMPRESSIONS {
            let rec = d.join(format!("rec_{t}_{c}.h5"));
            record += &writer(
                &format!("w_{t}_{c}"),
                &format!("s_{t}"),
                &rec,
                &format!("compression = \"{c}\""),
            );
            again += &replay(&format!("r_{t}_{c}"), &rec, "");
            again += &writer(
                &format!("c_{t}_{c}"),
                &format!("r_{t}_{c}"),
                &d.join(format!("copy_{t}_{c}.h5")),
                &format!("compression = \"{c}\""),
            );
        }
    }
    let o = run_pipeline(d, &record);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let o = run_pipeline(d, &again);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    for t in DTYPES {
        for c in COMPRESSIONS {
            assert_eq!(o.node(&format!("r_{t}_{c}"))["frames_out"], 7, "{t} {c}");
            assert_eq!(
                o.node(&format!("c_{t}_{c}"))["counters"]["frames_written"],
                7,
                "{t} {c}"
            );
            let (a, b) = (
                d.join(format!("rec_{t}_{c}.h5")),
                d.join(format!("copy_{t}_{c}.h5")),
            );
            let chunks = if c == "none" { "0" } else { "1" };
            let out = run_python(
                SAME_FILES,
                &[
                    a.to_str().unwrap(),
                    "/entry/data/data",
                    b.to_str().unwrap(),
                    "/entry/data/data",
                    chunks,
                ],
            );
            assert_eq!(out.trim(), "7", "{t} {c}");
        }
    }
    // The stats values really were replayed (not only absent on both sides).
    let out = run_python(
        "f = h5py.File(sys.argv[1], 'r'); g = f['/entry/instrument/detector/frame_metadata']\n\
         print(len(g.keys()), g['stats_mean'].shape[0])",
        &[d.join("copy_u16_bslz4.h5").to_str().unwrap()],
    );
    let counts: Vec<u64> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert!(counts[0] >= 7 && counts[1] == 7, "{out}");
}

/// Python: writes `h5py_made.h5` in argv[1], as h5py + hdf5plugin (not daqflow) would:
/// u16 frames bslz4 / lz4 / gzip (2 frames per chunk) / big-endian, plus bad datasets.
const H5PY_FILE: &str = r#"
d = sys.argv[1]
rng = np.random.default_rng(7)
frames = (rng.poisson(2.0, (9, 30, 44)) + (np.arange(44) % 7)).astype("u2")
with h5py.File(d + "/h5py_made.h5", "w") as f:
    f.create_dataset("bslz4", data=frames, chunks=(1, 30, 44), **hdf5plugin.Bitshuffle(cname="lz4"))
    f.create_dataset("lz4", data=frames, chunks=(1, 30, 44), **hdf5plugin.LZ4())
    f.create_dataset("gzip", data=frames, chunks=(2, 30, 44), compression="gzip")
    f.create_dataset("bigendian", data=frames.astype(">u2"))
    f.create_dataset("image", data=frames[0])
    f.create_dataset("series4d", data=frames.reshape(3, 3, 30, 44))
    f.create_dataset("signed", data=frames.astype("i2"))
    f.create_dataset("zstd", data=frames, chunks=(1, 30, 44), **hdf5plugin.Zstd())
    f.create_dataset("ts", data=np.arange(9, dtype="u8"))
np.save(d + "/frames.npy", frames)
"#;

#[test]
fn files_written_by_h5py_and_hdf5plugin_replay_and_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_python(H5PY_FILE, &[d.to_str().unwrap()]);
    let src = d.join("h5py_made.h5");
    let cases = [
        ("bslz4", "bslz4"),
        ("lz4", "lz4"),
        ("gzip", "none"),
        ("bigendian", "none"),
    ];
    let mut toml = String::from("[pipeline]\nname = \"h5py\"\n");
    for (ds, c) in cases {
        toml += &replay(&format!("r_{ds}"), &src, &format!("dataset = \"/{ds}\""));
        toml += &writer(
            &format!("w_{ds}"),
            &format!("r_{ds}"),
            &d.join(format!("out_{ds}.h5")),
            &format!("compression = \"{c}\""),
        );
    }
    let o = run_pipeline(d, &toml);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let check = r#"
src, ds, out = sys.argv[1:4]
frames = np.load(sys.argv[4])
fo = h5py.File(out, "r")["/entry/data/data"]
assert fo.dtype == np.dtype("u2") and np.array_equal(fo[()], frames), ds
fs = h5py.File(src, "r")[ds]
if ds in ("/bslz4", "/lz4"):
    # hdf5plugin's own compressor made these chunks; the copy holds the very same bytes.
    for i in range(frames.shape[0]):
        assert fs.id.read_direct_chunk((i, 0, 0)) == fo.id.read_direct_chunk((i, 0, 0)), i
print(fo.shape[0])
"#;
    for (ds, _) in cases {
        let out = run_python(
            check,
            &[
                src.to_str().unwrap(),
                &format!("/{ds}"),
                d.join(format!("out_{ds}.h5")).to_str().unwrap(),
                d.join("frames.npy").to_str().unwrap(),
            ],
        );
        assert_eq!(out.trim(), "9", "{ds}");
    }
}

#[test]
fn validate_names_file_and_dataset_for_every_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_python(H5PY_FILE, &[d.to_str().unwrap()]);
    let src = d.join("h5py_made.h5");
    let mut toml = String::from("[pipeline]\nname = \"bad\"\n");
    let cases: [(&str, String, &str); 7] = [
        ("missing", toml_path(&d.join("nope.h5")), "/entry/data/data"),
        (
            "noglob",
            toml_path(&d.join("nope_*.h5")),
            "/entry/data/data",
        ),
        ("nodataset", toml_path(&src), "/entry/data/data"),
        ("image", toml_path(&src), "/image"),
        ("series4d", toml_path(&src), "/series4d"),
        ("signed", toml_path(&src), "/signed"),
        ("zstd", toml_path(&src), "/zstd"),
    ];
    for (name, path, ds) in &cases {
        toml += &format!(
            "\n[sources.{name}]\nplugin = \"hdf5_replay\"\npath = {path}\ndataset = \"{ds}\"\n\
             \n[sinks.sink_{name}]\nplugin = \"discard\"\ninputs = [\"{name}\"]\n"
        );
    }
    let o = validate_text(d, &toml);
    assert_ne!(o.code(), 0, "{}", o.stdout);
    let text = format!("{}{}", o.stdout, o.stderr);
    let expect = [
        ("missing", "nope.h5: no such file"),
        ("noglob", "no file matches"),
        ("nodataset", "has no dataset /entry/data/data"),
        ("image", "single image"),
        ("series4d", "4-D"),
        ("signed", "i16 (signed)"),
        ("zstd", "filter 32015"),
    ];
    for (node, needle) in expect {
        let line = text
            .lines()
            .find(|l| l.contains(node) && l.contains(needle))
            .unwrap_or_else(|| panic!("no error for `{node}` containing {needle:?} in:\n{text}"));
        assert!(
            line.contains("h5py_made.h5") || line.contains("nope"),
            "{line}"
        );
    }
    // A replay of a good dataset validates.
    let good = replay("ok", &src, "dataset = \"/bslz4\"")
        + "\n[sinks.out]\nplugin = \"discard\"\ninputs = [\"ok\"]\n";
    let o = validate_text(d, &format!("[pipeline]\nname = \"good\"\n{good}"));
    assert_eq!(o.code(), 0, "{}{}", o.stdout, o.stderr);
}

#[test]
fn frame_ranges_loops_globs_and_vds_masters_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 10 ramp frames, rotated every 4 frames: parts of 4, 4, 2 and a VDS master.
    let master = d.join("rec.h5");
    let record = format!(
        "[pipeline]\nname = \"rec\"\n\n[sources.det]\nplugin = \"sim_detector\"\nwidth = 20\n\
         height = 12\ndtype = \"u16\"\nframes = 10\npattern = \"ramp\"\n{}",
        writer(
            "w",
            "det",
            &master,
            "compression = \"bslz4\"\nframes_per_file = 4"
        )
    );
    let o = run_pipeline(d, &record);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let glob = d.join("rec_data_*.h5");
    let mut toml = String::from("[pipeline]\nname = \"ranges\"\n");
    let cases: [(&str, &std::path::Path, &str); 4] = [
        ("vds", &master, "frames = \"1:9:3\"\nloop = 2"),
        ("glob_rev", &glob, "frames = \"::-1\""),
        ("vds_all", &master, ""),
        (
            "one",
            &master,
            "frames = \"-1\"\nloop = 3\ntimestamps = \"now\"",
        ),
    ];
    for (name, path, extra) in cases {
        toml += &replay(name, path, extra);
        toml += &writer(
            &format!("w_{name}"),
            name,
            &d.join(format!("{name}.h5")),
            "compression = \"bslz4\"",
        );
    }
    let o = run_pipeline(d, &toml);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let check = r#"
src, out = sys.argv[1:3]
idx = json.loads(sys.argv[3]); numbers = json.loads(sys.argv[4])
fs, fo = h5py.File(src, "r"), h5py.File(out, "r")
a, b = fs["/entry/data/data"], fo["/entry/data/data"]
assert b.shape[0] == len(idx), (b.shape, idx)
assert np.array_equal(b[()], a[()][idx])
got = fo["/entry/instrument/detector/frame_number"][()].tolist()
assert got == numbers, (got, numbers)
print(b.shape[0])
"#;
    let m = master.to_str().unwrap();
    let expect: [(&str, &str, &str); 4] = [
        ("vds", "[1, 4, 7, 1, 4, 7]", "[1, 4, 7, 8, 11, 14]"),
        (
            "glob_rev",
            "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]",
            "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]",
        ),
        (
            "vds_all",
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
        ),
        ("one", "[9, 9, 9]", "[9, 10, 11]"),
    ];
    for (name, idx, numbers) in expect {
        let out = d.join(format!("{name}.h5"));
        let n = run_python(check, &[m, out.to_str().unwrap(), idx, numbers]);
        assert_eq!(
            n.trim(),
            idx.matches(',').count().saturating_add(1).to_string(),
            "{name}"
        );
        assert_eq!(
            o.node(name)["frames_out"].as_u64().unwrap(),
            n.trim().parse::<u64>().unwrap()
        );
    }
    // Whole master, compressed: the parts' chunks passed through byte-identical.
    let out = run_python(
        SAME_FILES,
        &[
            m,
            "/entry/data/data",
            d.join("vds_all.h5").to_str().unwrap(),
            "/entry/data/data",
            "0",
        ],
    );
    assert_eq!(out.trim(), "10");
    let chunks = r#"
import glob as g
parts = sorted(g.glob(sys.argv[1]))
src = [c for p in parts for d in [h5py.File(p, "r")["/entry/instrument/detector/data"]] for c in [d.id.read_direct_chunk((i, 0, 0)) for i in range(d.shape[0])]]
o = h5py.File(sys.argv[2], "r")["/entry/data/data"]
assert [o.id.read_direct_chunk((i, 0, 0)) for i in range(o.shape[0])] == src
print(len(src))
"#;
    let n = run_python(
        chunks,
        &[
            glob.to_str().unwrap(),
            d.join("vds_all.h5").to_str().unwrap(),
        ],
    );
    assert_eq!(n.trim(), "10");
    assert!(
        o.stderr.contains("chunks passed on as stored"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_file_being_written_with_swmr_replays_what_it_holds() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let live = d.join("live.h5");
    // A SWMR writer (h5py) that has flushed 5 frames and keeps the file open.
    let script = r#"
import sys, numpy as np, h5py
f = h5py.File(sys.argv[1], "w", libver="latest")
ds = f.create_dataset("/entry/data/data", (0, 8, 6), "u2", maxshape=(None, 8, 6), chunks=(1, 8, 6))
f.swmr_mode = True
for i in range(5):
    ds.resize(i + 1, axis=0); ds[i] = i; ds.flush()
print("ready", flush=True)
sys.stdin.read()
ds.resize(6, axis=0); ds[5] = 5; f.close()
"#;
    let mut writer = std::process::Command::new(daqflow_tests::python())
        .arg("-c")
        .arg(script)
        .arg(&live)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(writer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let toml = format!(
        "[pipeline]\nname = \"live\"\n{}{}",
        replay("r", &live, ""),
        writer_node(d)
    );
    let o = run_pipeline(d, &toml);
    writer.stdin.take().unwrap().write_all(b"done").unwrap();
    let status = daqflow_tests::wait_or_kill(&mut writer, TIMEOUT, "the SWMR writer");
    assert!(status.success());
    assert_eq!(o.code(), 0, "{}", o.stderr);
    assert_eq!(o.node("r")["frames_out"], 5, "{}", o.stderr);
    assert!(o.stderr.contains("is being written (SWMR)"), "{}", o.stderr);
    let out = run_python(
        "d = h5py.File(sys.argv[1], 'r')['/entry/data/data'][()]\n\
         assert [int(x[0, 0]) for x in d] == [0, 1, 2, 3, 4]\nprint(len(d))",
        &[d.join("copy.h5").to_str().unwrap()],
    );
    assert_eq!(out.trim(), "5");
}

fn writer_node(d: &std::path::Path) -> String {
    writer("w", "r", &d.join("copy.h5"), "")
}

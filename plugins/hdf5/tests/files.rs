//! File-level behaviour against real readers: rotation with a virtual-dataset master,
//! SWMR live reading, SIGKILL mid-run, and the error cases (unwritable directory, existing
//! file, disk full).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use daqflow_plugin_hdf5::config::Compression;
use daqflow_plugin_hdf5::format::FrameFormat;
use daqflow_plugin_hdf5::writer::{RunWriter, WriteError};
use daqflow_sdk::DType;

const U16_BSLZ4: FrameFormat = FrameFormat {
    dtype: DType::U16,
    height: 32,
    width: 48,
    compression: Compression::Bslz4,
};

fn write_expected(dir: &Path, format: &FrameFormat, frames: u64) -> std::path::PathBuf {
    let mut all = Vec::new();
    for n in 0..frames {
        all.extend(frame_bytes(format.dtype, format.height, format.width, n));
    }
    let p = dir.join("expected.bin");
    std::fs::write(&p, all).unwrap();
    p
}

#[test]
fn rotation_parts_read_as_one_dataset_through_the_master_vds() {
    let _serial = serial();
    rotation(false);
}

#[test]
fn rotation_in_swmr_mode_reads_the_same() {
    let _serial = serial();
    rotation(true);
}

fn rotation(swmr: bool) {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("scan.h5");
    let mut w =
        RunWriter::create(master.clone(), 10, options(swmr, if swmr { 1 } else { 0 })).unwrap();
    append_frames(&mut w, &U16_BSLZ4, 0..25);
    assert_eq!(w.finish().unwrap(), 25);
    for i in 1..=3 {
        assert!(
            dir.path().join(format!("scan_data_{i:06}.h5")).is_file(),
            "part {i}"
        );
    }
    assert!(!dir.path().join("scan_data_000004.h5").exists());
    let expected = write_expected(dir.path(), &U16_BSLZ4, 25);
    // Python runs in another directory: the VDS must resolve parts next to the master.
    let out = run_python(
        r#"
master, expected, d = sys.argv[1:4]
exp = np.fromfile(expected, dtype="uint16").reshape(25, 32, 48)
with h5py.File(master, "r") as f:
    data = f["entry/data/data"]
    assert data.is_virtual and data.shape == (25, 32, 48), (data.is_virtual, data.shape)
    assert (data[()] == exp).all()
    assert (data[13] == exp[13]).all()
    assert list(f["entry/instrument/detector/frame_number"][()]) == list(range(25))
    assert int(f["entry/frame_count"][()]) == 25
    assert f["entry/end_time"][()].decode().endswith("Z")
    sources = sorted({m.file_name for m in data.virtual_sources()})
    assert sources == [f"scan_data_00000{i}.h5" for i in (1, 2, 3)], sources
counts = []
for i in (1, 2, 3):
    with h5py.File(f"{d}/scan_data_00000{i}.h5", "r") as f:
        counts.append(f["entry/data/data"].shape[0])
print(counts)
"#,
        &[
            master.to_str().unwrap(),
            expected.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "[10, 10, 5]");
}

#[test]
fn swmr_reader_sees_frames_while_the_run_goes_on() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.h5");
    let expected = write_expected(dir.path(), &U16_BSLZ4, 10);
    let mut w = RunWriter::create(path.clone(), 0, options(true, 1)).unwrap();
    append_frames(&mut w, &U16_BSLZ4, 0..5);

    let script = r#"
import time
path, expected = sys.argv[1:3]
exp = np.fromfile(expected, dtype="uint16").reshape(10, 32, 48)
f = h5py.File(path, "r", libver="latest", swmr=True)
d = f["entry/instrument/detector/data"]
for want in (5, 10):
    deadline = time.time() + 120
    while True:
        d.refresh()
        if d.shape[0] >= want:
            break
        assert time.time() < deadline, f"only {d.shape[0]} frames after 120 s"
        time.sleep(0.02)
    assert (d[:want] == exp[:want]).all(), f"frames 0..{want} differ"
    print("saw", d.shape[0], flush=True)
"#;
    let mut reader = Command::new(python())
        .arg("-c")
        .arg(format!(
            "import sys, numpy as np, h5py, hdf5plugin\n{script}"
        ))
        .args([path.to_str().unwrap(), expected.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    let first = lines.next().expect("reader output").unwrap();
    // The reader saw exactly the 5 frames written so far, while the file is still open.
    assert_eq!(first, "saw 5");
    append_frames(&mut w, &U16_BSLZ4, 5..10);
    assert_eq!(lines.next().expect("reader output").unwrap(), "saw 10");
    assert!(reader.wait().unwrap().success());
    assert_eq!(w.finish().unwrap(), 10);
}

/// Not a test: the body of the child processes that [`child`] starts (this test binary
/// again, with `--ignored --exact child_process_entry`). Run without the child's
/// environment (`--include-ignored`), it fails rather than pass having done nothing.
#[test]
#[ignore = "child process of the SIGKILL and disk-full tests, which run it"]
fn child_process_entry() {
    let mode = std::env::var("DAQFLOW_HDF5_CHILD").expect(
        "child_process_entry is the child process of the SIGKILL and disk-full tests, not a \
         test of its own: run those",
    );
    let path = std::path::PathBuf::from(std::env::var("DAQFLOW_HDF5_PATH").unwrap());
    match mode.as_str() {
        "write_forever" => {
            let swmr = std::env::var("DAQFLOW_HDF5_SWMR").is_ok();
            let mut w = RunWriter::create(path, 0, options(swmr, 10)).unwrap();
            for n in 0.. {
                append_frames(&mut w, &U16_BSLZ4, n..n + 1);
                if (n + 1) % 10 == 0 {
                    println!("flushed {}", n + 1);
                    std::io::stdout().flush().unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        "disk_full" => {
            // SAFETY: plain libc calls on this single-purpose child process.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit {
                    rlim_cur: 1 << 20,
                    rlim_max: 1 << 20,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
            }
            let format = FrameFormat {
                compression: Compression::None,
                ..U16_BSLZ4
            };
            let mut w = RunWriter::create(path, 0, options(false, 10)).unwrap();
            for n in 0..1000u64 {
                let raw = frame_bytes(format.dtype, format.height, format.width, n);
                if let Err(e) = w.append(&format, n, n, &raw, &[]) {
                    println!("ERROR {e}");
                    // Closing a frozen file reports nothing more and writes nothing.
                    assert_eq!(w.finish().unwrap(), n);
                    return;
                }
            }
            println!("NO ERROR");
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, path: &Path, swmr: bool) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "child_process_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("DAQFLOW_HDF5_CHILD", mode)
    .env("DAQFLOW_HDF5_PATH", path)
    .stdout(Stdio::piped());
    if swmr {
        c.env("DAQFLOW_HDF5_SWMR", "1");
    }
    c
}

fn sigkill_then_read(swmr: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.h5");
    let expected = write_expected(dir.path(), &U16_BSLZ4, 200);
    let mut c = child("write_forever", &path, swmr).spawn().unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child output").unwrap();
        if line == "flushed 30" {
            break;
        }
    }
    c.kill().unwrap(); // SIGKILL
    c.wait().unwrap();
    let out = run_python(
        r#"
path, expected, swmr = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
exp = np.fromfile(expected, dtype="uint16").reshape(200, 32, 48)
kw = dict(libver="latest", swmr=True) if swmr else {}
with h5py.File(path, "r", **kw) as f:
    d = f["entry/instrument/detector/data"]
    n = d.shape[0]
    assert n >= 30, n
    assert (d[()] == exp[:n]).all()
    fn = f["entry/instrument/detector/frame_number"][()]
    assert list(fn) == list(range(len(fn))) and len(fn) >= 30, fn
print("ok")
"#,
        &[
            path.to_str().unwrap(),
            expected.to_str().unwrap(),
            if swmr { "1" } else { "0" },
        ],
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn sigkill_with_periodic_flush_leaves_a_readable_file() {
    let _serial = serial();
    sigkill_then_read(false);
}

#[test]
fn sigkill_in_swmr_mode_leaves_a_file_readable_in_swmr_mode() {
    let _serial = serial();
    sigkill_then_read(true);
}

#[test]
fn disk_full_is_an_error_naming_the_frame_and_the_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.h5");
    let out = child("disk_full", &path, false).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let at = stdout
        .find("ERROR")
        .unwrap_or_else(|| panic!("child said nothing: {stdout}"));
    let line = stdout[at..].lines().next().unwrap();
    println!("{line}");
    assert!(line.starts_with("ERROR append frame "), "{line}");
    assert!(line.contains(path.to_str().unwrap()), "{line}");
    assert!(line.contains("File too large"), "{line}");
    // The file stays as of its last flush (every 10 frames): readable, every frame exact.
    let expected = write_expected(dir.path(), &U16_BSLZ4, 400);
    let out = run_python(
        r#"
exp = np.fromfile(sys.argv[2], dtype="uint16").reshape(400, 32, 48)
with h5py.File(sys.argv[1], "r") as f:
    d = f["entry/data/data"]
    n = d.shape[0]
    assert n >= 10 and (d[()] == exp[:n]).all(), n
    assert list(f["entry/instrument/detector/frame_number"][()]) == list(range(n))
print(n)
"#,
        &[path.to_str().unwrap(), expected.to_str().unwrap()],
    );
    assert!(out.trim().parse::<u64>().unwrap() >= 10, "{out}");
}

#[test]
fn unwritable_or_missing_directory_is_a_clear_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/run.h5");
    let e = RunWriter::create(missing.clone(), 0, options(false, 0))
        .err()
        .unwrap();
    assert!(matches!(e, WriteError::Create { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains(missing.to_str().unwrap()) && msg.contains("does not exist"),
        "{msg}"
    );

    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let msg = RunWriter::create(file.join("run.h5"), 0, options(false, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("is not a directory"), "{msg}");

    // Root ignores permission bits: use a directory no one may create files in.
    // SAFETY: geteuid has no preconditions.
    let unwritable = if unsafe { libc::geteuid() } == 0 {
        Path::new("/sys/daqflow-test.h5").to_owned()
    } else {
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&ro).unwrap().permissions(),
            0o500,
        );
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        ro.join("run.h5")
    };
    let msg = RunWriter::create(unwritable.clone(), 0, options(false, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with(&format!("create {}", unwritable.display())),
        "{msg}"
    );
    assert!(
        msg.contains("Permission denied") || msg.contains("Read-only file system"),
        "{msg}"
    );
}

#[test]
fn existing_file_is_never_clobbered_without_overwrite() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exists.h5");
    std::fs::write(&path, b"precious").unwrap();
    let msg = RunWriter::create(path.clone(), 0, options(false, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("exists") && msg.contains("overwrite = true"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    // Rotation: the master counts too.
    let msg = RunWriter::create(path.clone(), 5, options(false, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("exists"), "{msg}");
    let mut opts = options(false, 0);
    opts.overwrite = true;
    let w = RunWriter::create(path.clone(), 0, opts).unwrap();
    assert_eq!(w.finish().unwrap(), 0);
    assert_ne!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn a_frame_of_another_format_is_refused_naming_the_frame() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.h5");
    let mut w = RunWriter::create(path.clone(), 0, options(false, 0)).unwrap();
    append_frames(&mut w, &U16_BSLZ4, 0..3);
    let other = FrameFormat {
        height: 16,
        ..U16_BSLZ4
    };
    let raw = frame_bytes(other.dtype, other.height, other.width, 3);
    let msg = w.append(&other, 3, 0, &raw, &[]).unwrap_err().to_string();
    assert!(
        msg.starts_with("append frame 3 to ") && msg.contains(path.to_str().unwrap()),
        "{msg}"
    );
    assert_eq!(w.finish().unwrap(), 3);
}

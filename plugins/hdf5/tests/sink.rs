//! The sink through its real C ABI (the SDK's harness): settings validation, ordered
//! multi-threaded compression, counters, errors at start and mid-run.

mod common;

use common::*;
use daqflow_plugin_hdf5::daqflow_plugin_entry;
use daqflow_sdk::testing::{Harness, check_compliance};
use serde_json::json;

#[test]
fn plugin_passes_the_sdk_compliance_check() {
    let _serial = serial();
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn bad_settings_are_refused_naming_each_field() {
    let _serial = serial();
    let errors = Harness::validate(
        daqflow_plugin_entry,
        json!({"path": "x_{bogus}.h5", "dataset": "data", "swmr": true, "flush_every_frames": 0}),
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"path") && fields.contains(&"dataset"),
        "{errors:?}"
    );
    assert!(fields.contains(&"flush_every_frames"), "{errors:?}");
    assert!(
        Harness::validate(
            daqflow_plugin_entry,
            json!({"path": "x.h5", "compresion": "lz4"})
        )
        .is_err()
    );
    assert!(
        Harness::validate(
            daqflow_plugin_entry,
            json!({"path": "x.h5", "compression": "zstd"})
        )
        .is_err()
    );
    assert!(Harness::validate(daqflow_plugin_entry, json!({"path": "x.h5"})).is_ok());
}

/// Frames pushed through 3 compression threads land in order, bit-exact, for every
/// compression and a few dtypes; counters match.
#[test]
fn frames_pushed_through_the_abi_land_in_order_and_bit_exact() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut checks = Vec::new();
    for compression in ["none", "lz4", "bslz4"] {
        let path = dir
            .path()
            .join(format!("{compression}_{{node}}_{{run}}.h5"));
        let mut h = Harness::new(
            daqflow_plugin_entry,
            json!({"path": path, "compression": compression, "compression_threads": 3,
                   "run_id": "r7", "max_frames_in_flight": 4}),
        )
        .unwrap();
        h.start().unwrap();
        let mut expected: Vec<u8> = Vec::new();
        for n in 0..24u64 {
            // Some frames compress much faster than others: order must still hold.
            let v = ndarray::Array2::from_shape_fn((64, 96), |(y, x)| {
                if n % 3 == 0 {
                    ((x * 7 + y * 13) as u64 * (n + 1) % 65_521) as u16
                } else {
                    ((x + y) as u64 % (n + 2)) as u16
                }
            });
            expected.extend(v.iter().flat_map(|p| p.to_le_bytes()));
            h.push(h.frame_from(&v.view(), 1000 + n)).unwrap();
        }
        h.stop().unwrap();
        assert_eq!(h.counter("frames_written"), Some(24));
        assert_eq!(h.counter("frames_lost"), Some(0));
        let file = dir.path().join(format!("{compression}_node_r7.h5"));
        let bin = dir.path().join(format!("{compression}.bin"));
        std::fs::write(&bin, &expected).unwrap();
        checks.push(json!([file, bin]));
    }
    let out = run_python(
        r#"
for h5, bin in json.loads(sys.argv[1]):
    exp = np.fromfile(bin, dtype="uint16").reshape(24, 64, 96)
    with h5py.File(h5, "r") as f:
        assert (f["entry/data/data"][()] == exp).all(), h5
        assert list(f["entry/instrument/detector/frame_number"][()]) == list(range(1000, 1024))
        assert int(f["entry/frame_count"][()]) == 24
print("ok")
"#,
        &[&serde_json::to_string(&checks).unwrap()],
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn start_refuses_an_existing_file_and_names_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.h5");
    std::fs::write(&path, b"keep").unwrap();
    let mut h = Harness::new(daqflow_plugin_entry, json!({"path": path})).unwrap();
    let e = h.start().unwrap_err();
    assert!(
        e.contains(path.to_str().unwrap()) && e.contains("overwrite"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
}

/// Frames of a new shape or dtype are announced before the first of them (the core, like
/// the harness, tells the sink): the file so far is finished and they go to the next one.
#[test]
fn a_new_format_mid_run_finishes_the_file_and_starts_the_next() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.h5");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"path": path, "compression": "bslz4"}),
    )
    .unwrap();
    h.start().unwrap();
    for n in 0..3 {
        h.push(h.frame_from(&ndarray::Array2::<u32>::zeros((8, 8)).view(), n))
            .unwrap();
    }
    h.push(h.frame_from(&ndarray::Array2::<u32>::zeros((8, 9)).view(), 3))
        .unwrap();
    h.push(h.frame_from(&ndarray::Array2::<f32>::zeros((8, 8)).view(), 4))
        .unwrap();
    h.stop().unwrap();
    let out = run_python(
        r#"
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        print(f["entry/data/data"].shape, f["entry/data/data"].dtype, list(f["entry/instrument/detector/frame_number"][()]))
"#,
        &[
            path.to_str().unwrap(),
            dir.path().join("shape_s001.h5").to_str().unwrap(),
            dir.path().join("shape_s002.h5").to_str().unwrap(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("(3, 8, 8) uint32"), "{out}");
    assert!(lines[1].starts_with("(1, 8, 9) uint32"), "{out}");
    assert!(lines[2].starts_with("(1, 8, 8) float32"), "{out}");
}

/// With a frame count that is never reached, `flush_interval_ms` alone brings the frames
/// of a paused run to a SWMR reader, while the writer waits for more.
#[test]
fn flush_interval_flushes_while_waiting_for_frames() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paused.h5");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"path": path, "swmr": true, "flush_every_frames": 1000000, "flush_interval_ms": 50}),
    )
    .unwrap();
    h.start().unwrap();
    for n in 0..5 {
        h.push(h.frame_from(
            &ndarray::Array2::<u16>::from_elem((16, 16), n as u16).view(),
            n,
        ))
        .unwrap();
    }
    // No more frames and no stop: only the interval can flush them.
    let out = run_python(
        r#"
import time
deadline = time.time() + 60
while True:
    try:
        f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
        d = f["entry/data/data"]
        break
    except (OSError, KeyError):
        assert time.time() < deadline, "no dataset"
        time.sleep(0.05)
while d.shape[0] < 5:
    assert time.time() < deadline, d.shape
    time.sleep(0.05)
    d.refresh()
print([int(d[i][0, 0]) for i in range(5)])
"#,
        &[path.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "[0, 1, 2, 3, 4]");
    h.stop().unwrap();
    assert_eq!(h.counter("frames_written"), Some(5));
}

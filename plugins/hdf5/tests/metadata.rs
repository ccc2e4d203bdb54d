//! Per-frame metadata (the frames' typed key/values) recorded as one dataset per key:
//! types, missing keys, keys appearing mid-file, SWMR, rotation, and through the ABI.

mod common;

use common::*;
use daqflow_plugin_hdf5::config::Compression;
use daqflow_plugin_hdf5::format::FrameFormat;
use daqflow_plugin_hdf5::writer::MetaCell;
use daqflow_plugin_hdf5::writer::RunWriter;
use daqflow_sdk::DType;

const FORMAT: FrameFormat = FrameFormat {
    dtype: DType::U8,
    height: 4,
    width: 6,
    compression: Compression::Lz4,
};

fn cells(list: &[(&str, MetaCell)]) -> Vec<(String, MetaCell)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Frame `n`'s metadata: types, a missing key, a key from frame 2 on, a type change.
fn frame_meta(n: u64) -> Vec<(String, MetaCell)> {
    use MetaCell::*;
    let mut m = cells(&[
        ("exposure_s", F64(0.5 * n as f64)),
        ("mode", Str(format!("m{n}"))),
    ]);
    if n != 1 {
        m.push(("gain".into(), I64(10 + n as i64)));
    }
    m.push((
        "shutter".into(),
        if n == 3 {
            Str("open".into())
        } else {
            Bool(n.is_multiple_of(2))
        },
    ));
    if n >= 2 {
        m.push(("temp_c".into(), F64(20.0 + n as f64)));
    }
    if n == 4 {
        m[0] = ("exposure_s".into(), I64(7)); // an integer into the float column: converted
    }
    m
}

fn write(path: &std::path::Path, swmr: bool, frames_per_file: u64) {
    let mut w = RunWriter::create(path.to_owned(), frames_per_file, options(swmr, 1)).unwrap();
    let raw = vec![3u8; FORMAT.frame_bytes()];
    let mut enc = daqflow_plugin_hdf5::encoder::Encoder::default();
    let mut buf = Vec::new();
    for n in 0..5 {
        let chunk = match enc
            .encode(&FORMAT, daqflow_sdk::Encoding::Raw, &raw, &mut buf)
            .unwrap()
        {
            daqflow_plugin_hdf5::encoder::Encoded::Buffer(len) => buf[..len].to_vec(),
            daqflow_plugin_hdf5::encoder::Encoded::AsIs => raw.clone(),
        };
        w.append(&FORMAT, n, n, &chunk, &frame_meta(n)).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 5);
}

const CHECK: &str = r#"
path, swmr = sys.argv[1], sys.argv[2] == "1"
with h5py.File(path, "r") as f:
    g = f["entry/instrument/detector/frame_metadata"]
    assert g.attrs["NX_class"] in ("NXcollection", b"NXcollection")
    exp = [0.0, 0.5, 1.0, 1.5, 7.0]
    assert list(g["exposure_s"][()]) == exp, g["exposure_s"][()]
    assert [m.decode() for m in g["mode"][()]] == [f"m{n}" for n in range(5)]
    assert list(g["gain"][()]) == [10, 0, 12, 13, 14]
    assert g["shutter"].dtype == bool and list(g["shutter"][()]) == [True, False, True, False, True]
    if swmr:
        assert "temp_c" not in g, "SWMR files cannot get new datasets"
    else:
        t = g["temp_c"][()]
        assert np.isnan(t[:2]).all() and list(t[2:]) == [22.0, 23.0, 24.0], t
    print(sorted(g.keys()))
"#;

#[test]
fn metadata_columns_hold_one_entry_per_frame() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.h5");
    write(&path, false, 0);
    let out = run_python(CHECK, &[path.to_str().unwrap(), "0"]);
    assert_eq!(
        out.trim(),
        "['exposure_s', 'gain', 'mode', 'shutter', 'temp_c']"
    );
}

#[test]
fn in_swmr_mode_keys_must_come_with_the_first_frame() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta_swmr.h5");
    write(&path, true, 0);
    let out = run_python(CHECK, &[path.to_str().unwrap(), "1"]);
    assert_eq!(out.trim(), "['exposure_s', 'gain', 'mode', 'shutter']");
}

#[test]
fn the_master_file_presents_metadata_of_all_parts() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta_rot.h5");
    write(&path, false, 2);
    let out = run_python(CHECK, &[path.to_str().unwrap(), "0"]);
    assert_eq!(
        out.trim(),
        "['exposure_s', 'gain', 'mode', 'shutter', 'temp_c']"
    );
}

#[test]
fn metadata_set_by_a_plugin_reaches_the_file_through_the_abi() {
    use daqflow_plugin_hdf5::daqflow_plugin_entry;
    use daqflow_sdk::MetaValue;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abi_meta.h5");
    let mut h = daqflow_sdk::testing::Harness::new(
        daqflow_plugin_entry,
        serde_json::json!({"path": path, "compression": "bslz4"}),
    )
    .unwrap();
    h.start().unwrap();
    for n in 0..3u64 {
        let mut f = h.alloc::<u16>(8, 4);
        f.set_frame_number(n);
        f.set_meta("exposure_s", MetaValue::F64(0.25)).unwrap();
        f.set_meta("counter", MetaValue::I64(n as i64 * 100))
            .unwrap();
        h.push(f.into_frame()).unwrap();
    }
    h.stop().unwrap();
    let out = run_python(
        r#"
with h5py.File(sys.argv[1], "r") as f:
    g = f["entry/instrument/detector/frame_metadata"]
    print(g["counter"][()].tolist(), g["exposure_s"][()].tolist())
"#,
        &[path.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "[0, 100, 200] [0.25, 0.25, 0.25]");
}

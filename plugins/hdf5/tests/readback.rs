//! Round trips against the reference reader and writer: files we write read back
//! bit-exactly in h5py + hdf5plugin (and in Rust through our registered filters), files
//! h5py + hdf5plugin write decode through our filters, and our bitshuffle transform is
//! byte-identical to hdf5plugin's.

mod common;

use common::*;
use daqflow_codec::bitshuffle;
use daqflow_plugin_hdf5::config::Compression;
use daqflow_plugin_hdf5::format::FrameFormat;
use daqflow_plugin_hdf5::writer::filters;
use daqflow_sdk::DType;

fn read_rust(path: &std::path::Path, elem: DType) -> Vec<u8> {
    filters::register().unwrap();
    let f = hdf5::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let d = f.dataset("entry/data/data").unwrap();
    fn bytes<T: hdf5::H5Type + Copy>(d: &hdf5::Dataset) -> Vec<u8> {
        let v: Vec<T> = d.read_raw().unwrap();
        let n = std::mem::size_of_val(v.as_slice());
        // SAFETY: plain numbers reinterpreted as their bytes.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), n) }.to_vec()
    }
    match elem {
        DType::U8 => bytes::<u8>(&d),
        DType::U16 => bytes::<u16>(&d),
        DType::U32 => bytes::<u32>(&d),
        DType::F32 => bytes::<f32>(&d),
        other => panic!("no test reader for {other}"),
    }
}

#[test]
fn every_compression_and_dtype_reads_back_bit_exact_in_h5py_and_rust() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for compression in COMPRESSIONS {
        for elem in ELEMS {
            // Odd sizes: partial bitshuffle blocks and leftover elements.
            for (height, width) in [(37u32, 53u32), (128, 256)] {
                let format = FrameFormat {
                    dtype: elem,
                    height,
                    width,
                    compression,
                };
                let name = format!("{compression:?}_{}_{height}x{width}", elem_name(elem));
                let path = dir.path().join(format!("{name}.h5"));
                let raw = write_file(&path, &format, 5, 0);
                assert_eq!(read_rust(&path, elem), raw, "rust read-back of {name}");
                let expected = dir.path().join(format!("{name}.bin"));
                std::fs::write(&expected, &raw).unwrap();
                let filter = match compression {
                    Compression::None => 0,
                    Compression::Lz4 => 32004,
                    Compression::Bslz4 => 32008,
                };
                cases.push(serde_json::json!({
                    "h5": path, "bin": expected, "dtype": elem_name(elem),
                    "shape": [5, height, width], "filter": filter,
                }));
            }
        }
    }
    let list = dir.path().join("cases.json");
    std::fs::write(&list, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = run_python(
        r#"
for c in json.load(open(sys.argv[1])):
    with h5py.File(c["h5"], "r") as f:
        d = f["entry/instrument/detector/data"]
        a = d[()]
        exp = np.fromfile(c["bin"], dtype=c["dtype"]).reshape(c["shape"])
        assert a.dtype == exp.dtype and a.shape == exp.shape, (c, a.dtype, a.shape)
        assert a.tobytes() == exp.tobytes(), ("data differs", c)
        assert d.chunks == (1,) + tuple(c["shape"][1:]), d.chunks
        dcpl = d.id.get_create_plist()
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        assert filters == ([c["filter"]] if c["filter"] else []), (c, filters)
        if c["filter"] == 32008:
            assert tuple(dcpl.get_filter(0)[2]) == (0, 4, exp.itemsize, 0, 2), dcpl.get_filter(0)
        assert list(f["entry/instrument/detector/frame_number"][()]) == list(range(5))
print("checked", len(json.load(open(sys.argv[1]))))
"#,
        &[list.to_str().unwrap()],
    );
    assert_eq!(out.trim(), format!("checked {}", cases.len()));
}

#[test]
fn files_written_by_h5py_and_hdf5plugin_decode_through_our_filters() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    run_python(
        r#"
d = sys.argv[1]
rng = np.random.default_rng(7)
for dt in ["uint8", "uint16", "uint32", "float32"]:
    a = (rng.poisson(0.7, size=(3, 41, 67)) * (1 + (rng.random((3, 41, 67)) < 0.01) * 900)).astype(dt)
    a.tofile(f"{d}/{dt}.bin")
    for name, comp in [("lz4", hdf5plugin.LZ4()), ("bslz4", hdf5plugin.Bitshuffle(nelems=0, cname="lz4")),
                       ("bs", hdf5plugin.Bitshuffle(nelems=0, cname="none"))]:
        with h5py.File(f"{d}/{name}_{dt}.h5", "w") as f:
            f.create_dataset("entry/data/data", data=a, chunks=(1, 41, 67), **comp)
"#,
        &[dir.path().to_str().unwrap()],
    );
    for elem in ELEMS {
        let dt = elem_name(elem);
        let expected = std::fs::read(dir.path().join(format!("{dt}.bin"))).unwrap();
        for name in ["lz4", "bslz4", "bs"] {
            let got = read_rust(&dir.path().join(format!("{name}_{dt}.h5")), elem);
            assert_eq!(got, expected, "{name} {dt}");
        }
    }
}

#[test]
fn bitshuffle_transform_is_byte_identical_to_hdf5plugin() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // hdf5plugin's bitshuffle without LZ4 stores the transformed bytes: read them raw.
    run_python(
        r#"
d = sys.argv[1]
rng = np.random.default_rng(3)
for dt in ["uint8", "uint16", "uint32", "float32"]:
    for n in [8, 200, 5000, 12345]:
        a = rng.integers(0, 255, size=(1, n)).astype(dt) * np.array(1 + rng.integers(0, 3, size=(1, n)), dtype=dt)
        a.tofile(f"{d}/{dt}_{n}.in")
        with h5py.File(f"{d}/{dt}_{n}.h5", "w") as f:
            ds = f.create_dataset("x", data=a, chunks=a.shape, **hdf5plugin.Bitshuffle(nelems=0, cname="none"))
            open(f"{d}/{dt}_{n}.ref", "wb").write(ds.id.read_direct_chunk((0, 0))[1])
"#,
        &[dir.path().to_str().unwrap()],
    );
    for elem in ELEMS {
        for n in [8, 200, 5000, 12345] {
            let stem = dir.path().join(format!("{}_{n}", elem_name(elem)));
            let input = std::fs::read(stem.with_extension("in")).unwrap();
            let reference = std::fs::read(stem.with_extension("ref")).unwrap();
            let mut ours = vec![0u8; input.len()];
            bitshuffle::transform_plain(&input, &mut ours, elem.size_bytes(), 0, false).unwrap();
            assert_eq!(ours, reference, "{elem:?} n={n}");
        }
    }
}

#[test]
fn nexus_layout_and_run_fields_are_recorded() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexus.h5");
    let format = FrameFormat {
        dtype: DType::U16,
        height: 16,
        width: 24,
        compression: Compression::Bslz4,
    };
    write_file(&path, &format, 4, 0);
    let out = run_python(
        r#"
def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1], "r") as f:
    assert s(f.attrs["NX_class"]) == "NXroot" and s(f.attrs["default"]) == "entry"
    e = f["entry"]
    assert s(e.attrs["NX_class"]) == "NXentry" and s(e.attrs["default"]) == "data"
    assert s(f["entry/instrument"].attrs["NX_class"]) == "NXinstrument"
    det = f["entry/instrument/detector"]
    assert s(det.attrs["NX_class"]) == "NXdetector"
    nxdata = f["entry/data"]
    assert s(nxdata.attrs["NX_class"]) == "NXdata" and s(nxdata.attrs["signal"]) == "data"
    # a hard link: the same object
    assert nxdata["data"].id == det["data"].id
    assert det["data"].shape == (4, 16, 24)
    assert list(det["frame_number"][()]) == [0, 1, 2, 3]
    assert list(det["timestamp"][()]) == [1_000_000_000 * n + 7 for n in range(4)]
    assert s(det["timestamp"].attrs["units"]) == "ns"
    assert int(e["frame_count"][()]) == 4
    start, end = s(e["start_time"][()]), s(e["end_time"][()])
    assert start.endswith("Z") and end.endswith("Z") and start <= end, (start, end)
    assert json.loads(s(e["writer_settings/data"][()]))["path"] == "test"
    assert s(e["entry_identifier"][()]) == "test-run"
print("ok")
"#,
        &[path.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "ok");
}

/// Chunks compressed by the reference C library (a detector's bslz4 / lz4 stream) are
/// stored without recompression and read back bit-exactly.
#[test]
fn precompressed_chunks_from_the_reference_library_are_stored_as_they_are() {
    let _serial = serial();
    use daqflow_plugin_hdf5::encoder::{Encoded, Encoder};
    use daqflow_plugin_hdf5::writer::RunWriter;
    use daqflow_sdk::Encoding;

    let dir = tempfile::tempdir().unwrap();
    run_python(
        r#"
d = sys.argv[1]
rng = np.random.default_rng(11)
a = rng.poisson(0.5, size=(4, 33, 70)).astype("uint32")
a.tofile(f"{d}/frames.bin")
for name, comp in [("bslz4", hdf5plugin.Bitshuffle(nelems=0, cname="lz4")), ("lz4", hdf5plugin.LZ4())]:
    with h5py.File(f"{d}/ref.h5", "w") as f:
        ds = f.create_dataset("x", data=a, chunks=(1, 33, 70), **comp)
        for i in range(4):
            open(f"{d}/{name}_{i}.chunk", "wb").write(ds.id.read_direct_chunk((i, 0, 0))[1])
"#,
        &[dir.path().to_str().unwrap()],
    );
    let expected = std::fs::read(dir.path().join("frames.bin")).unwrap();
    for (name, encoding, compression) in [
        ("bslz4", Encoding::BsLz4, Compression::Bslz4),
        ("lz4", Encoding::Lz4, Compression::Lz4),
    ] {
        let path = dir.path().join(format!("stored_{name}.h5"));
        let format = FrameFormat {
            dtype: DType::U32,
            height: 33,
            width: 70,
            compression,
        };
        let mut w = RunWriter::create(path.clone(), 0, options(false, 0)).unwrap();
        let mut enc = Encoder::default();
        for i in 0..4u64 {
            let chunk = std::fs::read(dir.path().join(format!("{name}_{i}.chunk"))).unwrap();
            let mut out = Vec::new();
            assert_eq!(
                enc.encode(&format, encoding, &chunk, &mut out).unwrap(),
                Encoded::AsIs
            );
            w.append(&format, i, i, &chunk, &[]).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(read_rust(&path, DType::U32), expected, "{name}");
        let out = run_python(
            r#"
exp = np.fromfile(sys.argv[2], dtype="uint32").reshape(4, 33, 70)
with h5py.File(sys.argv[1], "r") as f:
    assert (f["entry/data/data"][()] == exp).all()
print("ok")
"#,
            &[
                path.to_str().unwrap(),
                dir.path().join("frames.bin").to_str().unwrap(),
            ],
        );
        assert_eq!(out.trim(), "ok");
    }
}

/// A custom dataset path keeps the NeXus structure around it.
#[test]
fn a_custom_dataset_path_keeps_the_nexus_links() {
    use daqflow_plugin_hdf5::writer::RunWriter;
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.h5");
    let mut opts = options(false, 0);
    opts.dataset = "/scan/beamline/cam/img".into();
    let mut w = RunWriter::create(path.clone(), 0, opts).unwrap();
    let format = FrameFormat {
        dtype: DType::F32,
        height: 3,
        width: 5,
        compression: Compression::None,
    };
    let raw = append_frames(&mut w, &format, 0..2);
    w.finish().unwrap();
    std::fs::write(dir.path().join("custom.bin"), raw).unwrap();
    let out = run_python(
        r#"
def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1], "r") as f:
    assert s(f.attrs["default"]) == "scan"
    assert s(f["scan"].attrs["NX_class"]) == "NXentry"
    assert s(f["scan/beamline"].attrs["NX_class"]) == "NXcollection"
    assert s(f["scan/beamline/cam"].attrs["NX_class"]) == "NXdetector"
    assert f["scan/data/data"].id == f["scan/beamline/cam/img"].id
    exp = np.fromfile(sys.argv[2], dtype="float32").reshape(2, 3, 5)
    assert (f["scan/data/data"][()] == exp).all()
    assert list(f["scan/beamline/cam/frame_number"][()]) == [0, 1]
print("ok")
"#,
        &[
            path.to_str().unwrap(),
            dir.path().join("custom.bin").to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "ok");
}

//! Shared helpers of the hdf5 plugin's tests: deterministic test frames, a direct writer
//! driver, and the reference reader (h5py + hdf5plugin in the project's virtualenv).

#![allow(dead_code)]

use std::path::Path;

use daqflow_plugin_hdf5::config::Compression;
use daqflow_plugin_hdf5::encoder::{Encoded, Encoder};
use daqflow_plugin_hdf5::format::{FileOptions, FrameFormat};
use daqflow_plugin_hdf5::writer::RunWriter;
use daqflow_sdk::DType;
use daqflow_sdk::Encoding;

/// Serialises the tests of one test binary. HDF5 opens files without `O_CLOEXEC`; we set
/// it right after creating a file, but a Python reader spawned by a parallel test in that
/// instant would inherit the descriptor and its lock, and keep readers out of a closed file.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The reference reader (h5py + hdf5plugin in the project's virtualenv), shared with the
/// workspace's end-to-end tests.
#[allow(unused_imports)] // each test binary uses one or the other
pub use daqflow_tests::{python, run_python};

/// Frame `n` of a test series: photon-counting-like (mostly small counts, a few hot
/// pixels), so that compression has something to do, and different for every frame.
pub fn frame_bytes(elem: DType, height: u32, width: u32, n: u64) -> Vec<u8> {
    let count = (height * width) as usize;
    let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ (n.wrapping_mul(0x1234_5678_9ABC_DEF1));
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = Vec::with_capacity(count * elem.size_bytes());
    for _ in 0..count {
        let r = next();
        let v = if r % 97 == 0 { r >> 40 } else { (r >> 60) % 4 };
        match elem {
            DType::U8 => out.push(v as u8),
            DType::U16 => out.extend_from_slice(&(v as u16).to_le_bytes()),
            DType::U32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
            DType::F32 => out.extend_from_slice(&(v as f32 * 0.5 - 0.25).to_le_bytes()),
            other => panic!("no test frames of {other}"),
        }
    }
    out
}

pub fn elem_name(elem: DType) -> &'static str {
    match elem {
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::F32 => "float32",
        other => panic!("no numpy name for {other}"),
    }
}

pub const ELEMS: [DType; 4] = DType::ALL;
pub const COMPRESSIONS: [Compression; 3] =
    [Compression::None, Compression::Lz4, Compression::Bslz4];

pub fn options(swmr: bool, flush_every: u64) -> FileOptions {
    FileOptions {
        swmr,
        flush_every,
        flush_interval: None,
        overwrite: false,
        dataset: "/entry/instrument/detector/data".into(),
        settings_json: r#"{"path": "test"}"#.into(),
        run_id: "test-run".into(),
    }
}

/// Encodes and appends frames `range` of the test series; returns all raw bytes appended.
pub fn append_frames(
    w: &mut RunWriter,
    format: &FrameFormat,
    range: std::ops::Range<u64>,
) -> Vec<u8> {
    let mut enc = Encoder::default();
    let mut buf = Vec::new();
    let mut all = Vec::new();
    for n in range {
        let raw = frame_bytes(format.dtype, format.height, format.width, n);
        let chunk: &[u8] = match enc.encode(format, Encoding::Raw, &raw, &mut buf).unwrap() {
            Encoded::AsIs => &raw,
            Encoded::Buffer(len) => &buf[..len],
        };
        w.append(format, n, 1_000_000_000 * n + 7, chunk, &[])
            .unwrap();
        all.extend_from_slice(&raw);
    }
    all
}

/// Writes a whole file of `frames` frames; returns the raw bytes of all frames.
pub fn write_file(path: &Path, format: &FrameFormat, frames: u64, frames_per_file: u64) -> Vec<u8> {
    let mut w = RunWriter::create(path.to_owned(), frames_per_file, options(false, 0)).unwrap();
    let all = append_frames(&mut w, format, 0..frames);
    assert_eq!(w.finish().unwrap(), frames);
    all
}

//! The `viewer` sink through its C ABI (the SDK's test harness): compliance, headless
//! snapshots, counters, shape changes, and `consume` never waiting on rendering.

mod common;

use std::time::Duration;

use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_display::RgbaImage;
use daqflow_plugin_viewer::daqflow_plugin_entry;
use daqflow_sdk::ndarray::Array2;
use daqflow_sdk::testing::{Harness, check_compliance};
use daqflow_sdk::{DType, Encoding, Frame};
use serde_json::json;

fn ramp_u16(w: usize, h: usize, k: u16) -> Array2<u16> {
    Array2::from_shape_fn((h, w), |(y, x)| ((x + y) as u16).wrapping_mul(k))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("viewer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn plugin_is_compliant() {
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let e = Harness::validate(
        daqflow_plugin_entry,
        json!({"contrast": "manual", "max_fps": -1.0, "colormap": "viridis"}),
    )
    .unwrap_err();
    let text = format!("{e:?}");
    assert!(
        text.contains("contrast") && text.contains("max_fps"),
        "{text}"
    );
    let e = Harness::validate(daqflow_plugin_entry, json!({"colormap": "jet"})).unwrap_err();
    assert!(format!("{e:?}").contains("jet"));
}

#[test]
fn headless_writes_snapshots_and_counts() {
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("headless");
    let pattern = dir.join("{node}-{frame}.png");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({
            "mode": "headless", "colormap": "viridis",
            "snapshot_path": pattern.to_str().unwrap(),
            "snapshot_every_frames": 25, "snapshot_on_stop": true, "max_fps": 1000.0
        }),
    )
    .unwrap();
    h.start().unwrap();
    for i in 0..100 {
        h.push(h.frame_from(&ramp_u16(64, 32, 16).view(), i))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    h.stop().unwrap();
    assert_eq!(h.counter("frames_received"), Some(100));
    let displayed = h.counter("frames_displayed").unwrap();
    let snapshots = h.counter("snapshots_written").unwrap();
    assert!(
        displayed >= 1 && displayed == snapshots,
        "{displayed} {snapshots}"
    );
    assert_eq!(
        h.counter("frames_dropped_for_display"),
        Some(100 - displayed)
    );
    let last = dir.join("node-00000099.png");
    let png = RgbaImage::read_png(&last).unwrap();
    assert_eq!((png.width, png.height), (64, 32));
    let files = std::fs::read_dir(&dir).unwrap().count() as u64;
    assert_eq!(files, snapshots, "one file per snapshot");
}

#[test]
fn every_dtype_and_shape_changes_reach_the_snapshot() {
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("shapes");
    let path = dir.join("last.png");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"mode": "headless", "snapshot_path": path.to_str().unwrap(),
               "snapshot_every_frames": 1, "max_fps": 10000.0, "snapshot_max_px": 100}),
    )
    .unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&Array2::<u8>::from_elem((10, 20), 7).view(), 0))
        .unwrap();
    h.push(h.frame_from(&ramp_u16(300, 150, 3).view(), 1))
        .unwrap();
    h.push(h.frame_from(&Array2::<u32>::from_elem((5, 5), 1 << 30).view(), 2))
        .unwrap();
    h.push(h.frame_from(
        &Array2::<f32>::from_shape_fn((40, 30), |(y, x)| (x * y) as f32).view(),
        3,
    ))
    .unwrap();
    h.stop().unwrap();
    assert_eq!(h.counter("frames_received"), Some(4));
    assert_eq!(h.counter("frames_unshowable"), Some(0));
    let png = RgbaImage::read_png(&path).unwrap();
    assert_eq!((png.width, png.height), (30, 40), "the last frame, 1:1");
}

/// `pixels` compressed as `encoding` in a harness frame, as a detector driver would emit it.
fn encoded_frame(h: &Harness, pixels: &Array2<u16>, encoding: Encoding, number: u64) -> Frame {
    let raw: Vec<u8> = pixels.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut chunk = vec![
        0u8;
        bitshuffle::max_compressed_len(raw.len(), 2)
            .max(lz4chunk::max_compressed_len(raw.len()))
    ];
    let n = match encoding {
        Encoding::Lz4 => lz4chunk::Compressor::default().compress(&raw, &mut chunk),
        Encoding::BsLz4 => bitshuffle::Compressor::default().compress(&raw, 2, &mut chunk),
        other => panic!("not a compressed encoding: {other:?}"),
    }
    .unwrap();
    assert!(n < raw.len() / 2, "the test pattern compresses");
    let (hgt, w) = pixels.dim();
    let mut f = h.alloc_encoded(DType::U16, encoding, w as u32, hgt as u32, n);
    f.bytes_mut().copy_from_slice(&chunk[..n]);
    f.set_frame_number(number);
    f.into_frame()
}

#[test]
fn compressed_frames_are_decoded_and_shown_like_raw_ones() {
    // Detectors that compress on board (bitshuffle-LZ4) deliver encoded frames: the file
    // writer stores them as they are, and the viewer decodes the ones it shows.
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("encoded");
    let pixels = Array2::from_shape_fn((96, 160), |(y, x)| ((x / 8 + y / 4) % 40 * 97) as u16);
    let snapshot = |name: &str, frames: &dyn Fn(&Harness) -> Vec<Frame>| {
        let path = dir.join(format!("{name}.png"));
        let mut h = Harness::new(
            daqflow_plugin_entry,
            json!({"mode": "headless", "colormap": "magma", "contrast": "minmax",
                   "snapshot_path": path.to_str().unwrap()}),
        )
        .unwrap();
        h.start().unwrap();
        for f in frames(&h) {
            h.push(f).unwrap();
        }
        h.stop().unwrap();
        // Warnings and above: what a user would see.
        let logs: Vec<String> = h
            .logs()
            .into_iter()
            .filter(|(l, _)| *l <= 2)
            .map(|(_, m)| m)
            .collect();
        (
            RgbaImage::read_png(&path).ok(),
            h.counter("frames_unshowable"),
            logs,
        )
    };
    let (raw, unshowable, _) = snapshot("raw", &|h| vec![h.frame_from(&pixels.view(), 7)]);
    let raw = raw.expect("raw snapshot");
    assert_eq!(unshowable, Some(0));
    for encoding in [Encoding::Lz4, Encoding::BsLz4] {
        let (png, unshowable, logs) = snapshot(&format!("{encoding:?}"), &|h| {
            vec![encoded_frame(h, &pixels, encoding, 7)]
        });
        assert_eq!(unshowable, Some(0), "{encoding:?}: {logs:?}");
        let png = png.unwrap_or_else(|| panic!("{encoding:?}: no snapshot; {logs:?}"));
        assert_eq!((png.width, png.height), (160, 96));
        assert!(
            png.pixels == raw.pixels,
            "{encoding:?} snapshot differs from the raw one"
        );
    }

    // A corrupt chunk is counted and logged; the viewer (and the run) go on.
    let (png, unshowable, logs) = snapshot("corrupt", &|h| {
        let good = encoded_frame(h, &pixels, Encoding::BsLz4, 8);
        let mut bad = h.alloc_encoded(DType::U16, Encoding::BsLz4, 160, 96, 40);
        bad.bytes_mut()[..12].copy_from_slice(&good.bytes()[..12]);
        bad.set_frame_number(9);
        vec![bad.into_frame()]
    });
    assert!(png.is_none(), "nothing to show");
    assert_eq!(unshowable, Some(1), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l.contains("frame 9") && l.contains("BsLz4")),
        "{logs:?}"
    );
}

#[test]
fn large_frames_are_scaled_down_to_snapshot_max_px() {
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("scaled");
    let path = dir.join("s.png");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"mode": "headless", "snapshot_path": path.to_str().unwrap(), "snapshot_max_px": 128}),
    )
    .unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&ramp_u16(1000, 500, 5).view(), 0))
        .unwrap();
    h.stop().unwrap();
    let png = RgbaImage::read_png(&path).unwrap();
    assert_eq!((png.width, png.height), (128, 64));
}

/// A 1024² u16 frame of hashed noise: its colormapped PNG does not compress much.
fn noise_u16() -> Array2<u16> {
    Array2::from_shape_fn((1024, 1024), |(y, x)| {
        let mut v = (y * 1024 + x) as u32;
        v ^= v >> 16;
        v = v.wrapping_mul(0x7feb_352d);
        v ^= v >> 15;
        v = v.wrapping_mul(0x846c_a68b);
        v ^= v >> 16;
        v as u16
    })
}

#[cfg(unix)]
#[test]
fn consume_never_waits_for_rendering() {
    // The render thread is held inside a snapshot while frames keep arriving: the PNG goes
    // to a FIFO that nobody reads yet, and it is larger than a pipe holds. Every `consume`
    // returns meanwhile (one that waited for the render thread would never return), nothing
    // is drawn meanwhile, and the frames are counted as dropped for display.
    // (Should the render thread fail before it opens the FIFO, this test hangs, not fails.)
    use std::io::Read as _;
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("nowait");
    let path = dir.join("x.png");
    // A snapshot is written to `x.png.tmp`, then renamed: that file is the FIFO.
    let fifo = dir.join("x.png.tmp");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"mode": "headless", "snapshot_path": path.to_str().unwrap(),
               "colormap": "viridis", "contrast": "minmax",
               "snapshot_every_frames": 1, "max_fps": 10000.0, "snapshot_max_px": 1024}),
    )
    .unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&noise_u16().view(), 0)).unwrap();
    // Returns once the render thread has opened the FIFO to write the snapshot of frame 0:
    // from here on it is blocked in that snapshot until this test reads.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let small = ramp_u16(16, 16, 1);
    for i in 1..=500 {
        h.push(h.frame_from(&small.view(), i)).unwrap();
    }
    assert_eq!(
        h.counter("frames_displayed").unwrap_or(0),
        0,
        "nothing is drawn while the render thread is blocked"
    );
    let mut png = Vec::new();
    reader.read_to_end(&mut png).unwrap();
    // The premise: the render thread could not have finished without this read.
    assert!(
        png.len() > 64 << 10,
        "PNG of {} bytes fits in a pipe",
        png.len()
    );
    h.stop().unwrap();
    assert_eq!(h.counter("frames_received"), Some(501));
    // Frame 0 (released by the read) and the newest, frame 500 (next due, or on stop).
    assert_eq!(h.counter("frames_displayed"), Some(2));
    assert_eq!(h.counter("frames_dropped_for_display"), Some(499));
    let last = RgbaImage::read_png(&path).unwrap();
    assert_eq!(
        (last.width, last.height),
        (16, 16),
        "frame 500 is the last snapshot"
    );
}

#[test]
fn auto_without_display_runs_headless() {
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        eprintln!("SKIPPED: a display is set; this test is about running without one");
        return;
    }
    let dir = temp_dir("auto");
    let path = dir.join("auto.png");
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"snapshot_path": path.to_str().unwrap()}),
    )
    .unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&ramp_u16(16, 16, 100).view(), 0))
        .unwrap();
    h.stop().unwrap();
    let logs = h.logs();
    assert!(
        logs.iter()
            .any(|(_, l)| l.contains("no DISPLAY or WAYLAND_DISPLAY")),
        "{logs:?}"
    );
    if common::gpu().is_some() {
        assert!(path.exists());
    }
}

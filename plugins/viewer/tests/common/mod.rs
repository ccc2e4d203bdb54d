//! Helpers shared by the viewer's integration tests: a GPU or a clear skip (a failure
//! under `CI=true`), test images, and golden-PNG comparison.

#![allow(dead_code)]

use std::path::PathBuf;

use daqflow_display::{OwnedImage, RgbaImage};
use daqflow_plugin_viewer::render::Gpu;

/// The GPU, or `None` (after printing why) when no adapter exists outside CI.
/// Under `CI=true` a missing adapter fails the test: CI must have lavapipe installed
/// (scripts/setup.sh).
pub fn gpu() -> Option<Gpu> {
    match Gpu::headless() {
        Ok(gpu) => {
            eprintln!("adapter: {}", gpu.describe());
            Some(gpu)
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {e}: install Mesa's lavapipe (scripts/setup.sh)")
        }
        Err(e) => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers; under CI=true this fails)");
            None
        }
    }
}

/// A deterministic test pattern: a diagonal ramp, a bright ring, a few hot pixels.
pub fn pattern_values(w: u32, h: u32, max: f64) -> Vec<f64> {
    let (cx, cy) = (w as f64 * 0.6, h as f64 * 0.4);
    let r0 = (w.min(h) as f64) * 0.3;
    let mut v = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let ramp = (x + y) as f64 / (w + h - 2) as f64;
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            let ring = (-((d - r0) / 2.0).powi(2)).exp();
            let mut value = 0.6 * ramp + 0.4 * ring;
            if (x * 7 + y * 13) % 97 == 0 {
                value = 1.0;
            }
            v.push(value * max);
        }
    }
    v
}

pub fn pattern_u8(w: u32, h: u32) -> OwnedImage {
    let v: Vec<u8> = pattern_values(w, h, 255.0)
        .iter()
        .map(|&v| v as u8)
        .collect();
    OwnedImage::from_u8(w, h, &v)
}

pub fn pattern_u16(w: u32, h: u32) -> OwnedImage {
    let v: Vec<u16> = pattern_values(w, h, 4095.0)
        .iter()
        .map(|&v| v as u16)
        .collect();
    OwnedImage::from_u16(w, h, &v)
}

pub fn pattern_u32(w: u32, h: u32) -> OwnedImage {
    // Values above 2^24 exercise the u32 → f32 rounding on both sides.
    let v: Vec<u32> = pattern_values(w, h, 4.0e9)
        .iter()
        .map(|&v| v as u32)
        .collect();
    OwnedImage::from_u32(w, h, &v)
}

pub fn pattern_f32(w: u32, h: u32) -> OwnedImage {
    let mut v: Vec<f32> = pattern_values(w, h, 2.0)
        .iter()
        .map(|&v| v as f32 - 0.5)
        .collect();
    v[1] = f32::NAN;
    v[2] = f32::INFINITY;
    v[3] = f32::NEG_INFINITY;
    OwnedImage::from_f32(w, h, &v)
}

pub fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Compares `actual` with `tests/snapshots/{name}.png`: same size, and at most 0.5 % of
/// the pixels differ by more than 2 in any channel (tolerates another adapter's
/// rounding). `UPDATE_SNAPSHOTS=1` rewrites the file. On a mismatch the actual picture is
/// written next to it as `{name}.new.png`.
pub fn assert_snapshot(name: &str, actual: &RgbaImage) {
    let path = snapshot_dir().join(format!("{name}.png"));
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v != "0" && !v.is_empty()) {
        actual.write_png(&path).unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let new_path = snapshot_dir().join(format!("{name}.new.png"));
    let expected = match RgbaImage::read_png(&path) {
        Ok(e) => e,
        Err(e) => {
            actual.write_png(&new_path).unwrap();
            panic!(
                "{e}; run with UPDATE_SNAPSHOTS=1 to create it (actual: {})",
                new_path.display()
            );
        }
    };
    assert_eq!(
        (expected.width, expected.height),
        (actual.width, actual.height),
        "snapshot {name}: size differs"
    );
    let differing = expected
        .pixels
        .chunks_exact(4)
        .zip(actual.pixels.chunks_exact(4))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 2))
        .count();
    let allowed = (expected.pixels.len() / 4) / 200;
    if differing > allowed {
        actual.write_png(&new_path).unwrap();
        panic!(
            "snapshot {name}: {differing} pixels differ (allowed {allowed}); actual written to {}",
            new_path.display()
        );
    }
    let _ = std::fs::remove_file(&new_path);
}

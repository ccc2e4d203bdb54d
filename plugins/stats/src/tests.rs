//! Tests through the SDK harness: exact statistics for every dtype, metadata keys,
//! copy-on-write, formats, settings, compliance.

use std::time::{Duration, Instant};

use daqflow_sdk::ndarray::arr2;
use daqflow_sdk::serde_json::json;
use daqflow_sdk::testing::{Harness, check_compliance};

use crate::config::KEYS;
use crate::stats::Pacer;
use crate::*;
use daqflow_sdk::prelude::*;

fn f64_meta(f: &Frame, key: &str) -> f64 {
    match f.meta(key) {
        Some(MetaValue::F64(v)) => v,
        other => panic!("{key}: {other:?}"),
    }
}

/// The statistics a frame carries, read back from its metadata.
fn read(f: &Frame) -> FrameStats {
    FrameStats {
        pixels: u64::from(f.width()) * u64::from(f.height()),
        sum: f64_meta(f, "stats_sum"),
        mean: f64_meta(f, "stats_mean"),
        min: f64_meta(f, "stats_min"),
        max: f64_meta(f, "stats_max"),
        std: f64_meta(f, "stats_std"),
        centroid_x: f64_meta(f, "stats_centroid_x"),
        centroid_y: f64_meta(f, "stats_centroid_y"),
        count_above: f.meta("stats_count_above").map(|v| match v {
            MetaValue::I64(n) => n as u64,
            other => panic!("stats_count_above: {other:?}"),
        }),
    }
}

fn run<T: Pixel>(pixels: &[[T; 2]; 2], above: f64) -> Frame {
    let mut h = Harness::new(daqflow_plugin_entry, json!({ "above": above })).unwrap();
    h.start().unwrap();
    let input = arr2(pixels);
    h.push(h.frame_from(&input.view(), 5)).unwrap();
    let mut out = h.take_emitted();
    assert_eq!(out.len(), 1);
    let f = out.remove(0);
    assert_eq!(f.view::<T>().unwrap(), input, "pixels unchanged");
    assert_eq!(f.frame_number(), 5);
    f
}

#[test]
fn compliance() {
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn u8_exact() {
    let f = run(&[[1u8, 2], [3, 255]], 2.0);
    // n·Σp² − (Σp)² = 4·65039 − 261² = 192035
    let want = FrameStats {
        pixels: 4,
        sum: 261.0,
        mean: 65.25,
        min: 1.0,
        max: 255.0,
        std: (192035.0f64 / 16.0).sqrt(),
        centroid_x: 257.0 / 261.0,
        centroid_y: 258.0 / 261.0,
        count_above: Some(2),
    };
    assert_eq!(read(&f), want);
}

#[test]
fn u16_exact() {
    let f = run(&[[0u16, 1000], [65535, 0]], 999.5);
    // n·Σp² − (Σp)² = 4·4295836225 − 66535² = 12756438675
    let want = FrameStats {
        pixels: 4,
        sum: 66535.0,
        mean: 16633.75,
        min: 0.0,
        max: 65535.0,
        std: (12756438675.0f64 / 16.0).sqrt(),
        centroid_x: 1000.0 / 66535.0,
        centroid_y: 65535.0 / 66535.0,
        count_above: Some(2),
    };
    assert_eq!(read(&f), want);
}

#[test]
fn u32_exact() {
    let f = run(&[[3_000_000_000u32, 1_000_000_000], [0, 0]], 2e9);
    let want = FrameStats {
        pixels: 4,
        sum: 4e9,
        mean: 1e9,
        min: 0.0,
        max: 3e9,
        std: 1.5e18f64.sqrt(),
        centroid_x: 0.25,
        centroid_y: 0.0,
        count_above: Some(1),
    };
    assert_eq!(read(&f), want);
}

#[test]
fn f32_exact() {
    let f = run(&[[-1.5f32, 0.5], [2.0, 7.0]], 0.5);
    let want = FrameStats {
        pixels: 4,
        sum: 8.0,
        mean: 2.0,
        min: -1.5,
        max: 7.0,
        std: 9.875f64.sqrt(),
        centroid_x: 0.9375,
        centroid_y: 1.125,
        count_above: Some(2),
    };
    assert_eq!(read(&f), want);
}

#[test]
fn zero_sum_gives_nan_centroid_and_keys_are_always_written() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
    h.push(h.frame_from(&arr2(&[[0u16, 0, 0]]).view(), 0))
        .unwrap();
    let out = h.take_emitted();
    let s = read(&out[0]);
    assert!(s.centroid_x.is_nan() && s.centroid_y.is_nan());
    assert_eq!(
        (s.sum, s.mean, s.std, s.min, s.max),
        (0.0, 0.0, 0.0, 0.0, 0.0)
    );
    // Without `above` the count is not computed, and its key is absent.
    assert_eq!(s.count_above, None);
    let keys: Vec<&str> = out[0].meta_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, KEYS);
    assert!(KEYS.iter().all(|k| k.len() <= 31));
}

#[test]
fn in_place_when_unique_copy_when_shared() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
    let unique = h.frame_from(&arr2(&[[1u8, 2]]).view(), 0);
    let ptr = unique.data_ptr();
    h.push(unique).unwrap();
    assert_eq!(h.take_emitted()[0].data_ptr(), ptr);
    assert_eq!(h.copies(), 0);

    let shared = h.frame_from(&arr2(&[[1u8, 2]]).view(), 1);
    let other_holder = shared.clone();
    h.push(shared).unwrap();
    let out = h.take_emitted();
    assert_eq!(f64_meta(&out[0], "stats_sum"), 3.0);
    assert_eq!(
        other_holder.meta("stats_sum"),
        None,
        "the other holder's frame is untouched"
    );
    assert_eq!(h.copies(), 1);
}

#[test]
fn full_metadata_is_a_clear_error_and_own_keys_are_replaced() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"above": 1})).unwrap();
    let mut f = h.alloc::<u8>(2, 1);
    for i in 0..9 {
        f.set_meta(&format!("k{i}"), MetaValue::I64(i)).unwrap();
    }
    let e = h.push(f.into_frame()).unwrap_err();
    assert!(
        e.contains("frame 0: cannot add the 8 stats metadata entries")
            && e.contains("it has 9 already and a frame holds at most 16"),
        "{e}"
    );

    // A frame that went through stats already: its keys are replaced, not added.
    let mut f = h.alloc::<u8>(2, 1);
    for i in 0..8 {
        f.set_meta(&format!("k{i}"), MetaValue::I64(i)).unwrap();
    }
    f.set_meta("stats_sum", MetaValue::F64(-1.0)).unwrap();
    h.push(f.into_frame()).unwrap();
    let out = h.take_emitted();
    assert_eq!(f64_meta(&out[0], "stats_sum"), 0.0);
    assert_eq!(out[0].meta_iter().count(), 16);
}

#[test]
fn prints_at_most_every_print_every_secs() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"print_every_secs": 3600})).unwrap();
    for n in 0..3 {
        h.push(h.frame_from(&arr2(&[[1u16, 3]]).view(), n)).unwrap();
    }
    let lines: Vec<String> = h.logs().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0]
            .contains("frame 0: sum=4 mean=2.0000 min=1 max=3 std=1.0000 centroid=(0.75, 0.00)"),
        "{lines:?}"
    );

    let mut quiet = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
    quiet
        .push(quiet.frame_from(&arr2(&[[1u16]]).view(), 0))
        .unwrap();
    assert!(quiet.logs().is_empty());
}

#[test]
fn pacer_with_an_injected_clock() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut p = Pacer::new(2.0);
    let due: Vec<bool> = [0, 1, 2, 3, 5]
        .into_iter()
        .map(|t| p.due(t0 + s(t)))
        .collect();
    assert_eq!(due, [true, false, true, false, true]);
    assert!(!Pacer::new(0.0).due(t0));
}

#[test]
fn keeps_the_format_and_refuses_compressed_frames() {
    for d in DType::ALL {
        let raw = FrameFormat::raw(d, 8, 4).with_rate(Some(10.0));
        let out = Harness::output_format(daqflow_plugin_entry, json!({}), Some(&raw));
        assert_eq!(out, Ok(Some(raw)));
    }
    let mut packed = FrameFormat::raw(DType::U16, 8, 4);
    packed.encoding = Encoding::BsLz4;
    let e = Harness::output_format(daqflow_plugin_entry, json!({}), Some(&packed)).unwrap_err();
    assert!(
        e[0].message
            .contains("stats needs raw pixels, not bslz4 frames"),
        "{e:?}"
    );
    assert!(Harness::parallel(daqflow_plugin_entry, json!({})));
}

#[test]
fn compressed_frames_are_refused_at_run_time_too() {
    // The format check refuses them before `process`, which checks again.
    let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
    let f = h.alloc_encoded(DType::U16, Encoding::Lz4, 4, 4, 10);
    let e = h.push(f.into_frame()).unwrap_err();
    assert!(e.contains("stats needs raw pixels"), "{e}");
}

#[test]
fn settings_are_checked() {
    let e = Harness::validate(daqflow_plugin_entry, json!({"print_every_secs": -1})).unwrap_err();
    assert_eq!(e[0].field, "print_every_secs", "{e:?}");
    let e = Harness::validate(daqflow_plugin_entry, json!({"above": "high"})).unwrap_err();
    assert_eq!(e[0].field, "above", "{e:?}");
    assert!(
        Harness::validate(
            daqflow_plugin_entry,
            json!({"above": 10, "print_every_secs": 0.5})
        )
        .is_ok()
    );
}

//! `flat_field` driven through its C ABI by the SDK harness: exact outputs for every dtype,
//! flats from files (written here) and from the first frames, bad pixels, and the errors a
//! user meets (wrong shape, missing file, bad settings).

use std::path::{Path, PathBuf};

use daqflow_plugin_flat_field::{apply_gain, daqflow_plugin_entry as entry, gain_from_flat};
use daqflow_reference::write_dataset;
use daqflow_sdk::ndarray::{arr2, arr3};
use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::json;
use daqflow_sdk::testing::{Harness, check_compliance};

/// A flat whose two frames average to [[1, 4], [0, −1]]: valid pixels 1 and 4, mean 2.5,
/// gain [[2.5, 0.625], [0, 0]], two bad pixels.
fn flat_file(dir: &Path) -> PathBuf {
    let path = dir.join("flat.h5");
    let frames = arr3(&[[[0.5f32, 3.0], [0.0, -1.0]], [[1.5, 5.0], [0.0, -1.0]]]);
    write_dataset(&path, "/entry/data/data", frames.view()).unwrap();
    path
}

#[test]
fn compliance() {
    check_compliance(entry);
}

#[test]
fn every_dtype_with_bad_pixels_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(entry, json!({"reference": flat_file(dir.path())})).unwrap();
    h.start().unwrap();
    assert_eq!(h.counter("flat_bad_pixels"), Some(2));
    h.push(h.frame_from(&arr2(&[[3u8, 100], [9, 9]]).view(), 0))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[30000u16, 8], [5, 5]]).view(), 1))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[2u32, 3], [1, 1]]).view(), 2))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1.0f32, 2.0], [7.0, 7.0]]).view(), 3))
        .unwrap();
    h.stop().unwrap();
    let out = h.take_emitted();
    // 3 × 2.5 = 7.5 → 8; 100 × 0.625 = 62.5 → 63; 30000 × 2.5 clamps to 65535.
    assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[8u8, 63], [0, 0]]));
    assert_eq!(
        out[1].view::<u16>().unwrap(),
        arr2(&[[65535u16, 5], [0, 0]])
    );
    assert_eq!(out[2].view::<u32>().unwrap(), arr2(&[[5u32, 2], [0, 0]]));
    assert_eq!(
        out[3].view::<f32>().unwrap(),
        arr2(&[[2.5f32, 1.25], [0.0, 0.0]])
    );
    assert_eq!(out[3].frame_number(), 3);
}

#[test]
fn scale_setting_and_a_2d_integer_flat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.h5");
    write_dataset(&path, "/flat", arr2(&[[2u16, 8]]).view()).unwrap();
    let settings = json!({"reference": path, "dataset": "/flat", "scale": 4.0});
    let mut h = Harness::new(entry, settings).unwrap();
    h.start().unwrap();
    let input = h.frame_from(&arr2(&[[10u16, 10]]).view(), 0);
    let ptr = input.data_ptr();
    h.push(input).unwrap();
    let out = h.take_emitted();
    assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[20u16, 5]]));
    assert_eq!(out[0].data_ptr(), ptr, "in place");
    assert_eq!(h.counter("flat_bad_pixels"), Some(0));
}

#[test]
fn flat_from_the_first_frames_which_are_not_emitted() {
    let settings = json!({"from_first_frames": 2});
    assert!(!Harness::parallel(entry, settings.clone()));
    let mut h = Harness::new(entry, settings).unwrap();
    h.start().unwrap();
    assert_eq!(h.counter("reference_frames"), Some(0));
    h.push(h.frame_from(&arr2(&[[1u16, 3, 0]]).view(), 0))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[3u16, 5, 0]]).view(), 1))
        .unwrap();
    assert!(h.take_emitted().is_empty());
    assert_eq!(h.counter("reference_frames"), Some(2));
    assert_eq!(h.counter("flat_bad_pixels"), Some(1));
    // flat [[2, 4, 0]], mean 3, gain [[1.5, 0.75, 0]].
    h.push(h.frame_from(&arr2(&[[10u16, 10, 10]]).view(), 2))
        .unwrap();
    let out = h.take_emitted();
    assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[15u16, 8, 0]]));
    assert_eq!(out[0].frame_number(), 2);
}

#[test]
fn wrong_shape_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = flat_file(dir.path());
    let fmt = FrameFormat::raw(DType::F32, 2, 3);
    let e = Harness::output_format(entry, json!({"reference": path}), Some(&fmt)).unwrap_err();
    assert_eq!(e[0].field, "reference");
    let want = format!(
        "{}:/entry/data/data is 2×2, the frames are 2×3",
        path.display()
    );
    assert!(e[0].message.contains(&want), "{e:?}");
    let mut h = Harness::new(entry, json!({"reference": path})).unwrap();
    assert!(h.set_input_format(&fmt).unwrap_err().contains(&want));

    let missing = dir.path().join("none.h5");
    let e = Harness::new(entry, json!({"reference": missing}))
        .err()
        .expect("create fails");
    assert!(
        e[0].message
            .contains(&format!("{}: no such file", missing.display())),
        "{e:?}"
    );
}

#[test]
fn a_flat_without_valid_pixels_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.h5");
    write_dataset(&path, "/entry/data/data", arr2(&[[0u8, 0]]).view()).unwrap();
    let e = Harness::new(entry, json!({"reference": path}))
        .err()
        .expect("create fails");
    assert!(e[0].message.contains("no pixel > 0"), "{e:?}");
}

#[test]
fn format_kept_compressed_refused_settings_checked() {
    let raw = FrameFormat::raw(DType::U8, 8, 8).with_rate(Some(100.0));
    let first = json!({"from_first_frames": 4});
    assert_eq!(
        Harness::output_format(entry, first.clone(), Some(&raw)),
        Ok(Some(raw))
    );
    let mut packed = raw;
    packed.encoding = Encoding::Lz4;
    let e = Harness::output_format(entry, first, Some(&packed)).unwrap_err();
    assert!(
        e[0].message.contains("flat_field needs raw pixels"),
        "{e:?}"
    );
    let e = Harness::validate(entry, json!({"from_first_frames": 4, "scale": 0})).unwrap_err();
    assert_eq!(e[0].field, "scale");
    assert!(Harness::validate(entry, json!({})).is_err());
}

#[test]
fn kernel_and_gain() {
    let (gain, bad) = gain_from_flat(&[1.0, 3.0, f32::NAN, -2.0], None).unwrap();
    assert_eq!(gain, [2.0, 2.0 / 3.0, 0.0, 0.0]);
    assert_eq!(bad, 2);
    let mut px = [10u8, 10, 10, 10];
    apply_gain(&mut px, &gain);
    assert_eq!(px, [20, 7, 0, 0]);
}

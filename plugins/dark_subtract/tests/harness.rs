//! `dark_subtract` driven through its C ABI by the SDK harness: exact outputs for every
//! dtype, darks from files (2-D and 3-D, written here) and from the first frames, and the
//! errors a user meets (wrong shape, missing file or dataset, bad settings).

use std::path::{Path, PathBuf};

use daqflow_plugin_dark_subtract::{daqflow_plugin_entry as entry, subtract};
use daqflow_reference::write_dataset;
use daqflow_sdk::ndarray::{arr2, arr3};
use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::json;
use daqflow_sdk::testing::{Harness, check_compliance};

/// A dark file whose two frames average to [[1.5, 10], [0, 2]].
fn dark_file(dir: &Path) -> PathBuf {
    let path = dir.join("dark.h5");
    let frames = arr3(&[[[1u16, 10], [0, 4]], [[2, 10], [0, 0]]]);
    write_dataset(&path, "/entry/data/data", frames.view()).unwrap();
    path
}

fn file_settings(path: &Path) -> daqflow_sdk::serde_json::Value {
    json!({"reference": path})
}

#[test]
fn compliance() {
    check_compliance(entry);
}

#[test]
fn every_dtype_from_a_3d_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(entry, file_settings(&dark_file(dir.path()))).unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&arr2(&[[5u8, 5], [200, 1]]).view(), 0))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1000u16, 10], [65535, 3]]).view(), 1))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[4_000_000_000u32, 11], [7, 2]]).view(), 2))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[5.0f32, 5.0], [0.0, 1.0]]).view(), 3))
        .unwrap();
    h.stop().unwrap();
    let out = h.take_emitted();
    assert_eq!(out.len(), 4);
    // 5 − 1.5 = 3.5 rounds to 4; below 0 clamps to 0.
    assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[4u8, 0], [200, 0]]));
    assert_eq!(
        out[1].view::<u16>().unwrap(),
        arr2(&[[999u16, 0], [65535, 1]])
    );
    assert_eq!(
        out[2].view::<u32>().unwrap(),
        arr2(&[[3_999_999_999u32, 1], [7, 0]])
    );
    assert_eq!(
        out[3].view::<f32>().unwrap(),
        arr2(&[[3.5f32, -5.0], [0.0, -1.0]])
    );
    for (i, f) in out.iter().enumerate() {
        assert_eq!(f.frame_number(), i as u64);
    }
    assert_eq!(h.counter("reference_frames"), None, "no frames held back");
}

#[test]
fn a_2d_f32_dataset_elsewhere_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bg.h5");
    write_dataset(&path, "/bg", arr2(&[[0.25f32, 3.0]]).view()).unwrap();
    let mut h = Harness::new(entry, json!({"reference": path, "dataset": "/bg"})).unwrap();
    h.start().unwrap();
    let input = h.frame_from(&arr2(&[[10u16, 2]]).view(), 7);
    let ptr = input.data_ptr();
    h.push(input).unwrap();
    let out = h.take_emitted();
    assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[10u16, 0]]));
    assert_eq!(out[0].data_ptr(), ptr, "unique frame changed in place");
    assert_eq!(h.copies(), 0);
}

#[test]
fn dark_from_the_first_frames_which_are_not_emitted() {
    let settings = json!({"from_first_frames": 2});
    assert!(!Harness::parallel(entry, settings.clone()));
    let mut h = Harness::new(entry, settings).unwrap();
    h.start().unwrap();
    assert_eq!(h.counter("reference_frames"), Some(0));
    h.push(h.frame_from(&arr2(&[[10u16, 20]]).view(), 0))
        .unwrap();
    assert_eq!(h.counter("reference_frames"), Some(1));
    h.push(h.frame_from(&arr2(&[[13u16, 20]]).view(), 1))
        .unwrap();
    assert!(h.take_emitted().is_empty(), "dark frames are not emitted");
    assert_eq!(h.counter("reference_frames"), Some(2));
    h.push(h.frame_from(&arr2(&[[15u16, 19]]).view(), 2))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[11u16, 25]]).view(), 3))
        .unwrap();
    h.stop().unwrap();
    let out = h.take_emitted();
    // dark = [[11.5, 20]]: 15 − 11.5 = 3.5 → 4; 19 − 20 → 0; 11 − 11.5 = −0.5 → 0.
    assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[4u16, 0]]));
    assert_eq!(out[1].view::<u16>().unwrap(), arr2(&[[0u16, 5]]));
    assert_eq!(out[0].frame_number(), 2);
    assert_eq!(h.counter("reference_frames"), Some(2));
}

#[test]
fn a_run_shorter_than_the_dark_ends_cleanly() {
    let mut h = Harness::new(entry, json!({"from_first_frames": 5})).unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&arr2(&[[1.0f32]]).view(), 0)).unwrap();
    h.stop().unwrap();
    assert!(h.take_emitted().is_empty());
    assert!(
        h.logs()
            .iter()
            .any(|(_, l)| l.contains("1 of the 5 frames")),
        "{:?}",
        h.logs()
    );
}

#[test]
fn a_frame_of_another_shape_after_the_dark_is_refused() {
    let mut h = Harness::new(entry, json!({"from_first_frames": 1})).unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&arr2(&[[1u8, 2]]).view(), 0)).unwrap();
    let e = h
        .push(h.frame_from(&arr2(&[[1u8], [2]]).view(), 1))
        .unwrap_err();
    assert!(
        e.contains("the dark from the first 1 frame is 2×1, the frames are 1×2"),
        "{e}"
    );
}

#[test]
fn wrong_shape_is_refused_at_validate_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dark_file(dir.path());
    let fmt = FrameFormat::raw(DType::U16, 4, 3);
    let e = Harness::output_format(entry, file_settings(&path), Some(&fmt)).unwrap_err();
    assert_eq!(e[0].field, "reference");
    let want = format!(
        "{}:/entry/data/data is 2×2, the frames are 4×3",
        path.display()
    );
    assert!(e[0].message.contains(&want), "{e:?}");

    let mut h = Harness::new(entry, file_settings(&path)).unwrap();
    let e = h.set_input_format(&fmt).unwrap_err();
    assert!(e.contains(&want), "{e}");
}

#[test]
fn keeps_the_format_and_refuses_compressed_frames() {
    let dir = tempfile::tempdir().unwrap();
    let settings = file_settings(&dark_file(dir.path()));
    assert!(Harness::parallel(entry, settings.clone()));
    let raw = FrameFormat::raw(DType::U32, 2, 2).with_rate(Some(500.0));
    assert_eq!(
        Harness::output_format(entry, settings.clone(), Some(&raw)),
        Ok(Some(raw))
    );
    let first = json!({"from_first_frames": 10});
    assert_eq!(
        Harness::output_format(entry, first, Some(&raw)),
        Ok(Some(raw)),
        "same rate after the dark frames"
    );
    let mut packed = raw;
    packed.encoding = Encoding::BsLz4;
    let e = Harness::output_format(entry, settings, Some(&packed)).unwrap_err();
    assert!(
        e[0].message
            .contains("dark_subtract needs raw pixels, not bslz4 frames"),
        "{e:?}"
    );
}

#[test]
fn missing_file_or_dataset_says_which_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.h5");
    // At validate a file that does not exist yet passes: it may be recorded before the run.
    let fmt = FrameFormat::raw(DType::U16, 2, 2);
    assert!(Harness::output_format(entry, file_settings(&missing), Some(&fmt)).is_ok());
    let e = Harness::new(entry, file_settings(&missing))
        .err()
        .expect("create fails");
    let msg = &e[0].message;
    assert!(
        msg.contains(&format!("{}: no such file", missing.display()))
            && msg.contains("/entry/data/data")
            && msg.contains("fix the path"),
        "{msg}"
    );

    let path = dark_file(dir.path());
    let settings = json!({"reference": path, "dataset": "/entry/dark"});
    let e = Harness::output_format(entry, settings.clone(), Some(&fmt)).unwrap_err();
    assert_eq!(e[0].field, "dataset");
    assert!(
        e[0].message.contains("has no dataset /entry/dark")
            && e[0].message.contains("the file has: /entry/data/data"),
        "{e:?}"
    );
    let e = Harness::new(entry, settings).err().expect("create fails");
    assert!(e[0].message.contains("has no dataset /entry/dark"), "{e:?}");
}

#[test]
fn settings_need_exactly_one_source() {
    let e = Harness::validate(entry, json!({})).unwrap_err();
    assert!(e[0].message.contains("from_first_frames = N"), "{e:?}");
    let e =
        Harness::validate(entry, json!({"reference": "d.h5", "from_first_frames": 3})).unwrap_err();
    assert_eq!(e[0].field, "from_first_frames");
    let e = Harness::validate(entry, json!({"from_first_frames": 0})).unwrap_err();
    assert_eq!(e[0].field, "from_first_frames");
}

#[test]
fn kernel_matches_a_plain_loop() {
    let dark = [0.5f32, 1.0, 300.0];
    let mut px = [1u16, 1, 65535];
    subtract(&mut px, &dark);
    assert_eq!(px, [1, 0, 65235]);
}

//! `mask` driven through its C ABI by the SDK harness: exact outputs for every dtype,
//! rectangles, a pixel-mask file written here (and their union), value clamping, and the
//! errors a user meets (rectangle outside the frame, wrong shape, missing file).

use daqflow_plugin_mask::{Run, daqflow_plugin_entry as entry, fill_runs, runs_from_mask};
use daqflow_reference::write_dataset;
use daqflow_sdk::ndarray::arr2;
use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::json;
use daqflow_sdk::testing::{Harness, check_compliance};

fn rects() -> daqflow_sdk::serde_json::Value {
    json!([{"x": 1, "y": 0, "width": 2, "height": 1}, {"x": 0, "y": 1, "width": 1, "height": 1}])
}

#[test]
fn compliance() {
    check_compliance(entry);
}

#[test]
fn rects_on_every_dtype() {
    let mut h = Harness::new(entry, json!({"rects": rects(), "value": 7})).unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&arr2(&[[1u8, 2, 3], [4, 5, 6]]).view(), 0))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1u16, 2, 3], [4, 5, 6]]).view(), 1))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1u32, 2, 3], [4, 5, 6]]).view(), 2))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1.5f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).view(), 3))
        .unwrap();
    let out = h.take_emitted();
    assert_eq!(
        out[0].view::<u8>().unwrap(),
        arr2(&[[1u8, 7, 7], [7, 5, 6]])
    );
    assert_eq!(
        out[1].view::<u16>().unwrap(),
        arr2(&[[1u16, 7, 7], [7, 5, 6]])
    );
    assert_eq!(
        out[2].view::<u32>().unwrap(),
        arr2(&[[1u32, 7, 7], [7, 5, 6]])
    );
    assert_eq!(
        out[3].view::<f32>().unwrap(),
        arr2(&[[1.5f32, 7.0, 7.0], [7.0, 5.0, 6.0]])
    );
    assert_eq!(out[2].frame_number(), 2);
    assert_eq!(h.counter("masked_pixels"), Some(3));
    assert!(Harness::parallel(entry, json!({"rects": rects()})));
}

#[test]
fn value_is_clamped_to_the_dtype() {
    let mut h = Harness::new(entry, json!({"rects": rects(), "value": 300.4})).unwrap();
    h.push(h.frame_from(&arr2(&[[1u8, 2, 3], [4, 5, 6]]).view(), 0))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[1u16, 2, 3], [4, 5, 6]]).view(), 1))
        .unwrap();
    let out = h.take_emitted();
    assert_eq!(
        out[0].view::<u8>().unwrap(),
        arr2(&[[1u8, 255, 255], [255, 5, 6]])
    );
    assert_eq!(
        out[1].view::<u16>().unwrap(),
        arr2(&[[1u16, 300, 300], [300, 5, 6]])
    );

    let mut h = Harness::new(entry, json!({"rects": rects(), "value": -1})).unwrap();
    h.push(h.frame_from(&arr2(&[[1u16, 2, 3], [4, 5, 6]]).view(), 0))
        .unwrap();
    let out = h.take_emitted();
    assert_eq!(
        out[0].view::<u16>().unwrap(),
        arr2(&[[1u16, 0, 0], [0, 5, 6]]),
        "clamped at 0"
    );
}

#[test]
fn file_mask_and_rects_together_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mask.h5");
    let pixel_mask = arr2(&[[0u32, 0, 0], [0, 0, 4]]);
    write_dataset(
        &path,
        "/entry/instrument/detector/pixel_mask",
        pixel_mask.view(),
    )
    .unwrap();
    let settings = json!({"file": path, "rects": [{"x": 0, "y": 0, "width": 1, "height": 1}]});
    let fmt = FrameFormat::raw(DType::U16, 3, 2);
    assert_eq!(
        Harness::output_format(entry, settings.clone(), Some(&fmt)),
        Ok(Some(fmt))
    );
    let mut h = Harness::new(entry, settings).unwrap();
    h.set_input_format(&fmt).unwrap();
    h.start().unwrap();
    assert_eq!(h.counter("masked_pixels"), Some(2));
    let input = h.frame_from(&arr2(&[[1u16, 2, 3], [4, 5, 6]]).view(), 9);
    let ptr = input.data_ptr();
    h.push(input).unwrap();
    let out = h.take_emitted();
    assert_eq!(
        out[0].view::<u16>().unwrap(),
        arr2(&[[0u16, 2, 3], [4, 5, 0]])
    );
    assert_eq!(out[0].data_ptr(), ptr, "in place");
    assert_eq!(h.copies(), 0);
}

#[test]
fn errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mask.h5");
    write_dataset(
        &path,
        "/entry/instrument/detector/pixel_mask",
        arr2(&[[0u8, 1]]).view(),
    )
    .unwrap();
    let fmt = FrameFormat::raw(DType::U8, 4, 4);
    let e = Harness::output_format(entry, json!({"file": path}), Some(&fmt)).unwrap_err();
    assert_eq!(e[0].field, "file");
    assert!(
        e[0].message.contains(&format!(
            "{}:/entry/instrument/detector/pixel_mask is 2×1, the frames are 4×4",
            path.display()
        )),
        "{e:?}"
    );
    let mut h = Harness::new(entry, json!({"file": path})).unwrap();
    assert!(
        h.set_input_format(&fmt)
            .unwrap_err()
            .contains("is 2×1, the frames are 4×4")
    );

    let settings = json!({"rects": [{"x": 3, "y": 0, "width": 2, "height": 1}]});
    let e = Harness::output_format(entry, settings, Some(&fmt)).unwrap_err();
    assert_eq!(e[0].field, "rects");
    assert!(
        e[0].message
            .contains("rects[0] (x 3..5, y 0..1) does not fit the 4×4 frames"),
        "{e:?}"
    );

    let missing = dir.path().join("gone.h5");
    let e = Harness::new(entry, json!({"file": missing}))
        .err()
        .expect("create fails");
    assert!(e[0].message.contains("no such file"), "{e:?}");

    let mut packed = fmt;
    packed.encoding = Encoding::BsLz4;
    let e = Harness::output_format(entry, json!({"rects": []  , "file": "m.h5"}), Some(&packed))
        .unwrap_err();
    assert!(e[0].message.contains("mask needs raw pixels"), "{e:?}");

    let e = Harness::validate(entry, json!({})).unwrap_err();
    assert!(e[0].message.contains("nothing to mask"), "{e:?}");
    let e = Harness::validate(
        entry,
        json!({"rects": [{"x": 0, "y": 0, "width": 0, "height": 1}]}),
    )
    .unwrap_err();
    assert_eq!(e[0].field, "rects");
}

#[test]
fn kernel() {
    let runs = runs_from_mask(&[true, true, false, true, false, false, true]);
    assert_eq!(
        runs,
        [
            Run { start: 0, len: 2 },
            Run { start: 3, len: 1 },
            Run { start: 6, len: 1 }
        ]
    );
    let mut px = [1u16; 7];
    fill_runs(&mut px, &runs, 9);
    assert_eq!(px, [9, 9, 1, 9, 1, 1, 9]);
}

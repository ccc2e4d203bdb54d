//! Tests through the SDK harness: exact sums and means for every dtype, the header and
//! metadata of the output, partial groups, format changes, formats, settings, compliance.

use daqflow_sdk::ndarray::{Array2, arr2};
use daqflow_sdk::serde_json::{Value, json};
use daqflow_sdk::testing::{Harness, check_compliance};

use crate::*;
use daqflow_sdk::prelude::*;

/// Pushes `inputs` (numbered 10, 11, …), stops, and returns what was emitted.
fn run<T: Pixel>(settings: Value, inputs: &[Array2<T>]) -> (Harness, Vec<Frame>) {
    let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
    h.start().unwrap();
    for (i, a) in inputs.iter().enumerate() {
        h.push(h.frame_from(&a.view(), 10 + i as u64)).unwrap();
    }
    h.stop().unwrap();
    let out = h.take_emitted();
    (h, out)
}

fn frames_meta(f: &Frame) -> Option<MetaValue> {
    f.meta("accumulated_frames")
}

#[test]
fn compliance() {
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn sum_u8_widens_to_u32() {
    let inputs = [arr2(&[[1u8, 255]]), arr2(&[[2, 255]]), arr2(&[[3, 255]])];
    let (h, out) = run(json!({"frames": 3, "mode": "sum"}), &inputs);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[6u32, 765]]));
    assert_eq!(out[0].frame_number(), 10, "the first frame's number");
    assert_eq!(frames_meta(&out[0]), Some(MetaValue::I64(3)));
    assert_eq!(h.counter("partial_groups"), Some(0));
}

#[test]
fn sum_u16_widens_to_u32() {
    let inputs = [arr2(&[[65535u16, 1]]), arr2(&[[65535, 2]])];
    let (_, out) = run(json!({"frames": 2, "mode": "sum"}), &inputs);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[131070u32, 3]]));
}

#[test]
fn sum_u32_saturates() {
    let inputs = [arr2(&[[u32::MAX - 1, 5]]), arr2(&[[7, 6]])];
    let (_, out) = run(json!({"frames": 2, "mode": "sum"}), &inputs);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[u32::MAX, 11]]));
}

#[test]
fn sum_f32() {
    let inputs = [arr2(&[[0.5f32, -1.0]]), arr2(&[[0.25, 3.0]])];
    let (_, out) = run(json!({"frames": 2, "mode": "sum"}), &inputs);
    assert_eq!(out[0].view::<f32>().unwrap(), arr2(&[[0.75f32, 2.0]]));
}

#[test]
fn mean_u8_rounds_to_nearest() {
    let inputs = [arr2(&[[1u8, 2, 255]]), arr2(&[[2, 2, 254]])];
    let (_, out) = run(json!({"frames": 2, "mode": "mean"}), &inputs);
    assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[2u8, 2, 255]]));
}

#[test]
fn mean_u16_rounds_to_nearest() {
    let inputs = [
        arr2(&[[1u16, 0, 65535]]),
        arr2(&[[1, 0, 65535]]),
        arr2(&[[2, 2, 65535]]),
    ];
    let (_, out) = run(json!({"frames": 3, "mode": "mean"}), &inputs);
    assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[1u16, 1, 65535]]));
}

#[test]
fn mean_u32_does_not_saturate() {
    let inputs = [arr2(&[[u32::MAX, 3]]), arr2(&[[u32::MAX, 4]])];
    let (_, out) = run(json!({"frames": 2, "mode": "mean"}), &inputs);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[u32::MAX, 4]]));
}

#[test]
fn mean_f32() {
    let inputs = [arr2(&[[1.0f32, -2.0]]), arr2(&[[2.0, 3.0]])];
    let (_, out) = run(json!({"frames": 2, "mode": "mean"}), &inputs);
    assert_eq!(out[0].view::<f32>().unwrap(), arr2(&[[1.5f32, 0.5]]));
}

#[test]
fn groups_follow_each_other_and_keep_the_first_frames_header() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"frames": 2, "mode": "sum"})).unwrap();
    h.start().unwrap();
    for n in 0..4u64 {
        let mut f = h.alloc::<u16>(1, 1);
        f.view_mut::<u16>().unwrap()[[0, 0]] = n as u16 + 1;
        f.set_frame_number(100 + n);
        f.set_timestamp_ns(5_000 + n);
        f.set_meta("position", MetaValue::F64(n as f64)).unwrap();
        h.push(f.into_frame()).unwrap();
    }
    let out = h.take_emitted();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[3u32]]));
    assert_eq!(
        out[1].view::<u32>().unwrap(),
        arr2(&[[7u32]]),
        "the sum was cleared"
    );
    let headers: Vec<_> = out
        .iter()
        .map(|f| (f.frame_number(), f.timestamp_ns(), f.meta("position")))
        .collect();
    assert_eq!(
        headers,
        [
            (100, 5_000, Some(MetaValue::F64(0.0))),
            (102, 5_002, Some(MetaValue::F64(2.0)))
        ]
    );
    assert_eq!(h.copies(), 0, "inputs are read, never copied");
}

#[test]
fn a_partial_group_is_emitted_at_stop_and_counted() {
    let inputs = [
        arr2(&[[1u16]]),
        arr2(&[[2]]),
        arr2(&[[3]]),
        arr2(&[[4]]),
        arr2(&[[6]]),
    ];
    let (h, out) = run(json!({"frames": 3, "mode": "mean"}), &inputs);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].view::<u16>().unwrap(),
        arr2(&[[5u16]]),
        "mean of the 2 frames it has"
    );
    assert_eq!(out[1].frame_number(), 13);
    assert_eq!(frames_meta(&out[1]), Some(MetaValue::I64(2)));
    assert_eq!(h.counter("partial_groups"), Some(1));
    assert!(
        h.logs().iter().any(|(_, l)| l
            .contains("stopping: emitting a partial group of 2 of 3 frames (frames 13..=14)")),
        "{:?}",
        h.logs()
    );
}

#[test]
fn a_new_format_closes_the_open_group() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"frames": 2, "mode": "sum"})).unwrap();
    h.start().unwrap();
    h.push(h.frame_from(&arr2(&[[1u8, 2]]).view(), 0)).unwrap();
    h.push(h.frame_from(&arr2(&[[5u16]]).view(), 1)).unwrap();
    h.push(h.frame_from(&arr2(&[[6u16]]).view(), 2)).unwrap();
    h.stop().unwrap();
    let out = h.take_emitted();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[1u32, 2]]));
    assert_eq!(frames_meta(&out[0]), Some(MetaValue::I64(1)));
    assert_eq!(out[1].view::<u32>().unwrap(), arr2(&[[11u32]]));
    assert_eq!(h.counter("partial_groups"), Some(1));
}

#[test]
fn full_metadata_is_a_clear_error() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"frames": 1, "mode": "sum"})).unwrap();
    let mut f = h.alloc::<u8>(1, 1);
    for i in 0..16 {
        f.set_meta(&format!("k{i}"), MetaValue::I64(i)).unwrap();
    }
    let e = h.push(f.into_frame()).unwrap_err();
    assert!(
        e.contains("accumulate frames 0..=0: frame metadata is full (16 entries); cannot add \"accumulated_frames\""),
        "{e}"
    );
}

#[test]
fn format_mapping_and_refusals() {
    let out = |mode: &str, d: DType, rate| {
        Harness::output_format(
            daqflow_plugin_entry,
            json!({"frames": 4, "mode": mode}),
            Some(&FrameFormat::raw(d, 8, 2).with_rate(rate)),
        )
        .unwrap()
        .unwrap()
    };
    for (d, sum) in [
        (DType::U8, DType::U32),
        (DType::U16, DType::U32),
        (DType::U32, DType::U32),
        (DType::F32, DType::F32),
    ] {
        assert_eq!(
            out("sum", d, Some(100.0)),
            FrameFormat::raw(sum, 8, 2).with_rate(Some(25.0))
        );
        assert_eq!(
            out("mean", d, Some(100.0)),
            FrameFormat::raw(d, 8, 2).with_rate(Some(25.0))
        );
    }
    assert_eq!(out("mean", DType::U8, None).rate_hz, None);
    let mut packed = FrameFormat::raw(DType::U16, 8, 2);
    packed.encoding = Encoding::Lz4;
    let e = Harness::output_format(
        daqflow_plugin_entry,
        json!({"frames": 4, "mode": "sum"}),
        Some(&packed),
    )
    .unwrap_err();
    assert!(
        e[0].message
            .contains("accumulate needs raw pixels, not lz4 frames"),
        "{e:?}"
    );
    assert!(!Harness::parallel(
        daqflow_plugin_entry,
        json!({"frames": 4, "mode": "sum"})
    ));
}

#[test]
fn settings_are_checked() {
    for frames in [0, 65_537] {
        let e = Harness::validate(
            daqflow_plugin_entry,
            json!({"frames": frames, "mode": "sum"}),
        )
        .unwrap_err();
        assert_eq!(e[0].field, "frames", "{e:?}");
        assert!(e[0].message.contains("1..=65536"), "{e:?}");
    }
    let e = Harness::validate(daqflow_plugin_entry, json!({"frames": 2, "mode": "median"}))
        .unwrap_err();
    assert_eq!(e[0].field, "mode", "{e:?}");
    let e = Harness::validate(daqflow_plugin_entry, json!({"frames": 2})).unwrap_err();
    assert!(e[0].message.contains("mode"), "{e:?}");
    assert!(
        Harness::validate(
            daqflow_plugin_entry,
            json!({"frames": 65_536, "mode": "mean"})
        )
        .is_ok()
    );
}

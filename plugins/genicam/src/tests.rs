//! Unit tests through the SDK harness against Aravis's in-process fake camera
//! (`camera = "Fake_<serial>"`: no network): bit-exact frames, frame ids, accounting,
//! zero copy, feature errors.

use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::{Value, json};
use daqflow_sdk::testing::{Harness, check_compliance};

use crate::daqflow_plugin_entry;

fn settings(extra: Value) -> Value {
    let mut s = json!({
        "camera": "Fake_UNIT",
        "pixel_format": "Mono8",
        "roi": {"x": 0, "y": 0, "width": 40, "height": 24},
        "binning": {"x": 1, "y": 1},
        "exposure_time": 0.01,
        "gain": 0,
        "frame_rate": 200,
        "trigger_mode": "internal",
        "buffers": 4,
        "frames": 6,
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

/// Runs to the end of the stream (bounded); returns the frames.
fn run(s: Value) -> (Harness, Vec<Frame>) {
    let mut h = Harness::new(daqflow_plugin_entry, s).unwrap();
    h.start().unwrap();
    for _ in 0..2000 {
        if h.produce().unwrap() == Next::End {
            break;
        }
    }
    let frames = h.take_emitted();
    h.stop().unwrap();
    (h, frames)
}

#[test]
fn compliance() {
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn frames_are_the_fake_cameras_pattern_numbered_by_the_camera() {
    let (h, frames) = run(settings(json!({})));
    assert_eq!(frames.len(), 6);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.shape(), [24, 40]);
        let id = f.frame_number();
        if i > 0 {
            assert_eq!(
                id,
                frames[i - 1].frame_number() + 1,
                "contiguous camera ids"
            );
        }
        let v = f.view::<u8>().unwrap();
        for ((y, x), &p) in v.indexed_iter() {
            assert_eq!(
                p as u64,
                (x as u64 + y as u64 + id) % 255,
                "frame {id} ({x},{y})"
            );
        }
        assert_eq!(f.meta("exposure_time_s"), Some(MetaValue::F64(0.01)));
        assert_eq!(f.meta("gain"), Some(MetaValue::F64(0.0)));
        assert!(f.timestamp_ns() > 0);
    }
    assert_eq!(h.counter("frames_delivered"), Some(6));
    assert_eq!(h.counter("frames_lost"), Some(0));
    // Zero copy with reuse: Aravis buffers are made over pool memory, a bounded number.
    let created = h.counter("arv_buffers_created").unwrap();
    assert!((4..=10).contains(&created), "created {created}");
}

#[test]
fn mono16_and_software_trigger() {
    let (h, frames) = run(settings(json!({
        "pixel_format": "Mono16", "trigger_mode": "software", "frames": 4,
    })));
    assert_eq!(frames.len(), 4);
    for f in &frames {
        let id = f.frame_number();
        let v = f.view::<u16>().unwrap();
        for ((y, x), &p) in v.indexed_iter() {
            assert_eq!(p as u64, (256 * (x as u64 + y as u64 + id)) % 65535);
        }
    }
    assert_eq!(h.counter("frames_delivered"), Some(4));
}

#[test]
fn feature_errors_name_the_feature_value_and_what_is_allowed() {
    let err = |extra: Value| {
        let mut h = Harness::new(daqflow_plugin_entry, settings(extra)).unwrap();
        h.start().expect_err("start must fail")
    };
    let e = err(json!({"features": {"GainRawx": 1}}));
    assert!(
        e.contains("`GainRawx`")
            && e.contains("no such feature")
            && e.contains("did you mean `GainRaw`"),
        "{e}"
    );
    let e = err(json!({"features": {"TriggerSelector": "LineStart"}}));
    assert!(
        e.contains("\"AcquisitionStart\"") && e.contains("\"FrameStart\""),
        "{e}"
    );
    let e = err(json!({"roi": {"x": 0, "y": 0, "width": 5000, "height": 8}}));
    assert!(
        e.contains("`roi.width`") && e.contains("`Width` = 5000") && e.contains("allows 1..=2048"),
        "{e}"
    );
    let e = err(json!({"features": {"PayloadSize": 5}}));
    assert!(e.contains("`PayloadSize`"), "{e}");
    let e = err(json!({"features": {"AcquisitionMode": 3}}));
    assert!(e.contains("enumeration (give a string)"), "{e}");
}

//! Tests: the gate with an injected clock, the filter through the SDK harness (every_nth
//! and a rate slow enough to be deterministic), formats, settings, compliance.

use std::time::{Duration, Instant};

use daqflow_sdk::ndarray::arr2;
use daqflow_sdk::serde_json::{Value, json};
use daqflow_sdk::testing::{Harness, check_compliance};

use crate::daqflow_plugin_entry;
use crate::throttle::Gate;
use crate::*;
use daqflow_sdk::prelude::*;

fn gate(settings: Value) -> Gate {
    Gate::new(&daqflow_sdk::serde_json::from_value::<Settings>(settings).unwrap())
}

/// Which frames arriving at `times_ms` pass.
fn passes(g: &mut Gate, times_ms: &[u64]) -> Vec<u64> {
    let t0 = Instant::now();
    times_ms
        .iter()
        .copied()
        .filter(|&t| g.admit(t0 + Duration::from_millis(t)))
        .collect()
}

#[test]
fn compliance() {
    check_compliance(daqflow_plugin_entry);
}

#[test]
fn rate_gate_passes_the_first_frame_of_each_slot() {
    // 100 Hz input, at most 30 Hz: slots of 33.3 ms; 3 of every 10 frames pass.
    let times: Vec<u64> = (0..31).map(|i| i * 10).collect();
    let out = passes(&mut gate(json!({"max_rate_hz": 30})), &times);
    assert_eq!(out, [0, 20, 50, 90, 120, 150, 190, 220, 250, 290]);
}

#[test]
fn rate_gate_passes_input_at_the_rate_despite_jitter() {
    // 10 Hz input with ±30 ms arrival jitter, at most 10 Hz: nothing is dropped.
    let times = [0, 130, 170, 330, 370, 530];
    assert_eq!(passes(&mut gate(json!({"max_rate_hz": 10})), &times), times);
}

#[test]
fn rate_gate_drops_a_burst_after_a_pause() {
    // A backlog delivered at once after a pause: one frame per slot, no catch-up burst.
    let times = [0, 100, 1000, 1000, 1001, 1002, 1100];
    assert_eq!(
        passes(&mut gate(json!({"max_rate_hz": 10})), &times),
        [0, 100, 1000, 1100]
    );
}

#[test]
fn every_nth_through_the_harness() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"every_nth": 3})).unwrap();
    h.start().unwrap();
    assert_eq!(h.counter("frames_dropped"), Some(0));
    for n in 0..8 {
        h.push(h.frame_from(&arr2(&[[n as u8]]).view(), 100 + n))
            .unwrap();
    }
    let out = h.take_emitted();
    let numbers: Vec<u64> = out.iter().map(|f| f.frame_number()).collect();
    assert_eq!(numbers, [100, 103, 106]);
    assert_eq!(out[1].view::<u8>().unwrap(), arr2(&[[3u8]]));
    assert_eq!(h.counter("frames_dropped"), Some(5));
    assert_eq!(h.copies(), 0, "frames pass by reference");
    let logs = h.logs();
    assert_eq!(logs.len(), 1, "the first drop is logged once: {logs:?}");
    assert!(
        logs[0]
            .1
            .contains("dropping frames from frame 101 on to pass 1 frame in 3"),
        "{logs:?}"
    );
}

#[test]
fn slow_rate_through_the_harness_passes_only_the_first_frame() {
    // One frame per ~11.6 days: whatever the test machine's timing, only frame 0 passes.
    let mut h = Harness::new(daqflow_plugin_entry, json!({"max_rate_hz": 1e-6})).unwrap();
    h.start().unwrap();
    for n in 0..4 {
        h.push(h.frame_from(&arr2(&[[1.5f32]]).view(), n)).unwrap();
    }
    assert_eq!(h.take_emitted().len(), 1);
    assert_eq!(h.counter("frames_dropped"), Some(3));
}

#[test]
fn every_dtype_and_compressed_frames_pass_unchanged() {
    let mut h = Harness::new(daqflow_plugin_entry, json!({"every_nth": 1})).unwrap();
    h.push(h.frame_from(&arr2(&[[7u8]]).view(), 0)).unwrap();
    h.push(h.frame_from(&arr2(&[[700u16]]).view(), 1)).unwrap();
    h.push(h.frame_from(&arr2(&[[70_000u32]]).view(), 2))
        .unwrap();
    h.push(h.frame_from(&arr2(&[[-0.5f32]]).view(), 3)).unwrap();
    let mut packed = h.alloc_encoded(DType::U16, Encoding::BsLz4, 8, 8, 5);
    packed.bytes_mut().copy_from_slice(&[1, 2, 3, 4, 5]);
    h.push(packed.into_frame()).unwrap();
    let out = h.take_emitted();
    assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[7u8]]));
    assert_eq!(out[1].view::<u16>().unwrap(), arr2(&[[700u16]]));
    assert_eq!(out[2].view::<u32>().unwrap(), arr2(&[[70_000u32]]));
    assert_eq!(out[3].view::<f32>().unwrap(), arr2(&[[-0.5f32]]));
    assert_eq!(out[4].encoding(), Encoding::BsLz4);
    assert_eq!(out[4].bytes(), [1, 2, 3, 4, 5]);
}

#[test]
fn output_rate() {
    let fmt = |rate| FrameFormat::raw(DType::U16, 8, 4).with_rate(rate);
    let out = |settings, rate| {
        Harness::output_format(daqflow_plugin_entry, settings, Some(&fmt(rate)))
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        out(json!({"max_rate_hz": 25}), Some(100.0)),
        fmt(Some(25.0))
    );
    assert_eq!(out(json!({"max_rate_hz": 25}), Some(10.0)), fmt(Some(10.0)));
    assert_eq!(out(json!({"max_rate_hz": 25}), None), fmt(Some(25.0)));
    assert_eq!(out(json!({"every_nth": 4}), Some(100.0)), fmt(Some(25.0)));
    assert_eq!(out(json!({"every_nth": 4}), None), fmt(None));
    let mut packed = fmt(Some(100.0));
    packed.encoding = Encoding::BsLz4;
    let mut want = fmt(Some(50.0));
    want.encoding = Encoding::BsLz4;
    assert_eq!(
        Harness::output_format(daqflow_plugin_entry, json!({"every_nth": 2}), Some(&packed)),
        Ok(Some(want))
    );
    assert!(!Harness::parallel(
        daqflow_plugin_entry,
        json!({"every_nth": 2})
    ));
}

#[test]
fn exactly_one_of_the_two_settings() {
    let e = Harness::validate(
        daqflow_plugin_entry,
        json!({"max_rate_hz": 5, "every_nth": 2}),
    )
    .unwrap_err();
    assert_eq!(e[0].field, "every_nth");
    assert!(
        e[0].message
            .contains("either `max_rate_hz` or `every_nth`, not both"),
        "{e:?}"
    );
    let e = Harness::validate(daqflow_plugin_entry, json!({})).unwrap_err();
    assert!(
        e[0].message.contains("set one of `max_rate_hz`") && e[0].message.contains("`every_nth`"),
        "{e:?}"
    );
    let e = Harness::validate(daqflow_plugin_entry, json!({"max_rate_hz": 0})).unwrap_err();
    assert_eq!(e[0].field, "max_rate_hz", "{e:?}");
    let e = Harness::validate(daqflow_plugin_entry, json!({"every_nth": 0})).unwrap_err();
    assert_eq!(e[0].field, "every_nth", "{e:?}");
}

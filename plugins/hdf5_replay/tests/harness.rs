//! `hdf5_replay` driven in-process by the SDK's test harness (no core): the recorded pace
//! of `timestamps = "original"`, metadata and numbering, settings errors, compliance.

use std::time::{Duration, Instant};

use daqflow_plugin_hdf5_replay::daqflow_plugin_entry;
use daqflow_sdk::testing::{Harness, check_compliance};
use daqflow_sdk::{DType, Encoding, FrameFormat, MetaValue, Next};
use serde_json::json;

/// Python: a file like the `hdf5` sink writes (frames under the detector group, the NXdata
/// link, per-frame numbers, timestamps and metadata), with uneven recorded spacing.
const PACED_FILE: &str = r#"
path = sys.argv[1]
gaps_ms = json.loads(sys.argv[2])
t0 = 1_700_000_000_000_000_000
ts = np.array([t0 + int(sum(gaps_ms[:i]) * 1e6) for i in range(len(gaps_ms) + 1)], dtype="u8")
n = len(ts)
with h5py.File(path, "w") as f:
    det = f.create_group("entry/instrument/detector")
    det.create_dataset("data", data=np.arange(n * 6 * 5, dtype="u2").reshape(n, 6, 5), chunks=(1, 6, 5))
    det.create_dataset("frame_number", data=np.arange(100, 100 + n, dtype="u8"))
    det.create_dataset("timestamp", data=ts)
    m = det.create_group("frame_metadata")
    m.create_dataset("exposure_s", data=np.linspace(0.5, 1.0, n))
    m.create_dataset("count", data=np.arange(n, dtype="i8") * -3)
    m.create_dataset("gain", data=np.array([b"high"] * n, dtype="S48"))
    m.create_dataset("ok", data=np.arange(n) % 2 == 0)
    f["entry/data/data"] = det["data"]
print(n)
"#;

fn paced_file(dir: &std::path::Path, gaps_ms: &str) -> std::path::PathBuf {
    let path = dir.join("paced.h5");
    daqflow_tests::run_python(PACED_FILE, &[path.to_str().unwrap(), gaps_ms]);
    path
}

/// Produces until the source ends; returns each frame with the time it came out.
fn drain(h: &mut Harness) -> Vec<(daqflow_sdk::Frame, Instant)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let next = h.produce().unwrap();
        let at = Instant::now();
        out.extend(h.take_emitted().into_iter().map(|f| (f, at)));
        if next == Next::End {
            return out;
        }
    }
    panic!("the source did not end");
}

#[test]
fn original_timestamps_replay_at_the_recorded_pace() {
    let dir = tempfile::tempdir().unwrap();
    let gaps = [40u64, 80, 10, 120];
    let path = paced_file(dir.path(), &serde_json::to_string(&gaps).unwrap());
    let mut h = Harness::new(
        daqflow_plugin_entry,
        json!({"path": path, "timestamps": "original"}),
    )
    .unwrap();
    let before_start = Instant::now();
    h.start().unwrap();
    let frames = drain(&mut h);
    h.stop().unwrap();
    assert_eq!(frames.len(), gaps.len() + 1);
    let t0 = frames[0].0.timestamp_ns();
    for (k, (frame, at)) in frames.iter().enumerate() {
        let recorded = Duration::from_nanos(frame.timestamp_ns() - t0);
        let planned: u64 = gaps[..k].iter().sum();
        assert_eq!(
            recorded,
            Duration::from_millis(planned),
            "timestamps carried as recorded"
        );
        // A paced frame never comes before its recorded offset from the start; it may come
        // late by scheduling (bounded generously: a loaded machine).
        let offset = *at - before_start;
        assert!(
            offset >= recorded,
            "frame {k} came {offset:?} after start, recorded at {recorded:?}"
        );
        assert!(
            offset < recorded + Duration::from_secs(2),
            "frame {k}: {offset:?}"
        );
    }
    // In order, with the recorded gaps between them (to within the scheduling delay).
    for w in frames.windows(2) {
        assert!(w[1].1 >= w[0].1 && w[1].0.timestamp_ns() > w[0].0.timestamp_ns());
    }
}

#[test]
fn numbers_timestamps_and_metadata_come_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = paced_file(dir.path(), "[1, 1, 1]");
    let settings = json!({"path": path, "frames": "1:", "loop": 2});
    let format = Harness::output_format(daqflow_plugin_entry, settings.clone(), None).unwrap();
    assert_eq!(format, Some(FrameFormat::raw(DType::U16, 5, 6)));
    let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
    h.start().unwrap();
    let frames: Vec<_> = drain(&mut h).into_iter().map(|(f, _)| f).collect();
    h.stop().unwrap();
    let numbers: Vec<u64> = frames.iter().map(|f| f.frame_number()).collect();
    // Recorded 101..=103; the second pass continues after them.
    assert_eq!(numbers, vec![101, 102, 103, 104, 105, 106]);
    let t: Vec<u64> = frames.iter().map(|f| f.timestamp_ns()).collect();
    assert!(t.windows(2).all(|w| w[1] > w[0]), "{t:?}");
    let f = &frames[1];
    assert_eq!(f.encoding(), Encoding::Raw);
    assert_eq!(f.view::<u16>().unwrap()[[0, 0]], 2 * 30);
    assert_eq!(f.meta("count"), Some(MetaValue::I64(-6)));
    assert_eq!(f.meta("gain"), Some(MetaValue::Str("high".into())));
    assert_eq!(f.meta("ok"), Some(MetaValue::Bool(true)));
    assert_eq!(
        f.meta("exposure_s"),
        Some(MetaValue::F64(0.5 + 2.0 * 0.5 / 3.0))
    );
    assert_eq!(h.counter("frames_replayed"), Some(6));
}

#[test]
fn settings_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = paced_file(dir.path(), "[1]");
    let err = |v: serde_json::Value| {
        let e = Harness::validate(daqflow_plugin_entry, v).unwrap_err();
        e.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(err(json!({"path": path, "frames": "::0"})).contains("`frames`"));
    assert!(err(json!({"path": path, "frames": "5:"})).contains("selects no frame"));
    assert!(
        err(json!({"path": path, "rate_hz": 10, "timestamps": "original"})).contains("`rate_hz`")
    );
    assert!(err(json!({"path": path, "dataset": "data"})).contains("absolute"));
    assert!(
        err(json!({"path": path, "dataset": "/nope"})).contains("/entry/instrument/detector/data")
    );
    assert!(err(json!({"path": path, "bogus": 1})).contains("bogus"));
    Harness::validate(daqflow_plugin_entry, json!({"path": path})).unwrap();
}

#[test]
fn passes_the_sdk_compliance_check() {
    check_compliance(daqflow_plugin_entry);
}

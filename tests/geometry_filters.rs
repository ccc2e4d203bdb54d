//! The geometry and dtype filters (`crop`, `bin`, `transform`, `cast`) loaded as `.so` by
//! the real `daqflow` binary: a chain of all four delivers every frame with the expected
//! pixels, and `validate` refuses a region outside the detector at the setting's line.

use std::time::Duration;

use daqflow_tests::{run_pipeline, test_plugin, toml_path, validate_text};

const T: Duration = Duration::from_secs(120);

/// The probe sink's checksum (FNV-1a over the payload bytes).
fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn crop_bin_transform_cast_chain_delivers_every_frame_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let probe_out = dir.path().join("probe.txt");
    // 64×32 u16 frames of 3 → crop 32×16 → bin 2×4 sum: 16×4 u32 of 24 → rotate 90:
    // 4×16 → cast to u8 with × 0.5 + 1: 64 pixels of 13.
    let o = run_pipeline(
        dir.path(),
        &format!(
            r#"
[sources.det]
plugin = "sim_detector"
width = 64
height = 32
dtype = "u16"
rate_hz = 0
frames = 40
pattern = "constant"
value = 3

[filters.roi]
plugin = "crop"
inputs = ["det"]
x = 8
y = 4
width = 32
height = 16

[filters.binned]
plugin = "bin"
inputs = ["roi"]
x = 2
y = 4

[filters.turned]
plugin = "transform"
inputs = ["binned"]
rotate = 90

[filters.bytes]
plugin = "cast"
inputs = ["turned"]
dtype = "u8"
scale = 0.5
offset = 1

[sinks.probe]
plugin = {probe}
inputs = ["bytes"]
path = {path}

[sinks.all]
plugin = "discard"
inputs = ["det"]
"#,
            probe = toml_path(&test_plugin("probe")),
            path = toml_path(&probe_out),
        ),
        T,
    );
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let want = format!("{:#x}", checksum(&[13u8; 64]));
    let lines = std::fs::read_to_string(&probe_out).unwrap();
    let mut numbers = Vec::new();
    for line in lines.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[2], want, "frame {} has other pixels than 64 × 13u8", f[0]);
        numbers.push(f[0].parse::<u64>().unwrap());
    }
    assert_eq!(
        numbers,
        (0..40).collect::<Vec<_>>(),
        "every frame, in order"
    );
    for node in ["roi", "binned", "turned", "bytes"] {
        assert_eq!(o.node(node)["copies"], 0, "{node} copies nothing on write");
    }
}

#[test]
fn a_region_outside_the_detector_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = validate_text(
        dir.path(),
        r#"
[sources.det]
plugin = "sim_detector"
width = 4096
height = 2048

[filters.roi]
plugin = "crop"
inputs = ["det"]
x = 100
width = 4000

[sinks.out]
plugin = "discard"
inputs = ["roi"]
"#,
    );
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(":11: node `roi`: plugin `crop` cannot take the frames of `det` (4096×2048"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("x + width = 4100 exceeds the input width 4096"),
        "{}",
        o.stderr
    );
}

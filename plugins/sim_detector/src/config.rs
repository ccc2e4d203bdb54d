//! Settings of `sim_detector`.

use daqflow_sdk::prelude::*;

/// The test pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Photon-like noise plus bars that move a little every frame.
    Bars,
    /// `(x + y + frame_number) mod (max + 1)`: every pixel predictable.
    Ramp,
    /// Every pixel equal to `value` (the cheapest pattern: a fill).
    Constant,
    /// Pixels left as the pool buffer holds them (stale data): only for measuring the
    /// framework itself, without the cost of writing pixels.
    None,
}

/// How the simulated frames are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FrameEncoding {
    /// Plain pixels.
    Raw,
    /// One HDF5 LZ4 (32004) chunk per frame.
    Lz4,
    /// One bitshuffle-LZ4 (32008) chunk per frame, as detectors that compress on board
    /// deliver them.
    Bslz4,
}

/// Settings of `sim_detector`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Frame width in pixels.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height in pixels.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Pixel type: "u8", "u16", "u32" or "f32".
    #[serde(default = "default_dtype")]
    pub dtype: DType,
    /// Frames per second; 0 = as fast as the pipeline takes them.
    #[serde(default = "default_rate_hz")]
    pub rate_hz: f64,
    /// Frames to produce before the stream ends; 0 = until the pipeline stops.
    #[serde(default)]
    pub frames: u64,
    /// Test pattern: "bars" (noise + moving bars), "ramp", "constant", or "none" (pixels not
    /// written: for framework benchmarks).
    #[serde(default = "default_pattern")]
    pub pattern: Pattern,
    /// Seed of the noise: the same seed gives the same frames.
    #[serde(default)]
    pub seed: u64,
    /// Pixel value of the "constant" pattern.
    #[serde(default = "default_value")]
    pub value: f64,
    /// "raw" pixels, or compressed like a detector that compresses on board: "lz4" or
    /// "bslz4" (bitshuffle-LZ4; the HDF5 writer stores such frames as they are, the viewer
    /// decodes them). Compressing costs this source ~3 ms per 2 MiB frame.
    #[serde(default = "default_encoding")]
    pub encoding: FrameEncoding,
}

fn default_encoding() -> FrameEncoding {
    FrameEncoding::Raw
}

fn default_width() -> u32 {
    512
}
fn default_height() -> u32 {
    512
}
fn default_dtype() -> DType {
    DType::U16
}
fn default_rate_hz() -> f64 {
    100.0
}
fn default_pattern() -> Pattern {
    Pattern::Bars
}
fn default_value() -> f64 {
    100.0
}

/// Largest side accepted (a 65536² u32 frame is already 16 GiB).
pub const MAX_SIDE: u32 = 65_536;

impl Settings {
    /// The format of the frames these settings produce.
    pub fn format(&self) -> FrameFormat {
        FrameFormat {
            dtype: self.dtype,
            encoding: match self.encoding {
                FrameEncoding::Raw => Encoding::Raw,
                FrameEncoding::Lz4 => Encoding::Lz4,
                FrameEncoding::Bslz4 => Encoding::BsLz4,
            },
            width: self.width,
            height: self.height,
            rate_hz: None,
        }
        .with_rate((self.rate_hz > 0.0).then_some(self.rate_hz))
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut e = Vec::new();
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > MAX_SIDE {
                e.push(SettingsError::new(
                    name,
                    format!("must be 1..={MAX_SIDE}, got {v}"),
                ));
            }
        }
        if !(self.rate_hz.is_finite() && self.rate_hz >= 0.0) {
            e.push(SettingsError::new(
                "rate_hz",
                format!("must be ≥ 0 (0 = full speed), got {}", self.rate_hz),
            ));
        }
        if !self.value.is_finite() {
            e.push(SettingsError::new("value", "must be a finite number"));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

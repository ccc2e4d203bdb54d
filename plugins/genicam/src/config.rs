//! Settings of `genicam`, named as ADGenICam / ADAravis users know them, and their checks.
//! Everything here is checked without opening the camera (`daqflow validate` never does);
//! what only the camera knows (a feature's name, a value's range) is checked at start.

use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::{Map, Value};

/// A region of interest on the sensor, in (binned) pixels as GenICam counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Roi {
    /// First column (`OffsetX`).
    pub x: u32,
    /// First row (`OffsetY`).
    pub y: u32,
    /// Columns (`Width`).
    pub width: u32,
    /// Rows (`Height`).
    pub height: u32,
}

/// On-camera binning (`BinningHorizontal`, `BinningVertical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binning {
    /// Horizontal factor.
    pub x: u32,
    /// Vertical factor.
    pub y: u32,
}

/// What starts each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerMode {
    /// Free running at `frame_rate` (`TriggerMode = Off`).
    Internal,
    /// This source sends `TriggerSoftware` at `frame_rate` (or one frame at a time).
    Software,
    /// A hardware line (`trigger_source`, default `Line0`) starts each frame.
    External,
}

/// What happens to a frame the camera delivered incompletely (lost packets that resends
/// could not recover, a size mismatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Incomplete {
    /// Drop it and count it (`frames_incomplete`, and `frames_lost`).
    Drop,
    /// Pass it on with metadata `incomplete = true` (missing bytes read as 0), counted.
    Pass,
}

/// Settings of `genicam`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The camera: an IPv4 address (opened directly, no discovery broadcast), or a device
    /// id / serial as Aravis names it (`"Aravis-Fake-GV01"`, `arv-tool-0.8` lists them;
    /// found by discovery). Empty: the first camera discovery finds. `"Fake_1"`: Aravis's
    /// in-process fake camera (no network; for trying pipelines out).
    #[serde(default)]
    pub camera: String,
    /// Exposure time in seconds (`ExposureTime` / `ExposureTimeAbs`). Absent: unchanged.
    #[serde(default)]
    pub exposure_time: Option<f64>,
    /// Frames per second (`AcquisitionFrameRate`; the software trigger rate in `software`
    /// mode). Give this or `acquire_period`, not both. Absent: unchanged.
    #[serde(default)]
    pub frame_rate: Option<f64>,
    /// Seconds between frames: `frame_rate = 1 / acquire_period`.
    #[serde(default)]
    pub acquire_period: Option<f64>,
    /// Gain (`Gain`, or `GainRaw` on cameras that only have that). Absent: unchanged.
    #[serde(default)]
    pub gain: Option<f64>,
    /// Region of interest `{ x, y, width, height }` (after binning). Absent: unchanged.
    #[serde(default)]
    pub roi: Option<Roi>,
    /// On-camera binning `{ x, y }`. Absent: unchanged.
    #[serde(default)]
    pub binning: Option<Binning>,
    /// `"Mono8"` (→ u8), `"Mono10"`, `"Mono12"`, `"Mono16"` (→ u16, unpacked, little
    /// endian). Colour and packed formats are refused for now. Absent: the camera's
    /// current format, which must then be one of these.
    #[serde(default)]
    pub pixel_format: Option<String>,
    /// `"internal"` (free run), `"software"` or `"external"`.
    #[serde(default = "default_trigger_mode")]
    pub trigger_mode: TriggerMode,
    /// The `TriggerSource` of `external` mode (`"Line0"`, `"Line1"`, …; default `Line0`).
    #[serde(default)]
    pub trigger_source: Option<String>,
    /// Frames to deliver before the stream ends; 0 = until the pipeline stops.
    #[serde(default)]
    pub frames: u64,
    /// Any other GenICam features, set in the order given after the settings above:
    /// `{ ExposureAuto = "Off", BlackLevel = 4, ReverseX = true }`. Strings set
    /// enumerations and strings, integers integers, floats floats, booleans booleans.
    #[serde(default)]
    pub features: Map<String, Value>,
    /// Incomplete frames: `"drop"` (counted as lost) or `"pass"` (flagged in metadata).
    #[serde(default = "default_incomplete")]
    pub incomplete: Incomplete,
    /// Pool frames queued to the camera's stream (a deeper queue rides out longer
    /// stalls downstream; each holds one frame of pool memory).
    #[serde(default = "default_buffers")]
    pub buffers: u32,
    /// Seconds to keep retrying a camera that is busy (still held by a client that
    /// crashed: its heartbeat lasts a few seconds) or not found yet.
    #[serde(default = "default_open_timeout")]
    pub open_timeout: f64,
    /// Seconds without a frame before a wait counts as a timeout (`timeouts` counter);
    /// 0 = three frame periods, at least one second.
    #[serde(default)]
    pub frame_timeout: f64,
    /// GigE Vision packet size in bytes (`GevSCPSPacketSize`); 0 = the camera's.
    #[serde(default)]
    pub packet_size: u32,
}

fn default_trigger_mode() -> TriggerMode {
    TriggerMode::Internal
}
fn default_incomplete() -> Incomplete {
    Incomplete::Drop
}
fn default_buffers() -> u32 {
    16
}
fn default_open_timeout() -> f64 {
    10.0
}

/// A pixel format this source delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mono {
    /// The GenICam (SFNC) name.
    pub name: &'static str,
    /// The frames' dtype.
    pub dtype: DType,
}

/// The formats this source delivers: unpacked monochrome.
pub const MONO_FORMATS: [Mono; 4] = [
    Mono {
        name: "Mono8",
        dtype: DType::U8,
    },
    Mono {
        name: "Mono10",
        dtype: DType::U16,
    },
    Mono {
        name: "Mono12",
        dtype: DType::U16,
    },
    Mono {
        name: "Mono16",
        dtype: DType::U16,
    },
];

/// The monochrome format named `name`, or why it is refused.
pub fn mono_format(name: &str) -> Result<Mono, String> {
    if let Some(m) = MONO_FORMATS.iter().find(|m| m.name == name) {
        return Ok(*m);
    }
    let lower = name.to_ascii_lowercase();
    let reason = if ["rgb", "bgr", "yuv", "ycbcr", "bayer", "rgba", "bgra"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        "colour formats are not supported yet (frames are one plane of u8/u16 pixels; \
         debayering or splitting colour planes would need a filter that does not exist)"
    } else if lower.contains("packed") || lower.ends_with('p') {
        "packed formats are not supported (pixels straddle bytes; ask the camera for the \
         unpacked format of the same depth)"
    } else {
        "not a monochrome format this source knows"
    };
    Err(format!(
        "pixel format `{name}` is refused: {reason}; use one of Mono8, Mono10, Mono12, Mono16"
    ))
}

impl Settings {
    /// The frame rate asked for, from `frame_rate` or `acquire_period`.
    pub fn rate_hz(&self) -> Option<f64> {
        self.frame_rate
            .or(self.acquire_period.filter(|p| *p > 0.0).map(|p| 1.0 / p))
    }

    /// The frames' format when the settings fix it (pixel format and ROI both given).
    pub fn format(&self) -> Option<FrameFormat> {
        let mono = mono_format(self.pixel_format.as_deref()?).ok()?;
        let roi = self.roi?;
        Some(
            FrameFormat::raw(mono.dtype, roi.width, roi.height).with_rate(
                (self.trigger_mode != TriggerMode::External)
                    .then(|| self.rate_hz())
                    .flatten(),
            ),
        )
    }
}

fn positive(e: &mut Vec<SettingsError>, field: &str, v: Option<f64>, unit: &str) {
    if let Some(v) = v
        && !(v.is_finite() && v > 0.0)
    {
        e.push(SettingsError::new(
            field,
            format!("must be a positive number of {unit}, got {v}"),
        ));
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut e = Vec::new();
        positive(&mut e, "exposure_time", self.exposure_time, "seconds");
        positive(&mut e, "frame_rate", self.frame_rate, "frames per second");
        positive(&mut e, "acquire_period", self.acquire_period, "seconds");
        if self.frame_rate.is_some() && self.acquire_period.is_some() {
            e.push(SettingsError::new(
                "acquire_period",
                "give either frame_rate or acquire_period (they set the same thing), not both",
            ));
        }
        if let Some(g) = self.gain
            && !g.is_finite()
        {
            e.push(SettingsError::new("gain", "must be a finite number"));
        }
        if let Some(roi) = self.roi {
            for (name, v) in [("roi.width", roi.width), ("roi.height", roi.height)] {
                if v == 0 {
                    e.push(SettingsError::new(name, "must be at least 1 pixel"));
                }
            }
        }
        if let Some(b) = self.binning {
            for (name, v) in [("binning.x", b.x), ("binning.y", b.y)] {
                if v == 0 {
                    e.push(SettingsError::new(
                        name,
                        "must be at least 1 (1 = no binning)",
                    ));
                }
            }
        }
        if let Some(pf) = &self.pixel_format
            && let Err(m) = mono_format(pf)
        {
            e.push(SettingsError::new("pixel_format", m));
        }
        if self.trigger_source.is_some() && self.trigger_mode != TriggerMode::External {
            e.push(SettingsError::new(
                "trigger_source",
                "only used with trigger_mode = \"external\" (software triggers come from this source)",
            ));
        }
        if self.trigger_mode == TriggerMode::External && self.rate_hz().is_some() {
            e.push(SettingsError::new(
                if self.frame_rate.is_some() {
                    "frame_rate"
                } else {
                    "acquire_period"
                },
                "an external trigger sets the rate; remove this setting",
            ));
        }
        for (name, value) in &self.features {
            let ok = matches!(value, Value::Bool(_) | Value::Number(_) | Value::String(_));
            if !ok {
                e.push(SettingsError::new(
                    format!("features.{name}"),
                    format!(
                        "a feature value is a string, number or boolean, not {value}; \
                         commands are not run from settings"
                    ),
                ));
            }
            if RESERVED.iter().any(|(f, _)| f == name) {
                let setting = RESERVED.iter().find(|(f, _)| f == name).map(|(_, s)| *s);
                e.push(SettingsError::new(
                    format!("features.{name}"),
                    format!(
                        "`{name}` is set by the `{}` setting; use that instead",
                        setting.unwrap_or_default()
                    ),
                ));
            }
        }
        if self.buffers < 2 || self.buffers > 1024 {
            e.push(SettingsError::new(
                "buffers",
                format!("must be 2..=1024, got {}", self.buffers),
            ));
        }
        if !(self.open_timeout.is_finite() && self.open_timeout >= 0.0) {
            e.push(SettingsError::new("open_timeout", "must be ≥ 0 seconds"));
        }
        if !(self.frame_timeout.is_finite() && self.frame_timeout >= 0.0) {
            e.push(SettingsError::new(
                "frame_timeout",
                "must be ≥ 0 seconds (0 = automatic)",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Features a setting of this source owns: setting them in `features` as well would
/// fight over the camera's state.
const RESERVED: [(&str, &str); 14] = [
    ("ExposureTime", "exposure_time"),
    ("ExposureTimeAbs", "exposure_time"),
    ("AcquisitionFrameRate", "frame_rate"),
    ("Gain", "gain"),
    ("GainRaw", "gain"),
    ("OffsetX", "roi"),
    ("OffsetY", "roi"),
    ("Width", "roi"),
    ("Height", "roi"),
    ("BinningHorizontal", "binning"),
    ("BinningVertical", "binning"),
    ("PixelFormat", "pixel_format"),
    ("TriggerMode", "trigger_mode"),
    ("TriggerSource", "trigger_source"),
];

#[cfg(test)]
mod tests {
    use daqflow_sdk::serde_json::{self, json};

    use super::*;

    fn errors(v: serde_json::Value) -> Vec<String> {
        let s: Settings = serde_json::from_value(v).unwrap();
        match s.validate() {
            Ok(()) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn colour_is_refused_with_the_reason() {
        let e = errors(json!({"pixel_format": "BayerRG8"}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("`pixel_format`") && e[0].contains("colour formats are not supported"),
            "{e:?}"
        );
        let e = errors(json!({"pixel_format": "RGB8"}));
        assert!(e[0].contains("colour"), "{e:?}");
        let e = errors(json!({"pixel_format": "Mono12Packed"}));
        assert!(e[0].contains("packed"), "{e:?}");
        assert!(errors(json!({"pixel_format": "Mono16"})).is_empty());
    }

    #[test]
    fn every_problem_at_once() {
        let e = errors(json!({
            "frame_rate": 10.0, "acquire_period": 0.1, "exposure_time": -1.0,
            "roi": {"x": 0, "y": 0, "width": 0, "height": 4},
            "binning": {"x": 0, "y": 1}, "buffers": 1,
            "features": {"Width": 5, "Foo": [1, 2]}
        }));
        let joined = e.join("\n");
        for needle in [
            "`acquire_period`: give either",
            "`exposure_time`: must be a positive",
            "`roi.width`",
            "`binning.x`",
            "`buffers`",
            "`features.Width`: `Width` is set by the `roi` setting",
            "`features.Foo`: a feature value is",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
    }

    #[test]
    fn format_known_when_pixel_format_and_roi_given() {
        let s: Settings = serde_json::from_value(json!({
            "pixel_format": "Mono12", "roi": {"x": 2, "y": 4, "width": 64, "height": 32},
            "acquire_period": 0.01
        }))
        .unwrap();
        let f = s.format().unwrap();
        assert_eq!((f.dtype, f.width, f.height), (DType::U16, 64, 32));
        assert!((f.rate_hz.unwrap() - 100.0).abs() < 1e-9);
        let s: Settings = serde_json::from_value(json!({"pixel_format": "Mono8"})).unwrap();
        assert!(s.format().is_none());
    }
}

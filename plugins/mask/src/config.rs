//! Settings of `mask`.

use std::path::PathBuf;

use daqflow_sdk::prelude::*;

/// The NeXus NXdetector pixel mask (what DECTRIS master files hold; non-zero = bad).
pub const DEFAULT_DATASET: &str = "/entry/instrument/detector/pixel_mask";

fn default_dataset() -> String {
    DEFAULT_DATASET.to_string()
}

/// A rectangle of masked pixels, in frame pixels (x = column, y = row, from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// First masked column.
    pub x: u32,
    /// First masked row.
    pub y: u32,
    /// Columns masked (≥ 1).
    pub width: u32,
    /// Rows masked (≥ 1).
    pub height: u32,
}

/// Settings of `mask`. Give `file`, `rects` or both (their union is masked).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HDF5 file holding a pixel mask of the frames' shape: non-zero = masked. A 2-D
    /// (height, width) dataset or 3-D with one frame, any numeric type. A relative path
    /// starts at the working directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The dataset in `file` (default "/entry/instrument/detector/pixel_mask", the NeXus
    /// detector mask).
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Rectangles to mask: `rects = [{x = 0, y = 0, width = 16, height = 512}, …]`; each
    /// must lie inside the frame.
    #[serde(default)]
    pub rects: Vec<Rect>,
    /// What masked pixels become (default 0). Rounded to nearest and clamped to the
    /// frame's dtype (−1 becomes 0 and 300 becomes 255 on u8 frames).
    #[serde(default)]
    pub value: f64,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        if self.file.is_none() && self.rects.is_empty() {
            errors.push(SettingsError::new(
                "",
                "nothing to mask: set `file = \"mask.h5\"` (an HDF5 pixel mask) and/or `rects = [{x = …, y = …, width = …, height = …}]`",
            ));
        }
        if self.dataset.trim().is_empty() {
            errors.push(SettingsError::new(
                "dataset",
                "must name a dataset path, e.g. \"/entry/instrument/detector/pixel_mask\"",
            ));
        }
        for (i, r) in self.rects.iter().enumerate() {
            if r.width == 0 || r.height == 0 {
                errors.push(SettingsError::new(
                    "rects",
                    format!(
                        "rects[{i}] is {}×{}: width and height must be ≥ 1",
                        r.width, r.height
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Settings {
    /// Every rectangle that does not fit frames of `width × height`, as settings errors.
    pub fn check_rects(&self, width: u32, height: u32) -> Vec<SettingsError> {
        let mut errors = Vec::new();
        for (i, r) in self.rects.iter().enumerate() {
            let right = u64::from(r.x) + u64::from(r.width);
            let bottom = u64::from(r.y) + u64::from(r.height);
            if right > u64::from(width) || bottom > u64::from(height) {
                errors.push(SettingsError::new(
                    "rects",
                    format!(
                        "rects[{i}] (x {}..{right}, y {}..{bottom}) does not fit the {width}×{height} frames",
                        r.x, r.y
                    ),
                ));
            }
        }
        errors
    }
}

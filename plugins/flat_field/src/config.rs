//! Settings of `flat_field`.

use std::path::PathBuf;

use daqflow_reference::ReferenceSource;
use daqflow_sdk::prelude::*;

/// Where the `hdf5` sink's files keep the frames (the NXdata link), so a flat recorded
/// with daqflow is read without setting `dataset`.
pub const DEFAULT_DATASET: &str = "/entry/data/data";

fn default_dataset() -> String {
    DEFAULT_DATASET.to_string()
}

/// Settings of `flat_field`. Give `reference` or `from_first_frames`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HDF5 file holding the flat: a 2-D (height, width) image or a 3-D (frames, height,
    /// width) series, averaged over its frames. Any numeric type. Subtract the dark from
    /// it first. A relative path starts at the working directory. Give this or
    /// `from_first_frames`.
    #[serde(default)]
    pub reference: Option<PathBuf>,
    /// The dataset in `reference` (default "/entry/data/data", where the `hdf5` sink's
    /// files keep the frames).
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Instead of a file: average the first N frames of the run into the flat (uniform
    /// illumination). Those frames are not emitted (counter `reference_frames`); every
    /// later frame is corrected.
    #[serde(default)]
    pub from_first_frames: Option<u32>,
    /// The numerator of the correction, out = in × scale / flat (areaDetector's
    /// ScaleFlatField). Default: the mean of the flat over its valid pixels (flat > 0),
    /// which keeps the average intensity.
    #[serde(default)]
    pub scale: Option<f64>,
}

impl Settings {
    /// Where the flat comes from (the settings are validated).
    pub fn source(&self) -> Result<ReferenceSource, Vec<SettingsError>> {
        ReferenceSource::from_settings(
            "flat",
            self.reference.as_deref(),
            &self.dataset,
            self.from_first_frames,
        )
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = self.source().err().unwrap_or_default();
        if let Some(s) = self.scale
            && !(s.is_finite() && s > 0.0)
        {
            errors.push(SettingsError::new(
                "scale",
                format!(
                    "must be a finite number > 0, not {s}; leave it out to use the flat's mean"
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

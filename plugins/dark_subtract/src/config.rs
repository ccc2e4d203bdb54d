//! Settings of `dark_subtract`.

use std::path::PathBuf;

use daqflow_reference::ReferenceSource;
use daqflow_sdk::prelude::*;

/// Where the `hdf5` sink's files keep the frames (the NXdata link), so a dark recorded
/// with daqflow is read without setting `dataset`.
pub const DEFAULT_DATASET: &str = "/entry/data/data";

fn default_dataset() -> String {
    DEFAULT_DATASET.to_string()
}

/// Settings of `dark_subtract`. Give `reference` or `from_first_frames`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HDF5 file holding the dark: a 2-D (height, width) image or a 3-D (frames, height,
    /// width) series, averaged over its frames. Any numeric type. A relative path starts at
    /// the working directory. Give this or `from_first_frames`.
    #[serde(default)]
    pub reference: Option<PathBuf>,
    /// The dataset in `reference` (default "/entry/data/data", where the `hdf5` sink's
    /// files keep the frames).
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Instead of a file: average the first N frames of the run into the dark (shutter
    /// closed). Those frames are not emitted (counter `reference_frames`); every later frame
    /// is corrected.
    #[serde(default)]
    pub from_first_frames: Option<u32>,
}

impl Settings {
    /// Where the dark comes from (the settings are validated).
    pub fn source(&self) -> Result<ReferenceSource, Vec<SettingsError>> {
        ReferenceSource::from_settings(
            "dark",
            self.reference.as_deref(),
            &self.dataset,
            self.from_first_frames,
        )
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        self.source().map(|_| ())
    }
}

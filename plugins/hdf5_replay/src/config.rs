//! Settings of the `hdf5_replay` source: the user reference shown by `daqflow plugins`.
//! Their checks open the files, so `daqflow validate` reports a missing file, a missing
//! dataset or an unreadable layout before the run. Run state lives in `source.rs`.

use daqflow_sdk::prelude::*;

use crate::open::Plan;
use crate::select::Selection;

/// How frames are timed and stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "daqflow_sdk::schemars")]
pub enum Timestamps {
    /// Frames carry the timestamps recorded in the file (the `timestamp` dataset beside
    /// the frames; emission time when the file has none) and are emitted at `rate_hz`.
    Recorded,
    /// As `recorded`, and frames are emitted at the recorded pace: the spacing of the
    /// `timestamp` dataset (needs that dataset, and `rate_hz = 0`).
    Original,
    /// Frames are stamped with the time they are emitted, at `rate_hz`.
    Now,
}

/// Settings of the `hdf5_replay` source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "daqflow_sdk::schemars")]
pub struct Settings {
    /// The file to replay: one HDF5 file, a VDS master (the master file of a rotated
    /// `hdf5` run), or a glob of files (`*` and `?` in the file name, not in directories)
    /// replayed one after the other in name order. Relative paths start at the working
    /// directory.
    pub path: String,
    /// HDF5 path of the frames: a 3-D `[frame, y, x]` dataset of u8, u16, u32 or f32.
    /// Per-frame `frame_number`, `timestamp` and `frame_metadata/<key>` datasets beside it
    /// (or beside the dataset it is a link of, as in files the `hdf5` sink wrote) come back
    /// as the frames' numbers, timestamps and metadata.
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Frames to replay, Python-style `"start:stop:step"` over all frames of all files
    /// (`"100:"`, `":50"`, `"::2"`, `"-10:"`, `"::-1"` backwards, `"7"` one frame).
    #[serde(default = "default_frames")]
    pub frames: String,
    /// Frames per second; `0` = as fast as the pipeline takes them.
    #[serde(default)]
    pub rate_hz: f64,
    /// Times to replay the selection; `0` = forever (until the pipeline stops). Frame
    /// numbers and timestamps keep increasing from one pass to the next.
    #[serde(default = "default_loop", rename = "loop")]
    pub loop_count: u64,
    /// `"recorded"`: the file's timestamps, frames at `rate_hz`; `"original"`: the file's
    /// timestamps at the recorded pace; `"now"`: stamped when emitted.
    #[serde(default = "default_timestamps")]
    pub timestamps: Timestamps,
}

/// Default of `dataset`: the NXdata link the `hdf5` sink and DECTRIS detectors write.
pub const DEFAULT_DATASET: &str = "/entry/data/data";

fn default_dataset() -> String {
    DEFAULT_DATASET.to_owned()
}

fn default_frames() -> String {
    ":".to_owned()
}

fn default_loop() -> u64 {
    1
}

fn default_timestamps() -> Timestamps {
    Timestamps::Recorded
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(SettingsError::new("path", "must not be empty"));
        }
        if !self.dataset.starts_with('/') {
            errors.push(SettingsError::new(
                "dataset",
                format!(
                    "`{}` must be an absolute HDF5 path, like `{DEFAULT_DATASET}`",
                    self.dataset
                ),
            ));
        }
        let selection = Selection::parse(&self.frames);
        if let Err(e) = &selection {
            errors.push(SettingsError::new("frames", e.clone()));
        }
        if !self.rate_hz.is_finite() || self.rate_hz < 0.0 {
            errors.push(SettingsError::new(
                "rate_hz",
                format!(
                    "{} must be a number ≥ 0 (0 = as fast as possible)",
                    self.rate_hz
                ),
            ));
        }
        if self.timestamps == Timestamps::Original && self.rate_hz > 0.0 {
            errors.push(SettingsError::new(
                "rate_hz",
                "`timestamps = \"original\"` replays at the recorded pace; remove `rate_hz` \
                 (or use `timestamps = \"recorded\"` to replay at a fixed rate)",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // The files themselves: a missing file or dataset is reported by `validate`.
        let plan =
            Plan::open(self).map_err(|e| vec![SettingsError::new(e.field(), e.to_string())])?;
        if let Ok(sel) = selection
            && sel.indices(plan.total_frames()).is_empty()
        {
            errors.push(SettingsError::new(
                "frames",
                format!(
                    "`{}` selects no frame of the {} in {}",
                    self.frames,
                    plural(plan.total_frames(), "frame"),
                    self.path
                ),
            ));
        }
        if self.timestamps == Timestamps::Original && !plan.has_timestamps() {
            errors.push(SettingsError::new(
                "timestamps",
                format!(
                    "`\"original\"` needs a `timestamp` dataset beside {} in {}; it has none \
                     — use `rate_hz` instead",
                    self.dataset, self.path
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

/// `"1 frame"`, `"3 frames"`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

//! Where a reference comes from ([`ReferenceSource`]: an HDF5 file or the first frames of
//! the run) and the checks a filter's `validate` / `output_format` share.

use std::path::{Path, PathBuf};

use daqflow_sdk::prelude::*;

use crate::error::ReferenceError;
use crate::file::dataset_shape;

/// Where a filter's reference comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceSource {
    /// A dataset in an HDF5 file, averaged over its frames.
    File {
        /// The file.
        path: PathBuf,
        /// The dataset in it.
        dataset: String,
    },
    /// The first N frames of the run, averaged and not emitted.
    FirstFrames(u32),
}

impl ReferenceSource {
    /// Reads the settings `reference` (a file), `dataset` and `from_first_frames`: exactly
    /// one of `reference` and `from_first_frames`, N ≥ 1, a dataset path. `kind` names the
    /// reference in messages ("dark", "flat").
    pub fn from_settings(
        kind: &str,
        reference: Option<&Path>,
        dataset: &str,
        from_first_frames: Option<u32>,
    ) -> Result<ReferenceSource, Vec<SettingsError>> {
        let mut errors = Vec::new();
        if dataset.trim().is_empty() {
            errors.push(SettingsError::new(
                "dataset",
                "must name a dataset path, e.g. \"/entry/data/data\"",
            ));
        }
        if from_first_frames == Some(0) {
            errors.push(SettingsError::new(
                "from_first_frames",
                format!("must be at least 1 (the number of frames averaged into the {kind})"),
            ));
        }
        let source = match (reference, from_first_frames) {
            (Some(path), None) => Some(ReferenceSource::File {
                path: path.to_path_buf(),
                dataset: dataset.to_string(),
            }),
            (None, Some(n)) => Some(ReferenceSource::FirstFrames(n)),
            (Some(_), Some(_)) => {
                errors.push(SettingsError::new(
                    "from_first_frames",
                    format!(
                        "give either `reference` (an HDF5 file holding the {kind}) or `from_first_frames`, not both"
                    ),
                ));
                None
            }
            (None, None) => {
                errors.push(SettingsError::new(
                    "",
                    format!(
                        "no {kind}: set `reference = \"{kind}.h5\"` (an HDF5 file; `dataset` defaults to /entry/data/data) or `from_first_frames = N` (average the run's first N frames)"
                    ),
                ));
                None
            }
        };
        match source {
            Some(s) if errors.is_empty() => Ok(s),
            _ => Err(errors),
        }
    }

    /// True for a file (the filter then depends on nothing but the frame: `parallel`).
    pub fn is_file(&self) -> bool {
        matches!(self, ReferenceSource::File { .. })
    }

    /// How messages name it: `dark.h5:/entry/data/data`, `the dark from the first 10 frames`.
    pub fn describe(&self, kind: &str) -> String {
        match self {
            ReferenceSource::File { path, dataset } => format!("{}:{dataset}", path.display()),
            ReferenceSource::FirstFrames(n) => {
                format!(
                    "the {kind} from the first {n} frame{}",
                    if *n == 1 { "" } else { "s" }
                )
            }
        }
    }
}

/// Refuses compressed frames: `plugin` needs raw pixels.
pub fn refuse_encoded(plugin: &str, input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
    if input.encoding.is_raw() {
        return Ok(());
    }
    Err(vec![SettingsError::new(
        "",
        format!(
            "{plugin} needs raw pixels, not {} frames; decode them first or apply {plugin} before compressing",
            input.encoding
        ),
    )])
}

/// At `validate`: when `file` exists, reads only the shape of `file:dataset` and refuses it
/// if it does not match `input`. A file that does not exist yet passes (it may be recorded
/// before the run; the filter then reports it when it starts). `file_field` is the setting
/// holding the file name.
pub fn check_against_input(
    file: &Path,
    dataset: &str,
    file_field: &str,
    input: &FrameFormat,
) -> Result<(), Vec<SettingsError>> {
    if !file.exists() {
        return Ok(());
    }
    let shape = dataset_shape(file, dataset).map_err(|e| {
        let field = match e {
            ReferenceError::NoDataset { .. } | ReferenceError::Rank { .. } => "dataset",
            _ => file_field,
        };
        vec![SettingsError::new(field, e.to_string())]
    })?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    if (w, h) != (input.width, input.height) {
        let e = ReferenceError::Shape {
            what: format!("{}:{dataset}", file.display()),
            ref_width: w,
            ref_height: h,
            width: input.width,
            height: input.height,
        };
        return Err(vec![SettingsError::new(file_field, e.to_string())]);
    }
    Ok(())
}

/// Settings errors as one line, for a `PluginError` (`` `dataset`: must …; … ``).
pub fn join_errors(errors: &[SettingsError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

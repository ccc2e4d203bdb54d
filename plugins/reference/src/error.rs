//! [`ReferenceError`]: every way getting a reference can fail, each message naming the
//! file, the dataset and the fix.

use std::path::PathBuf;

/// Why a reference or mask could not be read or does not fit the frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The file does not exist.
    #[error(
        "{file}: no such file (wanted dataset {dataset}); record the reference first or fix the path{cwd_note}",
        file = file.display()
    )]
    NoFile {
        /// The path as given.
        file: PathBuf,
        /// The dataset asked for.
        dataset: String,
        /// " (relative paths start at the working directory …)" for a relative path.
        cwd_note: String,
    },
    /// HDF5 could not open the file.
    #[error("open {file} as HDF5: {detail}", file = file.display())]
    Open {
        /// The file.
        file: PathBuf,
        /// HDF5's message.
        detail: String,
    },
    /// The file has no such dataset.
    #[error(
        "{file} has no dataset {dataset}; set `dataset` to the right path{hint}",
        file = file.display()
    )]
    NoDataset {
        /// The file.
        file: PathBuf,
        /// The dataset asked for.
        dataset: String,
        /// " (the file has: /a, /b)" when the file has datasets.
        hint: String,
    },
    /// The dataset is neither 2-D nor 3-D, or holds no frame.
    #[error(
        "{file}:{dataset} has shape {shape:?}; {expected}",
        file = file.display()
    )]
    Rank {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// Its shape.
        shape: Vec<usize>,
        /// What was expected.
        expected: &'static str,
    },
    /// Reading the dataset failed (including a non-numeric type).
    #[error("read {file}:{dataset}: {detail}", file = file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// HDF5's message.
        detail: String,
    },
    /// The reference and the frames differ in shape.
    #[error(
        "{what} is {ref_width}×{ref_height}, the frames are {width}×{height}; use a reference taken with the same detector geometry (and the same crop/binning)"
    )]
    Shape {
        /// The reference: "dark.h5:/entry/data/data" or "the dark from the first 10 frames".
        what: String,
        /// Reference width.
        ref_width: u32,
        /// Reference height.
        ref_height: u32,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

impl From<ReferenceError> for daqflow_sdk::PluginError {
    fn from(e: ReferenceError) -> Self {
        daqflow_sdk::PluginError::new(e.to_string())
    }
}

//! [`ReplayError`]: every way replaying can fail, each message naming the file, the
//! dataset and the fix. `daqflow validate` shows the same messages (see `config.rs`).

use std::path::PathBuf;

use daqflow_sdk::PluginError;

/// Why a file cannot be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A glob matched no file.
    #[error("no file matches {pattern}{cwd_note}; fix `path`")]
    NoMatch {
        /// The pattern.
        pattern: String,
        /// Where relative paths start.
        cwd_note: String,
    },
    /// The file does not exist.
    #[error("{file}: no such file (wanted dataset {dataset}); fix `path`{cwd_note}", file = file.display())]
    NoFile {
        /// The path as given.
        file: PathBuf,
        /// The dataset asked for.
        dataset: String,
        /// Where relative paths start.
        cwd_note: String,
    },
    /// HDF5 could not open the file.
    #[error("open {file} as HDF5: {detail}", file = file.display())]
    Open {
        /// The file.
        file: PathBuf,
        /// Why, with the fix when known.
        detail: String,
    },
    /// The file has no such dataset.
    #[error("{file} has no dataset {dataset}; set `dataset` to the right path{hint}", file = file.display())]
    NoDataset {
        /// The file.
        file: PathBuf,
        /// The dataset asked for.
        dataset: String,
        /// " (3-D datasets in the file: /a, /b)".
        hint: String,
    },
    /// The dataset is not `[frame, y, x]`.
    #[error(
        "{file}:{dataset} has shape {shape:?}; replay needs a 3-D [frame, y, x] dataset{hint}",
        file = file.display()
    )]
    Shape {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// Its shape.
        shape: Vec<usize>,
        /// A hint for the common cases (a single image, a 4-D series).
        hint: &'static str,
    },
    /// The element type is not one daqflow frames have.
    #[error(
        "{file}:{dataset} holds {found}; replay supports u8, u16, u32 and f32 pixels \
         (convert the file, e.g. with h5py, or record it with a cast filter)",
        file = file.display()
    )]
    DType {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// The element type found.
        found: String,
    },
    /// A compression filter this process cannot decode.
    #[error(
        "{file}:{dataset} is compressed with HDF5 filter {id} ({name}), which is not \
         available; install its HDF5 plugin and set HDF5_PLUGIN_PATH (lz4 and bitshuffle \
         are built in)",
        file = file.display()
    )]
    Filter {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// Filter id.
        id: i32,
        /// Filter name as recorded in the file.
        name: String,
    },
    /// A file of a glob (or a part of a VDS) differs from the first one.
    #[error(
        "{file}:{dataset} has {found} frames but {first} has {expected}; the files of one \
         replay must share pixel type, shape and compression",
        file = file.display(), first = first.display()
    )]
    Mismatch {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// Its frame format.
        found: String,
        /// The first file.
        first: PathBuf,
        /// The first file's frame format.
        expected: String,
    },
    /// Reading failed.
    #[error("read {what} of {file}:{dataset}: {detail}", file = file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The dataset.
        dataset: String,
        /// What was read (`frame 12`, `frame_metadata/exposure`).
        what: String,
        /// HDF5's reason.
        detail: String,
    },
}

impl ReplayError {
    /// The setting a `validate` message points at.
    pub fn field(&self) -> &'static str {
        match self {
            ReplayError::NoMatch { .. }
            | ReplayError::NoFile { .. }
            | ReplayError::Open { .. }
            | ReplayError::Mismatch { .. } => "path",
            _ => "dataset",
        }
    }
}

impl From<ReplayError> for PluginError {
    fn from(e: ReplayError) -> Self {
        PluginError::new(e.to_string())
    }
}

/// " (relative paths start at the working directory, /x)" for a relative path.
pub fn cwd_note(path: &std::path::Path) -> String {
    if path.is_relative() {
        std::env::current_dir()
            .map(|d| {
                format!(
                    " (relative paths start at the working directory, {})",
                    d.display()
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    }
}

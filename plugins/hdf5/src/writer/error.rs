//! The writer's errors and where their text comes from: [`WriteError`] (each names the
//! file and the operation), HDF5's error stack read into one line with the OS error when
//! there is one, and [`checked`] for raw `hdf5-sys` calls that must capture that stack
//! before the library lock is released.

use std::path::{Path, PathBuf};

/// A failed file operation; the message names the file and the operation.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file exists and `overwrite` is off.
    #[error("create {}: the file exists; set `overwrite = true` to replace it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be created (directory missing, permissions, …).
    #[error("create {}: {reason}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An HDF5 call failed.
    #[error("{op} in {}: {reason}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done (`append frame 812 to /entry/instrument/detector/data`).
        op: String,
        /// HDF5's reason, with the OS error when there is one.
        reason: String,
    },
    /// A frame that does not match the file's dataset.
    #[error("append frame {frame} to {}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Frame number.
        frame: u64,
        /// The mismatch.
        reason: String,
    },
    /// The compression filters could not be registered.
    #[error(transparent)]
    Filter(#[from] FilterError),
}

pub use daqflow_hdf5_filters::FilterError;
pub(super) use daqflow_hdf5_filters::{describe, last_error as last_hdf5_error};

/// Maps an `hdf5` crate error to [`WriteError::Hdf5`] naming `path` and `op`.
pub(super) fn hdf5_err(
    path: &Path,
    op: impl Into<String>,
) -> impl FnOnce(hdf5::Error) -> WriteError {
    let path = path.to_owned();
    let op = op.into();
    move |e| WriteError::Hdf5 {
        path,
        op,
        reason: describe(&e),
    }
}

/// Runs a raw HDF5 call under the library lock; a negative status becomes an error with
/// the error stack captured before the lock is released.
pub(super) fn checked(
    path: &Path,
    op: impl FnOnce() -> String,
    call: impl FnOnce() -> i32,
) -> Result<(), WriteError> {
    let failure = hdf5::sync::sync(|| {
        if call() < 0 {
            Some(last_hdf5_error())
        } else {
            None
        }
    });
    match failure {
        None => Ok(()),
        Some(reason) => Err(WriteError::Hdf5 {
            path: path.to_owned(),
            op: op(),
            reason,
        }),
    }
}

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

/// A filter could not be registered with the HDF5 library.
#[derive(Debug, Clone, thiserror::Error)]
#[error("register HDF5 filter {id} ({name}) with H5Zregister: {detail}")]
pub struct FilterError {
    /// Filter id.
    pub id: i32,
    /// Filter name.
    pub name: String,
    /// HDF5's reason.
    pub detail: String,
}

/// The current HDF5 error stack as one line: outermost operation, then the innermost
/// cause (which carries the OS error text, e.g. `No space left on device`).
pub(super) fn last_hdf5_error() -> String {
    describe(&hdf5::Error::query().unwrap_or_else(|e| e))
}

/// An HDF5 error as one line: its stack's outermost operation, then the innermost cause.
pub(super) fn describe(e: &hdf5::Error) -> String {
    let Some(stack) = e.stack() else {
        return e.to_string();
    };
    let descs: Vec<String> = stack
        .iter()
        .map(|f| os_error(f.desc()).unwrap_or_else(|| f.desc().to_owned()))
        .collect();
    match (descs.first(), descs.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {last}"),
        (Some(first), _) => first.clone(),
        _ => e.to_string(),
    }
}

/// `… errno = 28, error message = 'No space left on device', …` → the OS message.
fn os_error(desc: &str) -> Option<String> {
    let start = desc.find("error message = '")? + "error message = '".len();
    let len = desc[start..].find('\'')?;
    let errno = desc
        .find("errno = ")
        .and_then(|i| desc[i + 8..].split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("?");
    Some(format!("{} (errno {errno})", &desc[start..start + len]))
}

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

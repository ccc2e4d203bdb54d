//! [`write_dataset`]: writes an array as a dataset of a new HDF5 file — how tests (and a
//! user's own tools) make reference and mask files.

use std::path::Path;

use ndarray::{ArrayView, Dimension};

/// Creates `file` (replacing it) with `array` at `dataset` (intermediate groups created).
pub fn write_dataset<T: hdf5::H5Type, D: Dimension>(
    file: &Path,
    dataset: &str,
    array: ArrayView<'_, T, D>,
) -> hdf5::Result<()> {
    let f = hdf5::File::create(file)?;
    let (parent, name) = match dataset.trim_start_matches('/').rsplit_once('/') {
        Some((parent, name)) => (Some(parent), name),
        None => (None, dataset.trim_start_matches('/')),
    };
    let group = match parent {
        Some(p) => f.create_group(p).or_else(|_| f.group(p))?,
        None => f.group("/")?,
    };
    group.new_dataset_builder().with_data(array).create(name)?;
    Ok(())
}

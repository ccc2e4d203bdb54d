//! `daqflow-reference`: what daqflow's correction filters (`dark_subtract`, `flat_field`,
//! `mask`) share, written once — reading a reference image or a pixel mask from an HDF5
//! dataset (averaging its frames), averaging the first frames of a run into a reference,
//! and the settings checks and messages around both (a wrong shape names both shapes; a
//! missing file or dataset names the file, the dataset and the fix).
//!
//! A plain library (`rlib`), not a plugin: the plugin scanner only loads
//! `libdaqflow_plugin_*.so`.

mod average;
mod error;
mod file;
mod reference;
mod sample;
mod source;
mod write;

pub use average::{FirstFrames, FrameAverager};
pub use error::ReferenceError;
pub use file::{DatasetShape, dataset_shape, read_mask, read_mean};
pub use reference::{Reference, Taken};
pub use sample::Sample;
pub use source::{ReferenceSource, check_against_input, join_errors, refuse_encoded};
pub use write::write_dataset;

/// The HDF5 element types [`write_dataset`] takes.
pub use hdf5::H5Type;

/// A reference image: one f32 per pixel, row-major, `width × height`.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `height × width` values, row-major.
    pub pixels: Vec<f32>,
}

impl Image {
    /// True when frames of `width × height` match this image.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        self.width == width && self.height == height
    }
}

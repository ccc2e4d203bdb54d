//! `mask`: pixels of a mask — non-zero pixels of an HDF5 dataset (a NeXus `pixel_mask`)
//! and/or rectangles — are set to `value`, in place. The mask is turned once per frame
//! shape into runs of masked pixels, so a frame costs one `fill` per run.

mod config;
mod filter;

pub use config::{DEFAULT_DATASET, Rect, Settings};
pub use filter::{Mask, Run, fill_runs, runs_from_mask};

daqflow_sdk::export_plugin!(
    filter Mask,
    name = "mask",
    description = "Sets masked pixels (an HDF5 pixel mask and/or rectangles) to a value"
);

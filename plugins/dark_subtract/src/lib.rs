//! `dark_subtract`: out = in − dark, per pixel, in place. The dark comes from an HDF5 file
//! (averaged over its frames) or from the first N frames of the run (averaged, not
//! emitted). See `README.md` for the settings and the exact arithmetic.

mod config;
mod filter;

pub use config::{DEFAULT_DATASET, Settings};
pub use filter::{DarkSubtract, subtract};

daqflow_sdk::export_plugin!(
    filter DarkSubtract,
    name = "dark_subtract",
    description = "Subtracts a dark (background) frame read from HDF5 or averaged from the run's first frames"
);

//! `flat_field`: out = in × scale / flat per pixel, in place, where scale is the mean of
//! the flat's valid pixels (or the `scale` setting). The flat comes from an HDF5 file
//! (averaged over its frames) or from the first N frames of the run (averaged, not
//! emitted). See `README.md` for the settings and the exact arithmetic.

mod config;
mod filter;

pub use config::{DEFAULT_DATASET, Settings};
pub use filter::{FlatField, apply_gain, gain_from_flat};

daqflow_sdk::export_plugin!(
    filter FlatField,
    name = "flat_field",
    description = "Flat-field correction: out = in × mean(flat) / flat, flat read from HDF5 or averaged from the run's first frames"
);

//! `daqflow-hdf5-filters`: what every daqflow plugin that talks to libhdf5 shares — the
//! LZ4 (32004) and bitshuffle-LZ4 (32008) filters registered in-process ([`register`]),
//! backed by `daqflow-codec`, so that files are written and read back without
//! `HDF5_PLUGIN_PATH` or hdf5plugin; and HDF5's error stack read into one line
//! ([`describe`], [`last_error`]) with the OS error when there is one.
//!
//! A plain library (`rlib`), not a plugin: the plugin scanner only loads
//! `libdaqflow_plugin_*.so`. Used by the `hdf5` writer and the `hdf5_replay` source.

mod errors;
mod filters;

pub use errors::{describe, last_error};
pub use filters::{FilterError, register, register_class};

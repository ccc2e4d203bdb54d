//! The `hdf5` sink: records frames into NeXus-layout HDF5 files with direct chunk writes,
//! LZ4 / bitshuffle-LZ4 compression in worker threads, SWMR, periodic flush and rotation.
//! See `sink.rs` for the threads, `writer.rs` for the file layout, `meta.rs` for per-frame
//! metadata, `filters.rs` for the HDF5 filters (the codecs are in `daqflow-codec`), and `config.rs`
//! for the settings.

pub mod config;
pub mod filters;
pub mod meta;
pub mod sink;
pub mod writer;

// The chunk codecs live in `daqflow-codec` (the viewer decodes the same formats).
pub use daqflow_codec::{bitshuffle, lz4chunk};

daqflow_sdk::export_plugin!(
    sink sink::Hdf5Sink,
    name = "hdf5",
    description = "Records frames to NeXus HDF5 files (direct chunk write, lz4/bslz4, SWMR, rotation + VDS master)"
);

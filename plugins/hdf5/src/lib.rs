//! The `hdf5` sink: records frames into NeXus-layout HDF5 files with direct chunk writes,
//! LZ4 / bitshuffle-LZ4 compression in worker threads, SWMR, periodic flush and rotation.
//! See `sink.rs` for the threads, `writer.rs` for the file layout, `meta.rs` for per-frame
//! metadata, `bitshuffle.rs`/`lz4chunk.rs`/`filters.rs` for compression, and `config.rs`
//! for the settings.

pub mod bitshuffle;
pub mod config;
pub mod filters;
pub mod lz4chunk;
pub mod meta;
pub mod sink;
pub mod writer;

daqflow_sdk::export_plugin!(
    sink sink::Hdf5Sink,
    name = "hdf5",
    description = "Records frames to NeXus HDF5 files (direct chunk write, lz4/bslz4, SWMR, rotation + VDS master)"
);

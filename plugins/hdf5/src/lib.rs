//! The `hdf5` sink: records frames into NeXus-layout HDF5 files with direct chunk writes,
//! LZ4 / bitshuffle-LZ4 compression in worker threads, SWMR, periodic flush and rotation.
//! `config` holds the settings, `sink` the node and its threads, `encoder` the chunk
//! compression (codecs from `daqflow-codec`), `ordered` the worker pool that runs it in
//! order, `stages` the encoder and writer threads' work, `format` what a run writes, `time`
//! the UTC stamps, and `writer` everything that calls libhdf5.

pub mod config;
pub mod encoder;
pub mod format;
pub mod ordered;
pub mod sink;
mod stages;
pub mod time;
pub mod writer;

daqflow_sdk::export_plugin!(
    sink sink::Hdf5Sink,
    name = "hdf5",
    description = "Records frames to NeXus HDF5 files (direct chunk write, lz4/bslz4, SWMR, rotation + VDS master)"
);

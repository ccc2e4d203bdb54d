//! The `hdf5_replay` source: reads frames back from HDF5 files — one file, a glob of files
//! in order, or a VDS master of a rotated run — and emits them with their frame numbers,
//! timestamps and per-frame metadata. LZ4 and bitshuffle-LZ4 chunks of one frame are read
//! as they are (HDF5 direct chunk read) and passed on with their encoding; other layouts
//! are decoded by HDF5.
//!
//! `config` holds the settings, `select` the frame range, `error` the messages, `open` what
//! a file holds (the plan: format, frame counts, how to read), `vds` the sources of a VDS,
//! `columns` the per-frame metadata, `read` the reading of one frame, `source` the node
//! (pacing, loops).

pub mod columns;
pub mod config;
pub mod error;
pub mod open;
pub mod read;
pub mod select;
pub mod source;
pub mod vds;

daqflow_sdk::export_plugin!(
    source source::Hdf5Replay,
    name = "hdf5_replay",
    description = "Replays frames and per-frame metadata from HDF5 files (a file, a glob, a VDS master); compressed chunks passed on as they are"
);

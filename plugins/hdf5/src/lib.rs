//! The `hdf5` sink: records frames into NeXus-layout HDF5 files with direct chunk writes,
//! LZ4 / bitshuffle-LZ4 compression in worker threads, SWMR, periodic flush and rotation.

pub mod bitshuffle;
pub mod lz4chunk;

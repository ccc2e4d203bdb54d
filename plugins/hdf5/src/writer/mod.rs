//! The HDF5 side of the sink: everything that calls libhdf5. It runs on the sink's single
//! writer thread and takes the process-wide HDF5 lock (`hdf5::sync::sync`) around each
//! library call; compression happens before, in the encoder threads. Layout of a file (the
//! dataset path is configurable, shown with its default):
//!
//! ```text
//! /                          NX_class=NXroot, default=entry, creator, file_name, file_time
//! /entry                     NXentry: start_time, end_time, frame_count, entry_identifier,
//!                            program_name, writer_settings (NXnote, JSON)
//! /entry/instrument          NXinstrument
//! /entry/instrument/detector NXdetector: data [frame, y, x] (chunk = one frame),
//!                            frame_number [frame], timestamp [frame] (ns since epoch),
//!                            frame_metadata/<key> [frame] (see `meta.rs`)
//! /entry/data                NXdata, signal=data: `data` hard-linked to the detector data
//! ```
//!
//! Modules, lowest first (each uses only those above it): `error` (errors, HDF5's error
//! stack), `filters` (the LZ4/bitshuffle filters registered in-process), `descriptor` (OS
//! descriptor tricks), `nexus` (the layout apart from frames), `meta` (per-frame metadata
//! columns), `file` (the appender), `master` (the VDS master), `rotation` ([`RunWriter`]); `series` (a series' description
//! as NeXus fields, once per file).

mod descriptor;
mod error;
mod file;
mod master;
pub mod meta;
mod nexus;
mod rotation;
mod series;

/// The LZ4/bitshuffle filters, registered in-process (shared with `hdf5_replay`).
pub use daqflow_hdf5_filters as filters;

pub use error::WriteError;
pub use meta::MetaCell;
pub use rotation::RunWriter;

//! What a run writes, shared by the sink, the encoder and the HDF5 writer: the frame
//! format fixed by the first frame (pixel type, shape, chunk compression) with its chunk
//! sizes, and the file options every file of a run is written with.

use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::DType;

use crate::config::Compression;

/// What every frame of a file has in common; fixed by the first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFormat {
    /// Pixel type.
    pub dtype: DType,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Chunk filter of the dataset.
    pub compression: Compression,
}

impl FrameFormat {
    /// Uncompressed bytes of one frame.
    pub fn frame_bytes(&self) -> usize {
        self.height as usize * self.width as usize * self.dtype.size_bytes()
    }

    /// Worst-case chunk size, for buffers.
    pub fn max_chunk_bytes(&self) -> usize {
        let n = self.frame_bytes();
        match self.compression {
            Compression::None => n,
            Compression::Lz4 => lz4chunk::max_compressed_len(n),
            Compression::Bslz4 => bitshuffle::max_compressed_len(n, self.dtype.size_bytes()),
        }
    }
}

/// How files are written; shared by the parts and the master of a run.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// SWMR mode.
    pub swmr: bool,
    /// Flush every N frames; 0 = at close only.
    pub flush_every: u64,
    /// Also flush when this long has passed since the last flush and frames are pending.
    pub flush_interval: Option<std::time::Duration>,
    /// Replace existing files.
    pub overwrite: bool,
    /// Absolute HDF5 path of the frame dataset.
    pub dataset: String,
    /// Settings recorded in the file (JSON).
    pub settings_json: String,
    /// Run id recorded as `entry_identifier`.
    pub run_id: String,
}

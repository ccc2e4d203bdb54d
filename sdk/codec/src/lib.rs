//! The frame encodings of daqflow, in Rust: the HDF5 LZ4 filter's chunks (32004,
//! [`lz4chunk`]) and bitshuffle-LZ4's (32008, [`bitshuffle`]), byte for byte what h5py +
//! hdf5plugin read. A source that delivers compressed frames (as many detectors do) marks
//! them with the SDK's [`Encoding`]; the HDF5 writer stores them as they are, and
//! [`Decoder`] turns them back into pixels for whoever needs them (the viewer).
//!
//! ```
//! use daqflow_codec::{Decoder, bitshuffle};
//! use daqflow_sdk::Encoding;
//!
//! let pixels: Vec<u8> = (0..4096u16).flat_map(|v| (v % 7).to_ne_bytes()).collect();
//! let mut chunk = vec![0; bitshuffle::max_compressed_len(pixels.len(), 2)];
//! let n = bitshuffle::Compressor::default().compress(&pixels, 2, &mut chunk).unwrap();
//!
//! let mut out = vec![0; pixels.len()];
//! Decoder::default().decode(Encoding::BsLz4, 2, &chunk[..n], &mut out).unwrap();
//! assert_eq!(out, pixels);
//! ```

pub mod bitshuffle;
pub mod lz4chunk;

use daqflow_sdk::Encoding;

/// A chunk that cannot be encoded or decoded. Shared by both chunk formats.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The chunk ends before the structure its header announces.
    #[error("chunk truncated or corrupt at byte {at}")]
    Truncated {
        /// Offset where more bytes were needed.
        at: usize,
    },
    /// The header's uncompressed size is not the frame size the dataset expects.
    #[error("chunk header says {header} bytes uncompressed, expected {expected}")]
    SizeMismatch {
        /// Size in the chunk header.
        header: u64,
        /// Size the caller expected.
        expected: usize,
    },
    /// The data is not a whole number of elements.
    #[error("{len} bytes is not a whole number of {elem_size}-byte elements")]
    PartialElement {
        /// Byte length.
        len: usize,
        /// Element size in bytes.
        elem_size: usize,
    },
    /// A block size in a chunk header that no writer produces.
    #[error("invalid block size {0} in chunk header")]
    BadBlockSize(usize),
    /// Output buffer smaller than the worst case.
    #[error("output buffer of {have} bytes, need {need}")]
    OutputTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// Empty input: the reference format cannot express it.
    #[error("cannot encode an empty chunk")]
    Empty,
    /// An encoding this version of the codecs does not know.
    #[error("frame encoding {0} is not supported by this daqflow-codec")]
    UnknownEncoding(String),
    /// lz4_flex refused to compress.
    #[error("LZ4 compression failed: {0}")]
    Lz4Compress(String),
    /// A corrupt LZ4 block.
    #[error("LZ4 block at byte {at} is corrupt: {detail}")]
    Lz4Decompress {
        /// Offset of the block.
        at: usize,
        /// lz4_flex's message.
        detail: String,
    },
}

/// Decodes frames of any encoding, reusing its buffers: in steady state it allocates
/// nothing.
#[derive(Debug, Default)]
pub struct Decoder {
    scratch: Vec<u8>,
}

/// The number of pixel bytes an encoded payload holds (its header's size; the payload's
/// own length for [`Encoding::Raw`]).
pub fn decoded_len(encoding: Encoding, payload: &[u8]) -> Result<usize, CodecError> {
    match encoding {
        Encoding::Lz4 => lz4chunk::decoded_len(payload),
        Encoding::BsLz4 => bitshuffle::decoded_len(payload),
        Encoding::Raw => Ok(payload.len()),
        other => Err(CodecError::UnknownEncoding(format!("{other:?}"))),
    }
}

impl Decoder {
    /// Decodes `payload` (elements of `elem_size` bytes) into `out`, whose length must be
    /// the decoded size ([`decoded_len`]). A raw payload is copied.
    pub fn decode(
        &mut self,
        encoding: Encoding,
        elem_size: usize,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(), CodecError> {
        match encoding {
            Encoding::Lz4 => lz4chunk::decompress(payload, out),
            Encoding::BsLz4 => {
                bitshuffle::decompress_with(payload, elem_size, out, &mut self.scratch)
            }
            Encoding::Raw => {
                if payload.len() != out.len() {
                    return Err(CodecError::SizeMismatch {
                        header: payload.len() as u64,
                        expected: out.len(),
                    });
                }
                out.copy_from_slice(payload);
                Ok(())
            }
            other => Err(CodecError::UnknownEncoding(format!("{other:?}"))),
        }
    }
}

//! LZ4 chunks in the exact format of HDF5 filter 32004 (`H5Zlz4.c`, as shipped by
//! hdf5plugin and Debian's `hdf5-filter-plugin`), built on `lz4_flex`'s block API.
//!
//! A chunk is `BE u64 uncompressed bytes`, `BE u32 block size`, then per block
//! `BE u32 stored length` + the block. A block that LZ4 cannot shrink is stored raw, and
//! readers recognise it by `stored length == block length`. We write one block per chunk
//! (the reference's default: blocks of up to 1 GiB), so one frame = one LZ4 block.

use lz4_flex::block::CompressTable;

/// HDF5 filter id of LZ4.
pub const FILTER_ID: i32 = 32004;
/// Largest block the reference filter makes by default (`cd_values[0] = 0`).
const MAX_BLOCK: usize = 1 << 30;
const HEADER_LEN: usize = 12;

pub use crate::CodecError;

/// Upper bound of a compressed chunk of `nbytes` bytes.
pub fn max_compressed_len(nbytes: usize) -> usize {
    let blocks = nbytes.div_ceil(MAX_BLOCK).max(1);
    HEADER_LEN + blocks * 4 + lz4_flex::block::get_maximum_output_size(nbytes) + blocks * 20
}

/// Per-thread reusable LZ4 state.
pub struct Compressor {
    table: CompressTable,
}

impl Default for Compressor {
    fn default() -> Self {
        Self {
            table: CompressTable::large(),
        }
    }
}

impl Compressor {
    /// Compresses `input` into `out` (at least [`max_compressed_len`] long); returns the
    /// chunk length.
    pub fn compress(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
        if input.is_empty() {
            return Err(CodecError::Empty);
        }
        let need = max_compressed_len(input.len());
        if out.len() < need {
            return Err(CodecError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        let block = input.len().min(MAX_BLOCK);
        out[..8].copy_from_slice(&(input.len() as u64).to_be_bytes());
        out[8..12].copy_from_slice(&(block as u32).to_be_bytes());
        let mut pos = HEADER_LEN;
        for src in input.chunks(block) {
            let n = lz4_flex::block::compress_into_with_table(
                src,
                &mut out[pos + 4..],
                &mut self.table,
            )
            .map_err(|e| CodecError::Lz4Compress(e.to_string()))?;
            let stored = if n >= src.len() {
                // Same rule as the reference: incompressible blocks are stored raw.
                out[pos + 4..pos + 4 + src.len()].copy_from_slice(src);
                src.len()
            } else {
                n
            };
            out[pos..pos + 4].copy_from_slice(&(stored as u32).to_be_bytes());
            pos += 4 + stored;
        }
        Ok(pos)
    }
}

/// Uncompressed length recorded in a chunk's header.
pub fn decoded_len(chunk: &[u8]) -> Result<usize, CodecError> {
    let header = chunk
        .get(..HEADER_LEN)
        .ok_or(CodecError::Truncated { at: 0 })?;
    Ok(u64::from_be_bytes(header[..8].try_into().expect("8 bytes")) as usize)
}

/// Decompresses a whole chunk into `out`, whose length must equal the header's size.
pub fn decompress(chunk: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    let nbytes = decoded_len(chunk)?;
    if nbytes != out.len() {
        return Err(CodecError::SizeMismatch {
            header: nbytes as u64,
            expected: out.len(),
        });
    }
    let block = u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes")) as usize;
    if block == 0 && nbytes > 0 {
        return Err(CodecError::BadBlockSize(0));
    }
    let mut pos = HEADER_LEN;
    let mut done = 0;
    while done < nbytes {
        let len = block.min(nbytes - done);
        let stored = chunk
            .get(pos..pos + 4)
            .ok_or(CodecError::Truncated { at: pos })?;
        let stored = u32::from_be_bytes(stored.try_into().expect("4 bytes")) as usize;
        pos += 4;
        let src = chunk
            .get(pos..pos + stored)
            .ok_or(CodecError::Truncated { at: pos })?;
        let dst = &mut out[done..done + len];
        if stored == len {
            dst.copy_from_slice(src);
        } else {
            let n = lz4_flex::block::decompress_into(src, dst).map_err(|e| {
                CodecError::Lz4Decompress {
                    at: pos,
                    detail: e.to_string(),
                }
            })?;
            if n != len {
                return Err(CodecError::Truncated { at: pos });
            }
        }
        pos += stored;
        done += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_compressible_and_incompressible() {
        let mut c = Compressor::default();
        let compressible: Vec<u8> = (0..100_000u32).map(|i| (i / 97 % 5) as u8).collect();
        let mut s = 0x1234_5678_u32;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as u8
            })
            .collect();
        for input in [&compressible[..], &noise[..], &noise[..1]] {
            let mut out = vec![0u8; max_compressed_len(input.len())];
            let len = c.compress(input, &mut out).unwrap();
            let mut back = vec![0u8; input.len()];
            decompress(&out[..len], &mut back).unwrap();
            assert_eq!(back, input);
        }
        // Raw storage for noise: header + length + the bytes themselves.
        let mut out = vec![0u8; max_compressed_len(noise.len())];
        assert_eq!(c.compress(&noise, &mut out).unwrap(), 12 + 4 + noise.len());
    }

    #[test]
    fn header_is_big_endian_size_and_block() {
        let mut c = Compressor::default();
        let input = vec![7u8; 1000];
        let mut out = vec![0u8; max_compressed_len(input.len())];
        let len = c.compress(&input, &mut out).unwrap();
        assert_eq!(&out[..8], &1000u64.to_be_bytes());
        assert_eq!(&out[8..12], &1000u32.to_be_bytes());
        assert_eq!(
            u32::from_be_bytes(out[12..16].try_into().unwrap()) as usize,
            len - 16
        );
        assert!(c.compress(&[], &mut out).is_err());
        let mut back = vec![0u8; 999];
        assert!(decompress(&out[..len], &mut back).is_err());
    }
}

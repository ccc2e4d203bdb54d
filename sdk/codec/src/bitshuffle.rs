//! Bitshuffle + LZ4 chunks: the exact format of HDF5 filter 32008 (the `bitshuffle`
//! library's `H5Zbshuf` with `cd_values[4] = 2`), so files read back in h5py + hdf5plugin.
//!
//! There is no Rust crate for bitshuffle, so the transform lives here. A chunk is
//! `BE u64 uncompressed bytes`, `BE u32 block size in bytes`, then per block of
//! `block_size` elements `BE u32 compressed length` + one LZ4 block of the
//! bit-transposed block. A last partial block is rounded down to a multiple of 8
//! elements, and the final `n % 8` elements are copied raw.
//!
//! Within a block of `n` elements the transform writes, for every bit `B` of the element
//! (byte `B / 8` of its little-endian bytes, bit `B % 8`), a row of `n / 8` bytes where
//! bit `j` of byte `i` is bit `B` of element `8 i + j`. On x86_64 the hot path uses
//! SSE2 `movemask` (16 elements per step); elsewhere, and for tails, 8×8 bit-matrix
//! transposes in a `u64`.

use lz4_flex::block::CompressTable;

use crate::CodecError;

/// HDF5 filter id of bitshuffle.
pub const FILTER_ID: i32 = 32008;
/// `cd_values[4]` selecting LZ4 after the shuffle.
pub const COMPRESS_LZ4: u32 = 2;
/// Version recorded in `cd_values[0..2]` (the reference library's 0.4).
pub const VERSION: (u32, u32) = (0, 4);

const TARGET_BLOCK_BYTES: usize = 8192;
const BLOCKED_MULT: usize = 8;
const MIN_RECOMMEND_BLOCK: usize = 128;
const HEADER_LEN: usize = 12;

/// Number of elements per block that the reference library picks for `elem_size`
/// (`bshuf_default_block_size`): 8 KiB worth, a multiple of 8, at least 128.
pub fn default_block_size(elem_size: usize) -> usize {
    let block = TARGET_BLOCK_BYTES / elem_size / BLOCKED_MULT * BLOCKED_MULT;
    block.max(MIN_RECOMMEND_BLOCK)
}

/// The `cd_values` stored in the dataset creation property list for a dataset of
/// `elem_size`-byte elements: `[major, minor, elem_size, block_size (0 = default), 2]`.
pub fn cd_values(elem_size: usize) -> [u32; 5] {
    [VERSION.0, VERSION.1, elem_size as u32, 0, COMPRESS_LZ4]
}

/// Upper bound of a compressed chunk for `nbytes` bytes of `elem_size`-byte elements.
pub fn max_compressed_len(nbytes: usize, elem_size: usize) -> usize {
    let block_bytes = default_block_size(elem_size) * elem_size;
    let blocks = nbytes.div_ceil(block_bytes).max(1);
    HEADER_LEN + blocks * (4 + lz4_flex::block::get_maximum_output_size(block_bytes)) + nbytes
}

/// Per-thread reusable state of the compressor: the LZ4 hash table and a block buffer.
pub struct Compressor {
    table: CompressTable,
    shuffled: Vec<u8>,
}

impl Default for Compressor {
    fn default() -> Self {
        Self {
            table: CompressTable::small(),
            shuffled: Vec::new(),
        }
    }
}

impl Compressor {
    /// Compresses `input` (whole elements of `elem_size` bytes) into `out`, which must be at
    /// least [`max_compressed_len`] long. Returns the chunk length.
    pub fn compress(
        &mut self,
        input: &[u8],
        elem_size: usize,
        out: &mut [u8],
    ) -> Result<usize, CodecError> {
        if elem_size == 0 || !input.len().is_multiple_of(elem_size) {
            return Err(CodecError::PartialElement {
                len: input.len(),
                elem_size,
            });
        }
        let need = max_compressed_len(input.len(), elem_size);
        if out.len() < need {
            return Err(CodecError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        let block_elems = default_block_size(elem_size);
        let block_bytes = block_elems * elem_size;
        self.shuffled.resize(block_bytes, 0);
        out[..8].copy_from_slice(&(input.len() as u64).to_be_bytes());
        out[8..12].copy_from_slice(&(block_bytes as u32).to_be_bytes());
        let mut pos = HEADER_LEN;

        let elems = input.len() / elem_size;
        let last_block = elems % block_elems / BLOCKED_MULT * BLOCKED_MULT;
        let full_bytes = elems / block_elems * block_bytes;
        let total = full_bytes + last_block * elem_size;
        let mut done = 0;
        while done < total {
            let len = if done < full_bytes {
                block_bytes
            } else {
                last_block * elem_size
            };
            let shuffled = &mut self.shuffled[..len];
            shuffle_block(&input[done..done + len], shuffled, elem_size);
            let n = lz4_flex::block::compress_into_with_table(
                shuffled,
                &mut out[pos + 4..],
                &mut self.table,
            )
            .map_err(|e| CodecError::Lz4Compress(e.to_string()))?;
            out[pos..pos + 4].copy_from_slice(&(n as u32).to_be_bytes());
            pos += 4 + n;
            done += len;
        }
        let leftover = &input[done..];
        out[pos..pos + leftover.len()].copy_from_slice(leftover);
        Ok(pos + leftover.len())
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
pub fn decompress(chunk: &[u8], elem_size: usize, out: &mut [u8]) -> Result<(), CodecError> {
    decompress_with(chunk, elem_size, out, &mut Vec::new())
}

/// [`decompress`] with a caller-owned block buffer, so that decoding frame after frame
/// allocates nothing once `scratch` has grown to one block.
pub fn decompress_with(
    chunk: &[u8],
    elem_size: usize,
    out: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let nbytes = decoded_len(chunk)?;
    if nbytes != out.len() {
        return Err(CodecError::SizeMismatch {
            header: nbytes as u64,
            expected: out.len(),
        });
    }
    if elem_size == 0 || nbytes % elem_size != 0 {
        return Err(CodecError::PartialElement {
            len: nbytes,
            elem_size,
        });
    }
    let block_bytes = u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes")) as usize;
    let block_elems = block_bytes / elem_size;
    if block_elems == 0
        || !block_bytes.is_multiple_of(elem_size)
        || !block_elems.is_multiple_of(BLOCKED_MULT)
    {
        return Err(CodecError::BadBlockSize(block_bytes));
    }
    let elems = nbytes / elem_size;
    let last_block = elems % block_elems / BLOCKED_MULT * BLOCKED_MULT;
    let full_bytes = elems / block_elems * block_bytes;
    // No block is longer than the chunk's data (a corrupt header cannot make us allocate more).
    scratch.resize(block_bytes.min(nbytes), 0);
    let mut pos = HEADER_LEN;
    let mut done = 0;
    while done < full_bytes + last_block * elem_size {
        let len = if done < full_bytes {
            block_bytes
        } else {
            last_block * elem_size
        };
        let clen = read_be_u32(chunk, pos)? as usize;
        pos += 4;
        let src = chunk
            .get(pos..pos + clen)
            .ok_or(CodecError::Truncated { at: pos })?;
        let n = lz4_flex::block::decompress_into(src, &mut scratch[..len]).map_err(|e| {
            CodecError::Lz4Decompress {
                at: pos,
                detail: e.to_string(),
            }
        })?;
        if n != len {
            return Err(CodecError::Truncated { at: pos });
        }
        unshuffle_block(&scratch[..len], &mut out[done..done + len], elem_size);
        pos += clen;
        done += len;
    }
    let leftover = nbytes - done;
    let src = chunk
        .get(pos..pos + leftover)
        .ok_or(CodecError::Truncated { at: pos })?;
    out[done..].copy_from_slice(src);
    Ok(())
}

/// Bitshuffle without compression (`cd_values[4] = 0`): blocks of `block_elems` elements
/// (0 = default) transformed in place of the chunk, the `n % 8` tail copied raw.
/// `reverse` undoes the transform.
pub fn transform_plain(
    input: &[u8],
    out: &mut [u8],
    elem_size: usize,
    block_elems: usize,
    reverse: bool,
) -> Result<(), CodecError> {
    if elem_size == 0 || !input.len().is_multiple_of(elem_size) || out.len() != input.len() {
        return Err(CodecError::PartialElement {
            len: input.len(),
            elem_size,
        });
    }
    let block_elems = if block_elems == 0 {
        default_block_size(elem_size)
    } else {
        block_elems
    };
    if block_elems % BLOCKED_MULT != 0 {
        return Err(CodecError::BadBlockSize(block_elems * elem_size));
    }
    let block_bytes = block_elems * elem_size;
    let elems = input.len() / elem_size;
    let full_bytes = elems / block_elems * block_bytes;
    let total = full_bytes + elems % block_elems / BLOCKED_MULT * BLOCKED_MULT * elem_size;
    let mut done = 0;
    while done < total {
        let len = block_bytes.min(total - done);
        let (src, dst) = (&input[done..done + len], &mut out[done..done + len]);
        if reverse {
            unshuffle_block(src, dst, elem_size);
        } else {
            shuffle_block(src, dst, elem_size);
        }
        done += len;
    }
    out[done..].copy_from_slice(&input[done..]);
    Ok(())
}

fn read_be_u32(buf: &[u8], at: usize) -> Result<u32, CodecError> {
    let b = buf.get(at..at + 4).ok_or(CodecError::Truncated { at })?;
    Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")))
}

/// Transposes the 8×8 bit matrix held in `x` (byte `r`, bit `c`) so that byte `c`, bit
/// `r` holds it: the reference library's `TRANS_BIT_8X8`. It is its own inverse.
#[inline(always)]
fn transpose_8x8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x = x ^ t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x = x ^ t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Bit-transposes one block (`input.len() / elem_size` elements, a multiple of 8).
pub fn shuffle_block(input: &[u8], out: &mut [u8], elem_size: usize) {
    debug_assert_eq!(input.len(), out.len());
    let n = input.len() / elem_size;
    debug_assert_eq!(n % 8, 0);
    #[cfg(target_arch = "x86_64")]
    let start = {
        let from = if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present, checked just above.
            unsafe { avx2::shuffle_block(input, out, elem_size) }
        } else {
            0
        };
        sse2::shuffle_block(input, out, elem_size, from)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let start = 0;
    shuffle_groups_scalar(input, out, elem_size, start / 8, n / 8);
}

/// The portable path: groups of 8 elements `[from, to)`, one `u64` transpose per byte plane.
fn shuffle_groups_scalar(input: &[u8], out: &mut [u8], elem_size: usize, from: usize, to: usize) {
    let n8 = input.len() / elem_size / 8;
    for g in from..to {
        let elems = &input[g * 8 * elem_size..(g + 1) * 8 * elem_size];
        for b in 0..elem_size {
            let mut x = 0u64;
            for j in 0..8 {
                x |= u64::from(elems[j * elem_size + b]) << (8 * j);
            }
            let x = transpose_8x8(x).to_le_bytes();
            let rows = &mut out[8 * b * n8..];
            for (k, byte) in x.into_iter().enumerate() {
                rows[k * n8 + g] = byte;
            }
        }
    }
}

/// Inverse of [`shuffle_block`].
pub fn unshuffle_block(input: &[u8], out: &mut [u8], elem_size: usize) {
    debug_assert_eq!(input.len(), out.len());
    let n8 = input.len() / elem_size / 8;
    for g in 0..n8 {
        let elems = &mut out[g * 8 * elem_size..(g + 1) * 8 * elem_size];
        for b in 0..elem_size {
            let rows = &input[8 * b * n8..];
            let mut x = 0u64;
            for k in 0..8 {
                x |= u64::from(rows[k * n8 + g]) << (8 * k);
            }
            let x = transpose_8x8(x).to_le_bytes();
            for (j, byte) in x.into_iter().enumerate() {
                elems[j * elem_size + b] = byte;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    //! SSE2 (baseline on x86_64) fast path: gather one byte plane of 16 elements into a
    //! register, then `movemask` peels off one bit row per step, MSB first.

    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cvtsi32_si128, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_packs_epi32, _mm_packus_epi16, _mm_set1_epi16, _mm_set1_epi32,
        _mm_srl_epi32, _mm_srli_epi16,
    };

    /// Shuffles whole groups of 16 elements from element `from` (a multiple of 16); returns
    /// the element where it stopped.
    pub(super) fn shuffle_block(
        input: &[u8],
        out: &mut [u8],
        elem_size: usize,
        from: usize,
    ) -> usize {
        // SAFETY: SSE2 is part of the x86_64 baseline, so the feature is always present.
        unsafe { shuffle_block_sse2(input, out, elem_size, from) }
    }

    #[target_feature(enable = "sse2")]
    fn shuffle_block_sse2(input: &[u8], out: &mut [u8], elem_size: usize, from: usize) -> usize {
        let n = input.len() / elem_size;
        let n8 = n / 8;
        let groups = n / 16;
        let first = from / 16;
        match elem_size {
            1 => {
                for g in first..groups {
                    let v = load(&input[16 * g..16 * g + 16]);
                    emit_plane(v, out, 0, n8, 2 * g);
                }
            }
            2 => {
                let mask = _mm_set1_epi16(0xff);
                for g in first..groups {
                    let a = load(&input[32 * g..32 * g + 16]);
                    let b = load(&input[32 * g + 16..32 * g + 32]);
                    let lo = _mm_packus_epi16(_mm_and_si128(a, mask), _mm_and_si128(b, mask));
                    let hi = _mm_packus_epi16(_mm_srli_epi16::<8>(a), _mm_srli_epi16::<8>(b));
                    emit_plane(lo, out, 0, n8, 2 * g);
                    emit_plane(hi, out, 1, n8, 2 * g);
                }
            }
            4 => {
                let mask = _mm_set1_epi32(0xff);
                for g in first..groups {
                    let base = 64 * g;
                    let v = [
                        load(&input[base..base + 16]),
                        load(&input[base + 16..base + 32]),
                        load(&input[base + 32..base + 48]),
                        load(&input[base + 48..base + 64]),
                    ];
                    for b in 0..4 {
                        let shift = _mm_cvtsi32_si128(8 * b as i32);
                        let s = |x| _mm_and_si128(_mm_srl_epi32(x, shift), mask);
                        let w0 = _mm_packs_epi32(s(v[0]), s(v[1]));
                        let w1 = _mm_packs_epi32(s(v[2]), s(v[3]));
                        emit_plane(_mm_packus_epi16(w0, w1), out, b, n8, 2 * g);
                    }
                }
            }
            _ => return from,
        }
        groups.max(first) * 16
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn load(bytes: &[u8]) -> __m128i {
        assert!(bytes.len() >= 16);
        // SAFETY: 16 readable bytes checked above; loadu has no alignment requirement.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    /// Writes the 8 bit rows of 16 bytes of byte plane `b` at byte `col` of each row.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn emit_plane(mut v: __m128i, out: &mut [u8], b: usize, n8: usize, col: usize) {
        let rows = &mut out[8 * b * n8..8 * (b + 1) * n8];
        for k in (0..8).rev() {
            let m = _mm_movemask_epi8(v) as u16;
            rows[k * n8 + col..k * n8 + col + 2].copy_from_slice(&m.to_le_bytes());
            v = _mm_add_epi8(v, v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! AVX2 path: 64 elements per step; each byte plane is two 32-byte registers whose
    //! `movemask`s make one 8-byte store per bit row.

    use std::arch::x86_64::{
        __m256i, _mm_cvtsi32_si128, _mm256_add_epi8, _mm256_and_si256, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_packs_epi32, _mm256_packus_epi16, _mm256_permute4x64_epi64,
        _mm256_permutevar8x32_epi32, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setr_epi32,
        _mm256_srl_epi32, _mm256_srli_epi16,
    };

    /// Shuffles whole groups of 64 elements; returns how many elements it did.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn shuffle_block(input: &[u8], out: &mut [u8], elem_size: usize) -> usize {
        let n = input.len() / elem_size;
        let n8 = n / 8;
        let groups = n / 64;
        let at = |g: usize, i: usize| load(&input[(64 * g + 32 * i / elem_size) * elem_size..]);
        match elem_size {
            1 => {
                for g in 0..groups {
                    emit_plane([at(g, 0), at(g, 1)], out, 0, n8, 8 * g);
                }
            }
            2 => {
                let mask = _mm256_set1_epi16(0xff);
                for g in 0..groups {
                    let v = [at(g, 0), at(g, 1), at(g, 2), at(g, 3)];
                    // packus works per 128-bit lane: restore element order with a permute.
                    let pack =
                        |a, b| _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(a, b));
                    let lo = |x| _mm256_and_si256(x, mask);
                    let hi = |x| _mm256_srli_epi16::<8>(x);
                    let low = [pack(lo(v[0]), lo(v[1])), pack(lo(v[2]), lo(v[3]))];
                    let high = [pack(hi(v[0]), hi(v[1])), pack(hi(v[2]), hi(v[3]))];
                    emit_plane(low, out, 0, n8, 8 * g);
                    emit_plane(high, out, 1, n8, 8 * g);
                }
            }
            4 => {
                let mask = _mm256_set1_epi32(0xff);
                let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                for g in 0..groups {
                    let v: [__m256i; 8] = std::array::from_fn(|i| at(g, i));
                    for b in 0..4 {
                        let shift = _mm_cvtsi32_si128(8 * b as i32);
                        let s = |x| _mm256_and_si256(_mm256_srl_epi32(x, shift), mask);
                        let bytes = |q: usize| {
                            let w0 = _mm256_packs_epi32(s(v[4 * q]), s(v[4 * q + 1]));
                            let w1 = _mm256_packs_epi32(s(v[4 * q + 2]), s(v[4 * q + 3]));
                            _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w0, w1), order)
                        };
                        emit_plane([bytes(0), bytes(1)], out, b, n8, 8 * g);
                    }
                }
            }
            _ => return 0,
        }
        groups * 64
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(bytes: &[u8]) -> __m256i {
        assert!(bytes.len() >= 32);
        // SAFETY: 32 readable bytes checked above; loadu has no alignment requirement.
        unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
    }

    /// Writes the 8 bit rows of 64 bytes of byte plane `b` at byte `col` of each row.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn emit_plane(mut v: [__m256i; 2], out: &mut [u8], b: usize, n8: usize, col: usize) {
        let rows = &mut out[8 * b * n8..8 * (b + 1) * n8];
        for k in (0..8).rev() {
            let m0 = _mm256_movemask_epi8(v[0]) as u32 as u64;
            let m1 = _mm256_movemask_epi8(v[1]) as u32 as u64;
            rows[k * n8 + col..k * n8 + col + 8].copy_from_slice(&(m0 | m1 << 32).to_le_bytes());
            v = [_mm256_add_epi8(v[0], v[0]), _mm256_add_epi8(v[1], v[1])];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit statement of the format, independent of the optimised code.
    fn shuffle_reference(input: &[u8], elem_size: usize) -> Vec<u8> {
        let n = input.len() / elem_size;
        let mut out = vec![0u8; input.len()];
        for bit in 0..elem_size * 8 {
            for i in 0..n {
                let v = (input[i * elem_size + bit / 8] >> (bit % 8)) & 1;
                out[bit * n / 8 + i / 8] |= v << (i % 8);
            }
        }
        out
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn block_sizes_match_reference_library() {
        assert_eq!(default_block_size(1), 8192);
        assert_eq!(default_block_size(2), 4096);
        assert_eq!(default_block_size(4), 2048);
        assert_eq!(default_block_size(8), 1024);
        assert_eq!(default_block_size(128), 128);
    }

    #[test]
    fn shuffle_matches_bitwise_reference_and_inverts() {
        for elem_size in [1, 2, 4, 8] {
            for n in [8, 16, 24, 120, 128, 2048, 4104] {
                let input = pseudo_random(n * elem_size, (n * elem_size) as u64);
                let mut out = vec![0u8; input.len()];
                shuffle_block(&input, &mut out, elem_size);
                assert_eq!(
                    out,
                    shuffle_reference(&input, elem_size),
                    "es={elem_size} n={n}"
                );
                let mut back = vec![0u8; input.len()];
                unshuffle_block(&out, &mut back, elem_size);
                assert_eq!(back, input, "es={elem_size} n={n}");
            }
        }
    }

    /// The SSE2 path on its own (machines with AVX2 use it only for tails).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_path_alone_matches_reference() {
        for elem_size in [1, 2, 4] {
            for n in [16, 48, 4096] {
                let input = pseudo_random(n * elem_size, 99 + n as u64);
                let mut out = vec![0u8; input.len()];
                assert_eq!(sse2::shuffle_block(&input, &mut out, elem_size, 0), n);
                assert_eq!(
                    out,
                    shuffle_reference(&input, elem_size),
                    "es={elem_size} n={n}"
                );
            }
        }
    }

    #[test]
    fn chunk_round_trips_with_partial_blocks_and_leftovers() {
        let mut c = Compressor::default();
        for elem_size in [1, 2, 4] {
            for n in [1, 7, 8, 9, 100, 2047, 2048, 4096 + 13, 3 * 8192 + 5, 65536] {
                let mut input = pseudo_random(n * elem_size, n as u64);
                // Make some of it compressible, like detector frames.
                input.iter_mut().step_by(3).for_each(|b| *b &= 0x3);
                let mut out = vec![0u8; max_compressed_len(input.len(), elem_size)];
                let len = c.compress(&input, elem_size, &mut out).unwrap();
                assert_eq!(decoded_len(&out[..len]).unwrap(), input.len());
                let mut back = vec![0u8; input.len()];
                decompress(&out[..len], elem_size, &mut back).unwrap();
                assert_eq!(back, input, "es={elem_size} n={n}");
            }
        }
    }

    #[test]
    fn zeros_compress_well_and_corruption_is_an_error() {
        let input = vec![0u8; 1 << 20];
        let mut c = Compressor::default();
        let mut out = vec![0u8; max_compressed_len(input.len(), 2)];
        let len = c.compress(&input, 2, &mut out).unwrap();
        assert!(len < input.len() / 50, "{len}");
        let mut back = vec![1u8; input.len()];
        assert!(decompress(&out[..len / 2], 2, &mut back).is_err());
        assert!(decompress(&out[..len], 2, &mut back[..100]).is_err());
    }
}

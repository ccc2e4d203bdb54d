//! [`Encoder`]: turns a frame's payload (raw pixels, or an LZ4 / bitshuffle-LZ4 chunk from
//! a compressing detector) into one chunk in the file's compression, storing matching
//! chunks as they are and transcoding the rest. One per compression thread; it keeps its
//! codec state and scratch buffer between frames. Pure Rust, no HDF5.

use daqflow_codec::lz4chunk::CodecError;
use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::Encoding;

use crate::config::Compression;
use crate::format::FrameFormat;

/// Result of [`Encoder::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded {
    /// The input bytes are the chunk: write them as they are.
    AsIs,
    /// The chunk is the first `n` bytes of the output buffer.
    Buffer(usize),
}

/// Turns a frame's payload into a chunk of the file's compression. One per worker thread.
#[derive(Default)]
pub struct Encoder {
    lz4: lz4chunk::Compressor,
    bslz4: bitshuffle::Compressor,
    decoded: Vec<u8>,
}

impl Encoder {
    /// Encodes `input` (a payload in `encoding`) for a dataset of `format`. `out` grows to
    /// the worst-case chunk size when needed (once; buffers are recycled).
    pub fn encode(
        &mut self,
        format: &FrameFormat,
        encoding: Encoding,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Encoded, CodecError> {
        let Encoder {
            lz4,
            bslz4,
            decoded,
        } = self;
        let n = format.frame_bytes();
        let es = format.dtype.size_bytes();
        let raw: &[u8] = match (encoding, format.compression) {
            (Encoding::Raw, _) => {
                if input.len() != n {
                    return Err(CodecError::SizeMismatch {
                        header: input.len() as u64,
                        expected: n,
                    });
                }
                input
            }
            (Encoding::Lz4, file) => {
                check_header(lz4chunk::decoded_len(input)?, n)?;
                if file == Compression::Lz4 {
                    return Ok(Encoded::AsIs);
                }
                decoded.resize(n, 0);
                lz4chunk::decompress(input, decoded)?;
                decoded
            }
            (Encoding::BsLz4, file) => {
                check_header(bitshuffle::decoded_len(input)?, n)?;
                if file == Compression::Bslz4 {
                    return Ok(Encoded::AsIs);
                }
                decoded.resize(n, 0);
                bitshuffle::decompress(input, es, decoded)?;
                decoded
            }
            (other, _) => {
                return Err(CodecError::Lz4Compress(format!(
                    "unsupported frame encoding {other:?}"
                )));
            }
        };
        let need = format.max_chunk_bytes();
        match format.compression {
            Compression::None if encoding == Encoding::Raw => Ok(Encoded::AsIs),
            Compression::None => {
                out.clear();
                out.extend_from_slice(raw);
                Ok(Encoded::Buffer(n))
            }
            Compression::Lz4 => {
                grow(out, need);
                lz4.compress(raw, out).map(Encoded::Buffer)
            }
            Compression::Bslz4 => {
                grow(out, need);
                bslz4.compress(raw, es, out).map(Encoded::Buffer)
            }
        }
    }
}

fn check_header(header: usize, expected: usize) -> Result<(), CodecError> {
    if header == expected {
        Ok(())
    } else {
        Err(CodecError::SizeMismatch {
            header: header as u64,
            expected,
        })
    }
}

fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.capacity() < len {
        // A fresh zeroed allocation comes from the OS as untouched zero pages: only the
        // pages the compressor writes get faulted in, instead of memset over the worst case.
        *buf = vec![0u8; len];
    } else if buf.len() < len {
        buf.resize(len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daqflow_sdk::DType;

    fn format(compression: Compression) -> FrameFormat {
        FrameFormat {
            dtype: DType::U16,
            height: 40,
            width: 30,
            compression,
        }
    }

    fn raw() -> Vec<u8> {
        (0..1200u32)
            .flat_map(|i| ((i * i / 7) as u16 % 9).to_le_bytes())
            .collect()
    }

    fn decode(f: &FrameFormat, chunk: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; f.frame_bytes()];
        match f.compression {
            Compression::None => out.copy_from_slice(chunk),
            Compression::Lz4 => lz4chunk::decompress(chunk, &mut out).unwrap(),
            Compression::Bslz4 => bitshuffle::decompress(chunk, 2, &mut out).unwrap(),
        }
        out
    }

    /// Every (frame encoding, file compression) pair: as-is when they match, else transcoded.
    #[test]
    fn encoder_stores_matching_chunks_as_is_and_transcodes_the_rest() {
        let raw = raw();
        let mut enc = Encoder::default();
        let mut chunks = Vec::new();
        for c in [Compression::Lz4, Compression::Bslz4] {
            let mut out = Vec::new();
            let Encoded::Buffer(n) = enc
                .encode(&format(c), Encoding::Raw, &raw, &mut out)
                .unwrap()
            else {
                panic!("raw frames are compressed")
            };
            out.truncate(n);
            assert_eq!(decode(&format(c), &out), raw);
            chunks.push((
                if c == Compression::Lz4 {
                    Encoding::Lz4
                } else {
                    Encoding::BsLz4
                },
                out,
            ));
        }
        chunks.push((Encoding::Raw, raw.clone()));
        for (encoding, payload) in &chunks {
            for c in [Compression::None, Compression::Lz4, Compression::Bslz4] {
                let f = format(c);
                let mut out = Vec::new();
                let chunk = match enc.encode(&f, *encoding, payload, &mut out).unwrap() {
                    Encoded::AsIs => payload.clone(),
                    Encoded::Buffer(n) => out[..n].to_vec(),
                };
                let same = matches!(
                    (encoding, c),
                    (Encoding::Raw, Compression::None)
                        | (Encoding::Lz4, Compression::Lz4)
                        | (Encoding::BsLz4, Compression::Bslz4)
                );
                assert_eq!(chunk == *payload, same, "{encoding:?} into {c:?}");
                assert_eq!(decode(&f, &chunk), raw, "{encoding:?} into {c:?}");
            }
        }
    }

    #[test]
    fn encoder_refuses_payloads_of_the_wrong_size() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        let f = format(Compression::Bslz4);
        assert!(
            enc.encode(&f, Encoding::Raw, &raw()[..100], &mut out)
                .is_err()
        );
        let mut chunk = vec![0u8; 64];
        chunk[..8].copy_from_slice(&999u64.to_be_bytes());
        let e = enc
            .encode(&f, Encoding::BsLz4, &chunk, &mut out)
            .unwrap_err();
        assert!(e.to_string().contains("999"), "{e}");
        assert!(
            enc.encode(&f, Encoding::Lz4, &chunk[..5], &mut out)
                .is_err()
        );
    }
}

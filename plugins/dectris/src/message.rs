//! What the two stream protocols decode to — a series start, an image (its payload
//! borrowed from the ZeroMQ message), an end — and the problems a message can have, one
//! [`Kind`] per report counter. Both `stream2.rs` and `legacy.rs` produce these, and the
//! image checks shared by both (`check_payload`) live here.

use std::fmt;

use daqflow_sdk::prelude::*;
use daqflow_sdk::series;

/// The detector's start message (arm), as far as the sinks need it.
#[derive(Debug, Default, Clone)]
pub struct SeriesStart {
    /// `series_id`, when the message had one.
    pub series_id: Option<u64>,
    /// `number_of_images` (× triggers, for v1), when given.
    pub number_of_images: Option<u64>,
    /// `series/…` entries for the first frame of the series (at most
    /// [`series::MAX_ENTRIES`]).
    pub meta: Vec<(&'static str, MetaValue)>,
}

impl SeriesStart {
    /// Adds a `series/…` entry (strings cut to what frame metadata holds).
    pub fn put(&mut self, key: &'static str, value: MetaValue) {
        let value = match value {
            MetaValue::Str(s) => MetaValue::Str(series::fit_text(&s).to_owned()),
            v => v,
        };
        if let Some(slot) = self.meta.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else if self.meta.len() < series::MAX_ENTRIES {
            self.meta.push((key, value));
        }
    }
}

/// One image, its payload borrowed from the message.
#[derive(Debug)]
pub struct Image<'a> {
    /// `series_id`, when the message had one (v1 has it as `series`).
    pub series_id: Option<u64>,
    /// The detector's image number within the series (from 0).
    pub image_id: u64,
    /// Pixel type.
    pub dtype: DType,
    /// Encoding of `payload`.
    pub encoding: Encoding,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// A 16-byte header to put before `payload` (a bare LZ4 block framed as an HDF5 LZ4
    /// chunk), or empty.
    pub prefix: Vec<u8>,
    /// The image bytes as they came.
    pub payload: &'a [u8],
    /// Channels of the message not passed on.
    pub channels_skipped: u64,
}

/// A decoded message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A series begins.
    Start(SeriesStart),
    /// An image.
    Image(Image<'a>),
    /// A series ends.
    End {
        /// `series_id`, when the message had one.
        series_id: Option<u64>,
    },
    /// The detector config sent apart from its header (some v1 senders): merged into
    /// the open series' description while no image of it has been passed on.
    Config(SeriesStart),
    /// A part that carries nothing for the frames (v1 config, flatfield, …).
    Other,
}

/// What was wrong with a message: each kind is one counter of the run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Not CBOR / not JSON, or not the structure the protocol defines.
    Malformed,
    /// A `type` (v2) or `htype` (v1) this source does not know.
    UnknownType,
    /// An array whose byte length is not rows × columns × element size.
    BadArraySize,
    /// A compressed image whose header or blocks do not add up (truncated, corrupt).
    BadCompressed,
    /// Well-formed but not representable: a big-endian or signed typed array, an
    /// unknown compression, more than two dimensions.
    Unsupported,
}

impl Kind {
    /// All kinds, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Malformed,
        Kind::UnknownType,
        Kind::BadArraySize,
        Kind::BadCompressed,
        Kind::Unsupported,
    ];

    /// The report counter.
    pub fn counter(self) -> &'static str {
        match self {
            Kind::Malformed => "malformed_messages",
            Kind::UnknownType => "unknown_messages",
            Kind::BadArraySize => "bad_array_size",
            Kind::BadCompressed => "bad_compressed_images",
            Kind::Unsupported => "unsupported_images",
        }
    }
}

/// A message that was not usable, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The counter it goes to.
    pub kind: Kind,
    /// What was wrong, for the log.
    pub detail: String,
}

impl Problem {
    /// A problem of `kind`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.counter(), self.detail)
    }
}

/// Checks that `img`'s payload is the image its header says: the exact size for raw
/// pixels, and for compressed chunks a header with the right decoded size and blocks that
/// end exactly at the end of the payload (no decompression).
pub fn check_payload(img: &Image<'_>) -> Result<(), Problem> {
    let elem = img.dtype.size_bytes();
    let nbytes = img.width as usize * img.height as usize * elem;
    let id = img.image_id;
    match img.encoding {
        Encoding::Raw => {
            if img.payload.len() != nbytes {
                return Err(Problem::new(
                    Kind::BadArraySize,
                    format!(
                        "image {id}: {}×{} {} needs {nbytes} bytes, the array has {}",
                        img.width,
                        img.height,
                        img.dtype,
                        img.payload.len()
                    ),
                ));
            }
            Ok(())
        }
        Encoding::BsLz4 => bslz4_framing(&img.prefix, img.payload, nbytes, elem)
            .map_err(|e| Problem::new(Kind::BadCompressed, format!("image {id} (bslz4): {e}"))),
        Encoding::Lz4 => lz4_framing(&img.prefix, img.payload, nbytes)
            .map_err(|e| Problem::new(Kind::BadCompressed, format!("image {id} (lz4): {e}"))),
        Encoding::Lz4Block => {
            if img.payload.is_empty() && nbytes > 0 {
                return Err(Problem::new(
                    Kind::BadCompressed,
                    format!("image {id} (lz4 block): empty"),
                ));
            }
            Ok(())
        }
        other => Err(Problem::new(
            Kind::Unsupported,
            format!("image {id}: encoding {other}"),
        )),
    }
}

fn be_u32(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or_else(|| format!("truncated at byte {at} of {}", b.len()))
}

/// The chunk's 12-byte header (from `prefix` when the sender left it out) and the rest.
fn split_header<'a>(
    prefix: &'a [u8],
    payload: &'a [u8],
    nbytes: usize,
) -> Result<(&'a [u8], &'a [u8]), String> {
    let (h, body) = if prefix.len() >= 12 {
        (&prefix[..12], payload)
    } else if payload.len() >= 12 {
        payload.split_at(12)
    } else {
        return Err(format!(
            "{} bytes, shorter than the 12-byte header",
            payload.len()
        ));
    };
    let raw = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    if raw != nbytes as u64 {
        return Err(format!(
            "header says {raw} bytes uncompressed, the image has {nbytes}"
        ));
    }
    Ok((h, body))
}

/// The HDF5 bitshuffle (32008) chunk layout: blocks of `block` bytes, the last partial
/// block rounded down to 8 elements, each as a BE u32 length + LZ4 data, then the
/// `elements % 8` tail raw.
fn bslz4_framing(prefix: &[u8], payload: &[u8], nbytes: usize, elem: usize) -> Result<(), String> {
    let (head, chunk) = split_header(prefix, payload, nbytes)?;
    let block_bytes = be_u32(head, 8)?;
    let block_elems = block_bytes / elem;
    if block_elems == 0 || !block_bytes.is_multiple_of(elem) || !block_elems.is_multiple_of(8) {
        return Err(format!("invalid block size {block_bytes}"));
    }
    let elems = nbytes / elem;
    let blocks = elems / block_elems + usize::from(elems % block_elems >= 8);
    let tail = (elems % 8) * elem;
    let mut pos = 0;
    for _ in 0..blocks {
        let len = be_u32(chunk, pos)?;
        pos = pos
            .checked_add(4 + len)
            .filter(|p| *p <= chunk.len())
            .ok_or_else(|| format!("block at byte {pos} runs past the end ({})", chunk.len()))?;
    }
    if pos + tail != chunk.len() {
        return Err(format!(
            "blocks end at byte {}, the chunk has {}",
            pos + tail,
            chunk.len()
        ));
    }
    Ok(())
}

/// The HDF5 LZ4 (32004) chunk layout: BE u64 size, BE u32 block size, then per block a
/// BE u32 stored length + data (stored = block length means uncompressed).
fn lz4_framing(prefix: &[u8], payload: &[u8], nbytes: usize) -> Result<(), String> {
    let (head, chunk) = split_header(prefix, payload, nbytes)?;
    let block = be_u32(head, 8)?;
    if block == 0 && nbytes > 0 {
        return Err("invalid block size 0".into());
    }
    let (mut pos, mut done) = (0, 0);
    while done < nbytes {
        let len = be_u32(chunk, pos)?;
        pos = pos
            .checked_add(4 + len)
            .filter(|p| *p <= chunk.len())
            .ok_or_else(|| format!("block at byte {pos} runs past the end ({})", chunk.len()))?;
        done += block.min(nbytes - done);
    }
    if pos != chunk.len() {
        return Err(format!(
            "blocks end at byte {pos}, the chunk has {}",
            chunk.len()
        ));
    }
    Ok(())
}

/// An HDF5 LZ4 (32004) chunk header for one bare LZ4 block of `nbytes` decoded bytes,
/// `clen` bytes long: with it, a v1 `lz4<` image is stored as an LZ4-filter chunk.
pub fn lz4_block_prefix(nbytes: usize, clen: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(16);
    p.extend_from_slice(&(nbytes as u64).to_be_bytes());
    p.extend_from_slice(&(nbytes as u32).to_be_bytes());
    p.extend_from_slice(&(clen as u32).to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(encoding: Encoding, payload: &[u8]) -> Image<'_> {
        Image {
            series_id: Some(1),
            image_id: 0,
            dtype: DType::U16,
            encoding,
            width: 8,
            height: 2,
            prefix: Vec::new(),
            payload,
            channels_skipped: 0,
        }
    }

    #[test]
    fn raw_size_is_checked() {
        assert!(check_payload(&img(Encoding::Raw, &[0; 32])).is_ok());
        let e = check_payload(&img(Encoding::Raw, &[0; 31])).unwrap_err();
        assert_eq!(e.kind, Kind::BadArraySize);
    }

    #[test]
    fn bslz4_framing_walks_blocks() {
        // 16 u16 elements, block of 8 elements (16 bytes): two blocks, no tail.
        let mut c = Vec::new();
        c.extend_from_slice(&32u64.to_be_bytes());
        c.extend_from_slice(&16u32.to_be_bytes());
        for _ in 0..2 {
            c.extend_from_slice(&3u32.to_be_bytes());
            c.extend_from_slice(&[1, 2, 3]);
        }
        assert!(check_payload(&img(Encoding::BsLz4, &c)).is_ok());
        let e = check_payload(&img(Encoding::BsLz4, &c[..c.len() - 1])).unwrap_err();
        assert_eq!(e.kind, Kind::BadCompressed);
        let mut wrong = c.clone();
        wrong[7] = 30;
        assert!(check_payload(&img(Encoding::BsLz4, &wrong)).is_err());
    }

    #[test]
    fn lz4_framing_walks_blocks() {
        let mut c = Vec::new();
        c.extend_from_slice(&32u64.to_be_bytes());
        c.extend_from_slice(&32u32.to_be_bytes());
        c.extend_from_slice(&5u32.to_be_bytes());
        c.extend_from_slice(&[0; 5]);
        assert!(check_payload(&img(Encoding::Lz4, &c)).is_ok());
        c.push(0);
        assert!(check_payload(&img(Encoding::Lz4, &c)).is_err());
    }
}

//! What goes on the wire for one frame and one view: the requested region binned to the
//! client's canvas ([`bin_region`]), then either lossless — the binned values,
//! byte-shuffled (all low bytes, then all high bytes) and zlib-compressed, which the
//! browser inflates natively (`DecompressionStream('deflate')`) — or lossy 8-bit JPEG with
//! the contrast window applied on the server ([`encode`]).
//!
//! Binning averages `bin × bin` blocks (a partial block at the right and bottom edge
//! averages the pixels it has): u8 and u16 frames go out as u16, u32 as u32, f32 as f32.

use daqflow_display::{ImageRef, Mapping, Scale};
use daqflow_sdk::DType;
use flate2::{Compress, Compression, FlushCompress, Status};
use std::sync::{Mutex, PoisonError};

/// Which encoding a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Exact binned values: byte-shuffled, zlib (deflate at its fastest level).
    Lossless,
    /// The binned values as they are (little-endian, not shuffled: `raw` on the wire), for
    /// links fast enough to carry raw frames: deflating and shuffling would cost CPU on
    /// both ends without buying frames.
    LosslessStored,
    /// 8-bit JPEG of the values mapped through the contrast window.
    Jpeg,
}

impl Codec {
    /// Name in the frame header.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Lossless => "deflate",
            Codec::LosslessStored => "raw",
            Codec::Jpeg => "jpeg",
        }
    }
}

/// A region of the frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Region {
    /// The whole frame.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// This region clipped to a `width × height` frame (at least one pixel).
    pub fn clip(self, width: u32, height: u32) -> Self {
        let x = self.x.min(width - 1);
        let y = self.y.min(height - 1);
        Self {
            x,
            y,
            w: self.w.clamp(1, width - x),
            h: self.h.clamp(1, height - y),
        }
    }
}

/// The binning factor that fits `region` into a `canvas_w × canvas_h` canvas (1 when it
/// fits already), and never gives a side longer than `max_side`.
pub fn bin_factor(region: Region, canvas_w: u32, canvas_h: u32, max_side: u32) -> u32 {
    let fit = |len: u32, room: u32| len.div_ceil(room.clamp(1, max_side));
    fit(region.w, canvas_w).max(fit(region.h, canvas_h)).max(1)
}

/// The pixel type a binned image of `dtype` is sent as.
pub fn wire_dtype(dtype: DType) -> DType {
    match dtype {
        DType::U8 | DType::U16 => DType::U16,
        other => other,
    }
}

/// The binned image: `w × h` values of [`wire_dtype`], native-endian bytes in `out`.
pub fn bin_region(image: &ImageRef<'_>, region: Region, bin: u32, out: &mut Vec<u8>) -> (u32, u32) {
    let (w, h) = (region.w.div_ceil(bin), region.h.div_ceil(bin));
    let size = wire_dtype(image.dtype()).size_bytes();
    out.clear();
    out.reserve(w as usize * h as usize * size);
    let width = image.width() as usize;
    let bytes = image.bytes();
    if bin == 1 && image.dtype() != DType::U8 {
        // 1:1 (zoomed in, or a canvas as large as the frame): rows as they are.
        for y in region.y..region.y + region.h {
            let start = (y as usize * width + region.x as usize) * size;
            out.extend_from_slice(&bytes[start..start + region.w as usize * size]);
        }
        return (w, h);
    }
    if image.dtype() != DType::F32 {
        bin_integer(image, region, bin, (w, h), size, out);
        return (w, h);
    }
    for by in 0..h {
        let y0 = (region.y + by * bin) as usize;
        let y1 = (y0 + bin as usize).min((region.y + region.h) as usize);
        for bx in 0..w {
            let x0 = (region.x + bx * bin) as usize;
            let x1 = (x0 + bin as usize).min((region.x + region.w) as usize);
            let (mut sum, mut n) = (0f64, 0u32);
            for y in y0..y1 {
                for x in x0..x1 {
                    let v = image.value_at(y * width + x);
                    if !v.is_nan() {
                        sum += v;
                        n += 1;
                    }
                }
            }
            let mean = if n == 0 {
                f32::NAN
            } else {
                (sum / f64::from(n)) as f32
            };
            out.extend_from_slice(&mean.to_ne_bytes());
        }
    }
    (w, h)
}

/// Integer binning in two passes per output row: the block's source rows are added
/// column by column into an accumulator row (a widening add over contiguous memory, which
/// the compiler vectorises), then each run of `bin` accumulated columns is summed and
/// divided out ([`emit_row`]). u8/u16 accumulate in u32 (a block column of at most 4096
/// rows of u16 cannot overflow it), u32 in u64.
fn bin_integer(
    image: &ImageRef<'_>,
    region: Region,
    bin: u32,
    (w, h): (u32, u32),
    size: usize,
    out: &mut Vec<u8>,
) {
    let width = image.width() as usize;
    let bytes = image.bytes();
    let (x0, bin_us, n) = (region.x as usize, bin as usize, region.w as usize);
    let src_size = image.dtype().size_bytes();
    let row_out = w as usize * size;
    out.resize(row_out * h as usize, 0);
    let mut acc32 = Vec::new();
    let mut acc64 = Vec::new();
    if image.dtype() == DType::U32 {
        acc64.resize(n, 0u64);
    } else {
        acc32.resize(n, 0u32);
    }
    for (by, dst) in out.chunks_exact_mut(row_out).enumerate() {
        let y0 = region.y as usize + by * bin_us;
        let y1 = (y0 + bin_us).min((region.y + region.h) as usize);
        acc32.fill(0);
        acc64.fill(0);
        for y in y0..y1 {
            let start = (y * width + x0) * src_size;
            let row = &bytes[start..start + n * src_size];
            match image.dtype() {
                DType::U8 => {
                    for (a, &v) in acc32.iter_mut().zip(row) {
                        *a += u32::from(v);
                    }
                }
                DType::U16 => {
                    for (a, c) in acc32.iter_mut().zip(row.chunks_exact(2)) {
                        *a += u32::from(u16::from_ne_bytes([c[0], c[1]]));
                    }
                }
                _ => {
                    for (a, c) in acc64.iter_mut().zip(row.chunks_exact(4)) {
                        *a += u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
                    }
                }
            }
        }
        let rows = (y1 - y0) as u64;
        if acc64.is_empty() {
            emit_row(&acc32, bin_us, rows, dst);
        } else {
            emit_row(&acc64, bin_us, rows, dst);
        }
    }
}

/// One output row: the mean of each run of `bin` accumulated columns (the last run may be
/// shorter) over `rows` rows, rounded half up, as u16 (2-byte `dst` values) or u32.
/// Binning by 2 and 4 is specialised (fixed-size blocks).
fn emit_row<A: Copy + Into<u64>>(acc: &[A], bin: usize, rows: u64, dst: &mut [u8]) {
    match bin {
        2 => emit_row_n::<A, 2>(acc, rows, dst),
        4 => emit_row_n::<A, 4>(acc, rows, dst),
        _ => {
            let size = dst.len() / acc.len().div_ceil(bin);
            for (block, d) in acc.chunks(bin).zip(dst.chunks_exact_mut(size)) {
                let sum = block.iter().map(|&v| v.into()).sum();
                put_mean(sum, block.len() as u64 * rows, d);
            }
        }
    }
}

fn emit_row_n<A: Copy + Into<u64>, const B: usize>(acc: &[A], rows: u64, dst: &mut [u8]) {
    let size = dst.len() / acc.len().div_ceil(B);
    let blocks = acc.chunks_exact(B);
    let rest = blocks.remainder();
    let mut d = dst.chunks_exact_mut(size);
    let count = B as u64 * rows;
    for (block, d) in blocks.zip(&mut d) {
        let sum = block.iter().map(|&v| v.into()).sum();
        put_mean(sum, count, d);
    }
    if let Some(d) = d.next() {
        let sum = rest.iter().map(|&v| v.into()).sum();
        put_mean(sum, rest.len() as u64 * rows, d);
    }
}

#[inline(always)]
fn put_mean(sum: u64, count: u64, d: &mut [u8]) {
    let mean = if count.is_power_of_two() {
        (sum + count / 2) >> count.trailing_zeros()
    } else {
        (sum + count / 2) / count
    };
    if d.len() == 2 {
        d.copy_from_slice(&(mean as u16).to_ne_bytes());
    } else {
        d.copy_from_slice(&(mean as u32).to_ne_bytes());
    }
}

/// The server-side contrast of a JPEG frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Value shown black.
    pub low: f64,
    /// Value shown white.
    pub high: f64,
    /// Linear or log.
    pub scale: Scale,
}

/// Reused scratch buffers of one encoding thread (no allocation per frame once warm).
#[derive(Default)]
pub struct Scratch {
    binned: Vec<u8>,
    shuffled: Vec<u8>,
    mapped: Vec<u8>,
    /// u16 value → 8-bit JPEG value, for the window being encoded.
    table: Vec<u8>,
    /// The deflate state (its windows and tables), reset for each frame.
    deflate: Option<Compress>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// One encoded view of a frame: the payload and its shape.
#[derive(Debug)]
pub struct Encoded {
    /// Width of the sent image.
    pub w: u32,
    /// Height of the sent image.
    pub h: u32,
    /// Pixel type of the decoded payload ("u16", "u32", "f32"; "u8" for JPEG).
    pub dtype: DType,
    /// The compressed bytes.
    pub payload: Vec<u8>,
}

/// Payload buffers of dropped encodings, for the next ones: in steady state a web node
/// encodes into the same few allocations (frame-sized for raw views) instead of a fresh
/// one per encoded frame. Bounded; shared by the web nodes of a process.
static SPARE_PAYLOADS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const SPARE_PAYLOADS_MAX: usize = 8;

/// An empty buffer with the capacity of an earlier payload when one is spare.
fn spare_payload() -> Vec<u8> {
    let mut v = SPARE_PAYLOADS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    v.clear();
    v
}

impl Drop for Encoded {
    fn drop(&mut self) {
        if self.payload.capacity() == 0 {
            return;
        }
        let mut spare = SPARE_PAYLOADS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_PAYLOADS_MAX {
            spare.push(std::mem::take(&mut self.payload));
        }
    }
}

/// Encodes `region` of `image`, binned by `bin`, with `codec` (`window` is JPEG's contrast).
pub fn encode(
    image: &ImageRef<'_>,
    region: Region,
    bin: u32,
    codec: Codec,
    window: Window,
    jpeg_quality: u8,
    scratch: &mut Scratch,
) -> Result<Encoded, String> {
    let (w, h) = bin_region(image, region, bin, &mut scratch.binned);
    let dtype = wire_dtype(image.dtype());
    match codec {
        Codec::LosslessStored => {
            // The binned buffer becomes the payload (a spare one takes its place).
            let mut payload = std::mem::replace(&mut scratch.binned, spare_payload());
            if cfg!(target_endian = "big") {
                for v in payload.chunks_exact_mut(dtype.size_bytes()) {
                    v.reverse();
                }
            }
            Ok(Encoded {
                w,
                h,
                dtype,
                payload,
            })
        }
        Codec::Lossless => {
            byte_shuffle(&scratch.binned, dtype.size_bytes(), &mut scratch.shuffled);
            let mut payload = spare_payload();
            let deflate = scratch
                .deflate
                .get_or_insert_with(|| Compress::new(Compression::fast(), true));
            zlib_into(deflate, &scratch.shuffled, &mut payload);
            Ok(Encoded {
                w,
                h,
                dtype,
                payload,
            })
        }
        Codec::Jpeg => {
            let binned = ImageRef::new(w, h, dtype, &scratch.binned).map_err(|e| e.to_string())?;
            let mapping = Mapping {
                low: window.low,
                high: window.high,
                scale: window.scale,
                reversed: false,
            };
            let params = mapping.params(dtype);
            scratch.mapped.clear();
            if dtype == DType::U16 && binned.len() >= 1 << 16 {
                // A table of all 65536 values (exactly `lut_index` of each), then one
                // lookup a pixel: 10 → 1.5 ms for a 1024² view.
                scratch.table.clear();
                scratch
                    .table
                    .extend((0..=u16::MAX).map(|v| Mapping::lut_index(&params, f32::from(v))));
                let table = &scratch.table;
                scratch.mapped.extend(
                    scratch
                        .binned
                        .chunks_exact(2)
                        .map(|c| table[usize::from(u16::from_ne_bytes([c[0], c[1]]))]),
                );
            } else {
                scratch.mapped.extend(
                    (0..binned.len()).map(|i| Mapping::lut_index(&params, binned.value_f32_at(i))),
                );
            }
            let (jw, jh) = (
                u16::try_from(w).map_err(|_| format!("JPEG width {w} > 65535"))?,
                u16::try_from(h).map_err(|_| format!("JPEG height {h} > 65535"))?,
            );
            let mut payload = spare_payload();
            jpeg_encoder::Encoder::new(&mut payload, jpeg_quality)
                .encode(&scratch.mapped, jw, jh, jpeg_encoder::ColorType::Luma)
                .map_err(|e| format!("JPEG encoding of {w}x{h}: {e}"))?;
            Ok(Encoded {
                w,
                h,
                dtype: DType::U8,
                payload,
            })
        }
    }
}

/// Byte planes: byte 0 of every value, then byte 1, … (deflate finds the slowly varying
/// high bytes far more compressible).
pub fn byte_shuffle(values: &[u8], size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(values.len(), 0);
    let n = values.len() / size;
    for (i, v) in values.chunks_exact(size).enumerate() {
        for (b, &byte) in v.iter().enumerate() {
            out[b * n + i] = byte;
        }
    }
}

/// A zlib stream (RFC 1950, what `DecompressionStream('deflate')` reads) at the fastest
/// level: on a fast link time matters more than bytes (and the fastest links get raw
/// frames), on a slow one JPEG takes over.
pub fn zlib_into(c: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    c.reset();
    out.clear();
    out.reserve(data.len() / 2 + 64);
    loop {
        let consumed = c.total_in() as usize;
        match c.compress_vec(&data[consumed..], out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return,
            Ok(_) => out.reserve(out.capacity().max(4096)),
            Err(e) => unreachable!("zlib compression into a growing buffer: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daqflow_display::OwnedImage;
    use std::io::Read;

    #[test]
    fn bin_factor_fits_canvas_and_cap() {
        let r = Region::full(2048, 2048);
        assert_eq!(bin_factor(r, 4096, 4096, 4096), 1);
        assert_eq!(bin_factor(r, 1000, 800, 4096), 3);
        assert_eq!(bin_factor(r, 4096, 4096, 512), 4);
        assert_eq!(bin_factor(Region::full(10, 10), 0, 0, 4096), 10);
    }

    #[test]
    fn binning_averages_blocks_and_edges() {
        let img = OwnedImage::from_u16(3, 2, &[1, 3, 10, 5, 7, 20]);
        let mut out = Vec::new();
        let (w, h) = bin_region(&img.as_ref(), Region::full(3, 2), 2, &mut out);
        assert_eq!((w, h), (2, 1));
        let v: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(v, vec![4, 15]);
        let (w, h) = bin_region(
            &img.as_ref(),
            Region {
                x: 1,
                y: 1,
                w: 2,
                h: 1,
            },
            1,
            &mut out,
        );
        assert_eq!((w, h), (2, 1));
        let v: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(v, vec![7, 20]);
    }

    /// The row-wise binning equals the per-pixel definition (mean of the block's pixels,
    /// rounded half up) for every integer dtype, partial edge blocks, offsets and bins.
    #[test]
    fn binning_matches_the_per_pixel_definition() {
        let (width, height) = (37u32, 23u32);
        let values: Vec<u32> = (0..width * height)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 7)
            .collect();
        let images = [
            OwnedImage::from_u8(
                width,
                height,
                &values.iter().map(|v| *v as u8).collect::<Vec<_>>(),
            ),
            OwnedImage::from_u16(
                width,
                height,
                &values.iter().map(|v| *v as u16).collect::<Vec<_>>(),
            ),
            OwnedImage::from_u32(width, height, &values),
        ];
        for img in &images {
            let img = img.as_ref();
            let size = wire_dtype(img.dtype()).size_bytes();
            for region in [
                Region::full(width, height),
                Region {
                    x: 3,
                    y: 5,
                    w: 29,
                    h: 17,
                },
            ] {
                for bin in [1, 2, 3, 4, 8] {
                    let mut out = Vec::new();
                    let (w, h) = bin_region(&img, region, bin, &mut out);
                    let mut expected = Vec::new();
                    for by in 0..h {
                        for bx in 0..w {
                            let (mut sum, mut n) = (0u64, 0u64);
                            for y in region.y + by * bin
                                ..(region.y + (by + 1) * bin).min(region.y + region.h)
                            {
                                for x in region.x + bx * bin
                                    ..(region.x + (bx + 1) * bin).min(region.x + region.w)
                                {
                                    sum += img.value_at((y * width + x) as usize) as u64;
                                    n += 1;
                                }
                            }
                            expected.push((sum + n / 2) / n);
                        }
                    }
                    let got: Vec<u64> = out
                        .chunks(size)
                        .map(|c| match size {
                            2 => u64::from(u16::from_ne_bytes([c[0], c[1]])),
                            _ => u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
                        })
                        .collect();
                    assert_eq!(got, expected, "{:?} {region:?} bin {bin}", img.dtype());
                }
            }
        }
    }

    #[test]
    fn binning_u8_goes_out_as_u16_and_f32_skips_nan() {
        let mut out = Vec::new();
        let img = OwnedImage::from_u8(4, 1, &[1, 2, 250, 255]);
        assert_eq!(
            bin_region(&img.as_ref(), Region::full(4, 1), 2, &mut out),
            (2, 1)
        );
        let v: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(v, vec![2, 253], "means rounded half up");
        let img = OwnedImage::from_f32(3, 1, &[1.0, f32::NAN, 4.0]);
        bin_region(&img.as_ref(), Region::full(3, 1), 2, &mut out);
        let v: Vec<f32> = out
            .chunks(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(v, vec![1.0, 4.0]);
    }

    #[test]
    fn lossless_round_trips_exactly() {
        // One scratch (one deflate state) for every round, and payloads recycled from
        // the dropped encodings of earlier rounds: nothing stale may leak through.
        let mut scratch = Scratch::default();
        for round in 0..3u32 {
            let values: Vec<u16> = (0..64 * 48 - round * 64)
                .map(|i| ((i + round * 1000) * 37 % 65536) as u16)
                .collect();
            let h = 48 - round;
            let img = OwnedImage::from_u16(64, h, &values);
            let window = Window {
                low: 0.0,
                high: 1.0,
                scale: Scale::Linear,
            };
            for codec in [Codec::Lossless, Codec::LosslessStored] {
                let e = encode(
                    &img.as_ref(),
                    Region::full(64, h),
                    1,
                    codec,
                    window,
                    85,
                    &mut scratch,
                )
                .unwrap();
                let n = values.len();
                let back: Vec<u16> = if codec == Codec::Lossless {
                    let mut planes = Vec::new();
                    flate2::read::ZlibDecoder::new(&e.payload[..])
                        .read_to_end(&mut planes)
                        .unwrap();
                    assert_eq!(planes.len(), 2 * n);
                    (0..n)
                        .map(|i| u16::from_le_bytes([planes[i], planes[n + i]]))
                        .collect()
                } else {
                    e.payload
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect()
                };
                assert_eq!(back, values, "{codec:?}, round {round}");
            }
        }
    }

    #[test]
    fn jpeg_is_a_gray_jpeg_of_the_binned_size() {
        let values: Vec<u16> = (0..100 * 60).map(|i| (i % 100) as u16 * 10).collect();
        let img = OwnedImage::from_u16(100, 60, &values);
        let window = Window {
            low: 0.0,
            high: 990.0,
            scale: Scale::Linear,
        };
        let e = encode(
            &img.as_ref(),
            Region::full(100, 60),
            2,
            Codec::Jpeg,
            window,
            80,
            &mut Scratch::default(),
        )
        .unwrap();
        assert_eq!((e.w, e.h, e.dtype), (50, 30, DType::U8));
        assert_eq!(&e.payload[..2], &[0xFF, 0xD8], "JPEG start of image");
    }
}

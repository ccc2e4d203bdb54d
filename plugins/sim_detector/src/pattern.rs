//! Pattern generation, fast enough to run at memory bandwidth: the noise comes from a
//! table made once from the seed, each row reads it at a pseudo-random offset, and the
//! moving bars are one precomputed row profile per frame — so a frame costs about one
//! pass of adds over its pixels, not a random number per pixel.

use daqflow_sdk::prelude::*;

use crate::config::{Pattern, Settings};

/// Extra noise values beyond one row, so row offsets can vary.
const NOISE_SLACK: usize = 4096;

/// Integer mixing (splitmix64): a good hash for offsets and the noise table.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A pixel type the generator can write.
trait SimPixel: daqflow_sdk::Pixel + std::ops::Add<Output = Self> {
    /// Full-scale value used to size noise and bars.
    const SCALE: f64;
    fn trunc_from_f64(v: f64) -> Self;
    fn ramp(v: u64) -> Self;
    /// Native-endian bytes (first `n` of 4 used) and `n`.
    fn ne_bytes(self) -> ([u8; 4], usize);
}

impl SimPixel for u8 {
    fn ne_bytes(self) -> ([u8; 4], usize) {
        let mut b = [0u8; 4];
        b[..1].copy_from_slice(&self.to_ne_bytes());
        (b, 1)
    }
    const SCALE: f64 = 255.0;
    fn trunc_from_f64(v: f64) -> Self {
        v as u8
    }
    fn ramp(v: u64) -> Self {
        v as u8
    }
}
impl SimPixel for u16 {
    fn ne_bytes(self) -> ([u8; 4], usize) {
        let mut b = [0u8; 4];
        b[..2].copy_from_slice(&self.to_ne_bytes());
        (b, 2)
    }
    const SCALE: f64 = 4095.0; // a 12-bit detector in a u16 container
    fn trunc_from_f64(v: f64) -> Self {
        v as u16
    }
    fn ramp(v: u64) -> Self {
        v as u16
    }
}
impl SimPixel for u32 {
    fn ne_bytes(self) -> ([u8; 4], usize) {
        let mut b = [0u8; 4];
        b[..4].copy_from_slice(&self.to_ne_bytes());
        (b, 4)
    }
    const SCALE: f64 = 1_048_575.0; // 20-bit counter
    fn trunc_from_f64(v: f64) -> Self {
        v as u32
    }
    fn ramp(v: u64) -> Self {
        v as u32
    }
}
impl SimPixel for f32 {
    fn ne_bytes(self) -> ([u8; 4], usize) {
        let mut b = [0u8; 4];
        b[..4].copy_from_slice(&self.to_ne_bytes());
        (b, 4)
    }
    const SCALE: f64 = 1000.0;
    fn trunc_from_f64(v: f64) -> Self {
        v as f32
    }
    fn ramp(v: u64) -> Self {
        (v % (1 << 24)) as f32
    }
}

/// Per-run state of the pattern.
pub struct Generator {
    pattern: Pattern,
    seed: u64,
    width: usize,
    height: usize,
    value: f64,
    /// Noise values as f64 fractions of full scale, `width + NOISE_SLACK` long.
    noise: Vec<f64>,
    /// Typed copies, made on first use for the frame's dtype.
    typed: Option<Typed>,
}

pub(crate) enum Typed {
    U8(Tables<u8>),
    U16(Tables<u16>),
    U32(Tables<u32>),
    F32(Tables<f32>),
}

pub struct Tables<T> {
    noise: Vec<T>,
    bars_x: Vec<T>,
    bars_y: Vec<T>,
}

impl Generator {
    /// Builds the noise table for `s`.
    pub fn new(s: &Settings) -> Generator {
        let width = s.width as usize;
        let n = if s.pattern == Pattern::Bars {
            width + NOISE_SLACK
        } else {
            0
        };
        // Background ~5% of full scale with ±4% photon-like fluctuation.
        let noise = (0..n)
            .map(|i| {
                let r = mix(s.seed ^ mix(i as u64));
                let u = (r >> 11) as f64 / (1u64 << 53) as f64;
                let u2 = (mix(r) >> 11) as f64 / (1u64 << 53) as f64;
                0.05 + 0.04 * (u + u2 - 1.0)
            })
            .collect();
        Generator {
            pattern: s.pattern,
            seed: s.seed,
            width,
            height: s.height as usize,
            value: s.value,
            noise,
            typed: None,
        }
    }

    /// Fills `frame` (already numbered `n`) with the pattern.
    pub fn fill(&mut self, frame: &mut FrameMut, n: u64) -> Result<(), PluginError> {
        daqflow_sdk::dispatch_dtype!(frame.dtype(), T => self.fill_typed::<T>(frame, n))
    }

    fn fill_typed<T: SimPixel>(&mut self, frame: &mut FrameMut, n: u64) -> Result<(), PluginError>
    where
        Generator: TypedAccess<T>,
    {
        if self.pattern == Pattern::Constant
            && let Some(byte) = uniform_byte(T::trunc_from_f64(self.value))
        {
            // Every byte of the pixel is the same (0, 257 for u16, ...): a plain memset,
            // which streams to memory without reading it first.
            frame.bytes_mut().fill(byte);
            return Ok(());
        }
        let (w, h) = (self.width, self.height);
        let mut view = frame.view_mut::<T>()?;
        let out = view
            .as_slice_mut()
            .ok_or_else(|| PluginError::new("frame is not contiguous"))?;
        match self.pattern {
            Pattern::None => {}
            Pattern::Constant => {
                let v = T::trunc_from_f64(self.value);
                out.fill(v);
            }
            Pattern::Ramp => {
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let base = y as u64 + n;
                    for (x, p) in row.iter_mut().enumerate() {
                        *p = T::ramp(base + x as u64);
                    }
                }
            }
            Pattern::Bars => {
                let seed = self.seed;
                let t = self.tables(n);
                let Tables {
                    noise,
                    bars_x,
                    bars_y,
                } = t;
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let off = (mix(seed ^ mix(n.wrapping_mul(0x1_0000_0001) ^ y as u64)) as usize)
                        % NOISE_SLACK;
                    let by = bars_y[y];
                    for ((p, &nz), &bx) in
                        row.iter_mut().zip(&noise[off..off + w]).zip(bars_x.iter())
                    {
                        *p = nz + bx + by;
                    }
                }
                let _ = h;
            }
        }
        Ok(())
    }
}

/// The byte every byte of `v`'s representation equals, if they are all equal.
fn uniform_byte<T: SimPixel>(v: T) -> Option<u8> {
    let (bytes, n) = v.ne_bytes();
    let first = bytes[0];
    bytes[..n].iter().all(|&b| b == first).then_some(first)
}

/// Access to the typed tables of the generator, rebuilt per frame for the bars.
pub trait TypedAccess<T> {
    /// Tables for frame `n`.
    fn tables(&mut self, n: u64) -> &Tables<T>;
}

macro_rules! typed_access {
    ($t:ty, $variant:ident) => {
        impl TypedAccess<$t> for Generator {
            fn tables(&mut self, n: u64) -> &Tables<$t> {
                if !matches!(self.typed, Some(Typed::$variant(_))) {
                    let noise = self
                        .noise
                        .iter()
                        .map(|&v| <$t>::trunc_from_f64(v * <$t>::SCALE))
                        .collect();
                    self.typed = Some(Typed::$variant(Tables {
                        noise,
                        bars_x: vec![<$t>::trunc_from_f64(0.0); self.width],
                        bars_y: vec![<$t>::trunc_from_f64(0.0); self.height],
                    }));
                }
                let (w, h) = (self.width, self.height);
                let Some(Typed::$variant(t)) = &mut self.typed else {
                    unreachable!()
                };
                // Vertical bars drifting right, one horizontal band drifting down.
                let period = (w / 8).max(4);
                let shift = (n as usize * 3) % period;
                for (x, b) in t.bars_x.iter_mut().enumerate() {
                    let on = ((x + period - shift) % period) < period / 3;
                    *b = <$t>::trunc_from_f64(if on { 0.45 * <$t>::SCALE } else { 0.0 });
                }
                let band = (h / 6).max(1);
                let y0 = (n as usize * 2) % h.max(1);
                for (y, b) in t.bars_y.iter_mut().enumerate() {
                    let on = (y + h - y0) % h.max(1) < band;
                    *b = <$t>::trunc_from_f64(if on { 0.3 * <$t>::SCALE } else { 0.0 });
                }
                t
            }
        }
    };
}
typed_access!(u8, U8);
typed_access!(u16, U16);
typed_access!(u32, U32);
typed_access!(f32, F32);

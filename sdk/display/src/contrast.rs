//! Contrast on the CPU: the data range, a histogram of the current frame, percentiles, and
//! the choice of display window ([`ContrastMode`]).
//!
//! Cost is bounded whatever the frame size: the histogram reads at most [`MAX_SAMPLES`]
//! pixels (an evenly strided sample), u8/u16 images get one bin per value (exact
//! percentiles on the sample), u32/f32 images get [`FLOAT_BINS`] bins between the
//! sample's min and max. Min/max mode reads every pixel (one vectorised pass).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use daqflow_sdk::DType;

use crate::image::ImageRef;

/// At most this many pixels are read to build a histogram.
pub const MAX_SAMPLES: usize = 1 << 20;
/// Number of bins of a u32/f32 histogram.
pub const FLOAT_BINS: usize = 4096;

/// How the contrast window is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContrastMode {
    /// The full range of the current frame: its min and max.
    MinMax,
    /// Between two percentiles of the current frame (`percentile_low_pct`,
    /// `percentile_high_pct`): ignores hot and dead pixels.
    #[default]
    Percentile,
    /// A fixed window (`contrast_min`, `contrast_max`).
    Manual,
}

/// Histogram of (a sample of) one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Value of bin 0's lower edge.
    pub origin: f64,
    /// Width of a bin (1 for u8/u16).
    pub bin_width: f64,
    /// Pixel counts per bin.
    pub counts: Vec<u64>,
    /// Number of counted (non-NaN) pixels.
    pub total: u64,
    /// Smallest counted value.
    pub min: f64,
    /// Largest counted value.
    pub max: f64,
    /// True when the bins hold exact integer values.
    pub exact_bins: bool,
}

/// Step between sampled pixels: 1 up to [`MAX_SAMPLES`] pixels, then a step that is
/// coprime with the width so the sample does not fall on the same columns in every row.
fn sample_step(len: usize, width: usize) -> usize {
    let mut step = len.div_ceil(MAX_SAMPLES).max(1);
    if step > 1 {
        while gcd(step, width) != 1 {
            step += 1;
        }
    }
    step
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Iterates the sampled pixel values of `image` as f64 (NaN included).
fn for_each_sample(image: &ImageRef<'_>, mut f: impl FnMut(f64)) {
    let step = sample_step(image.len(), image.width() as usize);
    let b = image.bytes();
    match image.dtype() {
        DType::U8 => b.iter().step_by(step).for_each(|&v| f(f64::from(v))),
        DType::U16 => b
            .chunks_exact(2)
            .step_by(step)
            .for_each(|c| f(f64::from(u16::from_ne_bytes([c[0], c[1]])))),
        DType::U32 => b
            .chunks_exact(4)
            .step_by(step)
            .for_each(|c| f(f64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))),
        DType::F32 => b
            .chunks_exact(4)
            .step_by(step)
            .for_each(|c| f(f64::from(f32::from_ne_bytes([c[0], c[1], c[2], c[3]])))),
        _ => unreachable!("this SDK has no other dtype"),
    }
}

/// Exact min and max over every pixel (NaN ignored); `None` if every pixel is NaN.
pub fn min_max(image: &ImageRef<'_>) -> Option<(f64, f64)> {
    fn fold<T: Copy + PartialOrd>(it: impl Iterator<Item = T>) -> Option<(T, T)> {
        it.fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((if v < lo { v } else { lo }, if v > hi { v } else { hi })),
        })
    }
    let b = image.bytes();
    match image.dtype() {
        DType::U8 => fold(b.iter().copied()).map(|(l, h)| (f64::from(l), f64::from(h))),
        DType::U16 => fold(b.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])))
            .map(|(l, h)| (f64::from(l), f64::from(h))),
        DType::U32 => fold(
            b.chunks_exact(4)
                .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
        )
        .map(|(l, h)| (f64::from(l), f64::from(h))),
        DType::F32 => fold(
            b.chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .filter(|v| !v.is_nan()),
        )
        .map(|(l, h)| (f64::from(l), f64::from(h))),
        _ => unreachable!("this SDK has no other dtype"),
    }
}

impl Histogram {
    /// Builds the histogram of (a sample of) `image`.
    pub fn of(image: &ImageRef<'_>) -> Self {
        match image.dtype() {
            DType::U8 | DType::U16 => {
                let n = if image.dtype() == DType::U8 {
                    256
                } else {
                    65536
                };
                let mut counts = vec![0u64; n];
                for_each_sample(image, |v| counts[v as usize] += 1);
                Self::from_exact_counts(counts)
            }
            // u32, f32: binned between the sample's min and max.
            _ => {
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for_each_sample(image, |v| {
                    if v.is_finite() {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                });
                if lo > hi {
                    (lo, hi) = (0.0, 0.0);
                }
                let bin_width = if hi > lo {
                    (hi - lo) / FLOAT_BINS as f64
                } else {
                    1.0
                };
                let mut counts = vec![0u64; FLOAT_BINS];
                let mut total = 0;
                let mut min = f64::INFINITY;
                let mut max = f64::NEG_INFINITY;
                for_each_sample(image, |v| {
                    if v.is_nan() {
                        return;
                    }
                    let bin = ((v - lo) / bin_width).clamp(0.0, (FLOAT_BINS - 1) as f64);
                    counts[bin as usize] += 1;
                    total += 1;
                    min = min.min(v);
                    max = max.max(v);
                });
                if total == 0 {
                    (min, max) = (0.0, 0.0);
                }
                Self {
                    origin: lo,
                    bin_width,
                    counts,
                    total,
                    min,
                    max,
                    exact_bins: false,
                }
            }
        }
    }

    fn from_exact_counts(counts: Vec<u64>) -> Self {
        let total = counts.iter().sum();
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        Self {
            origin: 0.0,
            bin_width: 1.0,
            counts,
            total,
            min: first as f64,
            max: last as f64,
            exact_bins: true,
        }
    }

    /// The value below which `pct` percent of the counted pixels lie (exact bin value for
    /// u8/u16, bin centre otherwise), clamped to [min, max].
    pub fn percentile(&self, pct: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let target = ((pct / 100.0).clamp(0.0, 1.0) * self.total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut cum = 0;
        let mut bin = self.counts.len() - 1;
        for (i, &c) in self.counts.iter().enumerate() {
            cum += c;
            if cum >= target {
                bin = i;
                break;
            }
        }
        let centre = if self.exact_bins { 0.0 } else { 0.5 };
        (self.origin + (bin as f64 + centre) * self.bin_width).clamp(self.min, self.max)
    }

    /// Re-bins the counts over [`lo`, `hi`] into `n` bins for drawing.
    pub fn display_bins(&self, lo: f64, hi: f64, n: usize) -> Vec<u64> {
        let mut out = vec![0u64; n];
        if n == 0 || hi <= lo {
            return out;
        }
        let scale = n as f64 / (hi - lo);
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let centre = self.origin + (i as f64 + 0.5) * self.bin_width;
            let b = ((centre - lo) * scale).floor();
            if b >= 0.0 && (b as usize) < n {
                out[b as usize] += c;
            }
        }
        out
    }
}

/// The display window for `mode`: min/max of the frame, percentiles of `hist`, or the
/// manual range. Integer images get integer bounds.
pub fn window(
    image: &ImageRef<'_>,
    hist: &Histogram,
    mode: ContrastMode,
    percentiles: (f64, f64),
    manual: (f64, f64),
) -> (f64, f64) {
    match mode {
        ContrastMode::MinMax => min_max(image).unwrap_or((0.0, 1.0)),
        ContrastMode::Percentile => {
            let lo = hist.percentile(percentiles.0);
            let hi = hist.percentile(percentiles.1);
            if image.dtype() == DType::F32 {
                (lo, hi)
            } else {
                (lo.floor(), hi.ceil())
            }
        }
        ContrastMode::Manual => manual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::OwnedImage;

    #[test]
    fn u16_histogram_is_exact_and_percentiles_drop_outliers() {
        // 1000 pixels 100..=1099 plus one hot pixel.
        let mut v: Vec<u16> = (100..1100).collect();
        v.push(60000);
        v.push(100);
        v.push(100);
        v.push(100);
        let img = OwnedImage::from_u16(4, 251, &v);
        let h = Histogram::of(&img.as_ref());
        assert_eq!(h.total, 1004);
        assert_eq!((h.min, h.max), (100.0, 60000.0));
        assert_eq!(min_max(&img.as_ref()), Some((100.0, 60000.0)));
        let (lo, hi) = window(
            &img.as_ref(),
            &h,
            ContrastMode::Percentile,
            (0.5, 99.5),
            (0.0, 0.0),
        );
        // 0.5 % of 1004 pixels: the 6th smallest.
        assert_eq!(lo, 102.0);
        assert!((1090.0..=1099.0).contains(&hi), "{hi}");
        let (lo, hi) = window(
            &img.as_ref(),
            &h,
            ContrastMode::MinMax,
            (0.5, 99.5),
            (0.0, 0.0),
        );
        assert_eq!((lo, hi), (100.0, 60000.0));
    }

    #[test]
    fn float_histogram_ignores_nan_and_bins_the_range() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        v[3] = f32::NAN;
        let img = OwnedImage::from_f32(10, 100, &v);
        let h = Histogram::of(&img.as_ref());
        assert_eq!(h.total, 999);
        assert_eq!(h.counts.len(), FLOAT_BINS);
        let med = h.percentile(50.0);
        assert!((med - 0.5).abs() < 0.01, "{med}");
        assert_eq!(min_max(&img.as_ref()), Some((0.0, 0.999_f32 as f64)));
    }

    #[test]
    fn large_image_is_sampled() {
        let w = 2048u32;
        let v: Vec<u16> = (0..w * w).map(|i| (i % 4096) as u16).collect();
        let img = OwnedImage::from_u16(w, w, &v);
        let h = Histogram::of(&img.as_ref());
        assert!(h.total <= MAX_SAMPLES as u64 && h.total > MAX_SAMPLES as u64 / 2);
        // Uniform data: the sampled median is near the true one.
        assert!((h.percentile(50.0) - 2048.0).abs() < 64.0);
    }

    #[test]
    fn display_bins_rebin_counts() {
        let img = OwnedImage::from_u8(4, 1, &[0, 10, 200, 255]);
        let h = Histogram::of(&img.as_ref());
        let bins = h.display_bins(0.0, 256.0, 4);
        assert_eq!(bins, vec![2, 0, 0, 2]);
    }

    #[test]
    fn all_nan_image_has_a_window() {
        let img = OwnedImage::from_f32(2, 1, &[f32::NAN, f32::NAN]);
        let h = Histogram::of(&img.as_ref());
        assert_eq!(h.total, 0);
        assert_eq!(min_max(&img.as_ref()), None);
        let w = window(
            &img.as_ref(),
            &h,
            ContrastMode::MinMax,
            (0.5, 99.5),
            (0.0, 0.0),
        );
        assert_eq!(w, (0.0, 1.0));
    }
}

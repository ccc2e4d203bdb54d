//! The pixel kernel: [`frame_stats`] computes every statistic of one frame in one pass,
//! exactly for the integer dtypes (wide integer sums, converted to f64 once at the end)
//! and in f64 for f32 pixels. Public so a benchmark can compare it with a plain loop.

use daqflow_sdk::Pixel;
use daqflow_sdk::ndarray::ArrayView2;

/// The statistics of one frame. Coordinates are 0-based pixel indices: `x` is the column,
/// `y` the row, pixel `[0, 0]` is the first one in memory (top left in the viewer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameStats {
    /// Pixels in the frame.
    pub pixels: u64,
    /// Sum of all pixels.
    pub sum: f64,
    /// `sum / pixels`.
    pub mean: f64,
    /// Smallest pixel (NaN pixels are skipped; NaN if there is no other).
    pub min: f64,
    /// Largest pixel (NaN pixels are skipped; NaN if there is no other).
    pub max: f64,
    /// Population standard deviation (divides by `pixels`, like numpy's `std()`).
    pub std: f64,
    /// Intensity-weighted mean column, `Σ x·p / Σ p`; NaN when the sum is 0.
    pub centroid_x: f64,
    /// Intensity-weighted mean row, `Σ y·p / Σ p`; NaN when the sum is 0.
    pub centroid_y: f64,
    /// Pixels strictly above the `above` level given, `None` when none was given.
    pub count_above: Option<u64>,
}

/// A pixel type [`frame_stats`] takes: all four SDK dtypes.
pub trait StatsPixel: Pixel {
    /// See [`frame_stats`].
    fn frame_stats(pixels: &ArrayView2<'_, Self>, above: Option<f64>) -> FrameStats;
}

/// All statistics of `pixels` in one pass; with `above`, also the count of pixels strictly
/// above it (compared exactly: `2.5` counts integer pixels from 3 up).
///
/// Integer pixels are summed in `u64`/`u128` (exact for any frame a `u32` shape can hold),
/// f32 pixels in f64 with the variance taken about the first pixel (no catastrophic
/// cancellation for a small spread on a large offset). A NaN pixel makes the sum, mean,
/// std and centroid NaN; it is not counted above any level.
pub fn frame_stats<T: StatsPixel>(pixels: &ArrayView2<'_, T>, above: Option<f64>) -> FrameStats {
    T::frame_stats(pixels, above)
}

/// Sums of one row (or the whole frame) of integer pixels.
#[derive(Default)]
struct IntSums {
    sum: u128,
    sq: u128,
    /// `Σ x·p`
    xm: u128,
    /// `Σ y·p`
    ym: u128,
    above: u64,
}

/// A row accumulator: `u64` when a row of the pixel type cannot overflow it, else `u128`.
trait Wide: Copy + Default + std::ops::Add<Output = Self> + From<u64> + Into<u128> {}
impl Wide for u64 {}
impl Wide for u128 {}

/// One row: `(Σp, Σp², Σx·p, count above lim)`, accumulated in `A`.
#[inline]
fn int_row<T: Copy + Into<u64>, A: Wide>(
    row: impl Iterator<Item = T>,
    lim: u64,
    min: &mut u64,
    max: &mut u64,
) -> (A, A, A, u64) {
    let (mut s, mut sq, mut xm, mut above) = (A::default(), A::default(), A::default(), 0u64);
    let (mut lo, mut hi) = (*min, *max);
    for (x, p) in row.enumerate() {
        let v: u64 = p.into();
        s = s + A::from(v);
        sq = sq + A::from(v * v);
        xm = xm + A::from(x as u64 * v);
        above += u64::from(v > lim);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (*min, *max) = (lo, hi);
    (s, sq, xm, above)
}

fn int_stats<T: Pixel + Into<u64>>(pixels: &ArrayView2<'_, T>, above: Option<f64>) -> FrameStats {
    let (h, w) = pixels.dim();
    let n = (h * w) as u64;
    // Counting `v > above` for integers is `v > floor(above)`; a negative level counts all.
    let (lim, all_above) = match above {
        Some(a) if a < 0.0 => (u64::MAX, true),
        Some(a) => (a.floor() as u64, false),
        None => (u64::MAX, false),
    };
    // u8/u16 rows fit u64 sums (p² < 2^32, x·p < 2^40 for rows up to 2^24 pixels).
    let narrow = std::mem::size_of::<T>() <= 2 && w <= 1 << 24;
    let mut t = IntSums::default();
    let (mut min, mut max) = (u64::MAX, 0u64);
    for (y, row) in pixels.outer_iter().enumerate() {
        let (s, sq, xm, a): (u128, u128, u128, u64) = match (narrow, row.as_slice()) {
            (true, Some(r)) => widen(int_row::<T, u64>(
                r.iter().copied(),
                lim,
                &mut min,
                &mut max,
            )),
            (true, None) => widen(int_row::<T, u64>(
                row.iter().copied(),
                lim,
                &mut min,
                &mut max,
            )),
            (false, Some(r)) => int_row::<T, u128>(r.iter().copied(), lim, &mut min, &mut max),
            (false, None) => int_row::<T, u128>(row.iter().copied(), lim, &mut min, &mut max),
        };
        t.sum += s;
        t.sq += sq;
        t.xm += xm;
        t.ym += y as u128 * s;
        t.above += a;
    }
    let sum = t.sum as f64;
    let nf = n as f64;
    // n·Σp² − (Σp)² is exact in u128 for any realistic frame; beyond that, f64.
    let var = match (u128::from(n).checked_mul(t.sq), t.sum.checked_mul(t.sum)) {
        (Some(a), Some(b)) if n > 0 => (a - b) as f64 / nf / nf,
        _ => (t.sq as f64 / nf - (sum / nf).powi(2)).max(0.0),
    };
    let (min, max) = if n == 0 {
        (f64::NAN, f64::NAN)
    } else {
        (min as f64, max as f64)
    };
    FrameStats {
        pixels: n,
        sum,
        mean: sum / nf,
        min,
        max,
        std: var.sqrt(),
        centroid_x: centroid(t.xm as f64, sum),
        centroid_y: centroid(t.ym as f64, sum),
        count_above: above.map(|_| if all_above { n } else { t.above }),
    }
}

fn widen((s, sq, xm, a): (u64, u64, u64, u64)) -> (u128, u128, u128, u64) {
    (s.into(), sq.into(), xm.into(), a)
}

fn centroid(moment: f64, sum: f64) -> f64 {
    if sum == 0.0 { f64::NAN } else { moment / sum }
}

/// One row of f32 pixels: `(Σp, Σd, Σd², Σx·p, count above)` with `d = p − shift`.
#[inline]
fn f32_row(
    row: impl Iterator<Item = f32>,
    shift: f64,
    above: f64,
    min: &mut f32,
    max: &mut f32,
) -> (f64, f64, f64, f64, u64) {
    let (mut s, mut sd, mut sq, mut xm, mut n_above) = (0.0, 0.0, 0.0, 0.0, 0u64);
    let (mut lo, mut hi) = (*min, *max);
    for (x, p) in row.enumerate() {
        let v = f64::from(p);
        let d = v - shift;
        s += v;
        sd += d;
        sq += d * d;
        xm += x as f64 * v;
        n_above += u64::from(v > above);
        // `<`/`>` are false for NaN: NaN pixels never become the min or max.
        if p < lo {
            lo = p;
        }
        if p > hi {
            hi = p;
        }
    }
    (*min, *max) = (lo, hi);
    (s, sd, sq, xm, n_above)
}

fn f32_stats(pixels: &ArrayView2<'_, f32>, above: Option<f64>) -> FrameStats {
    let (h, w) = pixels.dim();
    let n = (h * w) as u64;
    let nf = n as f64;
    let shift = pixels
        .iter()
        .next()
        .map(|&p| f64::from(p))
        .filter(|p| p.is_finite())
        .unwrap_or(0.0);
    let level = above.unwrap_or(f64::INFINITY);
    let (mut sum, mut sd, mut sq, mut xm, mut ym, mut n_above) = (0.0, 0.0, 0.0, 0.0, 0.0, 0u64);
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for (y, row) in pixels.outer_iter().enumerate() {
        let (s, d, q, x, a) = match row.as_slice() {
            Some(r) => f32_row(r.iter().copied(), shift, level, &mut min, &mut max),
            None => f32_row(row.iter().copied(), shift, level, &mut min, &mut max),
        };
        sum += s;
        sd += d;
        sq += q;
        xm += x;
        ym += y as f64 * s;
        n_above += a;
    }
    let var = ((sq - sd * sd / nf) / nf).max(0.0);
    let (min, max) = if min <= max {
        (f64::from(min), f64::from(max))
    } else {
        (f64::NAN, f64::NAN)
    };
    FrameStats {
        pixels: n,
        sum,
        mean: sum / nf,
        min,
        max,
        // A NaN pixel: `max(0.0)` above would hide it, so take it from the sum.
        std: if sum.is_nan() { f64::NAN } else { var.sqrt() },
        centroid_x: centroid(xm, sum),
        centroid_y: centroid(ym, sum),
        count_above: above.map(|_| n_above),
    }
}

impl StatsPixel for u8 {
    fn frame_stats(pixels: &ArrayView2<'_, u8>, above: Option<f64>) -> FrameStats {
        int_stats(pixels, above)
    }
}
impl StatsPixel for u16 {
    fn frame_stats(pixels: &ArrayView2<'_, u16>, above: Option<f64>) -> FrameStats {
        int_stats(pixels, above)
    }
}
impl StatsPixel for u32 {
    fn frame_stats(pixels: &ArrayView2<'_, u32>, above: Option<f64>) -> FrameStats {
        int_stats(pixels, above)
    }
}
impl StatsPixel for f32 {
    fn frame_stats(pixels: &ArrayView2<'_, f32>, above: Option<f64>) -> FrameStats {
        f32_stats(pixels, above)
    }
}

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::{Array2, arr2};

    use super::*;

    #[test]
    fn u32_extremes_are_exact() {
        // Σp² = 4·(2^32−1)² overflows u64: the u128 row path keeps it exact.
        let a = arr2(&[[u32::MAX, u32::MAX], [u32::MAX, 0]]);
        let s = frame_stats(&a.view(), Some(4e9));
        let m = f64::from(u32::MAX);
        assert_eq!(s.sum, 3.0 * m);
        assert_eq!(s.mean, 0.75 * m);
        let want_std = (3.0f64).sqrt() / 4.0 * m;
        assert!((s.std - want_std).abs() <= want_std * 1e-15, "{}", s.std);
        assert_eq!((s.min, s.max), (0.0, m));
        assert_eq!(s.centroid_x, 1.0 / 3.0);
        assert_eq!(s.centroid_y, 1.0 / 3.0);
        assert_eq!(s.count_above, Some(3));
    }

    #[test]
    fn f32_small_spread_on_a_large_offset() {
        // Naive Σp²/n − mean² in f64 loses this spread entirely at 1e8.
        let a = arr2(&[[1e8f32, 1e8 + 8.0], [1e8, 1e8 + 8.0]]);
        let s = frame_stats(&a.view(), None);
        assert_eq!(s.std, 4.0);
        assert_eq!(s.mean, 1e8 + 4.0);
        assert_eq!(s.count_above, None);
    }

    #[test]
    fn nan_pixels() {
        let a = arr2(&[[1.0f32, f32::NAN], [3.0, -2.0]]);
        let s = frame_stats(&a.view(), Some(0.0));
        assert!(s.sum.is_nan() && s.mean.is_nan() && s.std.is_nan() && s.centroid_x.is_nan());
        assert_eq!((s.min, s.max), (-2.0, 3.0));
        assert_eq!(s.count_above, Some(2));
    }

    #[test]
    fn strided_views_and_wide_rows_agree_with_contiguous() {
        let a = Array2::from_shape_fn((5, 7), |(y, x)| ((x * 31 + y * 17) % 23) as u16);
        let t = a.t();
        let c = t.as_standard_layout();
        assert_eq!(
            frame_stats(&t.view(), Some(10.0)),
            frame_stats(&c.view(), Some(10.0))
        );
    }

    #[test]
    fn negative_and_fractional_levels() {
        let a = arr2(&[[0u8, 2, 3]]);
        assert_eq!(frame_stats(&a.view(), Some(-0.5)).count_above, Some(3));
        assert_eq!(frame_stats(&a.view(), Some(2.5)).count_above, Some(1));
        assert_eq!(frame_stats(&a.view(), Some(2.0)).count_above, Some(1));
        assert_eq!(frame_stats(&a.view(), Some(1e30)).count_above, Some(0));
    }
}

//! The pixel kernels: [`add_frame`] adds a frame into a running sum, [`finish_sum`] and
//! [`finish_mean`] turn it into output pixels and clear it for the next group. Public so a
//! benchmark can compare them with a plain loop.
//!
//! Running sums: `u32` for u8/u16 frames (exact for up to 65537 frames) and for u32 sums
//! (saturating, which is exact up to `u32::MAX` and then stays there), `u64` for u32 means,
//! `f64` for f32 frames.

use daqflow_sdk::Pixel;

/// A running-sum element that can take pixels of type `T`.
pub trait AddPixel<T>: Copy {
    /// `self + p`.
    fn add(self, p: T) -> Self;
}

impl AddPixel<u8> for u32 {
    #[inline]
    fn add(self, p: u8) -> u32 {
        self.saturating_add(u32::from(p))
    }
}
impl AddPixel<u16> for u32 {
    #[inline]
    fn add(self, p: u16) -> u32 {
        self.saturating_add(u32::from(p))
    }
}
impl AddPixel<u32> for u32 {
    #[inline]
    fn add(self, p: u32) -> u32 {
        self.saturating_add(p)
    }
}
impl AddPixel<u8> for u64 {
    #[inline]
    fn add(self, p: u8) -> u64 {
        self + u64::from(p)
    }
}
impl AddPixel<u16> for u64 {
    #[inline]
    fn add(self, p: u16) -> u64 {
        self + u64::from(p)
    }
}
impl AddPixel<u32> for u64 {
    #[inline]
    fn add(self, p: u32) -> u64 {
        self + u64::from(p)
    }
}
impl AddPixel<f32> for f64 {
    #[inline]
    fn add(self, p: f32) -> f64 {
        self + f64::from(p)
    }
}

/// A running-sum element: `u32`, `u64` or `f64`.
pub trait Running: Copy + Default + Send + 'static {
    /// The sum as an output pixel (saturating for integers).
    fn sum_as<O: Pixel>(self) -> O;
    /// The mean of `n` frames as an output pixel; integers rounded to nearest, halves up.
    fn mean_as<O: Pixel>(self, n: u32) -> O;
}

impl Running for u32 {
    #[inline]
    fn sum_as<O: Pixel>(self) -> O {
        O::from_f64(f64::from(self))
    }
    #[inline]
    fn mean_as<O: Pixel>(self, n: u32) -> O {
        u64::from(self).mean_as(n)
    }
}
impl Running for u64 {
    #[inline]
    fn sum_as<O: Pixel>(self) -> O {
        // Exact: a running u64 holds at most 65536 · u32::MAX < 2^53.
        O::from_f64(self as f64)
    }
    #[inline]
    fn mean_as<O: Pixel>(self, n: u32) -> O {
        let n = u64::from(n.max(1));
        O::from_f64(((self + n / 2) / n) as f64)
    }
}
impl Running for f64 {
    #[inline]
    fn sum_as<O: Pixel>(self) -> O {
        O::from_f64(self)
    }
    #[inline]
    fn mean_as<O: Pixel>(self, n: u32) -> O {
        O::from_f64(self / f64::from(n.max(1)))
    }
}

/// Adds `pixels` into `acc`, element by element (`acc` and `pixels` have the same length).
pub fn add_frame<T: Copy, A: AddPixel<T>>(acc: &mut [A], pixels: &[T]) {
    debug_assert_eq!(acc.len(), pixels.len());
    for (a, &p) in acc.iter_mut().zip(pixels) {
        *a = a.add(p);
    }
}

/// Writes the sums in `acc` to `out` and clears `acc`.
pub fn finish_sum<A: Running, O: Pixel>(acc: &mut [A], out: &mut [O]) {
    debug_assert_eq!(acc.len(), out.len());
    for (a, o) in acc.iter_mut().zip(out) {
        *o = std::mem::take(a).sum_as();
    }
}

/// Writes the means of `frames` frames in `acc` to `out` and clears `acc`.
pub fn finish_mean<A: Running, O: Pixel>(acc: &mut [A], frames: u32, out: &mut [O]) {
    debug_assert_eq!(acc.len(), out.len());
    for (a, o) in acc.iter_mut().zip(out) {
        *o = std::mem::take(a).mean_as(frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_sums_saturate_exactly() {
        let mut acc = vec![0u32; 2];
        add_frame(&mut acc, &[u32::MAX - 1, 1]);
        add_frame(&mut acc, &[5u32, 1]);
        let mut out = [0u32; 2];
        finish_sum(&mut acc, &mut out);
        assert_eq!(out, [u32::MAX, 2]);
        assert_eq!(acc, [0, 0], "cleared for the next group");
    }

    #[test]
    fn integer_means_round_half_up() {
        let mut acc = vec![0u64; 4];
        add_frame(&mut acc, &[0u32, 1, 1, u32::MAX]);
        add_frame(&mut acc, &[1u32, 1, 2, u32::MAX]);
        let mut out = [0u32; 4];
        finish_mean(&mut acc, 2, &mut out);
        assert_eq!(out, [1, 1, 2, u32::MAX]);
    }
}

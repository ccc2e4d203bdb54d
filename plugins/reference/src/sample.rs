//! [`Sample`]: the pixel types the correction kernels write, with a round-and-clamp that
//! the compiler can vectorise (`f64::round` is a library call on baseline x86-64).

use daqflow_sdk::Pixel;

/// A pixel type a correction kernel writes.
pub trait Sample: Pixel {
    /// `v` rounded to nearest and clamped to the type's range, NaN → 0: for every input
    /// the same value as [`Pixel::from_f64`] (halves round up here, away from zero there,
    /// which differ only below 0, where both clamp to 0). Plain conversion for f32.
    fn round_clamp(v: f64) -> Self;
}

macro_rules! int_sample {
    ($t:ty) => {
        impl Sample for $t {
            #[inline(always)]
            fn round_clamp(v: f64) -> Self {
                // `as` saturates at the bounds and maps NaN to 0.
                (v + 0.5) as $t
            }
        }
    };
}
int_sample!(u8);
int_sample!(u16);
int_sample!(u32);

impl Sample for f32 {
    #[inline(always)]
    fn round_clamp(v: f64) -> Self {
        v as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_from_f64() {
        for v in [
            -1e12,
            -3.5,
            -0.5,
            -0.49,
            0.0,
            0.49,
            0.5,
            1.5,
            2.5,
            254.5,
            255.4,
            255.5,
            1e12,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(u8::round_clamp(v), u8::from_f64(v), "{v}");
            assert_eq!(u16::round_clamp(v), u16::from_f64(v), "{v}");
            assert_eq!(u32::round_clamp(v), u32::from_f64(v), "{v}");
        }
    }
}

//! Colormaps and the value → colour mapping, defined once on the CPU.
//!
//! A colormap is a 256-entry RGBA8 lookup table (the native viewer uploads it to the GPU
//! as a 256×1 texture). [`Mapping`] holds the contrast window and scale;
//! [`Mapping::lut_index`] is exactly what the native viewer's fragment shader computes
//! (same f32 operations in the same order), so its GPU output is tested for bit-exact
//! equality with [`map_image_cpu`] — and a view that maps on the CPU (a browser view)
//! shows the same colours.

use daqflow_sdk::DType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::colormap_data::{INFERNO, MAGMA, VIRIDIS};
use crate::image::ImageRef;

/// A named colormap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Black to white.
    #[default]
    Gray,
    /// Perceptually uniform blue → green → yellow (matplotlib's default).
    Viridis,
    /// Perceptually uniform black → purple → orange → light yellow.
    Magma,
    /// Perceptually uniform black → purple → orange → bright yellow.
    Inferno,
}

impl Colormap {
    /// Every colormap, in UI order.
    pub const ALL: [Colormap; 4] = [
        Colormap::Gray,
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Inferno,
    ];

    /// Lowercase name as in the TOML.
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Gray => "gray",
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Inferno => "inferno",
        }
    }

    /// The 256-entry RGBA8 table (alpha 255).
    pub fn lut(self) -> [[u8; 4]; 256] {
        let mut lut = [[0, 0, 0, 255]; 256];
        for (i, entry) in lut.iter_mut().enumerate() {
            let [r, g, b] = match self {
                Colormap::Gray => {
                    let v = i as u8;
                    [v, v, v]
                }
                Colormap::Viridis => VIRIDIS[i],
                Colormap::Magma => MAGMA[i],
                Colormap::Inferno => INFERNO[i],
            };
            *entry = [r, g, b, 255];
        }
        lut
    }
}

/// Linear or logarithmic intensity scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Colour index proportional to the value inside the contrast window.
    #[default]
    Linear,
    /// `ln(1 + 1000·s) / ln(1001)` of the normalised value `s`: shows faint structure next
    /// to bright peaks.
    Log,
}

/// Strength of the log scale: `ln(1 + LOG_GAIN·s) / ln(1 + LOG_GAIN)`.
pub const LOG_GAIN: f32 = 1000.0;

/// The value → LUT index mapping: contrast window, scale, reversed colormap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mapping {
    /// Value mapped to the first LUT entry (and everything below it).
    pub low: f64,
    /// Value mapped to the last LUT entry (and everything above it).
    pub high: f64,
    /// Linear or log.
    pub scale: Scale,
    /// Run the colormap backwards.
    pub reversed: bool,
}

/// The f32 parameters of a [`Mapping`] as the shader sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MappingParams {
    /// The window's low end.
    pub low: f32,
    /// Linear: 256 / (high − low). Log: 1 / (high − low).
    pub gain: f32,
    /// Log only: 256 / ln(1 + LOG_GAIN).
    pub log_norm: f32,
    /// 1 for log, 0 for linear.
    pub log: u32,
    /// 1 for reversed.
    pub reversed: u32,
}

impl Mapping {
    /// A linear, not reversed window.
    pub fn linear(low: f64, high: f64) -> Self {
        Self {
            low,
            high,
            scale: Scale::Linear,
            reversed: false,
        }
    }

    /// The shader's uniforms for images of `dtype`. For integer images the window is
    /// inclusive: `[0, 255]` spreads 256 values over the 256 colours, so a u8 image in gray
    /// shows its raw values. An empty or inverted window is widened to a tiny one so that
    /// values at or above `low` map to the top of the colormap.
    pub fn params(&self, dtype: DType) -> MappingParams {
        let low = self.low as f32;
        let inclusive = if dtype == DType::F32 { 0.0 } else { 1.0 };
        let mut range = (self.high - self.low + inclusive) as f32;
        if !(range.is_finite() && range > 0.0) {
            range = (low.abs() * 1e-6).max(1e-6);
        }
        let (gain, log_norm) = match self.scale {
            Scale::Linear => (256.0 / range, 0.0),
            Scale::Log => (1.0 / range, 256.0 / (1.0 + LOG_GAIN).ln()),
        };
        MappingParams {
            low,
            gain,
            log_norm,
            log: u32::from(self.scale == Scale::Log),
            reversed: u32::from(self.reversed),
        }
    }

    /// The LUT index of value `v` (already converted to f32 like a texel): the CPU
    /// reference of the fragment shader. NaN maps to index 0 (before reversing).
    pub fn lut_index(params: &MappingParams, v: f32) -> u8 {
        let idx = if v.is_nan() {
            0.0
        } else if params.log == 0 {
            ((v - params.low) * params.gain).clamp(0.0, 255.0)
        } else {
            let s = ((v - params.low) * params.gain).clamp(0.0, 1.0);
            ((1.0 + LOG_GAIN * s).ln() * params.log_norm).clamp(0.0, 255.0)
        };
        // Truncation of a value in [0, 255] is floor.
        let idx = idx as u8;
        if params.reversed != 0 { 255 - idx } else { idx }
    }
}

/// Maps a whole image at 1:1 to its LUT indices (row-major, one byte a pixel): an 8-bit
/// image to send with [`Colormap::lut`] as its palette, or to show in gray.
pub fn map_image_indices(image: &ImageRef<'_>, mapping: &Mapping) -> Vec<u8> {
    let params = mapping.params(image.dtype());
    (0..image.len())
        .map(|i| Mapping::lut_index(&params, image.value_f32_at(i)))
        .collect()
}

/// Maps a whole image at 1:1 to RGBA8 (row-major, 4 bytes a pixel): what the GPU draws
/// at 1:1, computed on the CPU.
pub fn map_image_cpu(image: &ImageRef<'_>, mapping: &Mapping, colormap: Colormap) -> Vec<u8> {
    let params = mapping.params(image.dtype());
    let lut = colormap.lut();
    let mut out = Vec::with_capacity(image.len() * 4);
    for i in 0..image.len() {
        let idx = Mapping::lut_index(&params, image.value_f32_at(i));
        out.extend_from_slice(&lut[usize::from(idx)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_lut_is_identity_and_opaque() {
        let lut = Colormap::Gray.lut();
        for (i, e) in lut.iter().enumerate() {
            assert_eq!(*e, [i as u8, i as u8, i as u8, 255]);
        }
    }

    #[test]
    fn perceptual_maps_get_brighter() {
        for cmap in [Colormap::Viridis, Colormap::Magma, Colormap::Inferno] {
            let lut = cmap.lut();
            let luma = |c: [u8; 4]| u32::from(c[0]) * 3 + u32::from(c[1]) * 6 + u32::from(c[2]);
            assert!(luma(lut[255]) > luma(lut[0]) + 500, "{cmap:?}");
        }
    }

    #[test]
    fn linear_window_maps_ends_and_clamps() {
        let p = Mapping::linear(100.0, 355.0).params(DType::U16);
        assert_eq!(Mapping::lut_index(&p, 0.0), 0);
        assert_eq!(Mapping::lut_index(&p, 100.0), 0);
        assert_eq!(Mapping::lut_index(&p, 101.0), 1);
        assert_eq!(Mapping::lut_index(&p, 354.0), 254);
        assert_eq!(Mapping::lut_index(&p, 355.0), 255);
        assert_eq!(Mapping::lut_index(&p, 1e9), 255);
        assert_eq!(Mapping::lut_index(&p, f32::NAN), 0);
        assert_eq!(Mapping::lut_index(&p, f32::INFINITY), 255);
        assert_eq!(Mapping::lut_index(&p, f32::NEG_INFINITY), 0);
    }

    #[test]
    fn u8_full_range_in_gray_is_identity() {
        let p = Mapping::linear(0.0, 255.0).params(DType::U8);
        for v in 0..=255u8 {
            assert_eq!(Mapping::lut_index(&p, f32::from(v)), v);
        }
    }

    #[test]
    fn reversed_and_log() {
        let mut m = Mapping::linear(0.0, 1000.0);
        m.reversed = true;
        assert_eq!(Mapping::lut_index(&m.params(DType::F32), 0.0), 255);
        m.reversed = false;
        m.scale = Scale::Log;
        let p = m.params(DType::F32);
        assert_eq!(Mapping::lut_index(&p, 0.0), 0);
        assert_eq!(Mapping::lut_index(&p, 1000.0), 255);
        // 10 % of the range is already two thirds up the colormap in log scale, 1 % a third.
        assert!(Mapping::lut_index(&p, 100.0) > 160);
        assert!(Mapping::lut_index(&p, 10.0) > 80);
    }

    #[test]
    fn indices_and_rgba_agree() {
        let img = crate::image::OwnedImage::from_u16(3, 1, &[0, 500, 1000]);
        let m = Mapping::linear(0.0, 1000.0);
        let idx = map_image_indices(&img.as_ref(), &m);
        assert_eq!(idx, vec![0, 127, 255]);
        let lut = Colormap::Magma.lut();
        let rgba = map_image_cpu(&img.as_ref(), &m, Colormap::Magma);
        let expected: Vec<u8> = idx.iter().flat_map(|&i| lut[usize::from(i)]).collect();
        assert_eq!(rgba, expected);
    }

    #[test]
    fn empty_window_does_not_divide_by_zero() {
        let p = Mapping::linear(5.0, 5.0).params(DType::F32);
        assert!(p.gain.is_finite());
        assert_eq!(Mapping::lut_index(&p, 4.0), 0);
        assert_eq!(Mapping::lut_index(&p, 6.0), 255);
    }
}

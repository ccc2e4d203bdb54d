//! [`FrameFormat`]: what the frames on a lane look like — dtype, encoding, width, height
//! and a nominal rate. Sources state it from their settings, filters map it, sinks accept
//! it; `daqflow validate` propagates it along every lane before the first frame exists.

use std::fmt;

use crate::abi::{self, RawFormat};
use crate::dtype::{DType, Encoding};

/// The format of the frames on a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFormat {
    /// Pixel type (of the decoded pixels, for compressed frames).
    pub dtype: DType,
    /// Payload encoding.
    pub encoding: Encoding,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Nominal frames per second, when known.
    pub rate_hz: Option<f64>,
}

impl FrameFormat {
    /// Raw `width × height` frames of `dtype`, rate unknown.
    pub const fn raw(dtype: DType, width: u32, height: u32) -> FrameFormat {
        FrameFormat {
            dtype,
            encoding: Encoding::Raw,
            width,
            height,
            rate_hz: None,
        }
    }

    /// The same format at `rate_hz` frames per second (`None`: unknown).
    pub fn with_rate(mut self, rate_hz: Option<f64>) -> FrameFormat {
        self.rate_hz = rate_hz.filter(|r| r.is_finite() && *r > 0.0);
        self
    }

    /// The same format with another dtype.
    pub fn with_dtype(mut self, dtype: DType) -> FrameFormat {
        self.dtype = dtype;
        self
    }

    /// The same format with another shape.
    pub fn with_shape(mut self, width: u32, height: u32) -> FrameFormat {
        self.width = width;
        self.height = height;
        self
    }

    /// Pixels per frame.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Bytes of one decoded frame (`width × height × dtype size`). A compressed frame's
    /// payload is at most slightly more than this (incompressible data), usually less.
    pub fn frame_bytes(&self) -> u64 {
        self.pixels() * self.dtype.size_bytes() as u64
    }

    /// Bytes per second at the nominal rate, when the rate is known.
    pub fn bytes_per_sec(&self) -> Option<f64> {
        self.rate_hz.map(|r| r * self.frame_bytes() as f64)
    }

    /// True when `other` has the same dtype, encoding and shape (rates may differ).
    pub fn same_frames(&self, other: &FrameFormat) -> bool {
        self.dtype == other.dtype
            && self.encoding == other.encoding
            && self.width == other.width
            && self.height == other.height
    }

    /// The ABI form.
    pub fn to_abi(&self) -> RawFormat {
        RawFormat {
            dtype: self.dtype.to_abi(),
            encoding: self.encoding.to_abi(),
            width: self.width,
            height: self.height,
            rate_hz: self.rate_hz.unwrap_or(0.0),
            reserved: [0; 4],
        }
    }

    /// From the ABI form; `None` when the dtype is not one this SDK knows.
    pub fn from_abi(raw: &RawFormat) -> Option<FrameFormat> {
        Some(FrameFormat {
            dtype: DType::from_abi(raw.dtype)?,
            encoding: Encoding::from_abi(raw.encoding),
            width: raw.width,
            height: raw.height,
            rate_hz: (raw.rate_hz.is_finite() && raw.rate_hz > 0.0).then_some(raw.rate_hz),
        })
    }

    /// The format of the frame described by `header` (rate unknown).
    pub(crate) fn of_header(header: &abi::FrameHeader) -> Option<FrameFormat> {
        Some(FrameFormat {
            dtype: DType::from_abi(header.dtype)?,
            encoding: Encoding::from_abi(header.encoding),
            width: header.width,
            height: header.height,
            rate_hz: None,
        })
    }
}

impl fmt::Display for FrameFormat {
    /// `2048×2048 u16`, `1024×1024 u32 bslz4 @ 500 Hz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{} {}", self.width, self.height, self.dtype)?;
        if !self.encoding.is_raw() {
            write!(f, " {}", self.encoding)?;
        }
        if let Some(r) = self.rate_hz {
            write!(f, " @ {} Hz", trim_float(r))?;
        }
        Ok(())
    }
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_abi() {
        let f = FrameFormat::raw(DType::U16, 2048, 1024).with_rate(Some(500.0));
        assert_eq!(FrameFormat::from_abi(&f.to_abi()), Some(f));
        let unknown_rate = FrameFormat::raw(DType::F32, 3, 4);
        assert_eq!(
            FrameFormat::from_abi(&unknown_rate.to_abi()),
            Some(unknown_rate)
        );
        assert_eq!(FrameFormat::from_abi(&RawFormat::default()), None);
    }

    #[test]
    fn displays_compactly() {
        let f = FrameFormat::raw(DType::U16, 2048, 2048);
        assert_eq!(f.to_string(), "2048×2048 u16");
        let mut g = f.with_rate(Some(12.5));
        g.encoding = Encoding::BsLz4;
        assert_eq!(g.to_string(), "2048×2048 u16 bslz4 @ 12.5 Hz");
        assert_eq!(f.frame_bytes(), 2048 * 2048 * 2);
    }
}

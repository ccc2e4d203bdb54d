//! Images as the display code sees them: a dtype (the SDK's `DType`), a shape and raw
//! native-endian, row-major bytes — borrowed ([`ImageRef`], e.g. a frame's pool buffer or
//! a decoded buffer) or owned ([`OwnedImage`], tests and demos). A GPU renderer uploads the
//! bytes as they are; the CPU side (contrast, histogram, pixel readout, colormaps) reads
//! values through [`ImageRef::value`] and [`ImageRef::value_f32_at`].

use daqflow_sdk::DType;

use crate::error::DisplayError;

/// A borrowed row-major, contiguous 2D image: `height` rows of `width` pixels.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    width: u32,
    height: u32,
    dtype: DType,
    bytes: &'a [u8],
}

impl<'a> ImageRef<'a> {
    /// Wraps `bytes` (native-endian pixels, row-major, no padding); checks the length.
    pub fn new(
        width: u32,
        height: u32,
        dtype: DType,
        bytes: &'a [u8],
    ) -> Result<Self, DisplayError> {
        let expected = width as usize * height as usize * dtype.size_bytes();
        if width == 0 || height == 0 || bytes.len() != expected {
            return Err(DisplayError::BadImage(format!(
                "{width}x{height} {} image needs {expected} bytes, got {}",
                dtype.name(),
                bytes.len()
            )));
        }
        Ok(Self {
            width,
            height,
            dtype,
            bytes,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The raw pixel bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Always false: an image has at least one pixel.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The value of pixel (`x`, `y`) as f64 (exact for every dtype), or `None` outside.
    pub fn value(&self, x: u32, y: u32) -> Option<f64> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.width as usize + x as usize;
        Some(self.value_at(i))
    }

    /// The value of pixel number `i` (row-major) as f64. Panics when out of range.
    pub fn value_at(&self, i: usize) -> f64 {
        let s = self.dtype.size_bytes();
        let b = &self.bytes[i * s..(i + 1) * s];
        match self.dtype {
            DType::U8 => f64::from(b[0]),
            DType::U16 => f64::from(u16::from_ne_bytes([b[0], b[1]])),
            DType::U32 => f64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            DType::F32 => f64::from(f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            _ => unreachable!("this SDK has no other dtype"),
        }
    }

    /// The value of pixel number `i` converted to f32 exactly as the GPU shader converts a
    /// texel (round to nearest for u32 above 2^24).
    pub fn value_f32_at(&self, i: usize) -> f32 {
        let s = self.dtype.size_bytes();
        let b = &self.bytes[i * s..(i + 1) * s];
        match self.dtype {
            DType::U8 => f32::from(b[0]),
            DType::U16 => f32::from(u16::from_ne_bytes([b[0], b[1]])),
            DType::U32 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f32,
            DType::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            _ => unreachable!("this SDK has no other dtype"),
        }
    }
}

/// An owned image (tests, demos, and the headless render thread's copy-free hand-off
/// works on borrowed [`ImageRef`]s instead).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel type.
    pub dtype: DType,
    /// Native-endian pixel bytes.
    pub bytes: Vec<u8>,
}

impl OwnedImage {
    /// Builds a u8 image from values.
    pub fn from_u8(width: u32, height: u32, values: &[u8]) -> Self {
        Self::from_bytes(width, height, DType::U8, values.to_vec())
    }

    /// Builds a u16 image from values.
    pub fn from_u16(width: u32, height: u32, values: &[u16]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, DType::U16, bytes)
    }

    /// Builds a u32 image from values.
    pub fn from_u32(width: u32, height: u32, values: &[u32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, DType::U32, bytes)
    }

    /// Builds an f32 image from values.
    pub fn from_f32(width: u32, height: u32, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, DType::F32, bytes)
    }

    fn from_bytes(width: u32, height: u32, dtype: DType, bytes: Vec<u8>) -> Self {
        Self {
            width,
            height,
            dtype,
            bytes,
        }
    }

    /// A borrowed view. Panics if the byte length does not match the shape.
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef::new(self.width, self.height, self.dtype, &self.bytes)
            .expect("OwnedImage has a consistent shape")
    }
}

//! Images as the display code sees them: a pixel type, a shape and raw native-endian,
//! row-major bytes — borrowed ([`ImageRef`], e.g. a frame's pool buffer or a decoded
//! buffer) or owned ([`OwnedImage`], tests and demos). A GPU renderer uploads the bytes as
//! they are; the CPU side (contrast, histogram, pixel readout, colormaps) reads values
//! through [`ImageRef::value`] and [`ImageRef::value_f32_at`].

use crate::error::DisplayError;

/// Pixel type of an image, mirroring the SDK's dtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelType {
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Unsigned 32-bit.
    U32,
    /// 32-bit IEEE float.
    F32,
}

impl PixelType {
    /// Bytes per pixel.
    pub fn size_bytes(self) -> usize {
        match self {
            PixelType::U8 => 1,
            PixelType::U16 => 2,
            PixelType::U32 => 4,
            PixelType::F32 => 4,
        }
    }

    /// Short lowercase name (`u16`), as in the pipeline TOML.
    pub fn name(self) -> &'static str {
        match self {
            PixelType::U8 => "u8",
            PixelType::U16 => "u16",
            PixelType::U32 => "u32",
            PixelType::F32 => "f32",
        }
    }

    /// The whole value range of an integer type; `None` for floats.
    pub fn integer_range(self) -> Option<(f64, f64)> {
        match self {
            PixelType::U8 => Some((0.0, f64::from(u8::MAX))),
            PixelType::U16 => Some((0.0, f64::from(u16::MAX))),
            PixelType::U32 => Some((0.0, f64::from(u32::MAX))),
            PixelType::F32 => None,
        }
    }
}

/// A borrowed row-major, contiguous 2D image: `height` rows of `width` pixels.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    width: u32,
    height: u32,
    pixel_type: PixelType,
    bytes: &'a [u8],
}

impl<'a> ImageRef<'a> {
    /// Wraps `bytes` (native-endian pixels, row-major, no padding); checks the length.
    pub fn new(
        width: u32,
        height: u32,
        pixel_type: PixelType,
        bytes: &'a [u8],
    ) -> Result<Self, DisplayError> {
        let expected = width as usize * height as usize * pixel_type.size_bytes();
        if width == 0 || height == 0 || bytes.len() != expected {
            return Err(DisplayError::BadImage(format!(
                "{width}x{height} {} image needs {expected} bytes, got {}",
                pixel_type.name(),
                bytes.len()
            )));
        }
        Ok(Self {
            width,
            height,
            pixel_type,
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
    pub fn pixel_type(&self) -> PixelType {
        self.pixel_type
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
        let s = self.pixel_type.size_bytes();
        let b = &self.bytes[i * s..(i + 1) * s];
        match self.pixel_type {
            PixelType::U8 => f64::from(b[0]),
            PixelType::U16 => f64::from(u16::from_ne_bytes([b[0], b[1]])),
            PixelType::U32 => f64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            PixelType::F32 => f64::from(f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        }
    }

    /// The value of pixel number `i` converted to f32 exactly as the GPU shader converts a
    /// texel (round to nearest for u32 above 2^24).
    pub fn value_f32_at(&self, i: usize) -> f32 {
        let s = self.pixel_type.size_bytes();
        let b = &self.bytes[i * s..(i + 1) * s];
        match self.pixel_type {
            PixelType::U8 => f32::from(b[0]),
            PixelType::U16 => f32::from(u16::from_ne_bytes([b[0], b[1]])),
            PixelType::U32 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f32,
            PixelType::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
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
    pub pixel_type: PixelType,
    /// Native-endian pixel bytes.
    pub bytes: Vec<u8>,
}

impl OwnedImage {
    /// Builds a u8 image from values.
    pub fn from_u8(width: u32, height: u32, values: &[u8]) -> Self {
        Self::from_bytes(width, height, PixelType::U8, values.to_vec())
    }

    /// Builds a u16 image from values.
    pub fn from_u16(width: u32, height: u32, values: &[u16]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, PixelType::U16, bytes)
    }

    /// Builds a u32 image from values.
    pub fn from_u32(width: u32, height: u32, values: &[u32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, PixelType::U32, bytes)
    }

    /// Builds an f32 image from values.
    pub fn from_f32(width: u32, height: u32, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        Self::from_bytes(width, height, PixelType::F32, bytes)
    }

    fn from_bytes(width: u32, height: u32, pixel_type: PixelType, bytes: Vec<u8>) -> Self {
        Self {
            width,
            height,
            pixel_type,
            bytes,
        }
    }

    /// A borrowed view. Panics if the byte length does not match the shape.
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef::new(self.width, self.height, self.pixel_type, &self.bytes)
            .expect("OwnedImage has a consistent shape")
    }
}

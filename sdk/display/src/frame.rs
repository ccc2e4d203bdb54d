//! What a view shows: the [`ViewFrame`] abstraction (pixels or a compressed payload, frame
//! number, timestamp), implemented for the SDK's [`Frame`] and for an owned
//! [`TestFrame`]; and [`EncodedImage`], the compressed payload of an LZ4 /
//! bitshuffle-LZ4 frame before decoding (see the `decode` module).

use daqflow_sdk::{DType, Encoding, Frame};

use crate::error::DisplayError;
use crate::image::{ImageRef, OwnedImage};

/// A frame a view can show: pixels, number, timestamp.
pub trait ViewFrame: Send + 'static {
    /// The pixels, or why they cannot be shown (compressed: see [`encoded`](Self::encoded);
    /// unknown dtype).
    fn image(&self) -> Result<ImageRef<'_>, DisplayError>;
    /// The compressed payload of an LZ4 / bitshuffle-LZ4 frame (`None` for raw pixels):
    /// `Showable::new` decodes it.
    fn encoded(&self) -> Option<EncodedImage<'_>> {
        None
    }
    /// Frame number from the source.
    fn frame_number(&self) -> u64;
    /// Acquisition time, ns since the UNIX epoch.
    fn timestamp_ns(&self) -> u64;
}

impl ViewFrame for Frame {
    fn image(&self) -> Result<ImageRef<'_>, DisplayError> {
        if self.encoding() != Encoding::Raw {
            return Err(DisplayError::BadImage(format!(
                "frame {} is {:?}-compressed (decode it first)",
                self.frame_number(),
                self.encoding()
            )));
        }
        ImageRef::new(self.width(), self.height(), self.dtype(), self.bytes())
    }

    fn encoded(&self) -> Option<EncodedImage<'_>> {
        (self.encoding() != Encoding::Raw).then(|| EncodedImage {
            encoding: self.encoding(),
            width: self.width(),
            height: self.height(),
            dtype: self.dtype(),
            payload: self.bytes(),
        })
    }

    fn frame_number(&self) -> u64 {
        Frame::frame_number(self)
    }

    fn timestamp_ns(&self) -> u64 {
        Frame::timestamp_ns(self)
    }
}

/// The compressed payload of a frame and the image it decodes to.
#[derive(Debug, Clone, Copy)]
pub struct EncodedImage<'a> {
    /// LZ4 or bitshuffle-LZ4.
    pub encoding: Encoding,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixel type once decoded.
    pub dtype: DType,
    /// The encoded bytes (one HDF5 filter chunk).
    pub payload: &'a [u8],
}

/// An owned test frame (tests and benches; plugins use the SDK's `Frame`).
#[derive(Debug, Clone)]
pub struct TestFrame {
    /// Pixels.
    pub image: OwnedImage,
    /// Frame number.
    pub number: u64,
    /// Timestamp, ns since the epoch.
    pub timestamp_ns: u64,
}

impl ViewFrame for TestFrame {
    fn image(&self) -> Result<ImageRef<'_>, DisplayError> {
        Ok(self.image.as_ref())
    }
    fn frame_number(&self) -> u64 {
        self.number
    }
    fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }
}

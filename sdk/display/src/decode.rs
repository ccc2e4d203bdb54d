//! Decoding compressed frames for display: [`FrameDecoder`] turns LZ4 / bitshuffle-LZ4
//! payloads back into pixels (with `daqflow-codec`, the HDF5 writer's codecs) into a few
//! reused buffers, and [`Showable`] is a frame ready to show — the frame itself plus its
//! pixels decoded once. Meant for the thread that shows frames, only for the frames
//! actually shown — never on the acquisition path.

use std::sync::Arc;

use daqflow_sdk::DType;

use crate::error::DisplayError;
use crate::frame::{EncodedImage, ViewFrame};
use crate::image::ImageRef;

/// Decoded pixel buffers kept for reuse: the frame on screen, the one being uploaded and
/// the next one are never more than this many.
const SPARE_BUFFERS: usize = 4;

/// Decodes compressed frames for display into a few reused buffers (no allocation per
/// frame in steady state).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    codec: daqflow_codec::Decoder,
    buffers: Vec<Arc<Vec<u8>>>,
}

impl FrameDecoder {
    /// A buffer nobody else holds any more (or a new one).
    fn free_buffer(&mut self) -> Arc<Vec<u8>> {
        if let Some(i) = self.buffers.iter().position(|b| Arc::strong_count(b) == 1) {
            return self.buffers.swap_remove(i);
        }
        Arc::new(Vec::new())
    }

    fn decode(&mut self, e: &EncodedImage<'_>) -> Result<(Arc<Vec<u8>>, DType), String> {
        let dtype = e.dtype;
        let expected = e.width as usize * e.height as usize * dtype.size_bytes();
        let bad = |what: String| {
            format!(
                "{:?}-compressed {}x{} {}: {what}",
                e.encoding,
                e.width,
                e.height,
                dtype.name()
            )
        };
        let len =
            daqflow_codec::decoded_len(e.encoding, e.payload).map_err(|x| bad(x.to_string()))?;
        if len != expected {
            return Err(bad(format!(
                "the chunk holds {len} bytes, the frame's shape {expected}"
            )));
        }
        let mut buffer = self.free_buffer();
        let bytes = Arc::get_mut(&mut buffer).expect("a buffer nobody else holds");
        bytes.resize(len, 0);
        let result = self
            .codec
            .decode(e.encoding, dtype.size_bytes(), e.payload, bytes)
            .map_err(|x| bad(x.to_string()));
        if self.buffers.len() < SPARE_BUFFERS {
            self.buffers.push(buffer.clone());
        }
        result.map(|()| (buffer, dtype))
    }
}

/// A frame ready to show: the frame itself (a reference-counted handle), and its pixels
/// decoded once if it arrived compressed.
#[derive(Debug, Clone)]
pub struct Showable<F> {
    frame: F,
    /// Decoded pixels, width, height, pixel type.
    decoded: Option<(Arc<Vec<u8>>, u32, u32, DType)>,
}

impl<F: ViewFrame> Showable<F> {
    /// Wraps `frame`, decoding it with `decoder` when it is compressed.
    pub fn new(frame: F, decoder: &mut FrameDecoder) -> Result<Self, DisplayError> {
        let decoded = match frame.encoded() {
            Some(e) => {
                let (bytes, pt) = decoder.decode(&e).map_err(DisplayError::BadImage)?;
                Some((bytes, e.width, e.height, pt))
            }
            None => None,
        };
        Ok(Self { frame, decoded })
    }

    /// The frame as received.
    pub fn frame(&self) -> &F {
        &self.frame
    }
}

impl<F: ViewFrame> ViewFrame for Showable<F> {
    fn image(&self) -> Result<ImageRef<'_>, DisplayError> {
        match &self.decoded {
            Some((bytes, w, h, pt)) => ImageRef::new(*w, *h, *pt, bytes),
            None => self.frame.image(),
        }
    }

    fn frame_number(&self) -> u64 {
        self.frame.frame_number()
    }

    fn timestamp_ns(&self) -> u64 {
        self.frame.timestamp_ns()
    }
}

#[cfg(test)]
mod tests {
    use daqflow_sdk::{DType, Encoding};

    use super::*;

    /// A frame whose payload is a compressed chunk.
    #[derive(Debug)]
    struct Encoded {
        chunk: Vec<u8>,
        encoding: Encoding,
        width: u32,
        height: u32,
    }

    impl ViewFrame for Encoded {
        fn image(&self) -> Result<ImageRef<'_>, DisplayError> {
            Err(DisplayError::BadImage("compressed".into()))
        }
        fn encoded(&self) -> Option<EncodedImage<'_>> {
            Some(EncodedImage {
                encoding: self.encoding,
                width: self.width,
                height: self.height,
                dtype: DType::U16,
                payload: &self.chunk,
            })
        }
        fn frame_number(&self) -> u64 {
            7
        }
        fn timestamp_ns(&self) -> u64 {
            0
        }
    }

    fn bslz4(values: &[u16], width: u32, height: u32) -> Encoded {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut chunk = vec![0; daqflow_codec::bitshuffle::max_compressed_len(raw.len(), 2)];
        let n = daqflow_codec::bitshuffle::Compressor::default()
            .compress(&raw, 2, &mut chunk)
            .unwrap();
        chunk.truncate(n);
        Encoded {
            chunk,
            encoding: Encoding::BsLz4,
            width,
            height,
        }
    }

    #[test]
    fn compressed_frames_decode_into_reused_buffers() {
        let values: Vec<u16> = (0..64 * 32).map(|i| (i % 97) as u16).collect();
        let mut decoder = FrameDecoder::default();
        let first = Showable::new(bslz4(&values, 64, 32), &mut decoder).unwrap();
        let image = first.image().unwrap();
        assert_eq!((image.width(), image.height()), (64, 32));
        assert_eq!(image.value(5, 1), Some(f64::from(values[64 + 5])));
        let first_buffer = image.bytes().as_ptr();
        drop(first);
        // The first frame is gone: its buffer is decoded into again.
        let second = Showable::new(bslz4(&values, 64, 32), &mut decoder).unwrap();
        assert_eq!(second.image().unwrap().bytes().as_ptr(), first_buffer);
        assert_eq!(second.frame_number(), 7);
    }

    #[test]
    fn a_chunk_of_the_wrong_size_is_a_bad_image() {
        let values = vec![1u16; 100];
        let e = Showable::new(bslz4(&values, 20, 20), &mut FrameDecoder::default()).unwrap_err();
        assert!(e.to_string().contains("BsLz4-compressed 20x20 u16"), "{e}");
    }
}

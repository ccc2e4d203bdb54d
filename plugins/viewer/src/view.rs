//! What the viewer shows and counts, shared by the headless and window front ends: the
//! frame abstraction ([`ViewFrame`], implemented for the SDK's `Frame`), the display
//! choices ([`ViewState`]), the hand-off between the sink and the render thread
//! ([`Shared`]) and the counters ([`Stats`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use daqflow_sdk::{DType, Encoding, Frame};

use crate::colormap::{Colormap, Mapping, Scale};
use crate::config::Settings;
use crate::contrast::{self, ContrastMode, Histogram};
use crate::error::ViewerError;
use crate::image::{ImageRef, PixelType};
use crate::slot::LatestSlot;

/// A frame the viewer can show: pixels, number, timestamp.
pub trait ViewFrame: Send + 'static {
    /// The pixels, or why they cannot be shown (compressed: see [`encoded`](Self::encoded);
    /// unknown dtype).
    fn image(&self) -> Result<ImageRef<'_>, ViewerError>;
    /// The compressed payload of an LZ4 / bitshuffle-LZ4 frame (`None` for raw pixels):
    /// [`Showable::new`] decodes it.
    fn encoded(&self) -> Option<EncodedImage<'_>> {
        None
    }
    /// Frame number from the source.
    fn frame_number(&self) -> u64;
    /// Acquisition time, ns since the UNIX epoch.
    fn timestamp_ns(&self) -> u64;
}

/// The viewer's pixel type for an SDK dtype.
pub fn pixel_type(dtype: DType) -> Result<PixelType, ViewerError> {
    match dtype {
        DType::U8 => Ok(PixelType::U8),
        DType::U16 => Ok(PixelType::U16),
        DType::U32 => Ok(PixelType::U32),
        DType::F32 => Ok(PixelType::F32),
        other => Err(ViewerError::BadImage(format!(
            "dtype {other:?} is not supported"
        ))),
    }
}

impl ViewFrame for Frame {
    fn image(&self) -> Result<ImageRef<'_>, ViewerError> {
        if self.encoding() != Encoding::Raw {
            return Err(ViewerError::BadImage(format!(
                "frame {} is {:?}-compressed (decode it first)",
                self.frame_number(),
                self.encoding()
            )));
        }
        ImageRef::new(
            self.width(),
            self.height(),
            pixel_type(self.dtype())?,
            self.bytes(),
        )
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

/// Decoded pixel buffers kept for reuse: the frame on screen, the one being uploaded and
/// the next one are never more than this many.
const SPARE_BUFFERS: usize = 4;

/// Decodes compressed frames for display into a few reused buffers (no allocation per
/// frame in steady state). Runs on the render thread, for the frames actually shown —
/// never on the acquisition path.
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

    fn decode(&mut self, e: &EncodedImage<'_>) -> Result<(Arc<Vec<u8>>, PixelType), String> {
        let pixel_type =
            pixel_type(e.dtype).map_err(|_| format!("dtype {} is not supported", e.dtype))?;
        let expected = e.width as usize * e.height as usize * pixel_type.size_bytes();
        let bad = |what: String| {
            format!(
                "{:?}-compressed {}x{} {}: {what}",
                e.encoding,
                e.width,
                e.height,
                pixel_type.name()
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
            .decode(e.encoding, pixel_type.size_bytes(), e.payload, bytes)
            .map_err(|x| bad(x.to_string()));
        if self.buffers.len() < SPARE_BUFFERS {
            self.buffers.push(buffer.clone());
        }
        result.map(|()| (buffer, pixel_type))
    }
}

/// A frame ready to show: the frame itself (a reference-counted handle), and its pixels
/// decoded once if it arrived compressed.
#[derive(Debug, Clone)]
pub struct Showable<F> {
    frame: F,
    /// Decoded pixels, width, height, pixel type.
    decoded: Option<(Arc<Vec<u8>>, u32, u32, PixelType)>,
}

impl<F: ViewFrame> Showable<F> {
    /// Wraps `frame`, decoding it with `decoder` when it is compressed.
    pub fn new(frame: F, decoder: &mut FrameDecoder) -> Result<Self, ViewerError> {
        let decoded = match frame.encoded() {
            Some(e) => {
                let (bytes, pt) = decoder.decode(&e).map_err(ViewerError::BadImage)?;
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
    fn image(&self) -> Result<ImageRef<'_>, ViewerError> {
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

/// The display choices a user can change at run time (window controls) and that the
/// settings initialise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewState {
    /// Colormap.
    pub colormap: Colormap,
    /// Colormap backwards.
    pub reversed: bool,
    /// Linear or log.
    pub scale: Scale,
    /// How the window is chosen.
    pub contrast: ContrastMode,
    /// Percentiles (in percent) for [`ContrastMode::Percentile`].
    pub percentiles: (f64, f64),
    /// The manual window; `None` until set (then the current window is taken).
    pub manual: Option<(f64, f64)>,
}

impl ViewState {
    /// The initial state from the node's settings.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            colormap: s.colormap,
            reversed: s.reversed,
            scale: s.scale,
            contrast: s.contrast,
            percentiles: (s.percentile_low_pct, s.percentile_high_pct),
            manual: s.contrast_min.zip(s.contrast_max),
        }
    }

    /// The mapping for `image` (whose histogram is `hist`).
    pub fn mapping(&self, image: &ImageRef<'_>, hist: &Histogram) -> Mapping {
        let manual = self.manual.unwrap_or((hist.min, hist.max));
        let (low, high) = contrast::window(image, hist, self.contrast, self.percentiles, manual);
        Mapping {
            low,
            high,
            scale: self.scale,
            reversed: self.reversed,
        }
    }
}

/// Counters of one viewer node, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames handed to the viewer by the core.
    pub received: AtomicU64,
    /// Frames drawn (window) or rendered to a snapshot (headless).
    pub displayed: AtomicU64,
    /// PNG snapshots written.
    pub snapshots: AtomicU64,
    /// Frames that could not be shown (compressed, unsupported dtype).
    pub unshowable: AtomicU64,
    /// Set when the window was closed by the user.
    pub window_closed: AtomicBool,
}

impl Stats {
    /// Frames received but never shown (replaced in the slot by a newer one).
    pub fn dropped_for_display(&self) -> u64 {
        let received = self.received.load(Ordering::Relaxed);
        received.saturating_sub(self.displayed.load(Ordering::Relaxed))
    }
}

/// Called by the render thread after each displayed frame (the sink updates its run-report
/// counters there).
pub type OnDisplay<F> = Box<dyn FnMut(&Shared<F>) + Send>;

/// What the sink and the render thread share.
#[derive(Debug)]
pub struct Shared<F> {
    /// The newest frame not yet taken by the render thread.
    pub slot: LatestSlot<F>,
    /// Counters.
    pub stats: Stats,
    /// The window's egui context once it exists, to wake the UI when a frame arrives.
    pub egui: std::sync::OnceLock<egui::Context>,
    /// Set by the UI when it sleeps for want of frames: the next `publish` wakes it (and
    /// only that one, so a fast source does not make the UI repaint at its rate).
    pub ui_waiting: AtomicBool,
}

impl<F> Default for Shared<F> {
    fn default() -> Self {
        Self {
            slot: LatestSlot::new(),
            stats: Stats::default(),
            egui: std::sync::OnceLock::new(),
            ui_waiting: AtomicBool::new(false),
        }
    }
}

impl<F> Shared<F> {
    /// Hands `frame` to the render thread (replacing and dropping an older one) and wakes
    /// the window. Never blocks.
    pub fn publish(&self, frame: F) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        drop(self.slot.publish(frame));
        if self.ui_waiting.swap(false, Ordering::AcqRel)
            && let Some(ctx) = self.egui.get()
        {
            ctx.request_repaint();
        }
    }
}

/// An owned test frame (tests and benches; the plugin uses the SDK's `Frame`).
#[derive(Debug, Clone)]
pub struct TestFrame {
    /// Pixels.
    pub image: crate::image::OwnedImage,
    /// Frame number.
    pub number: u64,
    /// Timestamp, ns since the epoch.
    pub timestamp_ns: u64,
}

impl ViewFrame for TestFrame {
    fn image(&self) -> Result<ImageRef<'_>, ViewerError> {
        Ok(self.image.as_ref())
    }
    fn frame_number(&self) -> u64 {
        self.number
    }
    fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }
}

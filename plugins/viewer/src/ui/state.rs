//! [`ViewerUi`]'s state and its frame intake: what is on screen (the frame, its
//! histogram and shape), the current contrast window, zoom/pan, rates, and taking the
//! newest frame from the slot at most `fps_cap` times a second (decoding it if it arrived
//! compressed, and counting it as displayed).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_display::{
    FrameDecoder, Histogram, Mapping, Showable, ViewFrame, ViewState, ViewTransform,
};
use daqflow_sdk::DType;

use super::histogram::{HistogramAxis, HistogramPlot};
use super::readout::RateMeter;
use crate::shared::{OnDisplay, Shared};

/// The frame being shown and what was computed from it.
pub(super) struct Shown<F> {
    pub(super) frame: Showable<F>,
    pub(super) hist: Histogram,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) dtype: DType,
}

/// The viewer's interface state.
pub struct ViewerUi<F> {
    pub(super) shared: Arc<Shared<F>>,
    /// Display choices (colormap, contrast...). Public for tests.
    pub view: ViewState,
    pub(super) shown: Option<Shown<F>>,
    /// Decodes compressed frames (into reused buffers).
    decoder: FrameDecoder,
    /// Counts displayed frames: the tag of the frame on screen.
    pub(super) generation: u64,
    /// Current contrast window.
    pub(super) mapping: Mapping,
    pub(super) transform: ViewTransform,
    pub(super) fit: bool,
    pub(super) fps_cap: f64,
    last_display: Option<Instant>,
    pub(super) latency_ms: Option<f64>,
    pub(super) received_rate: RateMeter,
    pub(super) displayed_rate: RateMeter,
    /// Image pixel under the pointer at the last pass.
    pub(super) readout_pos: Option<(u32, u32)>,
    /// Size of the image area in physical pixels at the last pass.
    pub(super) area_px: (u32, u32),
    /// The histogram plot (where it was drawn, the handle being dragged).
    pub(super) histogram: HistogramPlot,
    /// Show rates and latency (tests turn them off for reproducible snapshots).
    pub show_timing: bool,
    on_display: OnDisplay<F>,
}

impl<F: ViewFrame + Clone> ViewerUi<F> {
    /// A UI on `shared`'s frames, repainting at most `fps_cap` times a second;
    /// `on_display` runs after each newly displayed frame (the sink sets counters there).
    pub fn new(
        shared: Arc<Shared<F>>,
        view: ViewState,
        fps_cap: f64,
        on_display: OnDisplay<F>,
    ) -> Self {
        Self {
            shared,
            view,
            shown: None,
            decoder: FrameDecoder::default(),
            generation: 0,
            mapping: Mapping::linear(0.0, 1.0),
            transform: ViewTransform::IDENTITY,
            fit: true,
            fps_cap,
            last_display: None,
            latency_ms: None,
            received_rate: RateMeter::new(),
            displayed_rate: RateMeter::new(),
            readout_pos: None,
            area_px: (800, 600),
            histogram: HistogramPlot::default(),
            show_timing: true,
            on_display,
        }
    }

    /// The current contrast window and scale.
    pub fn mapping(&self) -> Mapping {
        self.mapping
    }

    /// Frame number of the frame on screen.
    pub fn frame_number(&self) -> Option<u64> {
        self.shown.as_ref().map(|s| s.frame.frame_number())
    }

    /// The pixel readout under the pointer: (x, y, raw value in the frame on screen).
    pub fn readout(&self) -> Option<(u32, u32, f64)> {
        let (x, y) = self.readout_pos?;
        let v = self.shown.as_ref()?.frame.image().ok()?.value(x, y)?;
        Some((x, y, v))
    }

    /// Where the histogram was drawn at the last pass.
    pub fn histogram_axis(&self) -> Option<HistogramAxis> {
        self.histogram.axis
    }

    /// Current zoom/pan (physical pixels of the image area).
    pub fn transform(&self) -> ViewTransform {
        self.transform
    }

    pub(super) fn min_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps_cap)
    }

    /// Takes the newest frame if the repaint cap allows; returns when to look again.
    pub(super) fn poll_frame(&mut self) -> Option<Duration> {
        if let Some(last) = self.last_display {
            let since = last.elapsed();
            if since < self.min_interval() {
                return Some(self.min_interval() - since);
            }
        }
        let frame = self.shared.slot.try_take()?;
        let number = frame.frame_number();
        let analysed = Showable::new(frame, &mut self.decoder).and_then(|frame| {
            let image = frame.image()?;
            let hist = Histogram::of(&image);
            let shape = (image.width(), image.height(), image.dtype());
            Ok((frame, hist, shape))
        });
        match analysed {
            Ok((frame, hist, (width, height, dtype))) => {
                let now_ns = daqflow_sdk::now_ns();
                self.latency_ms = Some(now_ns.saturating_sub(frame.timestamp_ns()) as f64 / 1e6);
                if self
                    .shown
                    .as_ref()
                    .is_none_or(|s| (s.width, s.height) != (width, height))
                {
                    self.fit = true;
                }
                self.generation += 1;
                self.shown = Some(Shown {
                    frame,
                    hist,
                    width,
                    height,
                    dtype,
                });
                self.recompute_mapping();
                self.last_display = Some(Instant::now());
                self.shared.stats.displayed.fetch_add(1, Ordering::Relaxed);
                (self.on_display)(&self.shared);
            }
            Err(e) => {
                if self.shared.stats.unshowable.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!("viewer cannot show frame {number}: {e}");
                }
            }
        }
        Some(self.min_interval())
    }

    /// The contrast window of the frame on screen for the current display choices.
    pub(super) fn recompute_mapping(&mut self) {
        if let Some(s) = &self.shown
            && let Ok(image) = s.frame.image()
        {
            self.mapping = self.view.mapping(&image, &s.hist);
        }
    }
}

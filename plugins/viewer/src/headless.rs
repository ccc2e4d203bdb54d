//! Headless mode: the render thread without a window. With `snapshot_every_frames = 0` it
//! sleeps until the sink stops; otherwise it looks at the counters `max_fps` times a
//! second (it is not woken per frame) and, when a snapshot is due
//! (`snapshot_every_frames`), takes the newest frame from the slot and renders it
//! offscreen to a PNG; at stop it renders the last frame (`snapshot_on_stop`). Between
//! snapshots it does no work at all, so a headless viewer costs acquisition only the slot
//! swap in `consume`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_display::{
    DisplayError, DrawParams, FrameDecoder, Histogram, RgbaImage, Showable, ViewFrame, ViewState,
    ViewTransform, fit_within,
};

use crate::config::Settings;
use crate::error::ViewerError;
use crate::render::{Gpu, OffscreenRenderer};
use crate::shared::Shared;

/// Renders frames to PNG files with the node's settings.
#[derive(Debug)]
pub struct SnapshotWriter {
    renderer: OffscreenRenderer,
    settings: Settings,
    node: String,
    view: ViewState,
    decoder: FrameDecoder,
}

impl SnapshotWriter {
    /// A writer on `gpu` for node `node`.
    pub fn new(gpu: Gpu, settings: Settings, node: &str) -> Self {
        let view = settings.view_state();
        Self {
            renderer: OffscreenRenderer::new(gpu),
            settings,
            node: node.to_owned(),
            view,
            decoder: FrameDecoder::default(),
        }
    }

    /// Renders `frame` (decoded first if compressed) with the configured colormap and
    /// contrast, scaled down to fit `snapshot_max_px` (1:1 when smaller).
    pub fn render<F: ViewFrame + Clone>(&mut self, frame: &F) -> Result<RgbaImage, ViewerError> {
        let shown = Showable::new(frame.clone(), &mut self.decoder)?;
        let image = shown.image()?;
        let hist = Histogram::of(&image);
        let mapping = self.view.mapping(&image, &hist);
        let (w, h) = (image.width(), image.height());
        let (out_w, out_h) = fit_within((w, h), self.settings.snapshot_max_px);
        self.renderer.upload(&image);
        let params = DrawParams {
            mapping,
            colormap: self.view.colormap,
            transform: ViewTransform::fit((w, h), (out_w, out_h)),
            origin: [0.0, 0.0],
        };
        self.renderer.render(&params, out_w, out_h)
    }

    /// Renders `frame` and writes it to the snapshot path; returns the path.
    pub fn write<F: ViewFrame + Clone>(&mut self, frame: &F) -> Result<PathBuf, ViewerError> {
        let picture = self.render(frame)?;
        let path = self
            .settings
            .snapshot_file(&self.node, frame.frame_number());
        picture.write_png(&path)?;
        Ok(path)
    }
}

/// The headless render loop; returns when the slot is closed (the sink's `stop`).
/// `on_display` is called after every snapshot (the sink updates its counters there).
pub fn run<F: ViewFrame + Clone>(
    shared: Arc<Shared<F>>,
    mut writer: Option<SnapshotWriter>,
    settings: &Settings,
    mut on_display: impl FnMut(&Shared<F>),
) -> Result<(), ViewerError> {
    let every = settings.snapshot_every_frames;
    let mut last: Option<F> = None;
    let mut received_at_last_snapshot = 0u64;
    let mut first_error_logged = false;
    let mut last_written: Option<u64> = None;
    let min_interval = Duration::from_secs_f64(1.0 / settings.max_fps);
    let mut last_snapshot = Instant::now() - min_interval;
    // Stop is noticed within one poll; snapshots are at most max_fps a second anyway.
    let poll = min_interval.clamp(Duration::from_millis(5), Duration::from_millis(50));
    while !shared.slot.is_closed() {
        if every == 0 {
            // Only the last frame is drawn (at stop): sleep until then, woken by nothing
            // else — not by frames, not by a poll timer.
            shared.slot.wait_closed(Duration::from_secs(3600));
            continue;
        }
        std::thread::sleep(poll);
        let received = shared.stats.received.load(Ordering::Relaxed);
        let due = every > 0
            && received.saturating_sub(received_at_last_snapshot) >= every
            && last_snapshot.elapsed() >= min_interval;
        if !due {
            continue;
        }
        if let Some(frame) = shared.slot.try_take() {
            last = Some(frame);
        }
        if let (Some(w), Some(frame)) = (writer.as_mut(), last.as_ref()) {
            received_at_last_snapshot = received;
            last_snapshot = Instant::now();
            match w.write(frame) {
                Ok(path) => {
                    last_written = Some(frame.frame_number());
                    log::debug!(
                        "snapshot of frame {} → {}",
                        frame.frame_number(),
                        path.display()
                    );
                    shared.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                    shared.stats.displayed.fetch_add(1, Ordering::Relaxed);
                    on_display(&shared);
                }
                // One bad frame (e.g. a corrupt chunk) must not flood the log or stop the viewer.
                Err(e) => {
                    shared.stats.unshowable.fetch_add(1, Ordering::Relaxed);
                    if !first_error_logged {
                        log::warn!("viewer cannot show frame {}: {e}", frame.frame_number());
                        first_error_logged = true;
                    }
                }
            }
        }
    }
    if let Some(frame) = shared.slot.try_take() {
        last = Some(frame);
    }
    if settings.snapshot_on_stop
        && let (Some(w), Some(frame)) = (writer.as_mut(), last.as_ref())
        && last_written != Some(frame.frame_number())
    {
        match w.write(frame) {
            Ok(path) => {
                log::info!(
                    "viewer: snapshot of the last frame ({}) written to {}",
                    frame.frame_number(),
                    path.display()
                );
                shared.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                shared.stats.displayed.fetch_add(1, Ordering::Relaxed);
            }
            // A frame that cannot be shown is the viewer's problem, not the run's: counted.
            Err(ViewerError::Display(DisplayError::BadImage(e))) => {
                shared.stats.unshowable.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "viewer: no snapshot of the last frame (frame {}): {e}",
                    frame.frame_number()
                );
            }
            // The snapshot file could not be written: the user asked for it, so say so.
            Err(e) => return Err(e),
        }
        on_display(&shared);
    }
    Ok(())
}

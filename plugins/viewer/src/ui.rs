//! The viewer's egui interface, independent of eframe so that tests drive it headless
//! (egui_kittest): a side panel of controls and statistics, and the image drawn by an
//! `egui_wgpu` paint callback at screen resolution (the GPU maps only the pixels on screen;
//! there is no full-size offscreen copy).
//!
//! Install the GPU side once with [`install_renderer`], then call [`ViewerUi::show`] every
//! egui pass. The UI takes frames from the shared slot at most `fps_cap` times a second and
//! sleeps (no repaint) while no frame arrives.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};

use crate::colormap::{Colormap, Mapping, Scale};
use crate::contrast::{ContrastMode, Histogram};
use crate::image::PixelType;
use crate::render::{DrawParams, ImageRenderer, ViewTransform};
use crate::view::{FrameDecoder, OnDisplay, Shared, Showable, ViewFrame, ViewState};

/// Puts the image renderer into egui-wgpu's callback resources (once per render state).
pub fn install_renderer(render_state: &egui_wgpu::RenderState) {
    let renderer = ImageRenderer::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
}

/// The paint callback: uploads a new frame (if any) and the uniforms in `prepare`, draws
/// one triangle in `paint`.
struct ImageCallback<F> {
    /// The frame on screen (a reference-counted handle, not a copy) and its tag.
    frame: Mutex<Showable<F>>,
    tag: u64,
    params: DrawParams,
}

impl<F: ViewFrame> egui_wgpu::CallbackTrait for ImageCallback<F> {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<ImageRenderer>() {
            let frame = self.frame.lock().unwrap_or_else(PoisonError::into_inner);
            if let Ok(image) = frame.image() {
                renderer.upload_tagged(device, queue, self.tag, &image);
            }
            renderer.prepare(queue, &self.params);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = resources.get::<ImageRenderer>() {
            renderer.paint(pass);
        }
    }
}

/// A frames-per-second estimate over windows of about half a second.
#[derive(Debug, Clone)]
struct RateMeter {
    since: Instant,
    count_at_since: u64,
    rate: f64,
}

impl RateMeter {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            count_at_since: 0,
            rate: 0.0,
        }
    }

    fn update(&mut self, count: u64) -> f64 {
        let dt = self.since.elapsed().as_secs_f64();
        if dt >= 0.5 {
            self.rate = count.saturating_sub(self.count_at_since) as f64 / dt;
            self.since = Instant::now();
            self.count_at_since = count;
        }
        self.rate
    }
}

/// Where the histogram was drawn: its plot area (points) and the pixel values at its left
/// and right edges. Lets tests (and tools) aim at the contrast handles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramAxis {
    /// The plot area, without the colour bar.
    pub plot: Rect,
    /// Value at `plot.min.x`.
    pub low: f64,
    /// Value at `plot.max.x`.
    pub high: f64,
}

impl HistogramAxis {
    /// The x coordinate of value `v`.
    pub fn x_of(&self, v: f64) -> f32 {
        self.plot.min.x + ((v - self.low) / (self.high - self.low)) as f32 * self.plot.width()
    }

    /// The value at x coordinate `x` (clamped to the plot).
    pub fn value_at(&self, x: f32) -> f64 {
        let x = x.clamp(self.plot.min.x, self.plot.max.x);
        self.low + f64::from((x - self.plot.min.x) / self.plot.width()) * (self.high - self.low)
    }
}

/// One of the histogram's two contrast handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handle {
    Low,
    High,
}

/// The frame being shown and what was computed from it.
struct Shown<F> {
    frame: Showable<F>,
    hist: Histogram,
    width: u32,
    height: u32,
    pixel_type: PixelType,
}

/// The viewer's interface state.
pub struct ViewerUi<F> {
    shared: Arc<Shared<F>>,
    /// Display choices (colormap, contrast...). Public for tests.
    pub view: ViewState,
    shown: Option<Shown<F>>,
    /// Decodes compressed frames (into reused buffers).
    decoder: FrameDecoder,
    /// Counts displayed frames: the tag of the frame on screen.
    generation: u64,
    /// Current contrast window.
    mapping: Mapping,
    transform: ViewTransform,
    fit: bool,
    fps_cap: f64,
    last_display: Option<Instant>,
    latency_ms: Option<f64>,
    received_rate: RateMeter,
    displayed_rate: RateMeter,
    /// Image pixel under the pointer at the last pass.
    readout_pos: Option<(u32, u32)>,
    /// Size of the image area in physical pixels at the last pass.
    area_px: (u32, u32),
    /// The histogram's plot area and the value range it spans, at the last pass.
    histogram_axis: Option<HistogramAxis>,
    /// The contrast handle being dragged.
    dragged_handle: Option<Handle>,
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
            histogram_axis: None,
            dragged_handle: None,
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
        self.histogram_axis
    }

    /// Current zoom/pan (physical pixels of the image area).
    pub fn transform(&self) -> ViewTransform {
        self.transform
    }

    fn min_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps_cap)
    }

    /// Takes the newest frame if the repaint cap allows; returns when to look again.
    fn poll_frame(&mut self) -> Option<Duration> {
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
            let shape = (image.width(), image.height(), image.pixel_type());
            Ok((frame, hist, shape))
        });
        match analysed {
            Ok((frame, hist, (width, height, pixel_type))) => {
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
                    pixel_type,
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

    fn recompute_mapping(&mut self) {
        if let Some(s) = &self.shown
            && let Ok(image) = s.frame.image()
        {
            self.mapping = self.view.mapping(&image, &s.hist);
        }
    }

    /// Draws the whole interface into `ui` (a full window).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let next = self.poll_frame();
        let mut changed = false;
        egui::Panel::right("viewer_controls")
            .resizable(false)
            .exact_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| changed |= self.controls(ui));
            });
        if changed {
            self.recompute_mapping();
        }
        // No fill: the image callback paints every pixel of this area (the background
        // too), and on a software rasteriser each egui-filled pixel costs (FINDINGS).
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| self.image_area(ui));

        // Sleep until a frame arrives (the sink wakes us), or poll at the repaint cap while
        // frames flow.
        let ctx = ui.ctx().clone();
        match next {
            Some(after) => ctx.request_repaint_after(after),
            None => {
                self.shared.ui_waiting.store(true, Ordering::Release);
                // A frame published between try_take and the store would not wake us.
                if self.shared.slot.has_value() {
                    ctx.request_repaint_after(self.min_interval());
                }
            }
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) -> bool {
        let mut changed = false;
        let stats = &self.shared.stats;
        let received = stats.received.load(Ordering::Relaxed);
        let displayed = stats.displayed.load(Ordering::Relaxed);
        let rx = self.received_rate.update(received);
        let dx = self.displayed_rate.update(displayed);
        let timing = |text: String| {
            if self.show_timing {
                text
            } else {
                "–".to_owned()
            }
        };

        ui.heading("Frame");
        match &self.shown {
            Some(s) => {
                ui.label(format!("frame {}", s.frame.frame_number()));
                ui.label(format!(
                    "{} × {} {}",
                    s.width,
                    s.height,
                    s.pixel_type.name()
                ));
            }
            None => {
                ui.label("waiting for frames…");
            }
        }
        egui::Grid::new("viewer_stats")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("received");
                ui.label(timing(format!("{rx:.1} fps")));
                ui.end_row();
                ui.label("displayed");
                ui.label(timing(format!("{dx:.1} fps (cap {:.0})", self.fps_cap)));
                ui.end_row();
                ui.label("dropped for display");
                ui.label(stats.dropped_for_display().to_string());
                ui.end_row();
                ui.label("latency");
                ui.label(match self.latency_ms {
                    Some(ms) => format!("{ms:.1} ms"),
                    None => "–".into(),
                });
                ui.end_row();
                ui.label("pixel");
                ui.label(match self.readout() {
                    Some((x, y, v)) => format!("({x}, {y}) = {}", format_value(v)),
                    None => "–".into(),
                });
                ui.end_row();
            });

        ui.separator();
        ui.heading("View");
        ui.horizontal(|ui| {
            if ui.button("fit").clicked() {
                self.fit = true;
            }
            if ui.button("1:1").clicked()
                && let Some(s) = &self.shown
            {
                self.fit = false;
                self.transform = ViewTransform::centred((s.width, s.height), self.area_px, 1.0);
            }
            ui.label(format!("zoom {:.0} %", 100.0 / self.transform.scale));
        });
        ui.label("wheel: zoom · drag: pan · double-click: fit");
        ui.separator();
        ui.heading("Colour");
        egui::ComboBox::from_label("colormap")
            .selected_text(self.view.colormap.name())
            .show_ui(ui, |ui| {
                for c in Colormap::ALL {
                    changed |= ui
                        .selectable_value(&mut self.view.colormap, c, c.name())
                        .changed();
                }
            });
        changed |= ui.checkbox(&mut self.view.reversed, "reversed").changed();
        ui.horizontal(|ui| {
            changed |= ui
                .radio_value(&mut self.view.scale, Scale::Linear, "linear")
                .changed();
            changed |= ui
                .radio_value(&mut self.view.scale, Scale::Log, "log")
                .changed();
        });

        ui.separator();
        ui.heading("Contrast");
        ui.horizontal(|ui| {
            changed |= ui
                .radio_value(&mut self.view.contrast, ContrastMode::MinMax, "min/max")
                .changed();
            changed |= ui
                .radio_value(
                    &mut self.view.contrast,
                    ContrastMode::Percentile,
                    "percentile",
                )
                .changed();
            if ui
                .radio_value(&mut self.view.contrast, ContrastMode::Manual, "manual")
                .changed()
            {
                self.view.manual = Some((self.mapping.low, self.mapping.high));
                changed = true;
            }
        });
        // Always laid out (greyed out unless in percentile mode): the histogram below must
        // not jump while the user drags one of its handles (which switches to manual).
        let percentile = self.view.contrast == ContrastMode::Percentile;
        ui.add_enabled_ui(percentile, |ui| {
            ui.horizontal(|ui| {
                let (lo, hi) = &mut self.view.percentiles;
                let l = ui.label("from");
                changed |= ui
                    .add(
                        egui::DragValue::new(lo)
                            .range(0.0..=100.0)
                            .speed(0.05)
                            .suffix(" %"),
                    )
                    .labelled_by(l.id)
                    .changed();
                let l = ui.label("to");
                changed |= ui
                    .add(
                        egui::DragValue::new(hi)
                            .range(0.0..=100.0)
                            .speed(0.05)
                            .suffix(" %"),
                    )
                    .labelled_by(l.id)
                    .changed();
                if *hi <= *lo {
                    *hi = (*lo + 0.1).min(100.0);
                }
            });
        });
        ui.horizontal(|ui| {
            let (mut lo, mut hi) = (self.mapping.low, self.mapping.high);
            let speed = ((hi - lo).abs() / 500.0).max(1e-6);
            let l = ui.label("min");
            let a = ui
                .add(egui::DragValue::new(&mut lo).speed(speed))
                .labelled_by(l.id);
            let l = ui.label("max");
            let b = ui
                .add(egui::DragValue::new(&mut hi).speed(speed))
                .labelled_by(l.id);
            if a.changed() || b.changed() {
                self.view.contrast = ContrastMode::Manual;
                self.view.manual = Some((lo, hi));
                changed = true;
            }
        });
        ui.horizontal(|ui| {
            if ui.button("auto (min/max)").clicked() {
                self.view.contrast = ContrastMode::MinMax;
                changed = true;
            }
            if ui.button("auto (percentile)").clicked() {
                self.view.contrast = ContrastMode::Percentile;
                changed = true;
            }
        });
        changed |= self.histogram(ui);

        changed
    }

    /// Histogram with the contrast window; its two handles drag the window (→ manual).
    fn histogram(&mut self, ui: &mut egui::Ui) -> bool {
        let Some(s) = &self.shown else {
            return false;
        };
        let hist = &s.hist;
        let (lo_v, hi_v) = (
            hist.min.min(self.mapping.low),
            hist.max.max(self.mapping.high),
        );
        let span = if hi_v > lo_v { hi_v - lo_v } else { 1.0 };
        let (rect, _) =
            ui.allocate_exact_size(Vec2::new(ui.available_width(), 110.0), Sense::hover());
        // A fixed id, so a drag survives any change of the widgets around it.
        let response = ui.interact(
            rect,
            ui.make_persistent_id("histogram"),
            Sense::click_and_drag(),
        );
        let painter = ui.painter_at(rect);
        let plot = Rect::from_min_max(rect.min, Pos2::new(rect.max.x, rect.max.y - 14.0));
        painter.rect_filled(rect, 2.0, Color32::from_gray(20));
        let n = (plot.width() / 2.0).max(1.0) as usize;
        let bins = hist.display_bins(lo_v, lo_v + span, n);
        let peak = bins.iter().copied().max().unwrap_or(1).max(1) as f32;
        let bw = plot.width() / n as f32;
        for (i, &c) in bins.iter().enumerate() {
            if c == 0 {
                continue;
            }
            // Log counts: a few hot pixels stay visible next to the background peak.
            let h = (1.0 + c as f32).ln() / (1.0 + peak).ln() * plot.height();
            let x = plot.min.x + i as f32 * bw;
            painter.rect_filled(
                Rect::from_min_max(Pos2::new(x, plot.max.y - h), Pos2::new(x + bw, plot.max.y)),
                0.0,
                Color32::from_gray(170),
            );
        }
        let axis = HistogramAxis {
            plot,
            low: lo_v,
            high: lo_v + span,
        };
        self.histogram_axis = Some(axis);
        let to_x = |v: f64| axis.x_of(v);
        let (xl, xh) = (to_x(self.mapping.low), to_x(self.mapping.high));
        // Colour bar under the plot, spanning the window.
        let lut = self.view.colormap.lut();
        let steps = 64;
        for i in 0..steps {
            let t0 = xl + (xh - xl) * i as f32 / steps as f32;
            let t1 = xl + (xh - xl) * (i + 1) as f32 / steps as f32;
            let mut idx = i * 256 / steps;
            if self.view.reversed {
                idx = 255 - idx;
            }
            let [r, g, b, _] = lut[idx];
            painter.rect_filled(
                Rect::from_min_max(Pos2::new(t0, plot.max.y + 2.0), Pos2::new(t1, rect.max.y)),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        painter.rect_filled(
            Rect::from_min_max(Pos2::new(xl, plot.min.y), Pos2::new(xh, plot.max.y)),
            0.0,
            Color32::from_rgba_unmultiplied(255, 200, 0, 28),
        );
        for x in [xl, xh] {
            painter.vline(
                x,
                plot.y_range(),
                Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
            );
        }
        let mut changed = false;
        if response.drag_started() {
            // The handle nearest to where the button went down moves for the whole drag.
            let origin = ui
                .input(|i| i.pointer.press_origin())
                .or(response.interact_pointer_pos());
            self.dragged_handle = origin.map(|p| {
                if (p.x - xl).abs() <= (p.x - xh).abs() {
                    Handle::Low
                } else {
                    Handle::High
                }
            });
        }
        if response.dragged()
            && let (Some(p), Some(handle)) = (response.interact_pointer_pos(), self.dragged_handle)
        {
            let v = axis.value_at(p.x);
            let (mut lo, mut hi) = (self.mapping.low, self.mapping.high);
            match handle {
                Handle::Low => lo = v.min(hi),
                Handle::High => hi = v.max(lo),
            }
            if s.pixel_type != PixelType::F32 {
                (lo, hi) = (lo.round(), hi.round());
            }
            self.view.contrast = ContrastMode::Manual;
            self.view.manual = Some((lo, hi));
            changed = true;
        }
        ui.label(format!(
            "window {} … {}   data {} … {}",
            format_value(self.mapping.low),
            format_value(self.mapping.high),
            format_value(hist.min),
            format_value(hist.max)
        ));
        changed
    }

    fn image_area(&mut self, ui: &mut egui::Ui) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        let ppp = ui.ctx().pixels_per_point();
        let area_px = (
            (rect.width() * ppp).round().max(1.0) as u32,
            (rect.height() * ppp).round().max(1.0) as u32,
        );
        self.area_px = area_px;
        let Some(s) = &self.shown else {
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "waiting for frames…",
                egui::FontId::proportional(18.0),
                Color32::GRAY,
            );
            return;
        };
        let (iw, ih) = (s.width, s.height);
        if response.double_clicked() {
            self.fit = true;
        }
        if self.fit {
            self.transform = ViewTransform::fit((iw, ih), area_px);
        }
        let to_px = |p: Pos2| [(p.x - rect.min.x) * ppp, (p.y - rect.min.y) * ppp];
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            let zoom = ui.input(|i| i.zoom_delta());
            let factor = (scroll * 0.002).exp() * zoom;
            if factor != 1.0
                && let Some(p) = response.hover_pos()
            {
                self.fit = false;
                self.transform.zoom_about(to_px(p), factor);
            }
        }
        if response.dragged() {
            self.fit = false;
            let d = response.drag_delta() * ppp;
            self.transform.pan([d.x, d.y]);
        }
        self.readout_pos = response.hover_pos().and_then(|p| {
            let [x, y] = self.transform.image_pos(to_px(p));
            (x >= 0.0 && y >= 0.0 && x < iw as f32 && y < ih as f32)
                .then(|| (x.floor() as u32, y.floor() as u32))
        });
        let params = DrawParams {
            mapping: self.mapping,
            colormap: self.view.colormap,
            transform: self.transform,
            origin: [rect.min.x * ppp, rect.min.y * ppp],
        };
        ui.painter().add(egui_wgpu::Callback::new_paint_callback(
            rect,
            ImageCallback {
                frame: Mutex::new(s.frame.clone()),
                tag: self.generation,
                params,
            },
        ));
        if let Some((x, y, v)) = self.readout() {
            ui.painter().text(
                rect.left_bottom() + Vec2::new(6.0, -6.0),
                egui::Align2::LEFT_BOTTOM,
                format!("({x}, {y}) = {}", format_value(v)),
                egui::FontId::monospace(13.0),
                Color32::WHITE,
            );
        }
    }
}

/// A raw value for display: integers without decimals, floats with 4 significant digits.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

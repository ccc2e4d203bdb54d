//! The histogram plot of the side panel: log-scaled counts of the current frame, the
//! contrast window over it, a colour bar under it, and two handles that drag the window.
//! It owns only its drawing and drag state ([`HistogramPlot`]); the caller turns a drag
//! into a manual window.

use daqflow_display::{Colormap, Histogram, Mapping};
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};

use super::readout::format_value;

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

/// What the histogram plot remembers between passes.
#[derive(Debug, Default)]
pub(super) struct HistogramPlot {
    /// Where it was drawn at the last pass.
    pub(super) axis: Option<HistogramAxis>,
    /// The contrast handle being dragged.
    dragged: Option<Handle>,
}

impl HistogramPlot {
    /// Draws `hist` with the window of `mapping` and a colour bar of `colormap` (backwards
    /// when `reversed`); returns the new (low, high) window while the user drags a handle
    /// (rounded when the frame has `integer_values`).
    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        hist: &Histogram,
        mapping: Mapping,
        (colormap, reversed): (Colormap, bool),
        integer_values: bool,
    ) -> Option<(f64, f64)> {
        let (lo_v, hi_v) = (hist.min.min(mapping.low), hist.max.max(mapping.high));
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
        self.axis = Some(axis);
        let to_x = |v: f64| axis.x_of(v);
        let (xl, xh) = (to_x(mapping.low), to_x(mapping.high));
        // Colour bar under the plot, spanning the window.
        let lut = colormap.lut();
        let steps = 64;
        for i in 0..steps {
            let t0 = xl + (xh - xl) * i as f32 / steps as f32;
            let t1 = xl + (xh - xl) * (i + 1) as f32 / steps as f32;
            let mut idx = i * 256 / steps;
            if reversed {
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
        let mut window = None;
        if response.drag_started() {
            // The handle nearest to where the button went down moves for the whole drag.
            let origin = ui
                .input(|i| i.pointer.press_origin())
                .or(response.interact_pointer_pos());
            self.dragged = origin.map(|p| {
                if (p.x - xl).abs() <= (p.x - xh).abs() {
                    Handle::Low
                } else {
                    Handle::High
                }
            });
        }
        if response.dragged()
            && let (Some(p), Some(handle)) = (response.interact_pointer_pos(), self.dragged)
        {
            let v = axis.value_at(p.x);
            let (mut lo, mut hi) = (mapping.low, mapping.high);
            match handle {
                Handle::Low => lo = v.min(hi),
                Handle::High => hi = v.max(lo),
            }
            if integer_values {
                (lo, hi) = (lo.round(), hi.round());
            }
            window = Some((lo, hi));
        }
        ui.label(format!(
            "window {} … {}   data {} … {}",
            format_value(mapping.low),
            format_value(mapping.high),
            format_value(hist.min),
            format_value(hist.max)
        ));
        window
    }
}

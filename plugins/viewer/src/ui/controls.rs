//! The side panel of controls and statistics: frame, rates, dropped frames, latency and
//! pixel readout; fit / 1:1; colormap, reversed, linear/log; the contrast mode,
//! percentiles, min/max fields, the auto buttons and the histogram. Every control edits
//! the display choices ([`ViewerUi::view`]); the caller recomputes the window when they
//! changed.

use std::sync::atomic::Ordering;

use daqflow_display::{Colormap, ContrastMode, Scale, ViewFrame, ViewTransform};

use super::readout::format_value;
use super::state::ViewerUi;

impl<F: ViewFrame + Clone> ViewerUi<F> {
    /// Draws the panel's contents; true when a display choice changed.
    pub(super) fn controls(&mut self, ui: &mut egui::Ui) -> bool {
        self.frame_section(ui);
        ui.separator();
        self.view_section(ui);
        ui.separator();
        let mut changed = self.colour_section(ui);
        ui.separator();
        changed |= self.contrast_section(ui);
        changed
    }

    fn frame_section(&mut self, ui: &mut egui::Ui) {
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
                ui.label(format!("{} × {} {}", s.width, s.height, s.dtype.name()));
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
    }

    fn view_section(&mut self, ui: &mut egui::Ui) {
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
    }

    fn colour_section(&mut self, ui: &mut egui::Ui) -> bool {
        let mut changed = false;
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
        changed
    }

    fn contrast_section(&mut self, ui: &mut egui::Ui) -> bool {
        let mut changed = false;
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
        if let Some(s) = &self.shown
            && let Some(window) = self.histogram.show(
                ui,
                &s.hist,
                self.mapping,
                (self.view.colormap, self.view.reversed),
                s.dtype.is_integer(),
            )
        {
            // Dragging a handle of the histogram sets a manual window.
            self.view.contrast = ContrastMode::Manual;
            self.view.manual = Some(window);
            changed = true;
        }
        changed
    }
}

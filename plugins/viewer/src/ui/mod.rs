//! The viewer's egui interface, independent of eframe so that tests drive it headless
//! (egui_kittest): a side panel of controls and statistics, and the image drawn by an
//! `egui_wgpu` paint callback at screen resolution.
//!
//! Install the GPU side once with [`install_renderer`], then call [`ViewerUi::show`] every
//! egui pass. The UI takes frames from the shared slot at most `fps_cap` times a second and
//! sleeps (no repaint) while no frame arrives. Submodules by job: `state` (the UI's state
//! and frame intake), `controls` (the side panel), `histogram` (its plot and handles),
//! `image_area` (the image, zoom/pan, readout), `readout` (rates and number formatting).

mod controls;
mod histogram;
mod image_area;
mod readout;
mod state;

use std::sync::atomic::Ordering;

use daqflow_display::ViewFrame;

pub use histogram::HistogramAxis;
pub use image_area::install_renderer;
pub use state::ViewerUi;

impl<F: ViewFrame + Clone> ViewerUi<F> {
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
}

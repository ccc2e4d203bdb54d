//! The image area: the frame drawn by an `egui_wgpu` paint callback at screen resolution
//! (the GPU maps only the pixels on screen; there is no full-size offscreen copy), mouse
//! wheel zoom about the pointer, drag to pan, double-click to fit, and the pixel readout
//! under the pointer. [`install_renderer`] puts the GPU side into egui's resources once.

use std::sync::{Mutex, PoisonError};

use daqflow_display::{DrawParams, Showable, ViewFrame, ViewTransform};
use egui::{Color32, Pos2, Sense, Vec2};

use super::readout::format_value;
use super::state::ViewerUi;
use crate::render::ImageRenderer;

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

impl<F: ViewFrame + Clone> ViewerUi<F> {
    /// Draws the image area into the rest of `ui`, and handles its mouse input.
    pub(super) fn image_area(&mut self, ui: &mut egui::Ui) {
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

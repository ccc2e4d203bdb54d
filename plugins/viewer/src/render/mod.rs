//! The wgpu side of the viewer, independent of any window: [`Gpu`] (a device without a
//! window), [`ImageRenderer`] (frame texture + colormap LUT + uniforms, one full-screen
//! triangle; drawn into egui's pass by the window, into a texture offscreen) and
//! [`OffscreenRenderer`] (renders and reads back for PNG snapshots and tests). What it
//! draws is defined on the CPU in `daqflow-display` (`render_cpu`), and tested equal.

mod gpu;
mod offscreen;
mod renderer;

pub use gpu::{Gpu, describe_adapter};
pub use offscreen::OffscreenRenderer;
pub use renderer::ImageRenderer;

//! `viewer`: the GPU live viewer sink of daqflow. It shows the newest frame of its input
//! in a window (eframe + wgpu) or, without a display, renders PNG snapshots offscreen —
//! and never slows acquisition: its lane is `latest` and `consume` only swaps the frame
//! into a one-frame slot.
//!
//! Modules: [`config`] (settings), [`sink`] (the `Sink` impl), [`shared`] (the slot,
//! counters and wake-up shared with the render thread), [`render`] (wgpu: device, image
//! renderer, offscreen PNG), [`ui`] (egui controls and the image area), [`window`] (the
//! eframe window thread), [`headless`] (snapshots without a window), `priority` (render
//! threads at nice +10). What is drawn — slot, contrast, colormaps, decoding, the CPU
//! reference picture — comes from `daqflow-display`, shared with other views.

pub mod config;
pub mod error;
pub mod headless;
pub mod render;
pub mod shared;
pub mod sink;
pub mod ui;
pub mod window;

pub use config::Settings;
pub use error::ViewerError;
pub use sink::Viewer;

daqflow_sdk::export_plugin!(
    sink Viewer,
    name = "viewer",
    description = "GPU live viewer: the newest frame in a window (colormap, contrast, histogram, \
                   zoom, pixel readout) or headless PNG snapshots; never slows acquisition"
);

//! `viewer`: the GPU live viewer sink of daqflow. It shows the newest frame of its input
//! in a window (eframe + wgpu) or, without a display, renders PNG snapshots offscreen —
//! and never slows acquisition: its lane is `latest` and `consume` only swaps the frame
//! into a one-frame slot.
//!
//! Modules: [`config`] (settings), [`sink`] (the `Sink` impl), [`slot`] (the hand-off),
//! [`view`] (frames, display state, counters), [`render`] (the wgpu renderer, offscreen
//! PNG), [`colormap`] and [`contrast`] (the value → colour mapping and its CPU reference),
//! [`ui`] (egui controls), [`window`] (the eframe window thread), [`headless`].

pub mod colormap;
mod colormap_data;
pub mod config;
pub mod contrast;
pub mod error;
pub mod headless;
pub mod image;
pub mod render;
pub mod sink;
pub mod slot;
pub mod ui;
pub mod view;
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

//! # daqflow-sdk: write a daqflow plugin in safe Rust
//!
//! A daqflow plugin is a `cdylib` crate that implements one of [`Source`], [`Filter`] or
//! [`Sink`] and exports it with [`export_plugin!`]. The macro generates the C-ABI entry
//! point the core loads (see [`abi`]): a plugin built by another rustc still loads, panics
//! never cross the boundary, and `log` records reach the core tagged with the node name.
//!
//! Frames are reference-counted pool buffers shared by pointer: [`Frame`] for reading
//! (ndarray views, metadata), [`FrameMut`] for writing. A plugin author writes no `unsafe`.
//!
//! ```
//! use daqflow_sdk::prelude::*;
//!
//! /// Settings of `threshold_demo`.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Settings {
//!     /// Pixels below this value become 0.
//!     #[serde(default)]
//!     pub level: u16,
//! }
//! impl PluginSettings for Settings {}
//!
//! pub struct ThresholdDemo { level: u16 }
//!
//! impl Filter for ThresholdDemo {
//!     type Settings = Settings;
//!     fn create(s: Settings, _ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(ThresholdDemo { level: s.level })
//!     }
//!     fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
//!         let mut frame = frame.into_mut(ctx)?; // copy-on-write only if shared
//!         let level = self.level;
//!         frame.view_mut::<u16>()?.mapv_inplace(|v| if v < level { 0 } else { v });
//!         ctx.emit(frame)
//!     }
//! }
//!
//! daqflow_sdk::export_plugin!(filter ThresholdDemo, name = "threshold_demo",
//!     description = "Zeroes u16 pixels below a level");
//!
//! // Drive it without the core:
//! let mut h = daqflow_sdk::testing::Harness::new(daqflow_plugin_entry,
//!     serde_json::json!({"level": 10})).unwrap();
//! h.start().unwrap();
//! let input = ndarray::arr2(&[[5u16, 20], [10, 3]]);
//! h.push(h.frame_from(&input.view(), 0)).unwrap();
//! let out = h.take_emitted();
//! assert_eq!(out[0].view::<u16>().unwrap(), ndarray::arr2(&[[0u16, 20], [10, 0]]));
//! ```

// Module graph (no cycles): abi, dtype, error, log_bridge are leaves; format → dtype;
// frame → format; context → frame, log_bridge; plugin → context; export → plugin;
// testing → everything.
pub mod abi;
mod context;
mod dtype;
mod error;
#[doc(hidden)]
pub mod export;
mod format;
mod frame;
mod log_bridge;
mod plugin;
pub mod series;
pub mod testing;
pub mod thread;
pub mod time;

pub use context::{Context, Worker, now_ns};
pub use dtype::{DType, Encoding, Pixel};
pub use error::{ErrorKind, PluginError, SettingsError};
pub use format::FrameFormat;
pub use frame::{Frame, FrameMut, MetaValue};
pub use plugin::{Filter, InputLane, Next, PluginSettings, Sink, Source};

pub use export::{parse_settings, settings_schema_json};
pub use {log, ndarray, schemars, serde, serde_json};

/// Everything a plugin needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Context, DType, Encoding, ErrorKind, Filter, Frame, FrameFormat, FrameMut, InputLane,
        MetaValue, Next, Pixel, PluginError, PluginSettings, SettingsError, Sink, Source,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

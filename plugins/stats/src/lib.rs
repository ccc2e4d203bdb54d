//! `stats`: per-frame statistics — sum, mean, min, max, population standard deviation,
//! intensity-weighted centroid and, with `above`, the count of pixels above a level —
//! attached to each frame as metadata (`stats_sum`, `stats_mean`, …; see [`config`]), so
//! the HDF5 writer records them as per-frame datasets
//! (`/entry/instrument/detector/frame_metadata/stats_mean`), like areaDetector's
//! NDPluginStats. The pixels are not changed.
//!
//! Writing metadata needs the only reference to the frame: free when it is not shared,
//! a counted copy (copy-on-write) when a fan-out shares it — so place `stats` before the
//! fan-out (detector → stats → {file, viewer}), not beside the other consumers.

pub mod config;
pub mod kernel;
mod stats;

#[cfg(test)]
mod tests;

pub use config::Settings;
pub use kernel::{FrameStats, StatsPixel, frame_stats};
pub use stats::Stats;

daqflow_sdk::export_plugin!(
    filter Stats,
    name = "stats",
    description = "Per-frame sum, mean, min, max, std, centroid (and count above a level) as frame metadata"
);

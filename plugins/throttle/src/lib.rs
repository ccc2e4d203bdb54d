//! `throttle`: passes at most `max_rate_hz` frames per second, or every `every_nth` frame,
//! and drops the rest — a lossy step made explicit: the dropped frames are counted
//! (`frames_dropped` in the run report) and the first drop is logged. Use it to feed a
//! slow consumer (a remote viewer, a reduced-rate recording) from a full-rate lane.
//!
//! It never reads pixels, so compressed frames pass through as they are.

pub mod config;
mod throttle;

#[cfg(test)]
mod tests;

pub use config::Settings;
pub use throttle::Throttle;

daqflow_sdk::export_plugin!(
    filter Throttle,
    name = "throttle",
    description = "Passes at most max_rate_hz frames per second, or every n-th frame; counts the frames it drops"
);

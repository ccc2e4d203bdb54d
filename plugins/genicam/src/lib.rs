//! `genicam`: a source for GenICam cameras (GigE Vision, USB3 Vision) through Aravis 0.8.
//! Frames land in pool buffers directly (Aravis writes into the pool's memory), carry the
//! camera's frame id and time, and every buffer is accounted in the run report.
//!
//! Modules: `config` (settings and their checks, no camera needed), `camera` (open with
//! retry, settings and features onto the camera), `stream` (the zero-copy ring of pool
//! frames queued to Aravis), `source` (the `Source` impl: start, next, stop, counters).

mod camera;
mod config;
mod source;
mod stream;

pub use config::{Binning, Incomplete, Roi, Settings, TriggerMode};
pub use source::Genicam;

daqflow_sdk::export_plugin!(
    source Genicam,
    name = "genicam",
    description = "GenICam camera (GigE Vision / USB3 Vision) through Aravis: zero-copy frames, every buffer accounted"
);

#[cfg(test)]
mod tests;

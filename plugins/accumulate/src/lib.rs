//! `accumulate`: sums or averages every `frames` frames into one, like areaDetector's
//! NDPluginProcess "Sum"/"Average" filters with their callbacks every N arrays. The output
//! carries the frame number, timestamp and metadata of the group's *first* frame (the
//! start of the longer exposure it stands for) plus `accumulated_frames` (how many frames
//! it holds), at `input rate / frames`.
//!
//! A group left incomplete — at stop, or when the input format changes (a new series) —
//! is emitted with the frames it has (a shorter sum, or the mean of those frames), its
//! `accumulated_frames` says how many, and the `partial_groups` counter of the run
//! report counts it: every input frame is in the output, none is lost silently.
//!
//! The running sum lives in one buffer allocated per input format (in `input_format`);
//! frames are added into it in place, no per-frame heap allocation. The pixel kernels
//! are in [`kernel`].

mod accumulate;
pub mod config;
pub mod kernel;

#[cfg(test)]
mod tests;

pub use accumulate::Accumulate;
pub use config::{Mode, Settings};

daqflow_sdk::export_plugin!(
    filter Accumulate,
    name = "accumulate",
    description = "Sums or averages every N frames into one (sum widens u8/u16 to u32)"
);

//! Settings of `accumulate` (the user reference `daqflow plugins` prints) and the dtype
//! each mode emits.

use daqflow_sdk::prelude::*;

/// Largest `frames`: a sum of this many u16 frames still fits its u32 output exactly.
pub const MAX_FRAMES: u32 = 65_536;

/// What a group of frames becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The pixel-wise sum: u8, u16 and u32 frames give u32 (u32 saturates at its
    /// maximum), f32 gives f32 (summed in f64).
    Sum,
    /// The pixel-wise mean, in the input's dtype; integers rounded to nearest (halves up).
    Mean,
}

/// Settings of `accumulate`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Frames per output frame, 1..=65536. The output rate is the input rate / `frames`.
    pub frames: u32,
    /// "sum" (u8/u16/u32 → u32, f32 → f32) or "mean" (same dtype as the input).
    pub mode: Mode,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        if !(1..=MAX_FRAMES).contains(&self.frames) {
            return Err(vec![SettingsError::new(
                "frames",
                format!(
                    "must be within 1..={MAX_FRAMES} (a u16 sum of more could overflow its u32 output), got {}",
                    self.frames
                ),
            )]);
        }
        Ok(())
    }
}

/// The dtype `mode` emits for input frames of `input`.
pub fn output_dtype(mode: Mode, input: DType) -> DType {
    match (mode, input) {
        (Mode::Mean, d) => d,
        (Mode::Sum, DType::F32) => DType::F32,
        (Mode::Sum, _) => DType::U32,
    }
}

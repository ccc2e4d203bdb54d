//! `burn`: a filter that spends a set CPU time on every frame (a busy loop, plus a
//! pseudo-random extra per frame so that parallel workers finish out of order) and passes
//! the frame on unchanged: the model of an expensive stateless filter, for `workers = N`
//! tests and benches.

use std::time::{Duration, Instant};

use daqflow_sdk::prelude::*;

/// Settings of `burn`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// CPU time spent on every frame, µs.
    #[serde(default)]
    pub micros: u64,
    /// Up to this many µs more, varying from frame to frame.
    #[serde(default)]
    pub jitter_micros: u64,
    /// Whether the filter declares its frames independent (`workers = N` allowed).
    #[serde(default = "yes")]
    pub parallel: bool,
    /// The dtypes it takes (all when absent): the model of a filter refusing some at
    /// validate.
    #[serde(default)]
    pub accept: Option<Vec<DType>>,
}

fn yes() -> bool {
    true
}

impl PluginSettings for Settings {}

/// The filter.
pub struct Burn {
    s: Settings,
}

impl Filter for Burn {
    type Settings = Settings;

    fn output_format(
        s: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if let Some(accept) = &s.accept
            && !accept.contains(&input.dtype)
        {
            return Err(vec![SettingsError::new(
                "accept",
                format!(
                    "burn takes {} frames, not {}; insert a `cast` filter before it",
                    DType::list(accept),
                    input.dtype
                ),
            )]);
        }
        Ok(Some(*input))
    }

    fn parallel(s: &Settings) -> bool {
        s.parallel
    }

    fn create(s: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Burn { s })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let n = frame.frame_number();
        let jitter = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % (self.s.jitter_micros + 1);
        let until = Instant::now() + Duration::from_micros(self.s.micros + jitter);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        ctx.emit(frame)
    }
}

daqflow_sdk::export_plugin!(filter Burn, name = "burn", description = "Test filter spending CPU time per frame");

//! The `throttle` filter and its [`Gate`], which decides from the arrival time (passed in,
//! so tests need no clock) whether a frame passes.

use std::time::Instant;

use daqflow_sdk::prelude::*;

use crate::config::Settings;

/// Decides which frames pass.
#[derive(Debug)]
pub(crate) enum Gate {
    /// At most one frame per slot of `period_s`, slots counted from the first frame.
    Rate {
        period_s: f64,
        origin: Option<Instant>,
        last_slot: u64,
    },
    /// Frames 0, n, 2n, … in arrival order.
    EveryNth { n: u64, seen: u64 },
}

impl Gate {
    pub(crate) fn new(settings: &Settings) -> Gate {
        match (settings.max_rate_hz, settings.every_nth) {
            (Some(r), _) => Gate::Rate {
                period_s: 1.0 / r,
                origin: None,
                last_slot: 0,
            },
            (None, n) => Gate::EveryNth {
                n: n.unwrap_or(1).max(1),
                seen: 0,
            },
        }
    }

    /// True when the frame arriving at `now` passes.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        match self {
            Gate::Rate {
                period_s,
                origin,
                last_slot,
            } => {
                let Some(o) = *origin else {
                    *origin = Some(now);
                    return true;
                };
                // Rounding puts a frame that arrives up to half a slot early or late in
                // the slot it was meant for, so input at exactly the rate passes whole.
                let slot = (now.saturating_duration_since(o).as_secs_f64() / *period_s).round();
                let slot = slot as u64;
                if slot > *last_slot {
                    *last_slot = slot;
                    true
                } else {
                    false
                }
            }
            Gate::EveryNth { n, seen } => {
                let pass = *seen % *n == 0;
                *seen += 1;
                pass
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Gate::Rate { period_s, .. } => format!("at most {} frames/s", 1.0 / period_s),
            Gate::EveryNth { n, .. } => format!("1 frame in {n}"),
        }
    }
}

/// The filter.
pub struct Throttle {
    gate: Gate,
    dropped: u64,
}

impl Filter for Throttle {
    type Settings = Settings;

    /// Same frames, any encoding (pixels are not read); the rate is
    /// `min(input rate, max_rate_hz)` (`max_rate_hz` when the input rate is unknown: an
    /// upper bound) or `input rate / every_nth` (unknown when the input rate is).
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        let rate = match (settings.max_rate_hz, settings.every_nth) {
            (Some(max), _) => Some(input.rate_hz.map_or(max, |r| r.min(max))),
            (None, Some(n)) => input.rate_hz.map(|r| r / n.max(1) as f64),
            (None, None) => input.rate_hz,
        };
        Ok(Some(input.with_rate(rate)))
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Throttle {
            gate: Gate::new(&settings),
            dropped: 0,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        ctx.set_counter("frames_dropped", self.dropped);
        Ok(())
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if self.gate.admit(Instant::now()) {
            return ctx.emit(frame);
        }
        if self.dropped == 0 {
            log::info!(
                "dropping frames from frame {} on to pass {}; the run report counts them as `frames_dropped`",
                frame.frame_number(),
                self.gate.describe()
            );
        }
        self.dropped += 1;
        ctx.set_counter("frames_dropped", self.dropped);
        Ok(())
    }
}

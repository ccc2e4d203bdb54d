//! `fault`: a filter that passes frames through and fails on purpose — a panic or an
//! error at a chosen frame, or in start/stop — to test that the core turns plugin
//! failures into clean, reported pipeline stops.

use daqflow_sdk::prelude::*;

/// How to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `panic!`.
    Panic,
    /// Return an error.
    Error,
}

/// Where to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// In `start`.
    Start,
    /// In `process`, at frame `at_frame`.
    Process,
    /// In `stop`.
    Stop,
}

/// Settings of `fault`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// "panic" or "error".
    pub mode: Mode,
    /// "start", "process" or "stop".
    #[serde(default = "default_phase")]
    pub phase: Phase,
    /// Frame number at which `process` fails.
    #[serde(default)]
    pub at_frame: u64,
}

fn default_phase() -> Phase {
    Phase::Process
}

impl PluginSettings for Settings {}

/// The filter.
pub struct Fault(Settings);

impl Fault {
    fn fail(&self, what: &str) -> Result<(), PluginError> {
        match self.0.mode {
            Mode::Panic => panic!("fault injected: panic in {what}"),
            Mode::Error => Err(PluginError::new(format!("fault injected: error in {what}"))),
        }
    }
}

impl Filter for Fault {
    type Settings = Settings;
    // Declared so the tests can check that `validate` refuses lossy lanes into it.
    const INPUT: InputLane = InputLane::Lossless;

    fn create(s: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Fault(s))
    }

    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        if self.0.phase == Phase::Start {
            return self.fail("start");
        }
        Ok(())
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if self.0.phase == Phase::Process && frame.frame_number() == self.0.at_frame {
            return self.fail(&format!("process at frame {}", frame.frame_number()));
        }
        ctx.emit(frame)
    }

    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        log::info!("fault stop called");
        if self.0.phase == Phase::Stop {
            return self.fail("stop");
        }
        Ok(())
    }
}

daqflow_sdk::export_plugin!(filter Fault, name = "fault", description = "Test filter that fails on purpose");

//! `probe`: a sink that records, for every frame, its number, payload address and a
//! checksum, and writes them to `path` at stop (one line per frame). With `hold_all`, it
//! keeps every frame alive until stop, so frames stay shared with other consumers, and
//! re-checks at stop that nobody changed a frame it holds. With `max_rate`, it asks the core
//! to limit its input rate, and reports the frames offered to it as counter `offered`.

use std::io::Write;

use daqflow_sdk::prelude::*;

/// Settings of `probe`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where to write `frame_number data_ptr checksum` lines.
    pub path: String,
    /// Keep every frame until stop (makes fan-out frames stay shared).
    #[serde(default)]
    pub hold_all: bool,
    /// Asks the core for at most this many frames a second (`Context::limit_input_rate`).
    #[serde(default)]
    pub max_rate: f64,
}

impl PluginSettings for Settings {}

/// The sink.
pub struct Probe {
    settings: Settings,
    lines: Vec<(u64, usize, u64)>,
    held: Vec<Frame>,
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl Sink for Probe {
    type Settings = Settings;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Probe {
            settings,
            lines: Vec::new(),
            held: Vec::new(),
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if self.settings.max_rate > 0.0 {
            ctx.limit_input_rate(self.settings.max_rate);
        }
        Ok(())
    }

    fn consume(&mut self, frame: Frame, _ctx: &Context) -> Result<(), PluginError> {
        self.lines.push((
            frame.frame_number(),
            frame.data_ptr() as usize,
            checksum(frame.bytes()),
        ));
        if self.settings.hold_all {
            self.held.push(frame);
        }
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        ctx.set_counter("offered", ctx.input_frames_offered());
        for (f, line) in self.held.iter().zip(&self.lines) {
            if checksum(f.bytes()) != line.2 {
                return Err(PluginError::new(format!(
                    "frame {} changed while held",
                    line.0
                )));
            }
        }
        let mut out = std::fs::File::create(&self.settings.path)
            .map_err(|e| PluginError::new(format!("create {}: {e}", self.settings.path)))?;
        for (n, p, c) in &self.lines {
            writeln!(out, "{n} {p:#x} {c:#x}").map_err(|e| PluginError::new(e.to_string()))?;
        }
        // Held frames are released when the instance is destroyed, after every node has
        // finished, so they stay shared for the whole run.
        Ok(())
    }
}

daqflow_sdk::export_plugin!(sink Probe, name = "probe", description = "Test sink recording frame addresses");

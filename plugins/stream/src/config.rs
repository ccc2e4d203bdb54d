//! Settings of the `stream` sink: the user reference shown by `daqflow plugins`, with
//! named defaults. Run state lives in `sink.rs`.

use daqflow_sdk::prelude::*;

/// Settings of the `stream` sink.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "daqflow_sdk::schemars")]
pub struct Settings {
    /// One address to publish on (ZeroMQ PUSH, bound): `"tcp://*:31001"`. Use this or
    /// `endpoints`.
    #[serde(default)]
    pub bind: Option<String>,
    /// Several addresses, one PUSH socket each, for several receivers: frames go in
    /// blocks of `block_frames` by frame number (receiver = frame_number / block_frames
    /// mod N), start and end messages go to all of them.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Frames per block when spreading over `endpoints`.
    #[serde(default = "default_block_frames")]
    pub block_frames: u64,
    /// Name of the channel in image messages (`data` map key), as an EIGER2 names its
    /// first threshold.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Series number of frames that carry no `series_id` (a simulator); the next format
    /// starts the next number.
    #[serde(default = "default_series_id")]
    pub series_id: u64,
    /// ZeroMQ send high-water mark per endpoint, in messages: beyond it the sink waits
    /// for its receiver (back-pressure, never a drop).
    #[serde(default = "default_sndhwm")]
    pub sndhwm: i32,
    /// At stop: how long to wait for a receiver to take the remaining messages and the
    /// end message before giving up (the frames not delivered are counted as lost).
    #[serde(default = "default_stop_timeout_ms")]
    pub stop_timeout_ms: u64,
}

fn default_block_frames() -> u64 {
    1
}
fn default_channel() -> String {
    "threshold_1".to_owned()
}
fn default_series_id() -> u64 {
    1
}
fn default_sndhwm() -> i32 {
    16
}
fn default_stop_timeout_ms() -> u64 {
    10_000
}

impl Settings {
    /// Every address to bind, in receiver order.
    pub fn addresses(&self) -> Vec<String> {
        let mut v: Vec<String> = self.bind.iter().cloned().collect();
        v.extend(self.endpoints.iter().cloned());
        v
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        match (&self.bind, self.endpoints.is_empty()) {
            (None, true) => errors.push(SettingsError::new(
                "bind",
                "missing: set `bind = \"tcp://*:31001\"` or `endpoints = [...]`",
            )),
            (Some(_), false) => errors.push(SettingsError::new(
                "endpoints",
                "set either `bind` or `endpoints`, not both",
            )),
            _ => {}
        }
        let addrs = self.addresses();
        for (i, a) in addrs.iter().enumerate() {
            let field = if self.bind.is_some() {
                "bind"
            } else {
                "endpoints"
            };
            if !["tcp://", "ipc://", "inproc://"]
                .iter()
                .any(|p| a.starts_with(p))
            {
                errors.push(SettingsError::new(
                    field,
                    format!("`{a}` is not a ZeroMQ address; write it like \"tcp://*:31001\""),
                ));
            }
            if addrs[..i].contains(a) {
                errors.push(SettingsError::new(field, format!("`{a}` is listed twice")));
            }
        }
        if self.block_frames == 0 {
            errors.push(SettingsError::new("block_frames", "must be at least 1"));
        }
        if self.channel.is_empty() {
            errors.push(SettingsError::new("channel", "must not be empty"));
        }
        if self.sndhwm < 1 {
            errors.push(SettingsError::new("sndhwm", "must be at least 1"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

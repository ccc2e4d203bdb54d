//! Settings of the `dectris` source: the user reference shown by `daqflow plugins`, with
//! named defaults. Run state lives in `source.rs`.

use daqflow_sdk::prelude::*;

/// Which DECTRIS stream the detector sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "daqflow_sdk::schemars")]
pub enum Protocol {
    /// Stream v2 (SIMPLON `format = cbor`, port 31001): one CBOR message per start, image
    /// and end.
    Stream2,
    /// Stream v1 (SIMPLON `format = legacy`, port 9999): multipart JSON headers + blobs.
    Legacy,
}

/// How much of a compressed image is checked before it is passed on (compressed images
/// are never decompressed on their way to the sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "daqflow_sdk::schemars")]
pub enum Verify {
    /// The chunk's header and block lengths (cheap: catches truncated and mis-sized
    /// chunks, not corrupt LZ4 inside a block).
    Framing,
    /// Decode every image into a scratch buffer (costs one decompression per image;
    /// catches corrupt LZ4 data too).
    Decode,
}

/// Settings of the `dectris` source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "daqflow_sdk::schemars")]
pub struct Settings {
    /// The detector's stream endpoint, connected with a ZeroMQ PULL socket:
    /// `tcp://eiger-dcu:31001` (v2) or `tcp://eiger-dcu:9999` (v1).
    pub endpoint: String,
    /// `"stream2"` (CBOR, the default) or `"legacy"` (v1 multipart JSON).
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// End the run after this many series (an end message, or a start that begins the
    /// next one). Default: run until stopped (Ctrl-C, `stop_after_*`).
    #[serde(default)]
    pub series: Option<u64>,
    /// Channel (threshold) of a stream v2 image to pass on, e.g. `"threshold_1"`.
    /// Default: the first channel of the image's `data` map. Other channels are counted
    /// as `channels_skipped`.
    #[serde(default)]
    pub channel: Option<String>,
    /// ZeroMQ receive high-water mark, in messages: how many messages libzmq queues
    /// before the sender blocks (bounds this process's memory together with the pool).
    #[serde(default = "default_rcvhwm")]
    pub rcvhwm: i32,
    /// How often the source wakes while no message arrives, to notice a stop (Ctrl-C).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Log a line when no message has arrived for this long (sender gone or idle).
    #[serde(default = "default_idle_log_secs")]
    pub idle_log_secs: u64,
    /// Check of compressed images: `"framing"` (default) or `"decode"`.
    #[serde(default = "default_verify")]
    pub verify: Verify,
}

fn default_protocol() -> Protocol {
    Protocol::Stream2
}
fn default_rcvhwm() -> i32 {
    16
}
fn default_poll_ms() -> u64 {
    100
}
fn default_idle_log_secs() -> u64 {
    10
}
fn default_verify() -> Verify {
    Verify::Framing
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let scheme_ok = ["tcp://", "ipc://", "inproc://"]
            .iter()
            .any(|p| self.endpoint.starts_with(p));
        if !scheme_ok || self.endpoint.contains('*') {
            errors.push(SettingsError::new(
                "endpoint",
                format!(
                    "`{}` is not an address to connect to; write it like \"tcp://eiger-dcu:31001\"",
                    self.endpoint
                ),
            ));
        }
        if self.series == Some(0) {
            errors.push(SettingsError::new(
                "series",
                "must be at least 1 (leave it out to run until stopped)",
            ));
        }
        if self.rcvhwm < 1 {
            errors.push(SettingsError::new("rcvhwm", "must be at least 1"));
        }
        if !(1..=5000).contains(&self.poll_ms) {
            errors.push(SettingsError::new("poll_ms", "must be 1..=5000"));
        }
        if self.idle_log_secs == 0 {
            errors.push(SettingsError::new("idle_log_secs", "must be at least 1"));
        }
        if self.channel.is_some() && self.protocol == Protocol::Legacy {
            errors.push(SettingsError::new(
                "channel",
                "stream v1 (legacy) has one channel; remove `channel`",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

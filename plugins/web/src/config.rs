//! The `web` sink's settings: the node's TOML table (minus `plugin`, `inputs`, `queue`),
//! a `///` doc and a named default for every field — the user reference that
//! `daqflow plugins web` prints — and their checks.

use std::net::SocketAddr;

use daqflow_display::{Colormap, Scale};
use daqflow_sdk::prelude::*;

/// How the server paces frames to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// Each client holds at most `credit_frames` unacknowledged frames; a new frame is
    /// sent only after the browser has painted one (never a backlog).
    #[default]
    Credit,
    /// Push each new frame as soon as the socket takes it, without acknowledgements: only
    /// for benchmarks (the baseline that shows what the credit buys).
    None,
}

/// Settings of the `web` sink.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address and port to listen on. The loopback default suits `ssh -L 8080:localhost:8080`;
    /// any other address requires a token. Port 0 picks a free port (logged).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Access token, required in the URL (`?token=…`) when set. With a non-loopback
    /// `bind` and no token, one is generated and the ready-to-open URL is logged.
    #[serde(default)]
    pub token: Option<String>,
    /// Extra `Host` names the page may be reached by (a reverse proxy's name); loopback
    /// names are always accepted on a loopback `bind`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Extra `Origin`s allowed to open the WebSocket (`"https://proxy.example.org"`);
    /// the page's own origin always is.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Most browsers connected at once; the next one gets a clear message instead.
    #[serde(default = "default_max_clients")]
    pub max_clients: u32,
    /// Frames in flight per client (sent, not yet painted), 1 to 4.
    #[serde(default = "default_credit_frames")]
    pub credit_frames: u32,
    /// "credit" (the default) or "none" (benchmarks only: push without acknowledgements).
    #[serde(default)]
    pub flow_control: FlowControl,
    /// Most frames a second sent to one client.
    #[serde(default = "default_max_fps")]
    pub max_fps: f64,
    /// In automatic quality, a client gets exact (lossless) frames while its measured
    /// goodput carries at least this many of them a second, otherwise 8-bit JPEG.
    #[serde(default = "default_lossless_min_fps")]
    pub lossless_min_fps: f64,
    /// Lossless frames go raw (neither shuffled nor deflated: no CPU on either end) on
    /// links that carry this many raw frames a second; 0 = always raw (a fast LAN), a
    /// huge number (1e9) = always deflated.
    #[serde(default = "default_raw_min_fps")]
    pub raw_min_fps: f64,
    /// JPEG quality of lossy frames, 1–100.
    #[serde(default = "default_jpeg_quality")]
    pub jpeg_quality: u8,
    /// CPU time the server may spend preparing and encoding frames for browsers, in
    /// percent of one core (shared by all clients): above it, browsers get frames less
    /// often, and acquisition keeps its cores.
    #[serde(default = "default_max_cpu_pct")]
    pub max_cpu_pct: f64,
    /// Longest side, in pixels, of what a client may ask for (its canvas or zoomed
    /// region): bounds the server's memory and CPU per client.
    #[serde(default = "default_max_side_px")]
    pub max_side_px: u32,
    /// Initial colormap of the page: "gray", "viridis", "magma" or "inferno".
    #[serde(default)]
    pub colormap: Colormap,
    /// Initial reversed colormap.
    #[serde(default)]
    pub reversed: bool,
    /// Initial intensity scale: "linear" or "log".
    #[serde(default)]
    pub scale: Scale,
    /// Page title; default "daqflow — <node name>".
    #[serde(default)]
    pub title: Option<String>,
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_clients() -> u32 {
    8
}
fn default_credit_frames() -> u32 {
    2
}
fn default_max_fps() -> f64 {
    60.0
}
fn default_lossless_min_fps() -> f64 {
    10.0
}
fn default_raw_min_fps() -> f64 {
    30.0
}
fn default_jpeg_quality() -> u8 {
    85
}
fn default_max_cpu_pct() -> f64 {
    30.0
}
fn default_max_side_px() -> u32 {
    4096
}

impl Default for Settings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl Settings {
    /// The listening address (checked by `validate`).
    pub fn addr(&self) -> Result<SocketAddr, PluginError> {
        self.bind
            .parse()
            .map_err(|e| PluginError::new(format!("bind = {:?}: {e}", self.bind)))
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut bad =
            |field: &str, message: String| errors.push(SettingsError::new(field, message));
        if let Err(e) = self.bind.parse::<SocketAddr>() {
            bad(
                "bind",
                format!(
                    "{:?}: {e}; write an IP address and port, e.g. \"127.0.0.1:8080\" or \
                     \"0.0.0.0:8080\"",
                    self.bind
                ),
            );
        }
        if !(1..=4).contains(&self.credit_frames) {
            bad(
                "credit_frames",
                format!(
                    "must be 1 to 4 (frames in flight per client), got {}",
                    self.credit_frames
                ),
            );
        }
        if self.max_clients == 0 {
            bad("max_clients", "must be at least 1".into());
        }
        for (name, v) in [
            ("max_fps", self.max_fps),
            ("lossless_min_fps", self.lossless_min_fps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bad(
                    name,
                    format!("must be a positive number of frames a second, got {v}"),
                );
            }
        }
        if !(self.raw_min_fps.is_finite() && self.raw_min_fps >= 0.0) {
            bad(
                "raw_min_fps",
                format!(
                    "must be 0 (always raw) or a number of frames a second, got {}",
                    self.raw_min_fps
                ),
            );
        }
        if !(self.max_cpu_pct.is_finite() && self.max_cpu_pct >= 1.0) {
            bad(
                "max_cpu_pct",
                format!(
                    "must be at least 1 (percent of one core), got {}",
                    self.max_cpu_pct
                ),
            );
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            bad(
                "jpeg_quality",
                format!("must be 1 to 100, got {}", self.jpeg_quality),
            );
        }
        if !(16..=16384).contains(&self.max_side_px) {
            bad(
                "max_side_px",
                format!("must be 16 to 16384, got {}", self.max_side_px),
            );
        }
        if let Some(t) = &self.token
            && (t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)))
        {
            bad(
                "token",
                "use letters, digits and - _ . ~ only (it goes in a URL), at least one".into(),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use daqflow_sdk::serde_json::json;
    use daqflow_sdk::testing::Harness;

    use crate::daqflow_plugin_entry;

    #[test]
    fn bad_numbers_are_named() {
        for (field, value) in [
            ("raw_min_fps", json!(-1.0)),
            ("lossless_min_fps", json!(0)),
            ("max_cpu_pct", json!(0.5)),
            ("jpeg_quality", json!(0)),
            ("credit_frames", json!(9)),
        ] {
            let e = Harness::validate(daqflow_plugin_entry, json!({ field: value })).unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].field, field, "{e:?}");
        }
        for ok in [0.0, 30.0, 1e9] {
            Harness::validate(daqflow_plugin_entry, json!({ "raw_min_fps": ok })).unwrap();
        }
    }
}

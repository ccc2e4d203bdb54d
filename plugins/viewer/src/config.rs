//! The viewer's settings: the node's TOML table (minus `plugin`, `inputs`, `queue`), with
//! a `///` doc and a named default for every field — this is the user reference that
//! `daqflow plugins` prints.

use daqflow_sdk::prelude::*;

use daqflow_display::{Colormap, ContrastMode, Scale, ViewState};

/// Where the viewer shows frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A window when a display (`DISPLAY` or `WAYLAND_DISPLAY`) and a GPU adapter work,
    /// otherwise headless (logged once at start).
    #[default]
    Auto,
    /// A window; the node fails to start if it cannot open one.
    Window,
    /// No window: render offscreen and write PNG snapshots.
    Headless,
}

/// Settings of the `viewer` sink.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Colormap: "gray", "viridis", "magma" or "inferno".
    #[serde(default)]
    pub colormap: Colormap,
    /// Run the colormap backwards (bright ↔ dark).
    #[serde(default)]
    pub reversed: bool,
    /// Contrast window: "minmax" (the frame's full range), "percentile" (between
    /// `percentile_low_pct` and `percentile_high_pct` of the frame's pixels) or "manual"
    /// (`contrast_min` to `contrast_max`).
    #[serde(default)]
    pub contrast: ContrastMode,
    /// Lower percentile of the "percentile" contrast, in percent.
    #[serde(default = "default_percentile_low_pct")]
    pub percentile_low_pct: f64,
    /// Upper percentile of the "percentile" contrast, in percent.
    #[serde(default = "default_percentile_high_pct")]
    pub percentile_high_pct: f64,
    /// Raw value shown as the bottom of the colormap with `contrast = "manual"` (required
    /// there). Also the initial manual range in the window.
    #[serde(default)]
    pub contrast_min: Option<f64>,
    /// Raw value shown as the top of the colormap with `contrast = "manual"` (required
    /// there).
    #[serde(default)]
    pub contrast_max: Option<f64>,
    /// Intensity scale: "linear" or "log".
    #[serde(default)]
    pub scale: Scale,
    /// Window title; default "daqflow viewer — <node name>".
    #[serde(default)]
    pub title: Option<String>,
    /// Highest repaint rate of the window, in frames per second.
    #[serde(default = "default_max_fps")]
    pub max_fps: f64,
    /// Highest repaint rate when the adapter is a CPU rasteriser (lavapipe, llvmpipe),
    /// so that drawing does not take the cores acquisition needs.
    #[serde(default = "default_cpu_adapter_max_fps")]
    pub cpu_adapter_max_fps: f64,
    /// "auto", "window" or "headless".
    #[serde(default)]
    pub mode: Mode,
    /// Headless: the PNG file to write. `{node}` becomes the node name and `{frame}` the
    /// frame number (without `{frame}` each snapshot replaces the previous one, atomically).
    #[serde(default = "default_snapshot_path")]
    pub snapshot_path: String,
    /// Headless: write a snapshot of the newest frame each time this many frames have
    /// reached the viewer since the last one; 0 = only on stop.
    #[serde(default)]
    pub snapshot_every_frames: u64,
    /// Headless: write a snapshot of the last frame when the pipeline stops.
    #[serde(default = "default_true")]
    pub snapshot_on_stop: bool,
    /// Headless: longest side of a snapshot in pixels; larger frames are scaled down to fit
    /// (nearest neighbour), smaller ones are written 1:1.
    #[serde(default = "default_snapshot_max_px")]
    pub snapshot_max_px: u32,
    /// Window: closing it stops the whole pipeline in order (true) or only the viewer,
    /// while acquisition and recording go on (false).
    #[serde(default)]
    pub close_stops_pipeline: bool,
    /// Window: initial size in logical pixels, [width, height].
    #[serde(default = "default_window_size")]
    pub window_size: [u32; 2],
}

fn default_percentile_low_pct() -> f64 {
    0.5
}
fn default_percentile_high_pct() -> f64 {
    99.5
}
fn default_max_fps() -> f64 {
    60.0
}
fn default_cpu_adapter_max_fps() -> f64 {
    30.0
}
fn default_snapshot_path() -> String {
    "{node}.png".into()
}
fn default_true() -> bool {
    true
}
fn default_snapshot_max_px() -> u32 {
    1024
}
fn default_window_size() -> [u32; 2] {
    [1280, 900]
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            colormap: Colormap::default(),
            reversed: false,
            contrast: ContrastMode::default(),
            percentile_low_pct: default_percentile_low_pct(),
            percentile_high_pct: default_percentile_high_pct(),
            contrast_min: None,
            contrast_max: None,
            scale: Scale::default(),
            title: None,
            max_fps: default_max_fps(),
            cpu_adapter_max_fps: default_cpu_adapter_max_fps(),
            mode: Mode::default(),
            snapshot_path: default_snapshot_path(),
            snapshot_every_frames: 0,
            snapshot_on_stop: true,
            snapshot_max_px: default_snapshot_max_px(),
            close_stops_pipeline: false,
            window_size: default_window_size(),
        }
    }
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let pct = 0.0..=100.0;
        if !pct.contains(&self.percentile_low_pct) {
            errors.push(SettingsError::new(
                "percentile_low_pct",
                format!("must be within 0..=100, got {}", self.percentile_low_pct),
            ));
        }
        if !pct.contains(&self.percentile_high_pct) {
            errors.push(SettingsError::new(
                "percentile_high_pct",
                format!("must be within 0..=100, got {}", self.percentile_high_pct),
            ));
        }
        if self.percentile_low_pct >= self.percentile_high_pct {
            errors.push(SettingsError::new(
                "percentile_high_pct",
                format!(
                    "must be above percentile_low_pct ({} >= {})",
                    self.percentile_low_pct, self.percentile_high_pct
                ),
            ));
        }
        match (self.contrast_min, self.contrast_max) {
            (Some(lo), Some(hi)) if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) => errors
                .push(SettingsError::new(
                    "contrast_max",
                    format!("must be above contrast_min ({lo} >= {hi})"),
                )),
            (None, _) | (_, None) if self.contrast == ContrastMode::Manual => {
                errors.push(SettingsError::new(
                    "contrast",
                    "\"manual\" needs both contrast_min and contrast_max",
                ))
            }
            _ => {}
        }
        for (field, v) in [
            ("max_fps", self.max_fps),
            ("cpu_adapter_max_fps", self.cpu_adapter_max_fps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                errors.push(SettingsError::new(field, format!("must be > 0, got {v}")));
            }
        }
        if self.snapshot_path.is_empty() {
            errors.push(SettingsError::new("snapshot_path", "must not be empty"));
        }
        if !(16..=16384).contains(&self.snapshot_max_px) {
            errors.push(SettingsError::new(
                "snapshot_max_px",
                format!("must be within 16..=16384, got {}", self.snapshot_max_px),
            ));
        }
        if self.window_size.iter().any(|&s| !(64..=16384).contains(&s)) {
            errors.push(SettingsError::new(
                "window_size",
                format!(
                    "each side must be within 64..=16384, got {:?}",
                    self.window_size
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Settings {
    /// The snapshot file for `frame_number` written by node `node`.
    pub fn snapshot_file(&self, node: &str, frame_number: u64) -> std::path::PathBuf {
        self.snapshot_path
            .replace("{node}", node)
            .replace("{frame}", &format!("{frame_number:08}"))
            .into()
    }

    /// The initial display choices (the window's controls change them later).
    pub fn view_state(&self) -> ViewState {
        ViewState {
            colormap: self.colormap,
            reversed: self.reversed,
            scale: self.scale,
            contrast: self.contrast,
            percentiles: (self.percentile_low_pct, self.percentile_high_pct),
            manual: self.contrast_min.zip(self.contrast_max),
        }
    }

    /// The repaint cap for an adapter: `max_fps`, or the lower CPU-adapter cap.
    pub fn fps_cap(&self, cpu_adapter: bool) -> f64 {
        if cpu_adapter {
            self.max_fps.min(self.cpu_adapter_max_fps)
        } else {
            self.max_fps
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_like_json: serde_json::Value) -> Result<Settings, String> {
        let s: Settings = serde_json::from_value(toml_like_json).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| {
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(s)
    }

    #[test]
    fn defaults() {
        let s = parse(serde_json::json!({})).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.mode, Mode::Auto);
        assert_eq!(s.contrast, ContrastMode::Percentile);
        assert_eq!(
            s.snapshot_file("view", 12),
            std::path::PathBuf::from("view.png")
        );
        assert_eq!(s.fps_cap(true), 30.0);
        assert_eq!(s.fps_cap(false), 60.0);
    }

    #[test]
    fn every_setting_parses() {
        let s = parse(serde_json::json!({
            "colormap": "inferno", "reversed": true, "contrast": "manual",
            "contrast_min": 10.0, "contrast_max": 100.0, "scale": "log", "title": "t",
            "max_fps": 20.0, "mode": "headless", "snapshot_path": "out/{node}-{frame}.png",
            "snapshot_every_frames": 5, "snapshot_on_stop": false, "close_stops_pipeline": true,
            "percentile_low_pct": 1.0, "percentile_high_pct": 99.0, "snapshot_max_px": 256,
            "cpu_adapter_max_fps": 10.0, "window_size": [800, 600]
        }))
        .unwrap();
        assert_eq!(s.colormap, Colormap::Inferno);
        assert_eq!(
            s.snapshot_file("v", 42),
            std::path::PathBuf::from("out/v-00000042.png")
        );
        assert_eq!(s.fps_cap(true), 10.0);
    }

    #[test]
    fn errors_name_the_field_and_come_all_at_once() {
        let e = parse(serde_json::json!({
            "contrast": "manual", "percentile_low_pct": 150.0, "max_fps": 0.0
        }))
        .unwrap_err();
        assert!(e.contains("percentile_low_pct"), "{e}");
        assert!(e.contains("contrast"), "{e}");
        assert!(e.contains("max_fps"), "{e}");
        let e = parse(serde_json::json!({"colourmap": "gray"})).unwrap_err();
        assert!(e.contains("colourmap"), "{e}");
        let e = parse(serde_json::json!({"colormap": "jet"})).unwrap_err();
        assert!(e.contains("jet"), "{e}");
    }
}

//! Settings of `stats` (the user reference `daqflow plugins` prints) and the metadata keys
//! it writes.

use daqflow_sdk::prelude::*;

/// Settings of `stats`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Also count the pixels strictly above this level, as `stats_count_above`
    /// (absent: not computed, and the key is not written).
    #[serde(default)]
    pub above: Option<f64>,
    /// Log one line with the latest statistics at most this often, in seconds;
    /// 0 (the default): never. With `workers = N` each worker logs at this pace.
    #[serde(default)]
    pub print_every_secs: f64,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        if let Some(a) = self.above
            && !a.is_finite()
        {
            errors.push(SettingsError::new("above", "must be a finite number"));
        }
        if !(self.print_every_secs.is_finite() && self.print_every_secs >= 0.0) {
            errors.push(SettingsError::new(
                "print_every_secs",
                format!(
                    "must be a number of seconds >= 0 (0 = never), got {}",
                    self.print_every_secs
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

/// `Σ p` (f64).
pub const KEY_SUM: &str = "stats_sum";
/// `Σ p / pixels` (f64).
pub const KEY_MEAN: &str = "stats_mean";
/// Smallest pixel (f64; exact for every dtype).
pub const KEY_MIN: &str = "stats_min";
/// Largest pixel (f64; exact for every dtype).
pub const KEY_MAX: &str = "stats_max";
/// Population standard deviation (f64).
pub const KEY_STD: &str = "stats_std";
/// Intensity-weighted mean column (f64; NaN when the sum is 0).
pub const KEY_CENTROID_X: &str = "stats_centroid_x";
/// Intensity-weighted mean row (f64; NaN when the sum is 0).
pub const KEY_CENTROID_Y: &str = "stats_centroid_y";
/// Pixels strictly above `above` (i64; only with `above`).
pub const KEY_COUNT_ABOVE: &str = "stats_count_above";

/// The keys written on every frame, in order (plus [`KEY_COUNT_ABOVE`] with `above`).
pub const KEYS: [&str; 7] = [
    KEY_SUM,
    KEY_MEAN,
    KEY_MIN,
    KEY_MAX,
    KEY_STD,
    KEY_CENTROID_X,
    KEY_CENTROID_Y,
];

//! Settings of `throttle` (the user reference `daqflow plugins` prints): exactly one of
//! `max_rate_hz` and `every_nth`.

use daqflow_sdk::prelude::*;

/// Settings of `throttle`. Set exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Pass at most this many frames per second, measured on the clock of their arrival
    /// (like areaDetector's MinCallbackTime, as 1/rate): time is cut into slots of
    /// 1/max_rate_hz, and the first frame of a slot passes. Input at or below the rate
    /// passes whole (arrival jitter of up to half a slot is tolerated).
    #[serde(default)]
    pub max_rate_hz: Option<f64>,
    /// Pass the first frame and then every n-th one after it (counted in arrival order,
    /// not by frame number); 1 passes every frame.
    #[serde(default)]
    pub every_nth: Option<u64>,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        match (self.max_rate_hz, self.every_nth) {
            (Some(_), Some(_)) => errors.push(SettingsError::new(
                "every_nth",
                "set either `max_rate_hz` or `every_nth`, not both",
            )),
            (None, None) => errors.push(SettingsError::new(
                "",
                "set one of `max_rate_hz` (frames per second) or `every_nth` (1 frame in n)",
            )),
            _ => {}
        }
        if let Some(r) = self.max_rate_hz
            && !(r.is_finite() && r > 0.0)
        {
            errors.push(SettingsError::new(
                "max_rate_hz",
                format!("must be a rate > 0 frames per second, got {r}"),
            ));
        }
        if self.every_nth == Some(0) {
            errors.push(SettingsError::new(
                "every_nth",
                "must be at least 1 (1 passes every frame)",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

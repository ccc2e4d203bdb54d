//! `identity`: a filter that passes every frame on untouched — the framework's per-hop
//! cost with no work in the plugin (benchmarks).

use daqflow_sdk::prelude::*;

/// No settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl PluginSettings for Settings {}

/// The filter.
pub struct Identity;

impl Filter for Identity {
    type Settings = Settings;

    fn create(_: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Identity)
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        ctx.emit(frame)
    }
}

daqflow_sdk::export_plugin!(filter Identity, name = "identity", description = "Passes frames on untouched");

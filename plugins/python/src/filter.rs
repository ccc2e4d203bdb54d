//! The `python` filter: the function's result goes downstream.

use daqflow_sdk::prelude::*;

use crate::config::Settings;
use crate::node::{Outcome, PyNode};

/// A Python function on every frame, as a filter.
pub struct PythonFilter {
    node: PyNode,
}

/// Compressed frames are refused at validate: the function works on pixels.
pub(crate) fn refuse_encoded(input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
    if input.encoding.is_raw() {
        return Ok(());
    }
    Err(vec![SettingsError::new(
        "",
        format!(
            "the Python node takes raw pixels, not {} frames; place it before compression \
             (or decode first)",
            input.encoding
        ),
    )])
}

impl Filter for PythonFilter {
    type Settings = Settings;

    /// Raw frames only; what comes out depends on the function (unknown at validate).
    fn output_format(
        _settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        refuse_encoded(input)?;
        Ok(None)
    }

    fn parallel(settings: &Settings) -> bool {
        settings.parallel
    }

    fn create(settings: Settings, ctx: &Context) -> Result<Self, PluginError> {
        Ok(PythonFilter {
            node: PyNode::load(settings, ctx)?,
        })
    }

    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        self.node.setup()
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        match self.node.call(frame, true, ctx)? {
            Outcome::Emit(f) => ctx.emit(f),
            Outcome::Drop => Ok(()),
            Outcome::Skipped => {
                ctx.set_counter("frames_skipped", self.node.skipped());
                Ok(())
            }
        }
    }

    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        self.node.teardown()
    }
}

//! The `python_sink` sink: the function sees every frame, read-only; its return value is
//! ignored.

use daqflow_sdk::prelude::*;

use crate::config::Settings;
use crate::filter::refuse_encoded;
use crate::node::{Outcome, PyNode};

/// A Python function on every frame, as a sink.
pub struct PythonSink {
    node: PyNode,
}

impl Sink for PythonSink {
    type Settings = Settings;

    fn accepts(_settings: &Settings, input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
        refuse_encoded(input)
    }

    fn create(settings: Settings, ctx: &Context) -> Result<Self, PluginError> {
        Ok(PythonSink {
            node: PyNode::load(settings, ctx)?,
        })
    }

    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        self.node.setup()
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if let Outcome::Skipped = self.node.call(frame, false, ctx)? {
            ctx.set_counter("frames_skipped", self.node.skipped());
        }
        Ok(())
    }

    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        self.node.teardown()
    }
}

//! What a plugin author implements: one of [`Source`], [`Filter`], [`Sink`], plus a
//! settings struct implementing [`PluginSettings`]. Each trait also says what the node
//! does to frame formats (a source's output, a filter's mapping, a sink's acceptance),
//! which `daqflow validate` checks along the whole pipeline before the first frame.

use serde::de::DeserializeOwned;

use crate::abi;
use crate::context::Context;
use crate::error::{PluginError, SettingsError};
use crate::format::FrameFormat;
use crate::frame::Frame;

/// A plugin's settings: the node's TOML table minus `plugin`, `inputs` and `queue`.
///
/// Derive `Deserialize` with `#[serde(deny_unknown_fields)]` and `JsonSchema`; the `///`
/// doc of each field and its `#[serde(default = ...)]` are what `daqflow plugins` shows.
pub trait PluginSettings: DeserializeOwned + schemars::JsonSchema + Send + 'static {
    /// Range and cross-field checks after parsing. Return every problem at once.
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        Ok(())
    }
}

/// What a plugin needs from the lane feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum InputLane {
    /// Any policy.
    Any = abi::INPUT_ANY,
    /// Every frame (a file writer): `validate` refuses `latest` and `drop_*` lanes.
    Lossless = abi::INPUT_LOSSLESS,
    /// Only the newest frame matters (a viewer): the lane defaults to `latest`.
    PrefersLatest = abi::INPUT_PREFERS_LATEST,
}

/// What a source's [`Source::next`] says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Call `next` again (unless the pipeline is stopping).
    Continue,
    /// The stream has ended: the pipeline drains and stops.
    End,
}

/// A frame producer (a detector driver, a file replay, a simulator).
///
/// The core calls [`next`](Source::next) in a loop on the node's thread until it returns
/// [`Next::End`] or the pipeline stops. Inside, get buffers with [`Context::alloc`], fill
/// them and send them with [`Context::emit`]; both block for back-pressure.
pub trait Source: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// The format of the frames this source will produce with `settings`, for
    /// `daqflow validate` and for the sinks' start. `None`: known only at run time (a
    /// network detector learns its geometry from its stream): the frames announce it, and
    /// every downstream node is told before the first frame of each new format.
    fn output_format(_settings: &Self::Settings) -> Option<FrameFormat> {
        None
    }
    /// Builds the instance from checked settings; acquire nothing yet.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// Opens the device; called after every downstream node has started.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Produces zero or more frames. Return promptly when [`Context::should_stop`].
    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError>;
    /// Closes the device.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A frame transformer: frames in, frames out (in place, or new frames of another shape).
pub trait Filter: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// What the filter needs from its input lane.
    const INPUT: InputLane = InputLane::Any;
    /// What the filter emits for frames of `input`: `Ok(Some(format))`, or `Ok(None)`
    /// when that is not known before the frames arrive (the default; then downstream
    /// formats are unknown at `validate`). Refuse a format the filter cannot take with one
    /// [`SettingsError`] per problem, naming the setting it concerns (so `validate` points
    /// at its line) and the fix: `"crop x + width = 4100 exceeds the input width 4096"`.
    /// Also checked at run time when a format is announced by the frames.
    fn output_format(
        _settings: &Self::Settings,
        _input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        Ok(None)
    }
    /// True when `process` depends on nothing but the frame it is given, so `workers = N`
    /// may run N instances side by side (the core keeps the output in input order). A
    /// filter that carries state from frame to frame (an average, a frame counter) keeps
    /// the default, `false`, and `validate` refuses `workers > 1` for it.
    fn parallel(_settings: &Self::Settings) -> bool {
        false
    }
    /// Builds the instance from checked settings.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// The format of the frames about to arrive: called before [`start`](Filter::start)
    /// when it is known from the pipeline file, and again before the first frame of every
    /// new format (a detector's new series). [`output_format`](Filter::output_format) has
    /// accepted it already.
    fn input_format(&mut self, _format: &FrameFormat, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Called once before the first frame.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Handles one frame; emit results with [`Context::emit`].
    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError>;
    /// Input is drained; emit anything still held.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A frame consumer (a file writer, a viewer, a network sender).
pub trait Sink: Sized + Send + 'static {
    /// The settings struct.
    type Settings: PluginSettings;
    /// What the sink needs from its input lane.
    const INPUT: InputLane = InputLane::Any;
    /// Refuses frames of `input` the sink cannot take, with one [`SettingsError`] per
    /// problem naming the setting it concerns and the fix. Default: accepts anything.
    /// Also checked at run time when a format is announced by the frames.
    fn accepts(_settings: &Self::Settings, _input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
        Ok(())
    }
    /// Builds the instance from checked settings; open nothing yet.
    fn create(settings: Self::Settings, ctx: &Context) -> Result<Self, PluginError>;
    /// The format of the frames about to arrive: called before [`start`](Sink::start) when
    /// it is known from the pipeline file (a file writer creates its dataset then, so even
    /// a run that ends before its first frame leaves a complete file), and again before the
    /// first frame of every new format (a writer may start a new file).
    fn input_format(&mut self, _format: &FrameFormat, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Opens files, windows; called before any upstream node starts.
    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
    /// Takes one frame. The [`Frame`] may be kept (sent to a worker thread) past the call.
    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError>;
    /// Input is drained: finish writing and close.
    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        Ok(())
    }
}

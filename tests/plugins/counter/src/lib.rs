//! `counter`: a second, trivial source (u8 frames whose every pixel is the frame number
//! mod 256), to test swapping the detector driver by editing one line of TOML.

use daqflow_sdk::prelude::*;

/// Settings of `counter`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Frames before the stream ends.
    #[serde(default = "default_frames")]
    pub frames: u64,
    /// Frame side in pixels.
    #[serde(default = "default_side")]
    pub side: u32,
    /// Ask for an LZ4-encoded frame of this many bytes instead (tests absurd sizes).
    #[serde(default)]
    pub encoded_len: Option<usize>,
    /// From this frame number on, frames are twice as wide (a new series of another
    /// geometry, announced by the frames themselves).
    #[serde(default)]
    pub widen_at: Option<u64>,
}

fn default_frames() -> u64 {
    10
}
fn default_side() -> u32 {
    16
}

impl PluginSettings for Settings {}

/// The source.
pub struct Counter {
    s: Settings,
    n: u64,
}

impl Source for Counter {
    type Settings = Settings;

    fn output_format(s: &Settings) -> Option<FrameFormat> {
        match s.encoded_len {
            Some(_) => None,
            None if s.widen_at.is_none() => Some(FrameFormat::raw(DType::U8, s.side, s.side)),
            None => None,
        }
    }

    fn create(s: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Counter { s, n: 0 })
    }

    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError> {
        if self.n >= self.s.frames {
            return Ok(Next::End);
        }
        if let Some(len) = self.s.encoded_len {
            let f = ctx.alloc_encoded(DType::U8, Encoding::Lz4, 1, 1, len)?;
            ctx.emit(f)?;
            return Ok(Next::End);
        }
        let width = match self.s.widen_at {
            Some(at) if self.n >= at => 2 * self.s.side,
            _ => self.s.side,
        };
        let mut f = ctx.alloc(DType::U8, width, self.s.side)?;
        f.set_frame_number(self.n);
        f.bytes_mut().fill(self.n as u8);
        f.set_meta("driver", MetaValue::Str("counter".into()))?;
        self.n += 1;
        ctx.emit(f)?;
        Ok(Next::Continue)
    }
}

daqflow_sdk::export_plugin!(source Counter, name = "counter", description = "Test source counting frames");

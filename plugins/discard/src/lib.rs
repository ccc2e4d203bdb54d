//! `discard`: a sink that counts and checks frames, then drops them. On a lossless lane it
//! checks that frame numbers are contiguous (a gap means frames were lost upstream, which
//! fails the node); `delay_ms` makes it a slow consumer for back-pressure tests.

use std::time::Duration;

use daqflow_sdk::prelude::*;

/// Settings of `discard`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Time spent on each frame, to play a slow consumer (milliseconds).
    #[serde(default)]
    pub delay_ms: u64,
    /// On a lossless lane, fail when frame numbers are not contiguous. Turn off when
    /// several sources feed this sink (their numbers interleave).
    #[serde(default = "default_true")]
    pub check_frame_numbers: bool,
}

fn default_true() -> bool {
    true
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        if self.delay_ms > 60_000 {
            return Err(vec![SettingsError::new(
                "delay_ms",
                "must be at most 60000 (one minute)",
            )]);
        }
        Ok(())
    }
}

/// Counting state.
pub struct Discard {
    settings: Settings,
    frames: u64,
    bytes: u64,
    gaps: u64,
    expected: Option<u64>,
    check: bool,
}

impl Sink for Discard {
    type Settings = Settings;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Discard {
            settings,
            frames: 0,
            bytes: 0,
            gaps: 0,
            expected: None,
            check: false,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.check = self.settings.check_frame_numbers && ctx.input_is_lossless();
        Ok(())
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if self.settings.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.settings.delay_ms));
        }
        let n = frame.frame_number();
        if let Some(expected) = self.expected
            && n != expected
        {
            self.gaps += 1;
            ctx.set_counter("gaps", self.gaps);
            if self.check {
                return Err(PluginError::new(format!(
                    "frame numbers jumped from {} to {n} on a lossless lane: frames were lost upstream",
                    expected.wrapping_sub(1)
                )));
            }
        }
        self.expected = Some(n + 1);
        self.frames += 1;
        self.bytes += frame.bytes().len() as u64;
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        ctx.set_counter("frames", self.frames);
        ctx.set_counter("bytes", self.bytes);
        ctx.set_counter("gaps", self.gaps);
        if let Some(e) = self.expected {
            ctx.set_counter("last_frame_number", e - 1);
        }
        log::debug!("discarded {} frames ({} bytes)", self.frames, self.bytes);
        Ok(())
    }
}

daqflow_sdk::export_plugin!(
    sink Discard,
    name = "discard",
    description = "Counts and checks frames, then drops them (a test and benchmark sink)"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::Array2;
    use daqflow_sdk::serde_json::json;
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn counts_and_detects_gaps() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
        h.start().unwrap();
        let a = Array2::<u16>::zeros((2, 3));
        h.push(h.frame_from(&a.view(), 0)).unwrap();
        h.push(h.frame_from(&a.view(), 1)).unwrap();
        let e = h.push(h.frame_from(&a.view(), 3)).unwrap_err();
        assert!(e.contains("jumped from 1 to 3"), "{e}");
        h.stop().unwrap();
        assert_eq!(h.counter("frames"), Some(2));
        assert_eq!(h.counter("bytes"), Some(24));
    }

    #[test]
    fn gaps_allowed_when_unchecked() {
        let mut h =
            Harness::new(daqflow_plugin_entry, json!({"check_frame_numbers": false})).unwrap();
        h.start().unwrap();
        let a = Array2::<u8>::zeros((1, 1));
        h.push(h.frame_from(&a.view(), 0)).unwrap();
        h.push(h.frame_from(&a.view(), 5)).unwrap();
        h.stop().unwrap();
        assert_eq!(h.counter("gaps"), Some(1));
    }
}

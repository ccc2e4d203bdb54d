//! `threshold`: pixels below `level` become 0. Works in place when the frame is unique;
//! when the frame is shared with another consumer (fan-out), the core copies it first
//! (copy-on-write), so the other consumer still sees the original.

use daqflow_sdk::prelude::*;

/// Settings of `threshold`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Pixels strictly below this value are set to 0 (compared in the frame's own type;
    /// a fractional level on integer frames rounds up).
    pub level: f64,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        if !self.level.is_finite() {
            return Err(vec![SettingsError::new("level", "must be a finite number")]);
        }
        Ok(())
    }
}

/// The filter.
pub struct Threshold {
    level: f64,
}

/// Zeroes the pixels of `frame` below `level` (in `T`'s own range: a fractional level on
/// integer pixels rounds up, one beyond the range clamps to it).
fn apply<T: Pixel>(frame: &mut FrameMut, level: f64) -> Result<(), PluginError> {
    let level = if T::DTYPE.is_integer() {
        T::from_f64(level.ceil())
    } else {
        T::from_f64(level)
    };
    frame
        .view_mut::<T>()?
        .mapv_inplace(|p| if p < level { T::default() } else { p });
    Ok(())
}

impl Filter for Threshold {
    type Settings = Settings;

    /// Same frames out as in; compressed frames are refused.
    fn output_format(
        _settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "threshold needs raw pixels, not {} frames; decode them first or threshold before compressing",
                    input.encoding
                ),
            )]);
        }
        Ok(Some(*input))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Threshold {
            level: settings.level,
        })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if frame.encoding() != Encoding::Raw {
            return Err(PluginError::new(format!(
                "frame {} is compressed ({:?}); threshold needs raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        let mut f = frame.into_mut(ctx)?;
        daqflow_sdk::dispatch_dtype!(f.dtype(), T => apply::<T>(&mut f, self.level))?;
        ctx.emit(f)
    }
}

daqflow_sdk::export_plugin!(
    filter Threshold,
    name = "threshold",
    description = "Zeroes pixels below a level (in place, copy-on-write when shared)"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::arr2;
    use daqflow_sdk::serde_json::json;
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn in_place_when_unique() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"level": 10})).unwrap();
        let input = h.frame_from(&arr2(&[[5u16, 20], [10, 3]]).view(), 4);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u16>().unwrap(), arr2(&[[0u16, 20], [10, 0]]));
        assert_eq!(out[0].frame_number(), 4);
        assert_eq!(out[0].data_ptr(), ptr, "unique frame changed in place");
        assert_eq!(h.copies(), 0);
    }

    #[test]
    fn copy_on_write_when_shared() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"level": 1.5})).unwrap();
        let input = h.frame_from(&arr2(&[[1.0f32, 2.0]]).view(), 0);
        let other_holder = input.clone();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<f32>().unwrap(), arr2(&[[0.0f32, 2.0]]));
        assert_eq!(
            other_holder.view::<f32>().unwrap(),
            arr2(&[[1.0f32, 2.0]]),
            "shared frame untouched"
        );
        assert_ne!(out[0].data_ptr(), other_holder.data_ptr());
        assert_eq!(h.copies(), 1);
    }

    #[test]
    fn all_dtypes() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"level": 100})).unwrap();
        h.push(h.frame_from(&arr2(&[[99u8, 100]]).view(), 0))
            .unwrap();
        h.push(h.frame_from(&arr2(&[[99u32, 100]]).view(), 1))
            .unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[0u8, 100]]));
        assert_eq!(out[1].view::<u32>().unwrap(), arr2(&[[0u32, 100]]));
    }

    #[test]
    fn keeps_the_format_and_refuses_compressed_frames() {
        let raw = FrameFormat::raw(DType::U16, 8, 4).with_rate(Some(10.0));
        let out = Harness::output_format(daqflow_plugin_entry, json!({"level": 1}), Some(&raw));
        assert_eq!(out, Ok(Some(raw)));
        let mut packed = raw;
        packed.encoding = Encoding::BsLz4;
        let e = Harness::output_format(daqflow_plugin_entry, json!({"level": 1}), Some(&packed))
            .unwrap_err();
        assert!(e[0].message.contains("raw pixels"), "{e:?}");
        assert!(Harness::parallel(daqflow_plugin_entry, json!({"level": 1})));
    }

    #[test]
    fn level_is_required() {
        let e = Harness::validate(daqflow_plugin_entry, json!({})).unwrap_err();
        assert_eq!(e[0].field, "level", "{e:?}");
    }
}

//! `threshold`: pixels below `level` become 0. Works in place when the frame is unique;
//! when the frame is shared with another consumer (fan-out), the core copies it first
//! (copy-on-write), so the other consumer still sees the original.

use daqflow_sdk::ndarray::ArrayViewMut2;
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

fn apply<T: Copy + PartialOrd + Default>(mut v: ArrayViewMut2<'_, T>, level: T) {
    v.mapv_inplace(|p| if p < level { T::default() } else { p });
}

impl Filter for Threshold {
    type Settings = Settings;

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
        let l = self.level.ceil();
        match f.dtype() {
            DType::U8 => apply(f.view_mut::<u8>()?, l.clamp(0.0, u8::MAX as f64) as u8),
            DType::U16 => apply(f.view_mut::<u16>()?, l.clamp(0.0, u16::MAX as f64) as u16),
            DType::U32 => apply(f.view_mut::<u32>()?, l.clamp(0.0, u32::MAX as f64) as u32),
            DType::F32 => apply(f.view_mut::<f32>()?, self.level as f32),
            other => {
                return Err(PluginError::new(format!(
                    "threshold cannot handle {other} frames"
                )));
            }
        }
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
    fn level_is_required() {
        let e = Harness::validate(daqflow_plugin_entry, json!({})).unwrap_err();
        assert_eq!(e[0].field, "level", "{e:?}");
    }
}

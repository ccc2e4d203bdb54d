//! `cast`: converts frames to another dtype, `out = in × scale + offset` (computed in
//! f64), rounded to nearest (halves away from zero) and clamped to the target's range for
//! integer targets (NaN becomes 0); a plain conversion to f32 for f32 targets. Like
//! areaDetector's Process plugin's scale/offset with its output data type.
//!
//! Every output frame is a new pool buffer carrying the input's frame number, timestamp
//! and metadata; a cast to the input's own dtype with `scale = 1` and `offset = 0` passes
//! the input through as is.

use daqflow_sdk::ndarray::{ArrayView2, ArrayViewMut2, Zip};
use daqflow_sdk::prelude::*;

/// Settings of `cast`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The output pixel type: "u8", "u16", "u32" or "f32".
    pub dtype: DType,
    /// Multiplies every pixel (before `offset` is added).
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Added to every pixel after `scale`, in output units.
    #[serde(default)]
    pub offset: f64,
}

fn default_scale() -> f64 {
    1.0
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        for (name, v) in [("scale", self.scale), ("offset", self.offset)] {
            if !v.is_finite() {
                errors.push(SettingsError::new(name, "must be a finite number"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Settings {
    /// True when frames of `input` come out unchanged.
    fn is_identity(&self, input: DType) -> bool {
        self.dtype == input && self.scale == 1.0 && self.offset == 0.0
    }
}

/// Writes `input × scale + offset` into `out` (same shape), converted by
/// [`Pixel::from_f64`]: rounded to nearest and clamped for integer `U`. Panics if the
/// shapes differ.
pub fn cast_into<T: Pixel, U: Pixel>(
    input: ArrayView2<'_, T>,
    mut out: ArrayViewMut2<'_, U>,
    scale: f64,
    offset: f64,
) {
    assert_eq!(input.dim(), out.dim(), "cast: output shape");
    Zip::from(&mut out)
        .and(&input)
        .for_each(|o, &v| *o = U::from_f64(v.to_f64() * scale + offset));
}

/// The filter: its settings.
pub struct Cast {
    settings: Settings,
}

fn cast_frame<T: Pixel, U: Pixel>(
    frame: &Frame,
    s: &Settings,
    ctx: &Context,
) -> Result<FrameMut, PluginError> {
    let mut out = ctx.alloc_like(frame, U::DTYPE, frame.width(), frame.height())?;
    cast_into::<T, U>(frame.view::<T>()?, out.view_mut::<U>()?, s.scale, s.offset);
    Ok(out)
}

impl Filter for Cast {
    type Settings = Settings;

    /// Same shape and rate in `dtype`; compressed frames are refused.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "cast needs raw pixels, not {} frames; cast before compressing, or decode first",
                    input.encoding
                ),
            )]);
        }
        Ok(Some(input.with_dtype(settings.dtype)))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Cast { settings })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let n = frame.frame_number();
        let input = frame
            .format()
            .ok_or_else(|| PluginError::new(format!("cast frame {n}: unknown dtype")))?;
        if !input.encoding.is_raw() {
            return Err(PluginError::new(format!(
                "cast frame {n}: needs raw pixels, not {} frames",
                input.encoding
            )));
        }
        let s = &self.settings;
        if s.is_identity(input.dtype) {
            return ctx.emit(frame);
        }
        let out = daqflow_sdk::dispatch_dtype!(input.dtype, T => {
            daqflow_sdk::dispatch_dtype!(s.dtype, U => cast_frame::<T, U>(&frame, s, ctx))
        })?;
        drop(frame);
        ctx.emit(out)
    }
}

daqflow_sdk::export_plugin!(
    filter Cast,
    name = "cast",
    description = "Converts frames to another dtype: out = in × scale + offset, rounded and clamped"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::{Array2, arr2};
    use daqflow_sdk::serde_json::{Value, json};
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    fn cast_one<T: Pixel, U: Pixel>(settings: Value, input: Array2<T>) -> Array2<U> {
        let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
        h.start().unwrap();
        h.push(h.frame_from(&input.view(), 0)).unwrap();
        h.stop().unwrap();
        let out = h.take_emitted();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dtype(), U::DTYPE);
        out[0].view::<U>().unwrap().to_owned()
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn every_pair_of_dtypes_plain() {
        // 0, 1, 255 exist in every dtype: a plain cast keeps them.
        fn case<T: Pixel, U: Pixel>() {
            let input = arr2(&[[0.0, 1.0, 255.0]]).mapv(T::from_f64);
            let want = arr2(&[[0.0, 1.0, 255.0]]).mapv(U::from_f64);
            assert_eq!(
                cast_one::<T, U>(json!({"dtype": U::DTYPE.name()}), input),
                want,
                "{} -> {}",
                T::DTYPE,
                U::DTYPE
            );
        }
        fn from<T: Pixel>() {
            case::<T, u8>();
            case::<T, u16>();
            case::<T, u32>();
            case::<T, f32>();
        }
        from::<u8>();
        from::<u16>();
        from::<u32>();
        from::<f32>();
    }

    #[test]
    fn integer_targets_clamp_and_round() {
        let s = json!({"dtype": "u8"});
        assert_eq!(
            cast_one::<u16, u8>(s.clone(), arr2(&[[0u16, 255, 256, 65535]])),
            arr2(&[[0u8, 255, 255, 255]])
        );
        assert_eq!(
            cast_one::<u32, u8>(s.clone(), arr2(&[[7u32, 300, u32::MAX]])),
            arr2(&[[7u8, 255, 255]])
        );
        assert_eq!(
            cast_one::<f32, u8>(s, arr2(&[[-3.0f32, 0.49, 0.5, 2.5, 254.6, 1e9, f32::NAN]])),
            arr2(&[[0u8, 0, 1, 3, 255, 255, 0]])
        );
        assert_eq!(
            cast_one::<f32, u16>(json!({"dtype": "u16"}), arr2(&[[1.5f32, 70000.0, -1.0]])),
            arr2(&[[2u16, 65535, 0]])
        );
        assert_eq!(
            cast_one::<f32, u32>(json!({"dtype": "u32"}), arr2(&[[1.5f32, 5e9, -1.0]])),
            arr2(&[[2u32, u32::MAX, 0]])
        );
    }

    #[test]
    fn scale_and_offset() {
        // 12-bit data into 8 bits: / 16, rounded.
        assert_eq!(
            cast_one::<u16, u8>(
                json!({"dtype": "u8", "scale": 0.0625}),
                arr2(&[[0u16, 8, 24, 4095]])
            ),
            arr2(&[[0u8, 1, 2, 255]])
        );
        // A dark level subtracted, clamped at 0.
        assert_eq!(
            cast_one::<u16, u16>(
                json!({"dtype": "u16", "offset": -100}),
                arr2(&[[50u16, 100, 1100]])
            ),
            arr2(&[[0u16, 0, 1000]])
        );
        assert_eq!(
            cast_one::<u8, u32>(
                json!({"dtype": "u32", "scale": 1000, "offset": 1}),
                arr2(&[[0u8, 255]])
            ),
            arr2(&[[1u32, 255_001]])
        );
        assert_eq!(
            cast_one::<u32, f32>(
                json!({"dtype": "f32", "scale": 0.5, "offset": -1}),
                arr2(&[[0u32, 3, 4_000_000]])
            ),
            arr2(&[[-1.0f32, 0.5, 1_999_999.0]])
        );
        assert_eq!(
            cast_one::<f32, f32>(
                json!({"dtype": "f32", "scale": -2}),
                arr2(&[[1.25f32, -3.0]])
            ),
            arr2(&[[-2.5f32, 6.0]])
        );
    }

    #[test]
    fn same_dtype_unscaled_passes_through_without_a_copy() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"dtype": "u16"})).unwrap();
        let input = h.frame_from(&arr2(&[[1u16, 2]]).view(), 0);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        assert_eq!(h.take_emitted()[0].data_ptr(), ptr);
    }

    #[test]
    fn header_and_metadata_reach_the_output() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"dtype": "f32"})).unwrap();
        let mut f = h.alloc::<u16>(2, 1);
        f.view_mut::<u16>().unwrap().assign(&arr2(&[[1u16, 2]]));
        f.set_frame_number(812);
        f.set_timestamp_ns(1_700_000_000_123);
        f.set_meta("count", MetaValue::I64(-3)).unwrap();
        h.push(f.into_frame()).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<f32>().unwrap(), arr2(&[[1.0f32, 2.0]]));
        assert_eq!(out[0].frame_number(), 812);
        assert_eq!(out[0].timestamp_ns(), 1_700_000_000_123);
        assert_eq!(out[0].meta("count"), Some(MetaValue::I64(-3)));
    }

    #[test]
    fn format_mapping() {
        for from in DType::ALL {
            for to in DType::ALL {
                let input = FrameFormat::raw(from, 640, 480).with_rate(Some(25.0));
                assert_eq!(
                    Harness::output_format(
                        daqflow_plugin_entry,
                        json!({"dtype": to.name()}),
                        Some(&input)
                    ),
                    Ok(Some(input.with_dtype(to)))
                );
            }
        }
        let mut packed = FrameFormat::raw(DType::U16, 64, 64);
        packed.encoding = Encoding::BsLz4;
        let e = Harness::output_format(daqflow_plugin_entry, json!({"dtype": "u8"}), Some(&packed))
            .unwrap_err();
        assert!(
            e[0].message
                .contains("cast needs raw pixels, not bslz4 frames"),
            "{e:?}"
        );
        assert!(Harness::parallel(
            daqflow_plugin_entry,
            json!({"dtype": "u8"})
        ));
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = Harness::validate(daqflow_plugin_entry, json!({})).unwrap_err();
        assert_eq!(e[0].field, "dtype", "dtype is required: {e:?}");
        let e = Harness::validate(daqflow_plugin_entry, json!({"dtype": "i16"})).unwrap_err();
        assert_eq!(e[0].field, "dtype", "{e:?}");
        let e = Harness::validate(daqflow_plugin_entry, json!({"dtype": "u8", "scale": "x"}))
            .unwrap_err();
        assert_eq!(e[0].field, "scale", "{e:?}");
    }
}

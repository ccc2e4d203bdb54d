//! `crop`: cuts a region of interest (areaDetector's ROI plugin without binning) out of
//! each raw frame. The region is checked against the input format when the pipeline is
//! validated and again whenever the frames announce a new format.
//!
//! Memory: every cropped frame is a new pool buffer (`alloc_like`, which carries the
//! input's frame number, timestamp and metadata); the input is never changed in place,
//! because a frame's shape cannot shrink in place through the SDK and a shared input
//! (fan-out) must stay whole for its other consumers. A region that is the whole frame
//! passes the input through untouched, without a copy.

use daqflow_sdk::ndarray::{ArrayView2, ArrayViewMut2, s};
use daqflow_sdk::prelude::*;

/// Settings of `crop`. Coordinates are in pixels of the input frame, (0, 0) being the
/// first pixel of the first row.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// First column of the region.
    #[serde(default)]
    pub x: u32,
    /// First row of the region.
    #[serde(default)]
    pub y: u32,
    /// Columns in the region; absent: from `x` to the right edge of the input.
    #[serde(default)]
    pub width: Option<u32>,
    /// Rows in the region; absent: from `y` to the bottom edge of the input.
    #[serde(default)]
    pub height: Option<u32>,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        if self.width == Some(0) {
            errors.push(SettingsError::new("width", "must be at least 1"));
        }
        if self.height == Some(0) {
            errors.push(SettingsError::new("height", "must be at least 1"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The region of an input frame to keep, checked against its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First column.
    pub x: u32,
    /// First row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Settings {
    /// The region these settings select in a `width × height` input, or one error per
    /// setting that does not fit (each naming the setting and the input size).
    pub fn region(&self, width: u32, height: u32) -> Result<Region, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let w = axis("x", "width", self.x, self.width, width, &mut errors);
        let h = axis("y", "height", self.y, self.height, height, &mut errors);
        match (w, h) {
            (Some(w), Some(h)) if errors.is_empty() => Ok(Region {
                x: self.x,
                y: self.y,
                width: w,
                height: h,
            }),
            _ => Err(errors),
        }
    }
}

/// Checks one axis: the start `pos` and length `len` against the input's `size`;
/// returns the length (defaulted to the rest of the input).
fn axis(
    pos_name: &str,
    len_name: &str,
    pos: u32,
    len: Option<u32>,
    size: u32,
    errors: &mut Vec<SettingsError>,
) -> Option<u32> {
    if pos >= size {
        errors.push(SettingsError::new(
            pos_name,
            format!(
                "{pos_name} = {pos} is outside the input {len_name} {size} (at most {})",
                size.saturating_sub(1)
            ),
        ));
        return None;
    }
    match len {
        None => Some(size - pos),
        Some(len) if u64::from(pos) + u64::from(len) > u64::from(size) => {
            errors.push(SettingsError::new(
                len_name,
                format!(
                    "{pos_name} + {len_name} = {} exceeds the input {len_name} {size}; at most {} fits from {pos_name} = {pos}",
                    u64::from(pos) + u64::from(len),
                    size - pos
                ),
            ));
            None
        }
        Some(len) => Some(len),
    }
}

/// Copies the `out`-sized region of `input` whose first pixel is row `y`, column `x`
/// into `out`. Panics if the region does not fit in `input`.
pub fn crop_into<T: Pixel>(
    input: ArrayView2<'_, T>,
    mut out: ArrayViewMut2<'_, T>,
    x: usize,
    y: usize,
) {
    let (h, w) = out.dim();
    out.assign(&input.slice(s![y..y + h, x..x + w]));
}

/// The filter: its settings (the region is resolved per input size).
pub struct Crop {
    settings: Settings,
}

fn refuse_compressed(input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
    if input.encoding.is_raw() {
        Ok(())
    } else {
        Err(vec![SettingsError::new(
            "",
            format!(
                "crop needs raw pixels, not {} frames; crop before compressing, or decode first",
                input.encoding
            ),
        )])
    }
}

fn to_plugin_error(frame: &Frame, errors: Vec<SettingsError>) -> PluginError {
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    PluginError::new(format!(
        "crop frame {}: {}",
        frame.frame_number(),
        text.join("; ")
    ))
}

fn crop_frame<T: Pixel>(frame: &Frame, r: Region, ctx: &Context) -> Result<FrameMut, PluginError> {
    let mut out = ctx.alloc_like(frame, T::DTYPE, r.width, r.height)?;
    crop_into(
        frame.view::<T>()?,
        out.view_mut::<T>()?,
        r.x as usize,
        r.y as usize,
    );
    Ok(out)
}

impl Filter for Crop {
    type Settings = Settings;

    /// The region's size, same dtype and rate; compressed frames and regions that do not
    /// fit the input are refused.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        refuse_compressed(input)?;
        let r = settings.region(input.width, input.height)?;
        Ok(Some(input.with_shape(r.width, r.height)))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Crop { settings })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let Some(format) = frame.format() else {
            return Err(PluginError::new(format!(
                "crop frame {}: unknown dtype",
                frame.frame_number()
            )));
        };
        refuse_compressed(&format).map_err(|e| to_plugin_error(&frame, e))?;
        let r = self
            .settings
            .region(format.width, format.height)
            .map_err(|e| to_plugin_error(&frame, e))?;
        if r.width == format.width && r.height == format.height {
            return ctx.emit(frame);
        }
        let out = daqflow_sdk::dispatch_dtype!(format.dtype, T => crop_frame::<T>(&frame, r, ctx))?;
        drop(frame);
        ctx.emit(out)
    }
}

daqflow_sdk::export_plugin!(
    filter Crop,
    name = "crop",
    description = "Cuts a region of interest (x, y, width, height) out of each frame"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::{Array2, arr2};
    use daqflow_sdk::serde_json::{Value, json};
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    /// A 4-wide, 3-high frame 0, 1, 2, ... of `T`.
    fn ramp<T: Pixel>() -> Array2<T> {
        Array2::from_shape_fn((3, 4), |(r, c)| T::from_f64((r * 4 + c) as f64))
    }

    fn crop_one<T: Pixel>(settings: Value) -> Array2<T> {
        let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
        h.start().unwrap();
        h.push(h.frame_from(&ramp::<T>().view(), 0)).unwrap();
        h.stop().unwrap();
        let out = h.take_emitted();
        assert_eq!(out.len(), 1);
        out[0].view::<T>().unwrap().to_owned()
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn crops_every_dtype() {
        let s = json!({"x": 1, "y": 1, "width": 2, "height": 2});
        assert_eq!(crop_one::<u8>(s.clone()), arr2(&[[5u8, 6], [9, 10]]));
        assert_eq!(crop_one::<u16>(s.clone()), arr2(&[[5u16, 6], [9, 10]]));
        assert_eq!(crop_one::<u32>(s.clone()), arr2(&[[5u32, 6], [9, 10]]));
        assert_eq!(crop_one::<f32>(s), arr2(&[[5.0f32, 6.0], [9.0, 10.0]]));
    }

    #[test]
    fn absent_size_runs_to_the_edge() {
        assert_eq!(
            crop_one::<u16>(json!({"x": 2, "y": 1})),
            arr2(&[[6u16, 7], [10, 11]])
        );
        assert_eq!(
            crop_one::<u16>(json!({"width": 1})),
            arr2(&[[0u16], [4], [8]])
        );
        assert_eq!(
            crop_one::<u16>(json!({"x": 3, "y": 2, "width": 1, "height": 1})),
            arr2(&[[11u16]])
        );
    }

    #[test]
    fn header_and_metadata_reach_the_output() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"x": 1, "width": 1})).unwrap();
        let mut f = h.alloc::<u32>(2, 2);
        f.view_mut::<u32>()
            .unwrap()
            .assign(&arr2(&[[1u32, 2], [3, 4]]));
        f.set_frame_number(812);
        f.set_timestamp_ns(1_700_000_000_123);
        f.set_meta("exposure_s", MetaValue::F64(0.25)).unwrap();
        h.push(f.into_frame()).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[2u32], [4]]));
        assert_eq!(out[0].frame_number(), 812);
        assert_eq!(out[0].timestamp_ns(), 1_700_000_000_123);
        assert_eq!(out[0].meta("exposure_s"), Some(MetaValue::F64(0.25)));
    }

    #[test]
    fn whole_frame_passes_through_without_a_copy() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
        let input = h.frame_from(&ramp::<u16>().view(), 3);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].data_ptr(), ptr);
        assert_eq!(out[0].view::<u16>().unwrap(), ramp::<u16>());
        assert_eq!(h.copies(), 0);
    }

    #[test]
    fn shared_input_stays_whole() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"width": 1, "height": 1})).unwrap();
        let input = h.frame_from(&ramp::<u8>().view(), 0);
        let other_holder = input.clone();
        h.push(input).unwrap();
        assert_eq!(h.take_emitted()[0].view::<u8>().unwrap(), arr2(&[[0u8]]));
        assert_eq!(other_holder.view::<u8>().unwrap(), ramp::<u8>());
        assert_eq!(h.copies(), 0);
    }

    #[test]
    fn format_is_the_region_at_the_same_rate() {
        let input = FrameFormat::raw(DType::U16, 4096, 2048).with_rate(Some(500.0));
        let out = Harness::output_format(
            daqflow_plugin_entry,
            json!({"x": 100, "y": 48, "width": 512, "height": 256}),
            Some(&input),
        );
        assert_eq!(
            out,
            Ok(Some(
                FrameFormat::raw(DType::U16, 512, 256).with_rate(Some(500.0))
            ))
        );
        for dtype in DType::ALL {
            let input = FrameFormat::raw(dtype, 8, 8);
            let out = Harness::output_format(daqflow_plugin_entry, json!({"y": 6}), Some(&input));
            assert_eq!(out, Ok(Some(FrameFormat::raw(dtype, 8, 2))));
        }
        assert!(Harness::parallel(daqflow_plugin_entry, json!({})));
    }

    #[test]
    fn refuses_regions_outside_the_input_naming_setting_and_size() {
        let input = FrameFormat::raw(DType::U16, 4096, 2048);
        let errors =
            |s: Value| Harness::output_format(daqflow_plugin_entry, s, Some(&input)).unwrap_err();

        let e = errors(json!({"x": 100, "width": 4000}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "width");
        assert_eq!(
            e[0].message,
            "x + width = 4100 exceeds the input width 4096; at most 3996 fits from x = 100"
        );

        let e = errors(json!({"y": 2000, "height": 100}));
        assert_eq!(e[0].field, "height");
        assert!(
            e[0].message
                .starts_with("y + height = 2100 exceeds the input height 2048"),
            "{e:?}"
        );

        let e = errors(json!({"x": 4096, "y": 5000}));
        assert_eq!(e.len(), 2, "every problem at once: {e:?}");
        assert_eq!(e[0].field, "x");
        assert_eq!(
            e[0].message,
            "x = 4096 is outside the input width 4096 (at most 4095)"
        );
        assert_eq!(e[1].field, "y");
        assert_eq!(
            e[1].message,
            "y = 5000 is outside the input height 2048 (at most 2047)"
        );
    }

    #[test]
    fn refuses_compressed_frames() {
        let mut packed = FrameFormat::raw(DType::U16, 64, 64);
        packed.encoding = Encoding::BsLz4;
        let e = Harness::output_format(daqflow_plugin_entry, json!({}), Some(&packed)).unwrap_err();
        assert_eq!(e[0].field, "");
        assert!(
            e[0].message
                .contains("crop needs raw pixels, not bslz4 frames"),
            "{e:?}"
        );

        let mut h = Harness::new(daqflow_plugin_entry, json!({})).unwrap();
        let f = h.alloc_encoded(DType::U16, Encoding::Lz4, 4, 4, 20);
        let e = h.push(f.into_frame()).unwrap_err();
        assert!(e.contains("raw pixels, not lz4"), "{e}");
        assert!(h.take_emitted().is_empty());
    }

    #[test]
    fn zero_sizes_are_refused_at_validate() {
        let e =
            Harness::validate(daqflow_plugin_entry, json!({"width": 0, "height": 0})).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].field, "width");
        assert_eq!(e[1].field, "height");
        let e = Harness::validate(daqflow_plugin_entry, json!({"x": -1})).unwrap_err();
        assert_eq!(e[0].field, "x", "{e:?}");
    }
}

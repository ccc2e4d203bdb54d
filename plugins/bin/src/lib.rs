//! `bin`: adds up (or averages) each block of `x` × `y` input pixels into one output
//! pixel, like areaDetector's ROI binning.
//!
//! The output is `floor(width / x)` × `floor(height / y)`: the rightmost `width % x`
//! columns and the bottom `height % y` rows, which do not fill a whole block, are dropped
//! (as areaDetector does). A factor larger than the input is refused.
//!
//! Output dtype:
//!
//! | input | `mode = "sum"`                                  | `mode = "mean"` |
//! |-------|-------------------------------------------------|-----------------|
//! | u8    | u16 (u32 when a block has more than 257 pixels) | u8              |
//! | u16   | u32                                             | u16             |
//! | u32   | u32, saturating at 4294967295                   | u32             |
//! | f32   | f32                                             | f32             |
//!
//! so a sum cannot overflow, except u32 (saturates) and u16 blocks of more than 65537
//! pixels (saturate too). Sums are exact (accumulated in f64, exact for integers below
//! 2^53); a mean of integers is rounded to the nearest integer, halves away from zero.
//!
//! Every output frame is a new pool buffer carrying the input's frame number, timestamp
//! and metadata; with `x = y = 1` and an unchanged dtype the input passes through as is.

use daqflow_sdk::ndarray::{ArrayView2, ArrayViewMut2, Zip, s};
use daqflow_sdk::prelude::*;

/// How a block of pixels becomes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BinMode {
    /// The sum of the block, in a wider dtype (see the crate docs).
    #[default]
    Sum,
    /// The mean of the block, in the input's dtype (rounded to nearest for integers).
    Mean,
}

/// Settings of `bin`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Binning factor along a row: this many columns become one. Columns left over at the
    /// right edge (`width % x`) are dropped.
    #[serde(default = "default_factor")]
    pub x: u32,
    /// Binning factor down a column: this many rows become one. Rows left over at the
    /// bottom (`height % y`) are dropped.
    #[serde(default = "default_factor")]
    pub y: u32,
    /// "sum" (the dtype widens so the sum cannot overflow: u8 → u16, or u32 for blocks of
    /// more than 257 pixels; u16 → u32; u32 stays and saturates; f32 stays) or "mean" (the
    /// dtype stays; integers rounded to nearest).
    #[serde(default)]
    pub mode: BinMode,
}

fn default_factor() -> u32 {
    1
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        for (name, v) in [("x", self.x), ("y", self.y)] {
            if v == 0 {
                errors.push(SettingsError::new(
                    name,
                    "must be at least 1 (1 = no binning)",
                ));
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
    /// The dtype of the binned frames for input frames of `input`.
    pub fn output_dtype(&self, input: DType) -> DType {
        let block = u64::from(self.x) * u64::from(self.y);
        match (self.mode, input) {
            (BinMode::Mean, d) => d,
            // 257 × 255 = 65535: the largest u8 block whose sum always fits in u16.
            (BinMode::Sum, DType::U8) if block <= 257 => DType::U16,
            (BinMode::Sum, DType::U8 | DType::U16) => DType::U32,
            (BinMode::Sum, d) => d,
        }
    }
}

/// Bins `input` into `out`: each output pixel `[r, c]` is the sum (or mean) of the input
/// block of rows `r*y .. r*y + y` and columns `c*x .. c*x + x`, converted to `U` by
/// [`Pixel::from_f64`] (rounded to nearest and clamped for integers). Input rows and
/// columns beyond `out`'s blocks are ignored. Panics if `x` or `y` is 0 or `out` is
/// larger than `input / (y, x)`.
pub fn bin_into<T: Pixel, U: Pixel>(
    input: ArrayView2<'_, T>,
    mut out: ArrayViewMut2<'_, U>,
    x: usize,
    y: usize,
    mode: BinMode,
) {
    assert!(x > 0 && y > 0, "bin factors must be at least 1");
    let (oh, ow) = out.dim();
    let (ih, iw) = input.dim();
    assert!(
        oh * y <= ih && ow * x <= iw,
        "bin: {oh}×{ow} blocks of {y}×{x} do not fit in {ih}×{iw}"
    );
    let n = (x * y) as f64;
    // Only the blocks `out` holds; the remainder rows and columns are never read.
    let used = input.slice(s![..oh * y, ..ow * x]);
    Zip::from(&mut out)
        .and(used.exact_chunks((y, x)))
        .for_each(|o, block| *o = bin_block(block, mode, n));
}

#[inline]
fn bin_block<T: Pixel, U: Pixel>(block: ArrayView2<'_, T>, mode: BinMode, n: f64) -> U {
    let mut sum = 0.0f64;
    for row in block.rows() {
        sum = row.fold(sum, |s, v| s + v.to_f64());
    }
    U::from_f64(match mode {
        BinMode::Sum => sum,
        BinMode::Mean => sum / n,
    })
}

/// The filter: its settings.
pub struct Bin {
    settings: Settings,
}

fn bin_frame<T: Pixel, U: Pixel>(
    frame: &Frame,
    out_format: &FrameFormat,
    s: &Settings,
    ctx: &Context,
) -> Result<FrameMut, PluginError> {
    let mut out = ctx.alloc_like(frame, U::DTYPE, out_format.width, out_format.height)?;
    bin_into::<T, U>(
        frame.view::<T>()?,
        out.view_mut::<U>()?,
        s.x as usize,
        s.y as usize,
        s.mode,
    );
    Ok(out)
}

impl Filter for Bin {
    type Settings = Settings;

    /// `floor(width / x)` × `floor(height / y)` of the dtype in the crate docs, same rate;
    /// compressed frames and factors larger than the input are refused.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "bin needs raw pixels, not {} frames; bin before compressing, or decode first",
                    input.encoding
                ),
            )]);
        }
        let mut errors = Vec::new();
        for (name, factor, size, what) in [
            ("x", settings.x, input.width, "width"),
            ("y", settings.y, input.height, "height"),
        ] {
            if factor > size {
                errors.push(SettingsError::new(
                    name,
                    format!("{name} = {factor} exceeds the input {what} {size}; at most {size}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Some(
            input
                .with_shape(input.width / settings.x, input.height / settings.y)
                .with_dtype(settings.output_dtype(input.dtype)),
        ))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Bin { settings })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let fail = |m: String| PluginError::new(format!("bin frame {}: {m}", frame.frame_number()));
        let input = frame.format().ok_or_else(|| fail("unknown dtype".into()))?;
        let output = Self::output_format(&self.settings, &input)
            .map_err(|e| {
                fail(
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?
            .ok_or_else(|| fail("no output format".into()))?;
        if output.same_frames(&input) {
            return ctx.emit(frame);
        }
        let s = &self.settings;
        let out = daqflow_sdk::dispatch_dtype!(input.dtype, T => {
            daqflow_sdk::dispatch_dtype!(output.dtype, U => bin_frame::<T, U>(&frame, &output, s, ctx))
        })?;
        drop(frame);
        ctx.emit(out)
    }
}

daqflow_sdk::export_plugin!(
    filter Bin,
    name = "bin",
    description = "Sums or averages blocks of x × y pixels into one (binning)"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::{Array2, arr2};
    use daqflow_sdk::serde_json::{Value, json};
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    fn bin_one<T: Pixel, U: Pixel>(settings: Value, input: Array2<T>) -> Array2<U> {
        let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
        h.start().unwrap();
        h.push(h.frame_from(&input.view(), 0)).unwrap();
        h.stop().unwrap();
        let out = h.take_emitted();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dtype(), U::DTYPE);
        out[0].view::<U>().unwrap().to_owned()
    }

    /// 5 wide, 3 high: with 2 × 2 bins the last column and the last row are dropped.
    fn five_by_three<T: Pixel>() -> Array2<T> {
        arr2(&[
            [1.0, 2.0, 3.0, 4.0, 99.0],
            [5.0, 6.0, 7.0, 8.0, 99.0],
            [99.0, 99.0, 99.0, 99.0, 99.0],
        ])
        .mapv(T::from_f64)
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn sums_widen_every_dtype_and_drop_the_remainder() {
        let s = json!({"x": 2, "y": 2});
        // 1+2+5+6 = 14, 3+4+7+8 = 22
        assert_eq!(
            bin_one::<u8, u16>(s.clone(), five_by_three()),
            arr2(&[[14u16, 22]])
        );
        assert_eq!(
            bin_one::<u16, u32>(s.clone(), five_by_three()),
            arr2(&[[14u32, 22]])
        );
        assert_eq!(
            bin_one::<u32, u32>(s.clone(), five_by_three()),
            arr2(&[[14u32, 22]])
        );
        assert_eq!(
            bin_one::<f32, f32>(s, five_by_three()),
            arr2(&[[14.0f32, 22.0]])
        );
    }

    #[test]
    fn sums_cannot_overflow_or_saturate() {
        let s = json!({"x": 2, "y": 1});
        assert_eq!(
            bin_one::<u8, u16>(s.clone(), arr2(&[[255u8, 255]])),
            arr2(&[[510u16]])
        );
        assert_eq!(
            bin_one::<u16, u32>(s.clone(), arr2(&[[65535u16, 65535]])),
            arr2(&[[131070u32]])
        );
        assert_eq!(
            bin_one::<u32, u32>(s.clone(), arr2(&[[u32::MAX, 1]])),
            arr2(&[[u32::MAX]]),
            "u32 sums saturate"
        );
        assert_eq!(
            bin_one::<f32, f32>(s, arr2(&[[1.5f32, -0.25]])),
            arr2(&[[1.25f32]])
        );
        // 258 pixels of 255 = 65790 would overflow u16: the sum is u32.
        let wide = Array2::from_elem((1, 258), 255u8);
        assert_eq!(
            bin_one::<u8, u32>(json!({"x": 258}), wide),
            arr2(&[[65790u32]])
        );
    }

    #[test]
    fn means_keep_the_dtype_and_round_to_nearest() {
        let s = json!({"x": 2, "y": 1, "mode": "mean"});
        let input = || arr2(&[[1.0, 2.0, 2.0, 2.0, 0.0, 0.0, 7.0, 9.0]]);
        // 1.5 → 2 (halves away from zero), 2 → 2, 0 → 0, 8 → 8
        assert_eq!(
            bin_one::<u8, u8>(s.clone(), input().mapv(u8::from_f64)),
            arr2(&[[2u8, 2, 0, 8]])
        );
        assert_eq!(
            bin_one::<u16, u16>(s.clone(), input().mapv(u16::from_f64)),
            arr2(&[[2u16, 2, 0, 8]])
        );
        assert_eq!(
            bin_one::<u32, u32>(s.clone(), input().mapv(u32::from_f64)),
            arr2(&[[2u32, 2, 0, 8]])
        );
        assert_eq!(
            bin_one::<f32, f32>(s, input().mapv(f32::from_f64)),
            arr2(&[[1.5f32, 2.0, 0.0, 8.0]])
        );
        // A 3-pixel mean of 1, 1, 2 = 1.33 → 1; of 1, 2, 2 = 1.67 → 2; no overflow at the top.
        assert_eq!(
            bin_one::<u8, u8>(
                json!({"x": 3, "mode": "mean"}),
                arr2(&[[1u8, 1, 2, 1, 2, 2, 255, 255, 255]])
            ),
            arr2(&[[1u8, 2, 255]])
        );
    }

    #[test]
    fn bins_along_columns_only() {
        let out = bin_one::<u16, u32>(json!({"y": 3}), five_by_three());
        assert_eq!(out, arr2(&[[105u32, 107, 109, 111, 297]]));
    }

    #[test]
    fn header_and_metadata_reach_the_output() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"x": 2, "y": 2})).unwrap();
        let mut f = h.alloc::<u16>(2, 2);
        f.view_mut::<u16>()
            .unwrap()
            .assign(&arr2(&[[1u16, 2], [3, 4]]));
        f.set_frame_number(812);
        f.set_timestamp_ns(1_700_000_000_123);
        f.set_meta("gain", MetaValue::Str("high".into())).unwrap();
        h.push(f.into_frame()).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u32>().unwrap(), arr2(&[[10u32]]));
        assert_eq!(out[0].frame_number(), 812);
        assert_eq!(out[0].timestamp_ns(), 1_700_000_000_123);
        assert_eq!(out[0].meta("gain"), Some(MetaValue::Str("high".into())));
    }

    #[test]
    fn unit_mean_passes_through_without_a_copy() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"mode": "mean"})).unwrap();
        let input = h.frame_from(&five_by_three::<u16>().view(), 0);
        let ptr = input.data_ptr();
        h.push(input).unwrap();
        assert_eq!(h.take_emitted()[0].data_ptr(), ptr);
    }

    #[test]
    fn format_mapping() {
        let of =
            |s: Value, f: FrameFormat| Harness::output_format(daqflow_plugin_entry, s, Some(&f));
        let input = FrameFormat::raw(DType::U16, 2049, 1023).with_rate(Some(500.0));
        assert_eq!(
            of(json!({"x": 2, "y": 4}), input),
            Ok(Some(
                FrameFormat::raw(DType::U32, 1024, 255).with_rate(Some(500.0))
            ))
        );
        for (dtype, sum) in [
            (DType::U8, DType::U16),
            (DType::U16, DType::U32),
            (DType::U32, DType::U32),
            (DType::F32, DType::F32),
        ] {
            let input = FrameFormat::raw(dtype, 8, 6);
            assert_eq!(
                of(json!({"x": 2, "y": 3}), input),
                Ok(Some(FrameFormat::raw(sum, 4, 2)))
            );
            assert_eq!(
                of(json!({"x": 2, "y": 3, "mode": "mean"}), input),
                Ok(Some(FrameFormat::raw(dtype, 4, 2)))
            );
        }
        assert_eq!(
            of(
                json!({"x": 16, "y": 17}),
                FrameFormat::raw(DType::U8, 64, 64)
            ),
            Ok(Some(FrameFormat::raw(DType::U32, 4, 3))),
            "272-pixel u8 blocks sum into u32"
        );
        assert!(Harness::parallel(daqflow_plugin_entry, json!({"x": 2})));
    }

    #[test]
    fn refuses_factors_larger_than_the_input_and_compressed_frames() {
        let input = FrameFormat::raw(DType::U16, 64, 32);
        let e = Harness::output_format(
            daqflow_plugin_entry,
            json!({"x": 65, "y": 33}),
            Some(&input),
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].field, "x");
        assert_eq!(
            e[0].message,
            "x = 65 exceeds the input width 64; at most 64"
        );
        assert_eq!(e[1].field, "y");
        assert_eq!(
            e[1].message,
            "y = 33 exceeds the input height 32; at most 32"
        );

        let mut packed = input;
        packed.encoding = Encoding::BsLz4;
        let e = Harness::output_format(daqflow_plugin_entry, json!({}), Some(&packed)).unwrap_err();
        assert!(
            e[0].message
                .contains("bin needs raw pixels, not bslz4 frames"),
            "{e:?}"
        );
    }

    #[test]
    fn zero_factors_and_unknown_modes_are_refused() {
        let e = Harness::validate(daqflow_plugin_entry, json!({"x": 0, "y": 0})).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].field.as_str(), e[1].field.as_str()), ("x", "y"));
        let e = Harness::validate(daqflow_plugin_entry, json!({"mode": "median"})).unwrap_err();
        assert_eq!(e[0].field, "mode", "{e:?}");
    }

    #[test]
    fn kernel_takes_a_smaller_output() {
        let input = arr2(&[[1u16, 2, 3, 4], [5, 6, 7, 8]]);
        let mut out = Array2::<u32>::zeros((1, 1));
        bin_into(input.view(), out.view_mut(), 2, 2, BinMode::Sum);
        assert_eq!(out, arr2(&[[14u32]]));
    }
}

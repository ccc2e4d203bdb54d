//! `transform`: flips, rotates and transposes frames (areaDetector's Transform plugin).
//!
//! The operations apply in this order: **flip, then rotate, then transpose**. Directions
//! are as the frame is displayed with row 0 at the top and column 0 at the left: a
//! horizontal flip mirrors left ↔ right, a vertical flip top ↔ bottom, and `rotate = 90`
//! turns the picture a quarter turn clockwise (the first row becomes the last column).
//! Rotating by 90 or 270, or transposing (but not both), swaps width and height.
//!
//! The three settings compose into one of the eight symmetries of a rectangle, applied
//! in a single pass. Every output frame is a new pool buffer carrying the input's frame
//! number, timestamp and metadata; when the composition is the identity (nothing set, or
//! e.g. `flip = "vertical"`, `rotate = 90`, `transpose = true`) the input passes through
//! as is, without a copy.

use daqflow_sdk::ndarray::{ArrayView2, ArrayViewMut2, Axis, s};
use daqflow_sdk::prelude::*;

/// A mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flip {
    /// No mirror.
    #[default]
    None,
    /// Left ↔ right (the column order reverses).
    Horizontal,
    /// Top ↔ bottom (the row order reverses).
    Vertical,
}

/// Settings of `transform`. Applied in the order flip → rotate → transpose.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// First: "none", "horizontal" (mirror left ↔ right) or "vertical" (top ↔ bottom).
    #[serde(default)]
    pub flip: Flip,
    /// Second: clockwise rotation in degrees, 0, 90, 180 or 270 (as displayed, row 0 at
    /// the top). 90 and 270 swap width and height.
    #[serde(default)]
    pub rotate: u32,
    /// Last: swap rows and columns (pixel [r, c] goes to [c, r]); swaps width and height.
    #[serde(default)]
    pub transpose: bool,
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        if !matches!(self.rotate, 0 | 90 | 180 | 270) {
            return Err(vec![SettingsError::new(
                "rotate",
                format!(
                    "must be 0, 90, 180 or 270 (degrees clockwise), not {}",
                    self.rotate
                ),
            )]);
        }
        Ok(())
    }
}

/// One of the eight symmetries of a rectangle, as "optionally transpose, then
/// optionally reverse the rows, then optionally reverse the columns" — the form
/// [`transform_into`] applies in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orientation {
    /// Swap axes first (output [r, c] reads input [c, r]).
    pub transpose: bool,
    /// Then reverse the row order (top ↔ bottom).
    pub flip_rows: bool,
    /// Then reverse the column order (left ↔ right).
    pub flip_cols: bool,
}

impl Orientation {
    /// No change.
    pub const IDENTITY: Orientation = Orientation {
        transpose: false,
        flip_rows: false,
        flip_cols: false,
    };

    /// True when this changes nothing.
    pub fn is_identity(self) -> bool {
        self == Self::IDENTITY
    }

    /// True when the output's width is the input's height.
    pub fn swaps_axes(self) -> bool {
        self.transpose
    }

    /// This orientation followed by a transpose.
    fn then_transpose(self) -> Orientation {
        // T·F_r^a·F_c^b·T^t = F_c^a·F_r^b·T^(t+1): a transpose swaps which axis each flip
        // reverses.
        Orientation {
            transpose: !self.transpose,
            flip_rows: self.flip_cols,
            flip_cols: self.flip_rows,
        }
    }

    /// This orientation followed by a mirror of the columns (left ↔ right).
    fn then_flip_cols(mut self) -> Orientation {
        self.flip_cols = !self.flip_cols;
        self
    }

    /// This orientation followed by a mirror of the rows (top ↔ bottom).
    fn then_flip_rows(mut self) -> Orientation {
        self.flip_rows = !self.flip_rows;
        self
    }

    /// This orientation followed by a quarter turn clockwise (transpose, then mirror
    /// left ↔ right).
    fn then_rotate_90(self) -> Orientation {
        self.then_transpose().then_flip_cols()
    }

    /// The composition of `settings`: flip, then rotate, then transpose.
    pub fn of(settings: &Settings) -> Orientation {
        let mut o = match settings.flip {
            Flip::None => Orientation::IDENTITY,
            Flip::Horizontal => Orientation::IDENTITY.then_flip_cols(),
            Flip::Vertical => Orientation::IDENTITY.then_flip_rows(),
        };
        for _ in 0..(settings.rotate / 90) % 4 {
            o = o.then_rotate_90();
        }
        if settings.transpose {
            o = o.then_transpose();
        }
        o
    }

    /// The view of `input` in this orientation (no copy: strides only).
    pub fn view<'a, T>(self, input: ArrayView2<'a, T>) -> ArrayView2<'a, T> {
        let mut v = if self.transpose {
            input.reversed_axes()
        } else {
            input
        };
        if self.flip_rows {
            v.invert_axis(Axis(0));
        }
        if self.flip_cols {
            v.invert_axis(Axis(1));
        }
        v
    }
}

/// Side of the square tiles the copy walks in, so that a transposing copy reads and writes
/// whole cache lines (64 × 64 × 4 bytes = 16 KiB per tile, within L1).
const TILE: usize = 64;

/// Writes `input` in orientation `o` into `out`, whose shape must be the oriented shape
/// (`[w, h]` when `o` swaps axes, else `[h, w]`). Panics otherwise.
pub fn transform_into<T: Pixel>(
    input: ArrayView2<'_, T>,
    mut out: ArrayViewMut2<'_, T>,
    o: Orientation,
) {
    let src = o.view(input);
    assert_eq!(src.dim(), out.dim(), "transform: output shape");
    let (h, w) = out.dim();
    if !o.transpose {
        // Rows stay rows: a plain row-by-row copy is already cache friendly.
        out.assign(&src);
        return;
    }
    for r in (0..h).step_by(TILE) {
        for c in (0..w).step_by(TILE) {
            let tile = s![r..(r + TILE).min(h), c..(c + TILE).min(w)];
            out.slice_mut(tile).assign(&src.slice(tile));
        }
    }
}

/// The filter: the composed orientation.
pub struct Transform {
    orientation: Orientation,
}

fn transform_frame<T: Pixel>(
    frame: &Frame,
    out_format: &FrameFormat,
    o: Orientation,
    ctx: &Context,
) -> Result<FrameMut, PluginError> {
    let mut out = ctx.alloc_like(frame, T::DTYPE, out_format.width, out_format.height)?;
    transform_into(frame.view::<T>()?, out.view_mut::<T>()?, o);
    Ok(out)
}

impl Filter for Transform {
    type Settings = Settings;

    /// Same dtype and rate; width and height swapped by `rotate = 90 | 270` or
    /// `transpose` (not both); compressed frames are refused.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "transform needs raw pixels, not {} frames; transform before compressing, or decode first",
                    input.encoding
                ),
            )]);
        }
        Ok(Some(if Orientation::of(settings).swaps_axes() {
            input.with_shape(input.height, input.width)
        } else {
            *input
        }))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Transform {
            orientation: Orientation::of(&settings),
        })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let n = frame.frame_number();
        let input = frame
            .format()
            .ok_or_else(|| PluginError::new(format!("transform frame {n}: unknown dtype")))?;
        if !input.encoding.is_raw() {
            return Err(PluginError::new(format!(
                "transform frame {n}: needs raw pixels, not {} frames",
                input.encoding
            )));
        }
        let o = self.orientation;
        if o.is_identity() {
            return ctx.emit(frame);
        }
        let output = if o.swaps_axes() {
            input.with_shape(input.height, input.width)
        } else {
            input
        };
        let out = daqflow_sdk::dispatch_dtype!(input.dtype, T => transform_frame::<T>(&frame, &output, o, ctx))?;
        drop(frame);
        ctx.emit(out)
    }
}

daqflow_sdk::export_plugin!(
    filter Transform,
    name = "transform",
    description = "Flips, rotates (clockwise) and transposes frames, in that order"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::ndarray::{Array2, arr2};
    use daqflow_sdk::serde_json::{Value, json};
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    /// 3 wide, 2 high:
    /// ```text
    /// 1 2 3
    /// 4 5 6
    /// ```
    fn picture<T: Pixel>() -> Array2<T> {
        arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).mapv(T::from_f64)
    }

    fn expect<T: Pixel>(rows: &[&[f64]]) -> Array2<T> {
        let (h, w) = (rows.len(), rows[0].len());
        Array2::from_shape_fn((h, w), |(r, c)| T::from_f64(rows[r][c]))
    }

    fn transform_one<T: Pixel>(settings: Value) -> Array2<T> {
        let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
        h.start().unwrap();
        h.push(h.frame_from(&picture::<T>().view(), 0)).unwrap();
        h.stop().unwrap();
        let out = h.take_emitted();
        assert_eq!(out.len(), 1);
        out[0].view::<T>().unwrap().to_owned()
    }

    /// Every settings combination against its expected picture, for dtype `T`.
    fn all_cases<T: Pixel>() {
        let cases: &[(Value, &[&[f64]])] = &[
            (json!({}), &[&[1., 2., 3.], &[4., 5., 6.]]),
            (
                json!({"flip": "horizontal"}),
                &[&[3., 2., 1.], &[6., 5., 4.]],
            ),
            (json!({"flip": "vertical"}), &[&[4., 5., 6.], &[1., 2., 3.]]),
            (json!({"rotate": 90}), &[&[4., 1.], &[5., 2.], &[6., 3.]]),
            (json!({"rotate": 180}), &[&[6., 5., 4.], &[3., 2., 1.]]),
            (json!({"rotate": 270}), &[&[3., 6.], &[2., 5.], &[1., 4.]]),
            (
                json!({"transpose": true}),
                &[&[1., 4.], &[2., 5.], &[3., 6.]],
            ),
            // flip first, then rotate: mirrored 3 2 1 / 6 5 4, turned clockwise.
            (
                json!({"flip": "horizontal", "rotate": 90}),
                &[&[6., 3.], &[5., 2.], &[4., 1.]],
            ),
            // rotate, then transpose: the rotated 3×2 picture transposed.
            (
                json!({"rotate": 90, "transpose": true}),
                &[&[4., 5., 6.], &[1., 2., 3.]],
            ),
            (
                json!({"flip": "vertical", "rotate": 270, "transpose": true}),
                &[&[6., 5., 4.], &[3., 2., 1.]],
            ),
            (
                json!({"flip": "horizontal", "rotate": 90, "transpose": true}),
                &[&[6., 5., 4.], &[3., 2., 1.]],
            ),
            // horizontal flip + half turn = vertical flip
            (
                json!({"flip": "horizontal", "rotate": 180}),
                &[&[4., 5., 6.], &[1., 2., 3.]],
            ),
        ];
        for (settings, want) in cases {
            assert_eq!(
                transform_one::<T>(settings.clone()),
                expect::<T>(want),
                "{} with {settings}",
                T::DTYPE
            );
        }
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn every_combination_u8() {
        all_cases::<u8>();
    }

    #[test]
    fn every_combination_u16() {
        all_cases::<u16>();
    }

    #[test]
    fn every_combination_u32() {
        all_cases::<u32>();
    }

    #[test]
    fn every_combination_f32() {
        all_cases::<f32>();
        assert_eq!(
            transform_one::<f32>(json!({"rotate": 90})),
            arr2(&[[4.0f32, 1.0], [5.0, 2.0], [6.0, 3.0]])
        );
    }

    #[test]
    fn tiled_transpose_matches_the_definition() {
        // Larger than one tile in both directions, with partial tiles at the edges.
        let (h, w) = (TILE + 7, 2 * TILE + 3);
        let a = Array2::from_shape_fn((h, w), |(r, c)| (r * w + c) as u32);
        for rotate in [90, 270] {
            let o = Orientation::of(&Settings {
                flip: Flip::None,
                rotate,
                transpose: false,
            });
            let mut out = Array2::<u32>::zeros((w, h));
            transform_into(a.view(), out.view_mut(), o);
            for r in 0..w {
                for c in 0..h {
                    let want = if rotate == 90 {
                        a[[h - 1 - c, r]]
                    } else {
                        a[[c, w - 1 - r]]
                    };
                    assert_eq!(out[[r, c]], want, "rotate {rotate} at [{r}, {c}]");
                }
            }
        }
    }

    #[test]
    fn identity_passes_through_without_a_copy() {
        for settings in [
            json!({}),
            json!({"flip": "vertical", "rotate": 90, "transpose": true}),
        ] {
            let mut h = Harness::new(daqflow_plugin_entry, settings.clone()).unwrap();
            let input = h.frame_from(&picture::<u16>().view(), 0);
            let ptr = input.data_ptr();
            h.push(input).unwrap();
            let out = h.take_emitted();
            assert_eq!(out[0].data_ptr(), ptr, "{settings}");
            assert_eq!(out[0].view::<u16>().unwrap(), picture::<u16>());
        }
    }

    #[test]
    fn header_and_metadata_reach_the_output() {
        let mut h = Harness::new(daqflow_plugin_entry, json!({"rotate": 180})).unwrap();
        let mut f = h.alloc::<u8>(2, 1);
        f.view_mut::<u8>().unwrap().assign(&arr2(&[[1u8, 2]]));
        f.set_frame_number(812);
        f.set_timestamp_ns(1_700_000_000_123);
        f.set_meta("shutter", MetaValue::Bool(true)).unwrap();
        h.push(f.into_frame()).unwrap();
        let out = h.take_emitted();
        assert_eq!(out[0].view::<u8>().unwrap(), arr2(&[[2u8, 1]]));
        assert_eq!(out[0].frame_number(), 812);
        assert_eq!(out[0].timestamp_ns(), 1_700_000_000_123);
        assert_eq!(out[0].meta("shutter"), Some(MetaValue::Bool(true)));
    }

    #[test]
    fn format_mapping() {
        let of =
            |s: Value, f: &FrameFormat| Harness::output_format(daqflow_plugin_entry, s, Some(f));
        for dtype in DType::ALL {
            let input = FrameFormat::raw(dtype, 640, 480).with_rate(Some(60.0));
            let swapped = FrameFormat::raw(dtype, 480, 640).with_rate(Some(60.0));
            assert_eq!(of(json!({}), &input), Ok(Some(input)));
            assert_eq!(of(json!({"flip": "vertical"}), &input), Ok(Some(input)));
            assert_eq!(of(json!({"rotate": 180}), &input), Ok(Some(input)));
            assert_eq!(of(json!({"rotate": 90}), &input), Ok(Some(swapped)));
            assert_eq!(of(json!({"rotate": 270}), &input), Ok(Some(swapped)));
            assert_eq!(of(json!({"transpose": true}), &input), Ok(Some(swapped)));
            assert_eq!(
                of(json!({"rotate": 90, "transpose": true}), &input),
                Ok(Some(input)),
                "two swaps cancel"
            );
        }
        let mut packed = FrameFormat::raw(DType::U16, 64, 64);
        packed.encoding = Encoding::Lz4;
        let e = of(json!({}), &packed).unwrap_err();
        assert!(
            e[0].message
                .contains("transform needs raw pixels, not lz4 frames"),
            "{e:?}"
        );
        assert!(Harness::parallel(
            daqflow_plugin_entry,
            json!({"rotate": 90})
        ));
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = Harness::validate(daqflow_plugin_entry, json!({"rotate": 45})).unwrap_err();
        assert_eq!(e[0].field, "rotate");
        assert_eq!(
            e[0].message,
            "must be 0, 90, 180 or 270 (degrees clockwise), not 45"
        );
        let e = Harness::validate(daqflow_plugin_entry, json!({"flip": "both"})).unwrap_err();
        assert_eq!(e[0].field, "flip", "{e:?}");
    }
}

//! The `flat_field` filter, the gain it precomputes once ([`gain_from_flat`]) and its pixel
//! kernel ([`apply_gain`]).

use daqflow_reference::{Image, Reference, ReferenceSource, Sample, Taken};
use daqflow_sdk::prelude::*;

use crate::config::Settings;

/// The gain per pixel, gain = scale / flat, and the number of bad pixels: those where the
/// flat is ≤ 0 or not finite get gain 0 (their output is 0). `scale` defaults to the mean
/// of the flat over its valid pixels. Errors when no pixel is valid.
pub fn gain_from_flat(flat: &[f32], scale: Option<f64>) -> Result<(Vec<f32>, u64), String> {
    let valid = |f: f32| f.is_finite() && f > 0.0;
    let (sum, count) = flat
        .iter()
        .filter(|&&f| valid(f))
        .fold((0.0f64, 0u64), |(s, n), &f| (s + f64::from(f), n + 1));
    if count == 0 {
        return Err("the flat has no pixel > 0".to_string());
    }
    let scale = scale.unwrap_or(sum / count as f64);
    let gain = flat
        .iter()
        .map(|&f| {
            if valid(f) {
                (scale / f64::from(f)) as f32
            } else {
                0.0
            }
        })
        .collect();
    Ok((gain, flat.len() as u64 - count))
}

/// out = in × gain for each pixel: computed in f64, then rounded to nearest and clamped to
/// `T`'s range; plain product for f32. `gain` holds one value per pixel, in the same
/// (row-major) order (see [`gain_from_flat`]).
///
/// # Panics
/// When `pixels` and `gain` differ in length.
pub fn apply_gain<T: Sample>(pixels: &mut [T], gain: &[f32]) {
    assert_eq!(pixels.len(), gain.len(), "frame and flat differ in size");
    for (p, &g) in pixels.iter_mut().zip(gain) {
        *p = T::round_clamp(p.to_f64() * f64::from(g));
    }
}

fn correct_frame<T: Sample>(frame: &mut FrameMut, gain: &[f32]) -> Result<(), PluginError> {
    let mut view = frame.view_mut::<T>()?;
    let pixels = view
        .as_slice_mut()
        .ok_or("flat_field: the frame's pixels are not contiguous")?;
    apply_gain(pixels, gain);
    Ok(())
}

/// The filter: the gain (once the flat is known) and where the flat comes from.
pub struct FlatField {
    reference: Reference,
    scale: Option<f64>,
    /// scale / flat per pixel, 0 for bad pixels; `None` while the flat is being averaged.
    gain: Option<Vec<f32>>,
    /// Pixels whose flat is ≤ 0 (or not finite), reported as `flat_bad_pixels`.
    bad_pixels: u64,
}

impl FlatField {
    fn prepare(&mut self, flat: &Image) -> Result<(), PluginError> {
        let (gain, bad) = gain_from_flat(&flat.pixels, self.scale)
            .map_err(|e| PluginError::new(format!("{}: {e}", self.reference.describe())))?;
        self.gain = Some(gain);
        self.bad_pixels = bad;
        Ok(())
    }
}

impl Filter for FlatField {
    type Settings = Settings;

    /// Same frames out as in, at the same rate (with `from_first_frames` the first N are
    /// held back, then every frame passes). Refuses compressed frames, and a reference
    /// file whose dataset has another shape than the frames.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        daqflow_reference::refuse_encoded("flat_field", input)?;
        if let ReferenceSource::File { path, dataset } = settings.source()? {
            daqflow_reference::check_against_input(&path, &dataset, "reference", input)?;
        }
        Ok(Some(*input))
    }

    fn parallel(settings: &Settings) -> bool {
        settings.source().is_ok_and(|s| s.is_file())
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        let source = settings
            .source()
            .map_err(|e| PluginError::new(daqflow_reference::join_errors(&e)))?;
        let (reference, image) = Reference::open("flat", source)?;
        let mut filter = FlatField {
            reference,
            scale: settings.scale,
            gain: None,
            bad_pixels: 0,
        };
        if let Some(flat) = image {
            filter.prepare(&flat)?;
        }
        Ok(filter)
    }

    fn input_format(&mut self, format: &FrameFormat, _ctx: &Context) -> Result<(), PluginError> {
        if !format.encoding.is_raw() {
            return Err(PluginError::new(format!(
                "flat_field needs raw pixels, not {} frames",
                format.encoding
            )));
        }
        Ok(self.reference.check_shape(format.width, format.height)?)
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if self.reference.unfinished().is_some() {
            ctx.set_counter("reference_frames", 0);
        } else {
            ctx.set_counter("flat_bad_pixels", self.bad_pixels);
        }
        Ok(())
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {} compressed; flat_field needs raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        match self.reference.take(&frame)? {
            Taken::Averaged { taken, complete } => {
                ctx.set_counter("reference_frames", u64::from(taken));
                if let Some(flat) = complete {
                    self.prepare(&flat)?;
                    ctx.set_counter("flat_bad_pixels", self.bad_pixels);
                    log::info!(
                        "flat averaged from the first {taken} frames ({} bad pixels); correcting from now on",
                        self.bad_pixels
                    );
                }
                Ok(())
            }
            Taken::Ready => {
                let gain = self
                    .gain
                    .as_deref()
                    .ok_or("flat_field: no flat although the reference is ready")?;
                let mut f = frame.into_mut(ctx)?;
                daqflow_sdk::dispatch_dtype!(f.dtype(), T => correct_frame::<T>(&mut f, gain))?;
                ctx.emit(f)
            }
        }
    }

    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        if let Some((taken, needed)) = self.reference.unfinished() {
            log::warn!(
                "the run ended after {taken} of the {needed} frames averaged into the flat: no frame was corrected or emitted"
            );
        }
        Ok(())
    }
}

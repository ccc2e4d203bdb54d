//! The `dark_subtract` filter and its pixel kernel, [`subtract`].

use daqflow_reference::{Reference, ReferenceSource, Sample, Taken};
use daqflow_sdk::prelude::*;

use crate::config::Settings;

/// out = in − dark for each pixel: computed in f64, then rounded to nearest and clamped to
/// `T`'s range (unsigned results below 0 become 0); f32 frames get the plain difference.
/// `dark` holds one value per pixel, in the same (row-major) order.
///
/// # Panics
/// When `pixels` and `dark` differ in length.
pub fn subtract<T: Sample>(pixels: &mut [T], dark: &[f32]) {
    assert_eq!(pixels.len(), dark.len(), "frame and dark differ in size");
    for (p, &d) in pixels.iter_mut().zip(dark) {
        *p = T::round_clamp(p.to_f64() - f64::from(d));
    }
}

fn subtract_frame<T: Sample>(frame: &mut FrameMut, dark: &[f32]) -> Result<(), PluginError> {
    let mut view = frame.view_mut::<T>()?;
    let pixels = view
        .as_slice_mut()
        .ok_or("dark_subtract: the frame's pixels are not contiguous")?;
    subtract(pixels, dark);
    Ok(())
}

/// The filter: the dark (once known) and where it comes from.
pub struct DarkSubtract {
    reference: Reference,
    /// One value per pixel; `None` while it is being averaged from the first frames.
    dark: Option<Vec<f32>>,
}

impl Filter for DarkSubtract {
    type Settings = Settings;

    /// Same frames out as in, at the same rate (with `from_first_frames` the first N are
    /// held back, then every frame passes). Refuses compressed frames, and a reference
    /// file whose dataset has another shape than the frames.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        daqflow_reference::refuse_encoded("dark_subtract", input)?;
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
        let (reference, image) = Reference::open("dark", source)?;
        Ok(DarkSubtract {
            reference,
            dark: image.map(|i| i.pixels),
        })
    }

    fn input_format(&mut self, format: &FrameFormat, _ctx: &Context) -> Result<(), PluginError> {
        if !format.encoding.is_raw() {
            return Err(PluginError::new(format!(
                "dark_subtract needs raw pixels, not {} frames",
                format.encoding
            )));
        }
        Ok(self.reference.check_shape(format.width, format.height)?)
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if self.reference.unfinished().is_some() {
            ctx.set_counter("reference_frames", 0);
        }
        Ok(())
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {} compressed; dark_subtract needs raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        match self.reference.take(&frame)? {
            Taken::Averaged { taken, complete } => {
                ctx.set_counter("reference_frames", u64::from(taken));
                if let Some(image) = complete {
                    log::info!(
                        "dark averaged from the first {taken} frames; subtracting it from now on"
                    );
                    self.dark = Some(image.pixels);
                }
                Ok(())
            }
            Taken::Ready => {
                let dark = self
                    .dark
                    .as_deref()
                    .ok_or("dark_subtract: no dark although the reference is ready")?;
                let mut f = frame.into_mut(ctx)?;
                daqflow_sdk::dispatch_dtype!(f.dtype(), T => subtract_frame::<T>(&mut f, dark))?;
                ctx.emit(f)
            }
        }
    }

    fn stop(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        if let Some((taken, needed)) = self.reference.unfinished() {
            log::warn!(
                "the run ended after {taken} of the {needed} frames averaged into the dark: no frame was corrected or emitted"
            );
        }
        Ok(())
    }
}

//! The `mask` filter and its kernel: the mask becomes [`Run`]s once per frame shape
//! ([`runs_from_mask`]); each frame is then a few `fill`s ([`fill_runs`]).

use std::path::Path;

use daqflow_reference::{ReferenceError, join_errors, read_mask};
use daqflow_sdk::prelude::*;

use crate::config::Settings;

/// `len` consecutive masked pixels from index `start` of the row-major frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Index of the first masked pixel (row × width + column).
    pub start: usize,
    /// Masked pixels from there.
    pub len: usize,
}

/// The runs of consecutive `true` values of a row-major mask.
pub fn runs_from_mask(mask: &[bool]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < mask.len() {
        if mask[i] {
            let start = i;
            while i < mask.len() && mask[i] {
                i += 1;
            }
            runs.push(Run {
                start,
                len: i - start,
            });
        } else {
            i += 1;
        }
    }
    runs
}

/// Sets the pixels of every run to `value`.
///
/// # Panics
/// When a run reaches past the end of `pixels`.
pub fn fill_runs<T: Copy>(pixels: &mut [T], runs: &[Run], value: T) {
    for r in runs {
        pixels[r.start..r.start + r.len].fill(value);
    }
}

fn mask_frame<T: Pixel>(frame: &mut FrameMut, runs: &[Run], value: f64) -> Result<(), PluginError> {
    let value = T::from_f64(value);
    let mut view = frame.view_mut::<T>()?;
    let pixels = view
        .as_slice_mut()
        .ok_or("mask: the frame's pixels are not contiguous")?;
    fill_runs(pixels, runs, value);
    Ok(())
}

/// The mask as runs for one frame shape.
struct Prepared {
    width: u32,
    height: u32,
    runs: Vec<Run>,
    masked: u64,
}

/// The filter: the settings, the mask read from the file, and the runs for the current
/// frame shape.
pub struct Mask {
    settings: Settings,
    /// The file's mask: width, height, masked flags (row-major).
    from_file: Option<(u32, u32, Vec<bool>)>,
    prepared: Option<Prepared>,
}

impl Mask {
    /// Builds the runs for frames of `width × height`, refusing a mask that does not fit.
    fn prepare(&mut self, width: u32, height: u32, ctx: &Context) -> Result<(), PluginError> {
        if self
            .prepared
            .as_ref()
            .is_some_and(|p| (p.width, p.height) == (width, height))
        {
            return Ok(());
        }
        let mut mask = match &self.from_file {
            Some((w, h, m)) if (*w, *h) == (width, height) => m.clone(),
            Some((w, h, _)) => {
                let file = self.settings.file.as_deref().unwrap_or(Path::new(""));
                return Err(ReferenceError::Shape {
                    what: format!("{}:{}", file.display(), self.settings.dataset),
                    ref_width: *w,
                    ref_height: *h,
                    width,
                    height,
                }
                .into());
            }
            None => vec![false; width as usize * height as usize],
        };
        let errors = self.settings.check_rects(width, height);
        if !errors.is_empty() {
            return Err(PluginError::new(join_errors(&errors)));
        }
        for r in &self.settings.rects {
            for y in r.y..r.y + r.height {
                let row = y as usize * width as usize;
                mask[row + r.x as usize..row + (r.x + r.width) as usize].fill(true);
            }
        }
        let masked = mask.iter().filter(|&&m| m).count() as u64;
        ctx.set_counter("masked_pixels", masked);
        self.prepared = Some(Prepared {
            width,
            height,
            runs: runs_from_mask(&mask),
            masked,
        });
        Ok(())
    }
}

impl Filter for Mask {
    type Settings = Settings;

    /// Same frames out as in. Refuses compressed frames, rectangles outside the frame and
    /// a mask file whose dataset has another shape than the frames.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        daqflow_reference::refuse_encoded("mask", input)?;
        let mut errors = settings.check_rects(input.width, input.height);
        if let Some(file) = &settings.file
            && let Err(e) =
                daqflow_reference::check_against_input(file, &settings.dataset, "file", input)
        {
            errors.extend(e);
        }
        if errors.is_empty() {
            Ok(Some(*input))
        } else {
            Err(errors)
        }
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        let from_file = match &settings.file {
            Some(file) => Some(read_mask(file, &settings.dataset)?),
            None => None,
        };
        Ok(Mask {
            settings,
            from_file,
            prepared: None,
        })
    }

    fn input_format(&mut self, format: &FrameFormat, ctx: &Context) -> Result<(), PluginError> {
        if !format.encoding.is_raw() {
            return Err(PluginError::new(format!(
                "mask needs raw pixels, not {} frames",
                format.encoding
            )));
        }
        self.prepare(format.width, format.height, ctx)
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {} compressed; mask needs raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        self.prepare(frame.width(), frame.height(), ctx)?;
        let Some(p) = self.prepared.as_ref() else {
            return Err("mask: no mask prepared".into());
        };
        if p.masked == 0 {
            return ctx.emit(frame);
        }
        let mut f = frame.into_mut(ctx)?;
        let value = self.settings.value;
        daqflow_sdk::dispatch_dtype!(f.dtype(), T => mask_frame::<T>(&mut f, &p.runs, value))?;
        ctx.emit(f)
    }
}

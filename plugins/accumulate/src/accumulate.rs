//! The `accumulate` filter: group state, the running-sum buffer (one per input format),
//! and the emission of full and partial groups.

use daqflow_sdk::prelude::*;

use crate::config::{Mode, Settings, output_dtype};
use crate::kernel::{AddPixel, Running, add_frame, finish_mean, finish_sum};

/// The metadata key giving the number of frames in an output frame (i64).
pub const KEY_FRAMES: &str = "accumulated_frames";

/// The running sum, typed for the input dtype and mode (see [`crate::kernel`]).
enum Sums {
    U32(Vec<u32>),
    U64(Vec<u64>),
    F64(Vec<f64>),
}

impl Sums {
    fn for_format(mode: Mode, f: &FrameFormat) -> Sums {
        let n = f.pixels() as usize;
        match (f.dtype, mode) {
            (DType::F32, _) => Sums::F64(vec![0.0; n]),
            (DType::U32, Mode::Mean) => Sums::U64(vec![0; n]),
            _ => Sums::U32(vec![0; n]),
        }
    }
}

/// The frames of the group being accumulated.
struct Group {
    /// Its first frame: the output carries its number, timestamp and metadata. Holding
    /// it keeps one input pool buffer until the group is emitted.
    first: Frame,
    last_number: u64,
    count: u32,
}

/// The filter.
pub struct Accumulate {
    frames: u32,
    mode: Mode,
    /// The input format the running sum is laid out for.
    format: Option<FrameFormat>,
    sums: Sums,
    group: Option<Group>,
    partial_groups: u64,
}

/// Adds `frame`'s pixels (dtype `T`) into `acc`.
fn add<T: Pixel, A: AddPixel<T>>(acc: &mut [A], frame: &Frame) -> Result<(), PluginError> {
    let view = frame.view::<T>()?;
    match view.as_slice() {
        Some(pixels) => add_frame(acc, pixels),
        None => {
            for (a, &p) in acc.iter_mut().zip(view.iter()) {
                *a = a.add(p);
            }
        }
    }
    Ok(())
}

/// Writes the sum or mean of `count` frames from `acc` into `out` (dtype `O`).
fn finish<A: Running, O: Pixel>(
    acc: &mut [A],
    mode: Mode,
    count: u32,
    out: &mut FrameMut,
) -> Result<(), PluginError> {
    let mut view = out.view_mut::<O>()?;
    let pixels = view
        .as_slice_mut()
        .ok_or("a fresh pool frame is contiguous")?;
    match mode {
        Mode::Sum => finish_sum(acc, pixels),
        Mode::Mean => finish_mean(acc, count, pixels),
    }
    Ok(())
}

impl Accumulate {
    /// Lays the running sum out for `format`; a group still open (another format) is
    /// emitted first, as a partial group.
    fn set_format(&mut self, format: &FrameFormat, ctx: &Context) -> Result<(), PluginError> {
        if self.format.is_some_and(|f| f.same_frames(format)) {
            return Ok(());
        }
        self.emit_partial(ctx, "the input format changed")?;
        self.sums = Sums::for_format(self.mode, format);
        self.format = Some(*format);
        Ok(())
    }

    fn emit_partial(&mut self, ctx: &Context, why: &str) -> Result<(), PluginError> {
        let Some(g) = &self.group else {
            return Ok(());
        };
        log::info!(
            "{why}: emitting a partial group of {} of {} frames (frames {}..={})",
            g.count,
            self.frames,
            g.first.frame_number(),
            g.last_number
        );
        self.partial_groups += 1;
        ctx.set_counter("partial_groups", self.partial_groups);
        self.emit_group(ctx)
    }

    /// Emits the open group as one frame and starts a new one.
    fn emit_group(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let (Some(g), Some(format)) = (self.group.take(), self.format) else {
            return Ok(());
        };
        let what = || {
            format!(
                "accumulate frames {}..={}",
                g.first.frame_number(),
                g.last_number
            )
        };
        let dtype = output_dtype(self.mode, format.dtype);
        let mut out = ctx.alloc_like(&g.first, dtype, format.width, format.height)?;
        let (mode, count) = (self.mode, g.count);
        match &mut self.sums {
            Sums::U32(acc) => {
                daqflow_sdk::dispatch_dtype!(dtype, O => finish::<u32, O>(acc, mode, count, &mut out))
            }
            Sums::U64(acc) => {
                daqflow_sdk::dispatch_dtype!(dtype, O => finish::<u64, O>(acc, mode, count, &mut out))
            }
            Sums::F64(acc) => {
                daqflow_sdk::dispatch_dtype!(dtype, O => finish::<f64, O>(acc, mode, count, &mut out))
            }
        }?;
        // After `finish`, which clears the running sum even when this fails.
        out.set_meta(KEY_FRAMES, MetaValue::I64(i64::from(count)))
            .map_err(|e| e.context(what()))?;
        ctx.emit(out)
    }
}

impl Filter for Accumulate {
    type Settings = Settings;

    /// One frame per `frames` frames, in the mode's dtype (see [`output_dtype`]), at
    /// `input rate / frames`; compressed frames are refused.
    fn output_format(
        settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "accumulate needs raw pixels, not {} frames; place it before the compression or on an uncompressed lane",
                    input.encoding
                ),
            )]);
        }
        let rate = input.rate_hz.map(|r| r / f64::from(settings.frames.max(1)));
        Ok(Some(
            input
                .with_dtype(output_dtype(settings.mode, input.dtype))
                .with_rate(rate),
        ))
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Accumulate {
            frames: settings.frames,
            mode: settings.mode,
            format: None,
            sums: Sums::U32(Vec::new()),
            group: None,
            partial_groups: 0,
        })
    }

    fn input_format(&mut self, format: &FrameFormat, ctx: &Context) -> Result<(), PluginError> {
        self.set_format(format, ctx)
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        ctx.set_counter("partial_groups", self.partial_groups);
        Ok(())
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let format = match frame.format() {
            Some(f) if f.encoding.is_raw() => f,
            Some(f) => {
                return Err(PluginError::new(format!(
                    "frame {} is {}-encoded; accumulate needs raw pixels",
                    frame.frame_number(),
                    f.encoding
                )));
            }
            None => {
                return Err(PluginError::new(format!(
                    "frame {} has a dtype this plugin does not know; accumulate takes {}",
                    frame.frame_number(),
                    DType::list(&DType::ALL)
                )));
            }
        };
        // The core announces every new format first; this only guards against a host
        // that does not.
        self.set_format(&format, ctx)?;
        match (&mut self.sums, format.dtype) {
            (Sums::U32(acc), DType::U8) => add::<u8, _>(acc, &frame),
            (Sums::U32(acc), DType::U16) => add::<u16, _>(acc, &frame),
            (Sums::U32(acc), DType::U32) => add::<u32, _>(acc, &frame),
            (Sums::U64(acc), DType::U32) => add::<u32, _>(acc, &frame),
            (Sums::F64(acc), DType::F32) => add::<f32, _>(acc, &frame),
            (_, d) => Err(PluginError::new(format!(
                "frame {}: no running sum for {d} frames",
                frame.frame_number()
            ))),
        }?;
        let number = frame.frame_number();
        let g = self.group.get_or_insert(Group {
            first: frame,
            last_number: number,
            count: 0,
        });
        g.last_number = number;
        g.count += 1;
        if g.count >= self.frames {
            self.emit_group(ctx)?;
        }
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.emit_partial(ctx, "stopping")
    }
}

//! Averaging frames of the run into a reference: [`FrameAverager`] sums frames of any
//! dtype in f64, [`FirstFrames`] takes the first N frames of a run (`from_first_frames`).

use daqflow_sdk::prelude::*;

use crate::Image;
use crate::error::ReferenceError;

/// Sums frames of one shape in f64 and gives their per-pixel mean as an [`Image`].
#[derive(Debug)]
pub struct FrameAverager {
    width: u32,
    height: u32,
    sum: Vec<f64>,
    frames: u32,
}

impl FrameAverager {
    /// An empty sum for frames of `width × height`.
    pub fn new(width: u32, height: u32) -> FrameAverager {
        FrameAverager {
            width,
            height,
            sum: vec![0.0; width as usize * height as usize],
            frames: 0,
        }
    }

    /// Frames added so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Adds one raw frame of this averager's shape (any dtype).
    pub fn add(&mut self, frame: &Frame) -> Result<(), PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {} compressed; a reference is averaged from raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        if (frame.width(), frame.height()) != (self.width, self.height) {
            return Err(PluginError::new(format!(
                "frame {} is {}×{}, the frames averaged so far are {}×{}",
                frame.frame_number(),
                frame.width(),
                frame.height(),
                self.width,
                self.height
            )));
        }
        daqflow_sdk::dispatch_dtype!(frame.dtype(), T => self.add_pixels::<T>(frame))?;
        self.frames += 1;
        Ok(())
    }

    fn add_pixels<T: Pixel>(&mut self, frame: &Frame) -> Result<(), PluginError> {
        let view = frame.view::<T>()?;
        for (s, &p) in self.sum.iter_mut().zip(view.iter()) {
            *s += p.to_f64();
        }
        Ok(())
    }

    /// The per-pixel mean of the frames added (zeros when none were).
    pub fn mean(&self) -> Image {
        let n = f64::from(self.frames.max(1));
        Image {
            width: self.width,
            height: self.height,
            pixels: self.sum.iter().map(|&s| (s / n) as f32).collect(),
        }
    }
}

/// The first `needed` frames of a run, averaged into a reference (`from_first_frames`).
#[derive(Debug)]
pub struct FirstFrames {
    needed: u32,
    taken: u32,
    averager: Option<FrameAverager>,
}

impl FirstFrames {
    /// Averages the first `needed` frames (≥ 1).
    pub fn new(needed: u32) -> FirstFrames {
        FirstFrames {
            needed,
            taken: 0,
            averager: None,
        }
    }

    /// Frames averaged so far.
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// True once the reference is complete.
    pub fn is_done(&self) -> bool {
        self.taken >= self.needed
    }

    /// Frames the reference is averaged from.
    pub fn needed(&self) -> u32 {
        self.needed
    }

    /// Adds `frame`; returns the mean once this was the last frame needed.
    pub fn add(&mut self, frame: &Frame) -> Result<Option<Image>, PluginError> {
        let avg = self
            .averager
            .get_or_insert_with(|| FrameAverager::new(frame.width(), frame.height()));
        avg.add(frame)?;
        self.taken += 1;
        if avg.frames() < self.needed {
            return Ok(None);
        }
        let mean = avg.mean();
        self.averager = None;
        Ok(Some(mean))
    }

    /// Refuses frames of `width × height` when averaging has begun with another shape.
    pub fn check_shape(&self, what: &str, width: u32, height: u32) -> Result<(), ReferenceError> {
        match &self.averager {
            Some(a) if (a.width, a.height) != (width, height) => Err(ReferenceError::Shape {
                what: what.to_string(),
                ref_width: a.width,
                ref_height: a.height,
                width,
                height,
            }),
            _ => Ok(()),
        }
    }
}

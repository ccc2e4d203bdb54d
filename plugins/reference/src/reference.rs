//! [`Reference`]: a reference from a file, or one being averaged from the first frames of
//! the run — the state `dark_subtract` and `flat_field` share. Each filter turns the
//! finished [`Image`] into what its kernel needs (the dark itself, a gain per pixel).

use daqflow_sdk::prelude::*;

use crate::Image;
use crate::average::FirstFrames;
use crate::error::ReferenceError;
use crate::file::read_mean;
use crate::source::ReferenceSource;

/// What [`Reference::take`] did with a frame.
#[derive(Debug)]
pub enum Taken {
    /// The frame was averaged into the reference and must not be emitted. `complete` holds
    /// the mean once this was the last frame needed.
    Averaged {
        /// Frames averaged so far (for the `reference_frames` counter).
        taken: u32,
        /// The finished reference, once.
        complete: Option<Image>,
    },
    /// The reference is ready: correct this frame.
    Ready,
}

/// A reference image's origin and, while it is being averaged from the run, its progress.
#[derive(Debug)]
pub struct Reference {
    kind: &'static str,
    source: ReferenceSource,
    first: Option<FirstFrames>,
    shape: Option<(u32, u32)>,
}

impl Reference {
    /// For a file: reads and averages it now, returning the image. For `from_first_frames`:
    /// no image yet; frames given to [`take`](Reference::take) build it. `kind` names the
    /// reference in messages ("dark").
    pub fn open(
        kind: &'static str,
        source: ReferenceSource,
    ) -> Result<(Reference, Option<Image>), ReferenceError> {
        let (image, first) = match &source {
            ReferenceSource::File { path, dataset } => (Some(read_mean(path, dataset)?), None),
            ReferenceSource::FirstFrames(n) => (None, Some(FirstFrames::new(*n))),
        };
        let shape = image.as_ref().map(|i| (i.width, i.height));
        Ok((
            Reference {
                kind,
                source,
                first,
                shape,
            },
            image,
        ))
    }

    /// `dark.h5:/entry/data/data`, `the dark from the first 10 frames`.
    pub fn describe(&self) -> String {
        self.source.describe(self.kind)
    }

    /// Refuses frames of `width × height` when the reference (or the frames averaged into
    /// it so far) has another shape; the message names both.
    pub fn check_shape(&self, width: u32, height: u32) -> Result<(), ReferenceError> {
        if let Some((rw, rh)) = self.shape
            && (rw, rh) != (width, height)
        {
            return Err(ReferenceError::Shape {
                what: self.describe(),
                ref_width: rw,
                ref_height: rh,
                width,
                height,
            });
        }
        match &self.first {
            Some(first) => first.check_shape(&self.describe(), width, height),
            None => Ok(()),
        }
    }

    /// Averages `frame` into the reference while it is being built from the first frames;
    /// else says it is [`Taken::Ready`] to be corrected (after checking its shape).
    pub fn take(&mut self, frame: &Frame) -> Result<Taken, PluginError> {
        self.check_shape(frame.width(), frame.height())?;
        let Some(first) = self.first.as_mut() else {
            return Ok(Taken::Ready);
        };
        let complete = first.add(frame)?;
        let taken = first.taken();
        if let Some(image) = &complete {
            self.shape = Some((image.width, image.height));
            self.first = None;
        }
        Ok(Taken::Averaged { taken, complete })
    }

    /// `(taken, needed)` while the reference is still being averaged from the run.
    pub fn unfinished(&self) -> Option<(u32, u32)> {
        self.first.as_ref().map(|f| (f.taken(), f.needed()))
    }
}

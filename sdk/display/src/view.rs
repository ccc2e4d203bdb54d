//! The display choices a user can change while frames arrive — colormap, reversal,
//! linear/log, how the contrast window is chosen — in one value, [`ViewState`], and the
//! value → colour [`Mapping`] they give for a frame. A viewer's settings initialise it; its
//! controls change it.

use crate::colormap::{Colormap, Mapping, Scale};
use crate::contrast::{self, ContrastMode, Histogram};
use crate::image::ImageRef;

/// The display choices of one view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewState {
    /// Colormap.
    pub colormap: Colormap,
    /// Colormap backwards.
    pub reversed: bool,
    /// Linear or log.
    pub scale: Scale,
    /// How the window is chosen.
    pub contrast: ContrastMode,
    /// Percentiles (in percent) for [`ContrastMode::Percentile`].
    pub percentiles: (f64, f64),
    /// The manual window; `None` until set (then the current window is taken).
    pub manual: Option<(f64, f64)>,
}

impl ViewState {
    /// The mapping for `image` (whose histogram is `hist`).
    pub fn mapping(&self, image: &ImageRef<'_>, hist: &Histogram) -> Mapping {
        let manual = self.manual.unwrap_or((hist.min, hist.max));
        let (low, high) = contrast::window(image, hist, self.contrast, self.percentiles, manual);
        Mapping {
            low,
            high,
            scale: self.scale,
            reversed: self.reversed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::OwnedImage;

    #[test]
    fn manual_without_a_window_takes_the_data_range() {
        let img = OwnedImage::from_u16(4, 1, &[10, 20, 30, 40]);
        let hist = Histogram::of(&img.as_ref());
        let mut view = ViewState {
            colormap: Colormap::Gray,
            reversed: false,
            scale: Scale::Log,
            contrast: ContrastMode::Manual,
            percentiles: (0.5, 99.5),
            manual: None,
        };
        let m = view.mapping(&img.as_ref(), &hist);
        assert_eq!((m.low, m.high, m.scale), (10.0, 40.0, Scale::Log));
        view.manual = Some((0.0, 100.0));
        let m = view.mapping(&img.as_ref(), &hist);
        assert_eq!((m.low, m.high), (0.0, 100.0));
    }
}

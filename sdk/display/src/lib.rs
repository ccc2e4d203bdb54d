//! `daqflow-display`: the display pieces every live view of daqflow shares, without a GPU
//! or GUI in its dependency tree — the native viewer (wgpu + egui) draws with them, and a
//! browser view can build 8-bit or RGB images from them on the CPU.
//!
//! - [`slot`]: [`LatestSlot`], the one-frame hand-off from `consume` to the thread that
//!   shows frames (the newest wins; the producer never waits).
//! - [`frame`] and [`decode`]: [`ViewFrame`] (what can be shown; implemented for the SDK's
//!   `Frame`), decoding of LZ4 / bitshuffle-LZ4 frames into reused buffers
//!   ([`FrameDecoder`], [`Showable`]).
//! - [`image`]: borrowed and owned images ([`ImageRef`], [`OwnedImage`]).
//! - [`contrast`]: histogram, percentiles, min/max and the contrast window.
//! - [`colormap`]: colormap LUTs and the value → LUT index mapping, the reference the GPU
//!   shader is tested against; [`map_image_indices`] / [`map_image_cpu`] apply it.
//! - [`view`]: [`ViewState`], the user's display choices, and the mapping they give.
//! - [`transform`] and [`picture`]: zoom/pan, the CPU rendering of a whole picture, PNG.
//!
//! ```
//! use daqflow_display::{Colormap, Histogram, Mapping, OwnedImage, map_image_cpu};
//!
//! let image = OwnedImage::from_u16(4, 1, &[100, 200, 300, 60_000]);
//! let hist = Histogram::of(&image.as_ref());
//! // Auto-contrast between percentiles: the hot pixel does not wash out the rest.
//! let mapping = Mapping::linear(hist.percentile(0.0), hist.percentile(75.0));
//! let rgba = map_image_cpu(&image.as_ref(), &mapping, Colormap::Viridis);
//! assert_eq!(&rgba[12..16], &Colormap::Viridis.lut()[255]);
//! ```

pub mod colormap;
mod colormap_data;
pub mod contrast;
pub mod decode;
pub mod error;
pub mod frame;
pub mod image;
pub mod picture;
pub mod slot;
pub mod transform;
pub mod view;

pub use colormap::{
    Colormap, LOG_GAIN, Mapping, MappingParams, Scale, map_image_cpu, map_image_indices,
};
pub use contrast::{ContrastMode, Histogram};
pub use decode::{FrameDecoder, Showable};
pub use error::DisplayError;
pub use frame::{EncodedImage, TestFrame, ViewFrame};
pub use image::{ImageRef, OwnedImage};
pub use picture::{BACKGROUND, DrawParams, RgbaImage, fit_within, render_cpu};
pub use slot::LatestSlot;
pub use transform::ViewTransform;
pub use view::ViewState;

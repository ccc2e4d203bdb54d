//! Pictures: [`RgbaImage`] (RGBA8 pixels, read and written as PNG files — snapshots,
//! golden test images, images for a browser), [`DrawParams`] (everything that decides a
//! picture apart from the pixels) and [`render_cpu`], the CPU rendering of a whole picture:
//! exactly what the native viewer's GPU renderer draws, pixel for pixel.

use std::path::Path;

use crate::colormap::{Colormap, Mapping};
use crate::error::DisplayError;
use crate::image::ImageRef;
use crate::transform::ViewTransform;

/// Colour outside the image (dark gray), as RGBA8.
pub const BACKGROUND: [u8; 4] = [32, 32, 32, 255];

/// Everything that decides the picture apart from the pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawParams {
    /// Contrast window, scale and reversal.
    pub mapping: Mapping,
    /// Colormap.
    pub colormap: Colormap,
    /// Zoom and pan.
    pub transform: ViewTransform,
    /// Framebuffer position (physical pixels) of the drawing area's top-left corner:
    /// (0, 0) offscreen, the egui rect's corner in a window.
    pub origin: [f32; 2],
}

/// An RGBA8 picture, row-major, 4 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub pixels: Vec<u8>,
}

impl RgbaImage {
    /// Writes the picture as an 8-bit RGBA PNG (written to a temporary file then renamed,
    /// so a reader never sees half a file).
    pub fn write_png(&self, path: &Path) -> Result<(), DisplayError> {
        let err = |message: String| DisplayError::Png {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("create directory: {e}")))?;
        }
        let tmp = path.with_extension("png.tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| err(e.to_string()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| err(e.to_string()))?;
        writer
            .write_image_data(&self.pixels)
            .map_err(|e| err(e.to_string()))?;
        writer.finish().map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(format!("rename from {}: {e}", tmp.display())))
    }

    /// Reads an 8-bit RGBA or RGB PNG.
    pub fn read_png(path: &Path) -> Result<Self, DisplayError> {
        let err = |message: String| DisplayError::Png {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let decoder = png::Decoder::new(std::io::BufReader::new(file));
        let mut reader = decoder.read_info().map_err(|e| err(e.to_string()))?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| err("image too large".into()))?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| err(e.to_string()))?;
        buf.truncate(info.buffer_size());
        let pixels = match (info.color_type, info.bit_depth) {
            (png::ColorType::Rgba, png::BitDepth::Eight) => buf,
            (png::ColorType::Rgb, png::BitDepth::Eight) => buf
                .chunks_exact(3)
                .flat_map(|c| [c[0], c[1], c[2], 255])
                .collect(),
            (c, d) => return Err(err(format!("unsupported PNG format {c:?} {d:?}"))),
        };
        Ok(Self {
            width: info.width,
            height: info.height,
            pixels,
        })
    }
}

/// The CPU rendering of a whole picture: exactly what the native viewer's GPU renderer
/// (`ImageRenderer`) draws into an `out_w`×`out_h` target at origin (0, 0).
pub fn render_cpu(image: &ImageRef<'_>, params: &DrawParams, out_w: u32, out_h: u32) -> RgbaImage {
    let mp = params.mapping.params(image.dtype());
    let lut = params.colormap.lut();
    let t = params.transform;
    let mut pixels = Vec::with_capacity(out_w as usize * out_h as usize * 4);
    for y in 0..out_h {
        for x in 0..out_w {
            let px = t.offset[0] + (x as f32 + 0.5 - params.origin[0]) * t.scale;
            let py = t.offset[1] + (y as f32 + 0.5 - params.origin[1]) * t.scale;
            let colour = if px < 0.0 || py < 0.0 {
                BACKGROUND
            } else {
                let (ix, iy) = (px.floor() as u32, py.floor() as u32);
                if ix >= image.width() || iy >= image.height() {
                    BACKGROUND
                } else {
                    let i = iy as usize * image.width() as usize + ix as usize;
                    lut[usize::from(Mapping::lut_index(&mp, image.value_f32_at(i)))]
                }
            };
            pixels.extend_from_slice(&colour);
        }
    }
    RgbaImage {
        width: out_w,
        height: out_h,
        pixels,
    }
}

/// The size of a picture of an image of `size` (w, h) whose longest side is at most
/// `max_side`: the image's own size when it fits, else scaled down keeping the aspect
/// ratio (each side at least 1).
pub fn fit_within(size: (u32, u32), max_side: u32) -> (u32, u32) {
    let (w, h) = size;
    let max = max_side;
    if w.max(h) <= max {
        (w, h)
    } else if w >= h {
        (
            max,
            ((u64::from(h) * u64::from(max)) / u64::from(w)).max(1) as u32,
        )
    } else {
        (
            ((u64::from(w) * u64::from(max)) / u64::from(h)).max(1) as u32,
            max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::OwnedImage;

    #[test]
    fn fit_within_keeps_small_images_and_the_aspect_ratio() {
        assert_eq!(fit_within((30, 40), 100), (30, 40));
        assert_eq!(fit_within((1000, 500), 128), (128, 64));
        assert_eq!(fit_within((500, 1000), 128), (64, 128));
        assert_eq!(fit_within((10_000, 1), 16), (16, 1));
    }

    #[test]
    fn render_cpu_at_1_to_1_is_the_colormapped_image_and_png_round_trips() {
        let img = OwnedImage::from_u8(3, 2, &[0, 50, 100, 150, 200, 255]);
        let params = DrawParams {
            mapping: Mapping::linear(0.0, 255.0),
            colormap: Colormap::Viridis,
            transform: ViewTransform::IDENTITY,
            origin: [0.0, 0.0],
        };
        let picture = render_cpu(&img.as_ref(), &params, 4, 2);
        let lut = Colormap::Viridis.lut();
        assert_eq!(&picture.pixels[..4], &lut[0]);
        assert_eq!(&picture.pixels[24..28], &lut[255], "pixel (2, 1)");
        assert_eq!(&picture.pixels[12..16], &BACKGROUND, "right of the image");

        let path = std::env::temp_dir().join(format!("daqflow-display-{}.png", std::process::id()));
        picture.write_png(&path).unwrap();
        let back = RgbaImage::read_png(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back, picture);
    }
}

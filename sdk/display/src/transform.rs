//! Zoom and pan: [`ViewTransform`] says which image pixel each output pixel shows
//! (nearest neighbour), with the operations a view's mouse and buttons need — fit, 1:1,
//! zoom about a point, pan. The native viewer's GPU shader and the CPU rendering
//! (`picture::render_cpu`) apply the same formula.

/// Where the image sits in the output: image coordinates of the output's top-left corner
/// and image pixels per output pixel. Nearest neighbour: output pixel centre (x+½, y+½)
/// shows image pixel `floor(offset + (x+½)·scale)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    /// Image coordinates (pixels) at the output's top-left corner.
    pub offset: [f32; 2],
    /// Image pixels per output pixel: 1 is 1:1, 0.5 is a 2× zoom.
    pub scale: f32,
}

impl ViewTransform {
    /// 1:1 with the image's top-left corner at the output's top-left corner.
    pub const IDENTITY: ViewTransform = ViewTransform {
        offset: [0.0, 0.0],
        scale: 1.0,
    };

    /// The whole image, as large as fits in `out` (w, h), centred.
    pub fn fit(image: (u32, u32), out: (u32, u32)) -> Self {
        let (iw, ih) = (image.0.max(1) as f32, image.1.max(1) as f32);
        let (ow, oh) = (out.0.max(1) as f32, out.1.max(1) as f32);
        let scale = (iw / ow).max(ih / oh);
        Self::centred(image, out, scale)
    }

    /// `scale` image pixels per output pixel, the image centred in `out`.
    pub fn centred(image: (u32, u32), out: (u32, u32), scale: f32) -> Self {
        let (iw, ih) = (image.0 as f32, image.1 as f32);
        let (ow, oh) = (out.0 as f32, out.1 as f32);
        Self {
            offset: [(iw - ow * scale) / 2.0, (ih - oh * scale) / 2.0],
            scale,
        }
    }

    /// Image coordinates under output position `p` (pixels from the output's corner).
    pub fn image_pos(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.offset[0] + p[0] * self.scale,
            self.offset[1] + p[1] * self.scale,
        ]
    }

    /// Zooms by `factor` (> 1 magnifies) keeping the image point under output position
    /// `anchor` in place.
    pub fn zoom_about(&mut self, anchor: [f32; 2], factor: f32) {
        let before = self.image_pos(anchor);
        self.scale = (self.scale / factor).clamp(1.0 / 64.0, 64.0);
        let after = self.image_pos(anchor);
        self.offset[0] += before[0] - after[0];
        self.offset[1] += before[1] - after[1];
    }

    /// Moves the image by `delta` output pixels (a drag).
    pub fn pan(&mut self, delta: [f32; 2]) {
        self.offset[0] -= delta[0] * self.scale;
        self.offset[1] -= delta[1] * self.scale;
    }
}

//! [`OffscreenRenderer`]: draws with an [`ImageRenderer`] into an offscreen RGBA8 texture
//! and reads the picture back (headless PNG snapshots, the GPU-vs-CPU tests).

use std::sync::mpsc;

use daqflow_display::{DisplayError, DrawParams, ImageRef, RgbaImage};

use super::gpu::Gpu;
use super::renderer::ImageRenderer;
use crate::error::ViewerError;

const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Renders images into an offscreen RGBA8 texture and reads them back.
#[derive(Debug)]
pub struct OffscreenRenderer {
    gpu: Gpu,
    image: ImageRenderer,
    target: Option<(wgpu::Texture, wgpu::Buffer, u32, u32)>,
}

impl OffscreenRenderer {
    /// A renderer on `gpu`.
    pub fn new(gpu: Gpu) -> Self {
        let image = ImageRenderer::new(&gpu.device, OFFSCREEN_FORMAT);
        Self {
            gpu,
            image,
            target: None,
        }
    }

    /// The device this renderer uses.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Uploads a new frame (call only when the frame changed).
    pub fn upload(&mut self, image: &ImageRef<'_>) {
        self.image.upload(&self.gpu.device, &self.gpu.queue, image);
    }

    /// Draws the uploaded frame at `out_w`×`out_h` and reads the picture back.
    pub fn render(
        &mut self,
        params: &DrawParams,
        out_w: u32,
        out_h: u32,
    ) -> Result<RgbaImage, ViewerError> {
        if self.image.frame_shape().is_none() {
            return Err(DisplayError::BadImage("no frame uploaded yet".into()).into());
        }
        let padded_row = (out_w * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        if self
            .target
            .as_ref()
            .is_none_or(|t| (t.2, t.3) != (out_w, out_h))
        {
            let texture = self.gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("daqflow viewer offscreen target"),
                size: wgpu::Extent3d {
                    width: out_w,
                    height: out_h,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: OFFSCREEN_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let buffer = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("daqflow viewer readback"),
                size: u64::from(padded_row) * u64::from(out_h),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.target = Some((texture, buffer, out_w, out_h));
        }
        let (texture, buffer, _, _) = self.target.as_ref().expect("target was just created");
        self.image.prepare(&self.gpu.queue, params);
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("daqflow viewer offscreen"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("daqflow viewer offscreen pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            self.image.paint(&mut pass);
        }
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: Some(out_h),
                },
            },
            wgpu::Extent3d {
                width: out_w,
                height: out_h,
                depth_or_array_layers: 1,
            },
        );
        self.gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::sync_channel(1);
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            // The receiver waits below; a failed send only means it gave up.
            let _ = tx.send(r);
        });
        self.gpu
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| ViewerError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| ViewerError::Readback(e.to_string()))?
            .map_err(|e| ViewerError::Readback(e.to_string()))?;
        let mut pixels = Vec::with_capacity(out_w as usize * out_h as usize * 4);
        {
            let mapped = buffer
                .get_mapped_range(..)
                .map_err(|e| ViewerError::Readback(e.to_string()))?;
            for row in mapped.chunks_exact(padded_row as usize) {
                pixels.extend_from_slice(&row[..out_w as usize * 4]);
            }
        }
        buffer.unmap();
        Ok(RgbaImage {
            width: out_w,
            height: out_h,
            pixels,
        })
    }
}

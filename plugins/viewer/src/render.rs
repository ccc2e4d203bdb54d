//! The wgpu image renderer, independent of any window.
//!
//! [`ImageRenderer`] owns the GPU side of one displayed image: the frame texture (R8Uint,
//! R16Uint, R32Uint or R32Float, read with `textureLoad`), the 256×1 RGBA8 colormap
//! texture and the uniforms (contrast window, scale, reversed, zoom/pan). It draws one
//! full-screen triangle into whatever render pass it is given, so each *output* pixel is
//! computed once: the same code draws into an egui window (through an `egui_wgpu`
//! callback) and into [`OffscreenRenderer`]'s texture, which is read back as RGBA8 for PNG
//! snapshots and tests. [`render_cpu`] is the CPU reference of the whole picture.

use std::path::Path;
use std::sync::mpsc;

use crate::colormap::{Colormap, Mapping, MappingParams};
use crate::error::ViewerError;
use crate::image::{ImageRef, PixelType};

/// Colour outside the image (dark gray), as RGBA8.
pub const BACKGROUND: [u8; 4] = [32, 32, 32, 255];

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

/// The uniform block of `shader.wgsl` (`struct View`), 64 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewUniforms {
    offset: [f32; 2],
    origin: [f32; 2],
    scale: f32,
    low: f32,
    gain: f32,
    log_norm: f32,
    log_scale: u32,
    reversed: u32,
    image_size: [u32; 2],
    background: [f32; 4],
}

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

fn texture_format(t: PixelType) -> wgpu::TextureFormat {
    match t {
        PixelType::U8 => wgpu::TextureFormat::R8Uint,
        PixelType::U16 => wgpu::TextureFormat::R16Uint,
        PixelType::U32 => wgpu::TextureFormat::R32Uint,
        PixelType::F32 => wgpu::TextureFormat::R32Float,
    }
}

/// 0 for the integer pipeline (`texture_2d<u32>`), 1 for the float one.
fn pipeline_slot(t: PixelType) -> usize {
    usize::from(t == PixelType::F32)
}

struct FrameTexture {
    texture: wgpu::Texture,
    width: u32,
    height: u32,
    pixel_type: PixelType,
    bind_group: wgpu::BindGroup,
}

/// GPU resources to draw one image: pipelines, LUT, uniforms and the frame texture.
pub struct ImageRenderer {
    pipelines: [wgpu::RenderPipeline; 2],
    layouts: [wgpu::BindGroupLayout; 2],
    uniforms: wgpu::Buffer,
    lut: wgpu::Texture,
    lut_view: wgpu::TextureView,
    lut_colormap: Option<Colormap>,
    frame: Option<FrameTexture>,
    frame_tag: Option<u64>,
}

impl std::fmt::Debug for ImageRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageRenderer")
            .field("frame", &self.frame_shape())
            .field("colormap", &self.lut_colormap)
            .finish_non_exhaustive()
    }
}

impl ImageRenderer {
    /// Creates the pipelines for render targets of `target_format` (use a non-sRGB format:
    /// the LUT holds display colours already).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let source = include_str!("shader.wgsl");
        let make = |texel: &str, sample_type: wgpu::TextureSampleType| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("daqflow viewer image shader"),
                source: wgpu::ShaderSource::Wgsl(source.replace("TEXEL_TYPE", texel).into()),
            });
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("daqflow viewer bind group layout"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Texture {
                            sample_type,
                            view_dimension: wgpu::TextureViewDimension::D2,
                            multisampled: false,
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 2,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Texture {
                            sample_type: wgpu::TextureSampleType::Float { filterable: false },
                            view_dimension: wgpu::TextureViewDimension::D2,
                            multisampled: false,
                        },
                        count: None,
                    },
                ],
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("daqflow viewer pipeline layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("daqflow viewer pipeline"),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: target_format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
            (pipeline, layout)
        };
        let (p_uint, l_uint) = make("u32", wgpu::TextureSampleType::Uint);
        let (p_float, l_float) = make("f32", wgpu::TextureSampleType::Float { filterable: false });
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("daqflow viewer uniforms"),
            size: std::mem::size_of::<ViewUniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let lut = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("daqflow viewer colormap"),
            size: wgpu::Extent3d {
                width: 256,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let lut_view = lut.create_view(&wgpu::TextureViewDescriptor::default());
        Self {
            pipelines: [p_uint, p_float],
            layouts: [l_uint, l_float],
            uniforms,
            lut,
            lut_view,
            lut_colormap: None,
            frame: None,
            frame_tag: None,
        }
    }

    /// (width, height, dtype) of the uploaded frame, if any.
    pub fn frame_shape(&self) -> Option<(u32, u32, PixelType)> {
        self.frame
            .as_ref()
            .map(|f| (f.width, f.height, f.pixel_type))
    }

    /// Uploads `image` unless the frame tagged `tag` is the one on the GPU already.
    /// (egui may run several passes per painted frame and paint only the last: each pass's
    /// callback carries the frame and its tag, and the first one painted uploads it.)
    pub fn upload_tagged(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        tag: u64,
        image: &ImageRef<'_>,
    ) {
        if self.frame_tag != Some(tag) {
            self.upload(device, queue, image);
            self.frame_tag = Some(tag);
        }
    }

    /// Uploads `image`; the texture is re-created only when the shape or dtype changes.
    pub fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, image: &ImageRef<'_>) {
        let (w, h, t) = (image.width(), image.height(), image.pixel_type());
        self.frame_tag = None;
        if self.frame_shape() != Some((w, h, t)) {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("daqflow viewer frame"),
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: texture_format(t),
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("daqflow viewer bind group"),
                layout: &self.layouts[pipeline_slot(t)],
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: self.uniforms.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(&self.lut_view),
                    },
                ],
            });
            self.frame = Some(FrameTexture {
                texture,
                width: w,
                height: h,
                pixel_type: t,
                bind_group,
            });
        }
        let frame = self.frame.as_ref().expect("frame texture was just created");
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &frame.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            image.bytes(),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * t.size_bytes() as u32),
                rows_per_image: Some(h),
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
    }

    /// Writes the uniforms (and the LUT when the colormap changed) for the next draw.
    pub fn prepare(&mut self, queue: &wgpu::Queue, params: &DrawParams) {
        if self.lut_colormap != Some(params.colormap) {
            let lut = params.colormap.lut();
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.lut,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                lut.as_flattened(),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(256 * 4),
                    rows_per_image: Some(1),
                },
                wgpu::Extent3d {
                    width: 256,
                    height: 1,
                    depth_or_array_layers: 1,
                },
            );
            self.lut_colormap = Some(params.colormap);
        }
        let (w, h, t) = self.frame_shape().unwrap_or((0, 0, PixelType::U8));
        let MappingParams {
            low,
            gain,
            log_norm,
            log,
            reversed,
        } = params.mapping.params(t);
        let u = ViewUniforms {
            offset: params.transform.offset,
            origin: params.origin,
            scale: params.transform.scale,
            low,
            gain,
            log_norm,
            log_scale: log,
            reversed,
            image_size: [w, h],
            background: BACKGROUND.map(|c| f32::from(c) / 255.0),
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&u));
    }

    /// Draws the image into `pass` (its viewport/scissor decide where). Draws nothing before
    /// the first upload.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>) {
        if let Some(frame) = &self.frame {
            pass.set_pipeline(&self.pipelines[pipeline_slot(frame.pixel_type)]);
            pass.set_bind_group(0, &frame.bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
    }
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
    pub fn write_png(&self, path: &Path) -> Result<(), ViewerError> {
        let err = |message: String| ViewerError::Png {
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
    pub fn read_png(path: &Path) -> Result<Self, ViewerError> {
        let err = |message: String| ViewerError::Png {
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

/// The CPU reference of a whole picture: exactly what [`ImageRenderer`] draws into an
/// `out_w`×`out_h` target at origin (0, 0).
pub fn render_cpu(image: &ImageRef<'_>, params: &DrawParams, out_w: u32, out_h: u32) -> RgbaImage {
    let mp = params.mapping.params(image.pixel_type());
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

/// A wgpu device without a window.
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is (name, backend, `device_type` Cpu for lavapipe/llvmpipe).
    pub info: wgpu::AdapterInfo,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens the default adapter (backends and adapter can be chosen with wgpu's
    /// `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` environment variables). Without `WGPU_BACKEND`,
    /// Vulkan (Metal, DX12) is tried first and GL only when it has no adapter: probing EGL
    /// needlessly logs driver errors on machines without GL.
    pub fn headless() -> Result<Self, ViewerError> {
        let from_env = std::env::var_os("WGPU_BACKEND").is_some();
        let tries: &[Option<wgpu::Backends>] = if from_env {
            &[None]
        } else {
            &[Some(wgpu::Backends::PRIMARY), Some(wgpu::Backends::all())]
        };
        let mut last_error = String::from("no backend tried");
        for backends in tries {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            if let Some(b) = backends {
                desc.backends = *b;
            }
            let instance = wgpu::Instance::new(desc);
            match pollster::block_on(
                instance.request_adapter(&wgpu::RequestAdapterOptions::default()),
            ) {
                Ok(adapter) => return Self::open(adapter),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(ViewerError::NoAdapter(last_error))
    }

    fn open(adapter: wgpu::Adapter) -> Result<Self, ViewerError> {
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("daqflow viewer"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|source| ViewerError::Device {
            adapter: info.name.clone(),
            source,
        })?;
        Ok(Self {
            device,
            queue,
            info,
        })
    }

    /// True for a software rasteriser (lavapipe, llvmpipe, WARP).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// One line for logs: "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }
}

/// One line describing an adapter, for logs.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

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
            return Err(ViewerError::BadImage("no frame uploaded yet".into()));
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

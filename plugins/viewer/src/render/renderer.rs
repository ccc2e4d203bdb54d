//! [`ImageRenderer`]: the GPU side of one displayed image — the frame texture (R8Uint,
//! R16Uint, R32Uint or R32Float, read with `textureLoad`), the 256×1 RGBA8 colormap
//! texture and the uniforms (contrast window, scale, reversed, zoom/pan). It draws one
//! full-screen triangle into whatever render pass it is given, so each *output* pixel is
//! computed once: the same code draws into the egui window (through an `egui_wgpu`
//! callback) and into the offscreen target. `shader.wgsl` computes what
//! `daqflow_display::render_cpu` does on the CPU.

use daqflow_display::{BACKGROUND, Colormap, DrawParams, ImageRef, MappingParams};
use daqflow_sdk::DType;

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

fn texture_format(t: DType) -> wgpu::TextureFormat {
    match t {
        DType::U8 => wgpu::TextureFormat::R8Uint,
        DType::U16 => wgpu::TextureFormat::R16Uint,
        DType::U32 => wgpu::TextureFormat::R32Uint,
        DType::F32 => wgpu::TextureFormat::R32Float,
        _ => unreachable!("this SDK has no other dtype"),
    }
}

/// 0 for the integer pipeline (`texture_2d<u32>`), 1 for the float one.
fn pipeline_slot(t: DType) -> usize {
    usize::from(t == DType::F32)
}

struct FrameTexture {
    texture: wgpu::Texture,
    width: u32,
    height: u32,
    dtype: DType,
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
    pub fn frame_shape(&self) -> Option<(u32, u32, DType)> {
        self.frame.as_ref().map(|f| (f.width, f.height, f.dtype))
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
        let (w, h, t) = (image.width(), image.height(), image.dtype());
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
                dtype: t,
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
        let (w, h, t) = self.frame_shape().unwrap_or((0, 0, DType::U8));
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
            pass.set_pipeline(&self.pipelines[pipeline_slot(frame.dtype)]);
            pass.set_bind_group(0, &frame.bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
    }
}

// The viewer's image shader: one full-screen triangle; every *output* pixel looks up its
// image pixel (nearest neighbour, zoom/pan from uniforms), maps the raw value through the
// contrast window to a LUT index and returns the colormap entry.
//
// `TEXEL_TYPE` is replaced by `u32` (R8Uint/R16Uint/R32Uint) or `f32` (R32Float) before
// compilation. Keep `lut_index` in step with `Mapping::lut_index` in colormap.rs: the tests
// compare the two bit for bit.

struct View {
    // Image coordinates at the drawing area's top-left output pixel corner.
    offset: vec2<f32>,
    // Framebuffer coordinates of the drawing area's top-left corner.
    origin: vec2<f32>,
    // Image pixels per output pixel (1 / zoom).
    scale: f32,
    low: f32,
    gain: f32,
    log_norm: f32,
    log_scale: u32,
    reversed: u32,
    image_size: vec2<u32>,
    background: vec4<f32>,
};

const LOG_GAIN: f32 = 1000.0;

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var image: texture_2d<TEXEL_TYPE>;
@group(0) @binding(2) var lut: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let x = f32(i32(i & 1u) * 4 - 1);
    let y = f32(i32(i >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn is_nan(v: f32) -> bool {
    // Bit test: a `v != v` comparison may be folded away by fast-math compilers.
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn lut_index(v: f32) -> u32 {
    var idx: f32;
    if is_nan(v) {
        idx = 0.0;
    } else if view.log_scale == 0u {
        idx = clamp((v - view.low) * view.gain, 0.0, 255.0);
    } else {
        let s = clamp((v - view.low) * view.gain, 0.0, 1.0);
        idx = clamp(log(1.0 + LOG_GAIN * s) * view.log_norm, 0.0, 255.0);
    }
    var i = u32(idx);
    if view.reversed != 0u {
        i = 255u - i;
    }
    return i;
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let p = view.offset + (pos.xy - view.origin) * view.scale;
    if p.x < 0.0 || p.y < 0.0 {
        return view.background;
    }
    let ix = u32(floor(p.x));
    let iy = u32(floor(p.y));
    if ix >= view.image_size.x || iy >= view.image_size.y {
        return view.background;
    }
    let v = f32(textureLoad(image, vec2<u32>(ix, iy), 0).r);
    return textureLoad(lut, vec2<u32>(lut_index(v), 0u), 0);
}

//! The GPU renderer against its CPU reference and golden PNG snapshots, on whatever
//! adapter wgpu picks (lavapipe on CI).

mod common;

use daqflow_display::{
    Colormap, DrawParams, Mapping, OwnedImage, Scale, ViewTransform, render_cpu,
};
use daqflow_plugin_viewer::render::OffscreenRenderer;

fn params(mapping: Mapping, colormap: Colormap, transform: ViewTransform) -> DrawParams {
    DrawParams {
        mapping,
        colormap,
        transform,
        origin: [0.0, 0.0],
    }
}

fn assert_exact(r: &mut OffscreenRenderer, img: &OwnedImage, p: &DrawParams, w: u32, h: u32) {
    let gpu = r.render(p, w, h).unwrap();
    let cpu = render_cpu(&img.as_ref(), p, w, h);
    let diff = gpu
        .pixels
        .chunks_exact(4)
        .zip(cpu.pixels.chunks_exact(4))
        .position(|(a, b)| a != b);
    if let Some(i) = diff {
        let (x, y) = (i as u32 % w, i as u32 / w);
        panic!(
            "{:?} {w}x{h} {p:?}: first difference at output ({x}, {y}): gpu {:?} cpu {:?}",
            img.dtype,
            &gpu.pixels[i * 4..i * 4 + 4],
            &cpu.pixels[i * 4..i * 4 + 4]
        );
    }
}

fn all_dtypes(w: u32, h: u32) -> Vec<(OwnedImage, (f64, f64))> {
    vec![
        (common::pattern_u8(w, h), (10.0, 240.0)),
        (common::pattern_u16(w, h), (100.0, 3000.0)),
        (common::pattern_u32(w, h), (1.0e8, 3.5e9)),
        (common::pattern_f32(w, h), (-0.25, 1.25)),
    ]
}

#[test]
fn gpu_equals_cpu_reference_for_every_dtype_and_colormap() {
    let Some(gpu) = common::gpu() else { return };
    let mut r = OffscreenRenderer::new(gpu);
    for (img, (lo, hi)) in all_dtypes(67, 45) {
        r.upload(&img.as_ref());
        for cmap in Colormap::ALL {
            for reversed in [false, true] {
                let mut m = Mapping::linear(lo, hi);
                m.reversed = reversed;
                let p = params(m, cmap, ViewTransform::IDENTITY);
                assert_exact(&mut r, &img, &p, 67, 45);
            }
        }
        // Full integer range and an empty window.
        let full = if img.dtype.is_integer() {
            (img.dtype.min_value(), img.dtype.max_value())
        } else {
            (-1.0, 1.0)
        };
        for (lo, hi) in [full, (lo, lo)] {
            let p = params(
                Mapping::linear(lo, hi),
                Colormap::Gray,
                ViewTransform::IDENTITY,
            );
            assert_exact(&mut r, &img, &p, 67, 45);
        }
    }
}

#[test]
fn gpu_equals_cpu_reference_zoomed_and_panned() {
    let Some(gpu) = common::gpu() else { return };
    let mut r = OffscreenRenderer::new(gpu);
    let img = common::pattern_u16(40, 30);
    r.upload(&img.as_ref());
    let transforms = [
        ViewTransform {
            offset: [0.0, 0.0],
            scale: 0.5,
        },
        ViewTransform {
            offset: [-3.0, 5.0],
            scale: 0.25,
        },
        ViewTransform {
            offset: [10.0, -7.0],
            scale: 2.0,
        },
        ViewTransform::centred((40, 30), (90, 50), 0.5),
        ViewTransform {
            offset: [0.5, 0.25],
            scale: 1.0,
        },
    ];
    for t in transforms {
        let p = params(Mapping::linear(0.0, 4095.0), Colormap::Viridis, t);
        assert_exact(&mut r, &img, &p, 90, 50);
    }
}

#[test]
fn log_scale_matches_cpu_within_one_step() {
    // log() is not correctly rounded on GPUs: allow one LUT step.
    let Some(gpu) = common::gpu() else { return };
    let mut r = OffscreenRenderer::new(gpu);
    for (img, (lo, hi)) in all_dtypes(50, 40) {
        r.upload(&img.as_ref());
        let mut m = Mapping::linear(lo, hi);
        m.scale = Scale::Log;
        let p = params(m, Colormap::Gray, ViewTransform::IDENTITY);
        let gpu = r.render(&p, 50, 40).unwrap();
        let cpu = render_cpu(&img.as_ref(), &p, 50, 40);
        let worst = gpu
            .pixels
            .iter()
            .zip(&cpu.pixels)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "{:?}: log differs by {worst}", img.dtype);
    }
}

#[test]
fn shape_and_dtype_change_mid_stream() {
    let Some(gpu) = common::gpu() else { return };
    let mut r = OffscreenRenderer::new(gpu);
    let frames = [
        common::pattern_u16(64, 48),
        common::pattern_u8(31, 17),
        common::pattern_u16(64, 48),
        common::pattern_f32(100, 3),
        common::pattern_u16(64, 48),
    ];
    for img in &frames {
        r.upload(&img.as_ref());
        let t = ViewTransform::fit((img.width, img.height), (80, 60));
        let p = params(Mapping::linear(0.0, 255.0), Colormap::Magma, t);
        assert_exact(&mut r, img, &p, 80, 60);
    }
}

#[test]
fn golden_snapshots() {
    let Some(gpu) = common::gpu() else { return };
    let mut r = OffscreenRenderer::new(gpu);

    let img = common::pattern_u16(128, 96);
    r.upload(&img.as_ref());
    let fit = ViewTransform::fit((128, 96), (160, 120));
    let p = params(Mapping::linear(0.0, 4095.0), Colormap::Viridis, fit);
    common::assert_snapshot("u16_viridis_fit", &r.render(&p, 160, 120).unwrap());

    let mut m = Mapping::linear(0.0, 4095.0);
    m.scale = Scale::Log;
    let p = params(m, Colormap::Inferno, fit);
    common::assert_snapshot("u16_inferno_log_fit", &r.render(&p, 160, 120).unwrap());

    let zoom = ViewTransform::centred((128, 96), (160, 120), 0.25);
    let p = params(Mapping::linear(500.0, 2500.0), Colormap::Magma, zoom);
    common::assert_snapshot("u16_magma_zoom4", &r.render(&p, 160, 120).unwrap());

    let img = common::pattern_f32(128, 96);
    r.upload(&img.as_ref());
    let mut m = Mapping::linear(-0.5, 1.5);
    m.reversed = true;
    let p = params(m, Colormap::Gray, fit);
    common::assert_snapshot("f32_gray_reversed", &r.render(&p, 160, 120).unwrap());
}

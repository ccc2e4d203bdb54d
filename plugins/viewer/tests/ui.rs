//! The egui interface rendered headless with egui_kittest on wgpu (lavapipe on CI): a UI
//! snapshot, auto-contrast interaction, zoom/pan and the pixel readout.

mod common;

use std::sync::Arc;

use daqflow_display::{Colormap, ContrastMode, OwnedImage, TestFrame, ViewState};
use daqflow_plugin_viewer::config::Settings;
use daqflow_plugin_viewer::shared::Shared;
use daqflow_plugin_viewer::ui::{ViewerUi, install_renderer};
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};

fn frame(image: OwnedImage, number: u64) -> TestFrame {
    // A timestamp in the future: latency shows 0, whatever the machine's speed.
    TestFrame {
        image,
        number,
        timestamp_ns: u64::MAX,
    }
}

type UiHarness = Harness<'static, ViewerUi<TestFrame>>;

fn harness(view: ViewState) -> Option<(UiHarness, Arc<Shared<TestFrame>>)> {
    // Fails under CI=true when no adapter exists, skips otherwise.
    common::gpu()?;
    let rs = egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    install_renderer(&rs);
    let shared = Arc::new(Shared::default());
    let mut ui = ViewerUi::new(shared.clone(), view, 1000.0, Box::new(|_| {}));
    ui.show_timing = false;
    let h = Harness::builder()
        .with_size(egui::Vec2::new(960.0, 720.0))
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, state: &mut ViewerUi<TestFrame>| state.show(ui), ui);
    Some((h, shared))
}

fn test_image() -> OwnedImage {
    common::pattern_u16(256, 192)
}

#[test]
fn ui_snapshot() {
    let mut view = Settings::default().view_state();
    view.colormap = Colormap::Viridis;
    let Some((mut h, shared)) = harness(view) else {
        return;
    };
    shared.publish(frame(test_image(), 41));
    h.run();
    assert_eq!(h.state().frame_number(), Some(41));
    h.snapshot_options(
        "ui_viewer",
        &SnapshotOptions::new().threshold(2.0).max_failed_pixels(200),
    );
}

#[test]
fn auto_contrast_changes_the_levels() {
    let mut view = Settings::default().view_state();
    view.contrast = ContrastMode::Manual;
    view.manual = Some((0.0, 65535.0));
    // About 1 % of the test pattern is hot pixels: cut them.
    view.percentiles = (1.0, 98.0);
    let Some((mut h, shared)) = harness(view) else {
        return;
    };
    shared.publish(frame(test_image(), 1));
    h.run();
    let m = h.state().mapping();
    assert_eq!((m.low, m.high), (0.0, 65535.0));

    h.get_by_label("auto (min/max)").click();
    h.run();
    let m = h.state().mapping();
    let (lo, hi) = (m.low, m.high);
    assert_eq!(h.state().view.contrast, ContrastMode::MinMax);
    assert!(lo >= 0.0 && hi == 4095.0 && lo < 1000.0, "{lo} {hi}");

    h.get_by_label("auto (percentile)").click();
    h.run();
    let m = h.state().mapping();
    assert_eq!(h.state().view.contrast, ContrastMode::Percentile);
    assert!(m.low >= lo && m.high < hi, "{m:?} vs min/max {lo}..{hi}");
    h.snapshot_options(
        "ui_auto_percentile",
        &SnapshotOptions::new().threshold(2.0).max_failed_pixels(200),
    );
}

#[test]
fn wheel_zooms_drag_pans_and_hover_reads_pixels() {
    let view = Settings::default().view_state();
    let Some((mut h, shared)) = harness(view) else {
        return;
    };
    shared.publish(frame(test_image(), 1));
    h.run();
    let fit = h.state().transform();

    // Hover the image area's centre: the readout names a pixel near the image centre.
    let centre = egui::Pos2::new(345.0, 360.0);
    h.hover_at(centre);
    h.run();
    let (x, y, v) = h.state().readout().expect("readout under the pointer");
    assert!(
        (100..156).contains(&x) && (70..122).contains(&y),
        "({x}, {y})"
    );
    let img = test_image();
    assert_eq!(Some(v), img.as_ref().value(x, y));

    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::Vec2::new(0.0, 200.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    h.run();
    let zoomed = h.state().transform();
    assert!(
        zoomed.scale < fit.scale,
        "wheel up zooms in: {fit:?} → {zoomed:?}"
    );

    h.drag_at(centre);
    h.hover_at(centre + egui::Vec2::new(40.0, 0.0));
    h.run();
    h.drop_at(centre + egui::Vec2::new(40.0, 0.0));
    h.run();
    let panned = h.state().transform();
    assert!(
        panned.offset[0] < zoomed.offset[0],
        "drag right moves the image right"
    );

    h.get_by_label("fit").click();
    h.run();
    assert_eq!(h.state().transform(), fit);
}

#[test]
fn dragging_the_histogram_handles_sets_a_manual_window() {
    let view = Settings::default().view_state();
    let Some((mut h, shared)) = harness(view) else {
        return;
    };
    shared.publish(frame(test_image(), 1));
    h.run();
    let before = h.state().mapping();
    let axis = h.state().histogram_axis().expect("a histogram is drawn");
    // One histogram point is this many pixel values: the precision of a drag.
    let step = (axis.high - axis.low) / f64::from(axis.plot.width());
    let y = axis.plot.center().y;
    let drag = |h: &mut UiHarness, from: f32, to: f32| {
        h.drag_at(egui::Pos2::new(from, y));
        h.run();
        for i in 1..=4 {
            let x = from + (to - from) * i as f32 / 4.0;
            h.hover_at(egui::Pos2::new(x, y));
            h.run();
        }
        h.drop_at(egui::Pos2::new(to, y));
        h.run();
    };

    // The low handle, dragged right to 1000.
    drag(&mut h, axis.x_of(before.low), axis.x_of(1000.0));
    assert_eq!(h.state().view.contrast, ContrastMode::Manual);
    let m = h.state().mapping();
    assert!(
        (m.low - 1000.0).abs() <= step + 1.0,
        "low {} vs 1000",
        m.low
    );
    assert_eq!(m.high, before.high, "the high handle did not move");
    assert_eq!(h.state().view.manual, Some((m.low, m.high)));

    // The high handle, dragged left to 3000.
    let axis = h.state().histogram_axis().unwrap();
    drag(&mut h, axis.x_of(m.high), axis.x_of(3000.0));
    let m2 = h.state().mapping();
    assert!(
        (m2.high - 3000.0).abs() <= step + 1.0,
        "high {} vs 3000",
        m2.high
    );
    assert_eq!(m2.low, m.low, "the low handle did not move");
    assert_eq!(m2.low.fract(), 0.0, "integer frames get integer levels");
    // The shown image follows the window: a snapshot of the UI with both handles moved.
    h.snapshot_options(
        "ui_manual_handles",
        &SnapshotOptions::new().threshold(2.0).max_failed_pixels(200),
    );
}

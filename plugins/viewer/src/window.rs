//! Window mode: an eframe (wgpu backend) window on a thread owned by the viewer node.
//!
//! winit normally insists on the main thread; on Linux `with_any_thread(true)` (X11 and
//! Wayland builder extensions) lets the node's thread own the event loop. The thread ends
//! when the user closes the window or when the sink's `stop` asks the window to close.
//! winit 0.30 creates one event loop per process: a second window in the same process
//! (two viewer nodes, or a viewer re-started after its window closed) fails to open.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use daqflow_display::ViewFrame;

use crate::config::Settings;
use crate::error::ViewerError;
use crate::render::describe_adapter;
use crate::shared::{OnDisplay, Shared};
use crate::ui::{ViewerUi, install_renderer};
use daqflow_sdk::thread::lower_thread_priority;

/// How long `start` waits for the window and its GPU device to come up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

struct ViewerApp<F> {
    ui: ViewerUi<F>,
    shared: Arc<Shared<F>>,
    close_sent: bool,
}

impl<F: ViewFrame + Clone> eframe::App for ViewerApp<F> {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        // The pipeline stopped: the run is over, close the window.
        if self.shared.slot.is_closed() && !self.close_sent {
            self.close_sent = true;
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.ui.show(ui);
    }
}

/// The window is open on `adapter`; its thread returns when it closes.
pub struct WindowHandle {
    /// The window thread.
    pub thread: JoinHandle<Result<(), ViewerError>>,
    /// The adapter eframe chose.
    pub adapter: wgpu::AdapterInfo,
}

/// Opens the window on a new thread and waits until it is up (or failed). `on_user_close`
/// runs on that thread when the user closes the window (not when `stop` closes it).
///
/// A plain thread, not `Context::spawn_worker`: when the window does not open within
/// [`OPEN_TIMEOUT`] the thread is left running (it owns winit's event loop, which cannot be
/// interrupted) while `auto` mode goes on headless — a worker would be joined when dropped,
/// and `start` would hang on it.
pub fn spawn<F: ViewFrame + Clone>(
    shared: Arc<Shared<F>>,
    settings: &Settings,
    node: &str,
    on_display: OnDisplay<F>,
    on_user_close: Box<dyn FnOnce() + Send>,
) -> Result<WindowHandle, ViewerError> {
    let title = settings
        .title
        .clone()
        .unwrap_or_else(|| format!("daqflow viewer — {node}"));
    let [w, h] = settings.window_size;
    let view = settings.view_state();
    let settings = settings.clone();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<wgpu::AdapterInfo, String>>(1);
    let thread = std::thread::Builder::new()
        .name(format!("viewer-{node}"))
        .spawn(move || {
            // Before the GPU device exists: a software rasteriser's threads inherit it.
            lower_thread_priority("viewer: the window thread");
            let options = eframe::NativeOptions {
                viewport: egui::ViewportBuilder::default()
                    .with_title(title.clone())
                    .with_app_id("daqflow-viewer")
                    .with_inner_size([w as f32, h as f32]),
                renderer: eframe::Renderer::Wgpu,
                run_and_return: true,
                event_loop_builder: Some(Box::new(|_builder| {
                    // Both extensions set the same flag; X11's is enough for either.
                    // (Elsewhere winit needs the main thread, which a plugin does not own:
                    // opening the window fails and auto mode falls back to headless.)
                    #[cfg(target_os = "linux")]
                    winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(_builder, true);
                })),
                ..Default::default()
            };
            let creator_tx = ready_tx.clone();
            let app_shared = shared.clone();
            let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let opened_in_app = opened.clone();
            let result = eframe::run_native(
                &title,
                options,
                Box::new(move |cc| {
                    let Some(rs) = cc.wgpu_render_state.as_ref() else {
                        let msg = "eframe gave no wgpu render state".to_owned();
                        let _ = creator_tx.send(Err(msg.clone()));
                        return Err(msg.into());
                    };
                    install_renderer(rs);
                    let info = rs.adapter.get_info();
                    let cpu = info.device_type == wgpu::DeviceType::Cpu;
                    let cap = settings.fps_cap(cpu);
                    // `start` stopped waiting (timeout) and went headless: do not open.
                    if creator_tx.send(Ok(info)).is_err() {
                        return Err("the viewer gave up waiting for the window".into());
                    }
                    opened_in_app.store(true, Ordering::Release);
                    let _ = app_shared.egui.set(cc.egui_ctx.clone());
                    Ok(Box::new(ViewerApp {
                        ui: ViewerUi::new(app_shared.clone(), view, cap, on_display),
                        shared: app_shared,
                        close_sent: false,
                    }))
                }),
            );
            // Only a window that was shown can be "closed"; one that never opened must not
            // turn the sink into a counter (auto mode may be running headless instead).
            if opened.load(Ordering::Acquire) {
                shared.stats.window_closed.store(true, Ordering::Release);
                if result.is_ok() && !shared.slot.is_closed() {
                    on_user_close();
                }
            }
            result.map_err(|e| {
                let msg = e.to_string();
                // Only read if the window never came up.
                let _ = ready_tx.try_send(Err(msg.clone()));
                ViewerError::Window(msg)
            })
        })
        .map_err(|e| ViewerError::Window(format!("spawn the window thread: {e}")))?;
    match ready_rx.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok(adapter)) => {
            log::info!(
                "viewer window open on {}{}",
                describe_adapter(&adapter),
                if adapter.device_type == wgpu::DeviceType::Cpu {
                    " — a CPU adapter: repaint capped"
                } else {
                    ""
                }
            );
            Ok(WindowHandle { thread, adapter })
        }
        Ok(Err(msg)) => {
            let _ = thread.join();
            Err(ViewerError::Window(msg))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(match thread.join() {
            Ok(Err(e)) => e,
            _ => ViewerError::Window("the window thread ended before opening".into()),
        }),
        // The thread is left running: it owns the event loop and cannot be interrupted.
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ViewerError::Window(format!(
            "the window did not open within {} s",
            OPEN_TIMEOUT.as_secs()
        ))),
    }
}

/// True when a display server is advertised (`DISPLAY` or `WAYLAND_DISPLAY` set).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

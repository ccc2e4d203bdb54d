//! The `viewer` sink: `consume` swaps the newest frame into a one-frame slot and returns
//! (it never waits on drawing); a render thread owned by the node takes frames from the
//! slot and shows them in a window or renders PNG snapshots headless. On a lossy input
//! (the default `latest` lane) the viewer asks the core for at most two frames per repaint
//! (`Context::limit_input_rate`), so acquisition at kHz rates does not wake it per frame.
//!
//! Counters in the run report: `frames_received` (offered to the viewer by its lane,
//! including the ones the lane replaced), `frames_displayed`,
//! `frames_dropped_for_display` (received but replaced by a newer frame before being
//! drawn — by design, not a loss), `snapshots_written`, `frames_unshowable`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use daqflow_sdk::Worker;
use daqflow_sdk::prelude::*;

use crate::config::{Mode, Settings};
use crate::error::ViewerError;
use crate::headless::{self, SnapshotWriter};
use crate::render::Gpu;
use crate::shared::{OnDisplay, Shared};
use crate::window;
use daqflow_sdk::thread::lower_thread_priority;

/// How the viewer runs once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// A window.
    Window,
    /// Offscreen PNG snapshots.
    Headless,
    /// Headless without an adapter (auto mode only): frames are counted, nothing drawn.
    CountOnly,
}

/// The viewer sink.
pub struct Viewer {
    settings: Settings,
    shared: Arc<Shared<Frame>>,
    thread: Option<RenderThread>,
    running: Option<Running>,
    counters_at: Instant,
}

/// The thread that shows frames.
enum RenderThread {
    /// Headless: an SDK worker (the node's log scope, a panic becomes an error).
    Worker(Worker),
    /// The window's own thread: not a worker, see `window::spawn`.
    Window(JoinHandle<Result<(), ViewerError>>),
}

/// Frames taken from a lossy input lane per repaint at most (see `start`).
const INPUT_RATE_PER_REPAINT: f64 = 2.0;

/// Frames a second taken from a lossy lane when nothing is drawn before the end (headless
/// with `snapshot_every_frames = 0`, or no adapter): the slot stays fresh for the last
/// snapshot and the counters live, at a few wake-ups a second.
const IDLE_INPUT_RATE: f64 = 10.0;

/// How often `consume` refreshes the `frames_received` counter.
const COUNTER_INTERVAL: Duration = Duration::from_millis(100);

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("running", &self.running)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn publish_counters(ctx: &Context, shared: &Shared<Frame>) {
    let s = &shared.stats;
    ctx.set_counter("frames_received", s.received.load(Ordering::Relaxed));
    ctx.set_counter("frames_displayed", s.displayed.load(Ordering::Relaxed));
    ctx.set_counter("frames_dropped_for_display", s.dropped_for_display());
    ctx.set_counter("snapshots_written", s.snapshots.load(Ordering::Relaxed));
    ctx.set_counter("frames_unshowable", s.unshowable.load(Ordering::Relaxed));
}

/// A counters callback for the render thread (which has its own `Context` clone).
fn counter_updater(ctx: &Context) -> OnDisplay<Frame> {
    let ctx = ctx.clone();
    let mut bound = false;
    Box::new(move |shared| {
        if !bound {
            ctx.bind_log_thread();
            bound = true;
        }
        publish_counters(&ctx, shared);
    })
}

impl Viewer {
    /// What this viewer is doing, once started.
    pub fn running(&self) -> Option<Running> {
        self.running
    }

    fn start_headless(&mut self, ctx: &Context, gpu: Option<Gpu>) -> Result<(), PluginError> {
        let writer = gpu.map(|g| SnapshotWriter::new(g, self.settings.clone(), ctx.node_name()));
        self.running = Some(if writer.is_some() {
            Running::Headless
        } else {
            Running::CountOnly
        });
        let shared = self.shared.clone();
        let settings = self.settings.clone();
        let on_display = counter_updater(ctx);
        let worker = ctx.spawn_worker("render", move |_| {
            // Rendering and PNG encoding take the CPU time acquisition leaves.
            lower_thread_priority("viewer: the render thread");
            headless::run(shared, writer, &settings, on_display)
                .map_err(|e| PluginError::new(format!("viewer: {e}")))
        })?;
        self.thread = Some(RenderThread::Worker(worker));
        Ok(())
    }

    fn start_window(&mut self, ctx: &Context) -> Result<(), ViewerError> {
        claim_window(ctx.node_name())?;
        let close_ctx = ctx.clone();
        let stops_pipeline = self.settings.close_stops_pipeline;
        let on_user_close: Box<dyn FnOnce() + Send> = Box::new(move || {
            close_ctx.bind_log_thread();
            if stops_pipeline {
                log::info!("viewer window closed: stopping the pipeline (close_stops_pipeline)");
                close_ctx.request_stop();
            } else {
                log::info!("viewer window closed: the viewer stops, acquisition goes on");
            }
        });
        let handle = window::spawn(
            self.shared.clone(),
            &self.settings,
            ctx.node_name(),
            counter_updater(ctx),
            on_user_close,
        )?;
        self.thread = Some(RenderThread::Window(handle.thread));
        self.running = Some(Running::Window);
        // Nothing is drawn faster than the repaint cap, lower on a CPU adapter.
        let cpu = handle.adapter.device_type == wgpu::DeviceType::Cpu;
        limit_input(ctx, INPUT_RATE_PER_REPAINT * self.settings.fps_cap(cpu));
        Ok(())
    }

    /// Frames the lane replaced before this node took them count as received (and as
    /// dropped for display): the core offered them to the viewer.
    fn count_offered(&self, ctx: &Context) {
        self.shared
            .stats
            .received
            .fetch_max(ctx.input_frames_offered(), Ordering::Relaxed);
    }

    fn snapshot_target(&self, ctx: &Context) -> String {
        let s = &self.settings;
        let when = match (s.snapshot_every_frames, s.snapshot_on_stop) {
            (0, true) => "on stop".to_owned(),
            (0, false) => "never (snapshot_every_frames = 0, snapshot_on_stop = false)".to_owned(),
            (n, stop) => format!("every {n} frames{}", if stop { " and on stop" } else { "" }),
        };
        format!(
            "snapshots to {} {when}",
            s.snapshot_file(ctx.node_name(), 0).display()
        )
    }

    fn start_mode(&mut self, ctx: &Context) -> Result<(), PluginError> {
        match self.settings.mode {
            Mode::Headless => {
                let gpu = Gpu::headless()
                    .map_err(|e| PluginError::new(format!("viewer (mode = \"headless\"): {e}")))?;
                log::info!(
                    "viewer headless on {}; {}",
                    gpu.describe(),
                    self.snapshot_target(ctx)
                );
                self.start_headless(ctx, Some(gpu))
            }
            Mode::Window => self
                .start_window(ctx)
                .map_err(|e| PluginError::new(format!("viewer (mode = \"window\"): {e}"))),
            Mode::Auto => {
                let why_not = if window::display_available() {
                    match self.start_window(ctx) {
                        Ok(()) => return Ok(()),
                        Err(e) => e.to_string(),
                    }
                } else {
                    "no DISPLAY or WAYLAND_DISPLAY".to_owned()
                };
                match Gpu::headless() {
                    Ok(gpu) => {
                        log::info!(
                            "viewer: {why_not} → headless on {}; {}",
                            gpu.describe(),
                            self.snapshot_target(ctx)
                        );
                        self.start_headless(ctx, Some(gpu))
                    }
                    Err(e) => {
                        log::warn!("viewer: {why_not}, and {e} → frames are counted but not drawn");
                        self.start_headless(ctx, None)
                    }
                }
            }
        }
    }
}

impl Sink for Viewer {
    type Settings = Settings;
    const INPUT: InputLane = InputLane::PrefersLatest;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Self {
            settings,
            shared: Arc::new(Shared::default()),
            thread: None,
            running: None,
            counters_at: Instant::now(),
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        // Nothing is drawn faster than `max_fps`: the core need not wake this node for
        // each of thousands of frames a second (on a `latest` lane, the newest frame is
        // kept meanwhile). Twice the display rate keeps each repaint within half a repaint
        // interval of the newest frame. Refined below once the mode is known.
        limit_input(ctx, INPUT_RATE_PER_REPAINT * self.settings.max_fps);
        let result = self.start_mode(ctx);
        match self.running {
            Some(Running::Window) => {}
            Some(Running::Headless) if self.settings.snapshot_every_frames > 0 => {}
            Some(Running::Headless | Running::CountOnly) => limit_input(ctx, IDLE_INPUT_RATE),
            None => {}
        }
        result
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if self.shared.stats.window_closed.load(Ordering::Acquire) {
            // The user closed the window (the window thread has reacted already): the
            // viewer only counts and releases frames now.
            self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
            drop(frame);
        } else {
            self.shared.publish(frame);
        }
        self.count_offered(ctx);
        // The core's counter call allocates and locks: a few times a second is live enough.
        if self.counters_at.elapsed() >= COUNTER_INTERVAL {
            self.counters_at = Instant::now();
            ctx.set_counter(
                "frames_received",
                self.shared.stats.received.load(Ordering::Relaxed),
            );
        }
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.shared.slot.close();
        if let Some(egui) = self.shared.egui.get() {
            egui.request_repaint();
        }
        let result = match self.thread.take() {
            Some(RenderThread::Worker(worker)) => worker.join(),
            Some(RenderThread::Window(t)) => t
                .join()
                .map_err(|_| PluginError::new("the viewer thread panicked"))?
                .map_err(|e| PluginError::new(format!("viewer: {e}"))),
            None => Ok(()),
        };
        self.count_offered(ctx);
        publish_counters(ctx, &self.shared);
        result
    }
}

impl Drop for Viewer {
    /// Without a `stop` (a failed start elsewhere), the render thread is told to end here;
    /// the worker is then joined.
    fn drop(&mut self) {
        self.shared.slot.close();
    }
}

/// The node whose viewer tried to open this process's window: winit creates one event loop
/// per process, ever (even a failed attempt uses it up).
static WINDOW_OWNER: Mutex<Option<String>> = Mutex::new(None);

/// Claims the process's one window for `node`, or says which node has it.
fn claim_window(node: &str) -> Result<(), ViewerError> {
    let mut owner = WINDOW_OWNER.lock().unwrap_or_else(PoisonError::into_inner);
    match owner.as_deref() {
        Some(other) => Err(ViewerError::Window(format!(
            "viewer '{other}' already has this process's window (one window per process): \
             set mode = \"headless\" on all viewers but one, or run them in separate pipelines"
        ))),
        None => {
            *owner = Some(node.to_owned());
            Ok(())
        }
    }
}

/// Limits a lossy input (the `latest` default) to `hz` frames a second; lossless inputs
/// are never limited.
fn limit_input(ctx: &Context, hz: f64) {
    if !ctx.input_is_lossless() {
        ctx.limit_input_rate(hz);
    }
}

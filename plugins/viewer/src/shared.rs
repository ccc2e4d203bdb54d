//! What the sink and the render thread share ([`Shared`]): the one-frame slot, the
//! counters ([`Stats`]), and the window's wake-up — the UI sleeps while no frame arrives
//! and the next `publish` wakes it (and only that one, so a fast source does not make the
//! UI repaint at its rate).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use daqflow_display::LatestSlot;

/// Counters of one viewer node, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames handed to the viewer by the core.
    pub received: AtomicU64,
    /// Frames drawn (window) or rendered to a snapshot (headless).
    pub displayed: AtomicU64,
    /// PNG snapshots written.
    pub snapshots: AtomicU64,
    /// Frames that could not be shown (compressed, unsupported dtype).
    pub unshowable: AtomicU64,
    /// Set when the window was closed by the user.
    pub window_closed: AtomicBool,
}

impl Stats {
    /// Frames received but never shown (replaced in the slot by a newer one).
    pub fn dropped_for_display(&self) -> u64 {
        let received = self.received.load(Ordering::Relaxed);
        received.saturating_sub(self.displayed.load(Ordering::Relaxed))
    }
}

/// Called by the render thread after each displayed frame (the sink updates its run-report
/// counters there).
pub type OnDisplay<F> = Box<dyn FnMut(&Shared<F>) + Send>;

/// What the sink and the render thread share.
#[derive(Debug)]
pub struct Shared<F> {
    /// The newest frame not yet taken by the render thread.
    pub slot: LatestSlot<F>,
    /// Counters.
    pub stats: Stats,
    /// The window's egui context once it exists, to wake the UI when a frame arrives.
    pub egui: std::sync::OnceLock<egui::Context>,
    /// Set by the UI when it sleeps for want of frames: the next `publish` wakes it (and
    /// only that one, so a fast source does not make the UI repaint at its rate).
    pub ui_waiting: AtomicBool,
}

impl<F> Default for Shared<F> {
    fn default() -> Self {
        Self {
            slot: LatestSlot::new(),
            stats: Stats::default(),
            egui: std::sync::OnceLock::new(),
            ui_waiting: AtomicBool::new(false),
        }
    }
}

impl<F> Shared<F> {
    /// Hands `frame` to the render thread (replacing and dropping an older one) and wakes
    /// the window. Never blocks.
    pub fn publish(&self, frame: F) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        drop(self.slot.publish(frame));
        if self.ui_waiting.swap(false, Ordering::AcqRel)
            && let Some(ctx) = self.egui.get()
        {
            ctx.request_repaint();
        }
    }
}

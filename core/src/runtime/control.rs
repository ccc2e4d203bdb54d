//! What the caller controls about a run: [`RunControl`] (Ctrl-C presses, counted from a
//! signal handler) and [`RunOptions`] (live status, drain timeout). A leaf.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// External control of a run: Ctrl-C presses (from a signal handler).
#[derive(Debug, Default)]
pub struct RunControl {
    interrupts: AtomicU32,
}

impl RunControl {
    /// A new control.
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl::default())
    }

    /// One Ctrl-C: the first asks for an orderly stop, the second aborts.
    pub fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::SeqCst);
    }

    /// Ctrl-C presses so far.
    pub fn count(&self) -> u32 {
        self.interrupts.load(Ordering::SeqCst)
    }
}

/// Whether the live status is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMode {
    /// Report progress to the run's [`Monitor`](super::Monitor) (the CLI draws its
    /// status line with it).
    Auto,
    /// No status: the monitor, if any, is never called.
    Off,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Live status.
    pub status: StatusMode,
    /// Overrides `[pipeline] drain_timeout_secs`.
    pub drain_timeout: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            status: StatusMode::Auto,
            drain_timeout: None,
        }
    }
}

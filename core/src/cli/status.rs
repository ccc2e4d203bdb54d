//! The live status line of `daqflow run`: node rates, lane fill levels and drops, redrawn
//! in place on a terminal (a line every few seconds otherwise), and erased before anything
//! else is printed — by the runtime's supervisor through [`Monitor::clear`], and by the
//! logger through [`take_status_line`].

use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use daqflow::config::NodeKind;
use daqflow::runtime::{Live, Monitor};

/// The escape that returns to the start of the line and erases it.
const ERASE_LINE: &str = "\r\x1b[2K";

/// True while the live status line is drawn on the terminal (without a newline): a
/// logger writing to the same terminal calls [`take_status_line`] first to erase it.
static STATUS_ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// Erases the status line if one is on screen; returns the escape text to print first
/// (empty when none). The status line is redrawn at its next update.
pub fn take_status_line() -> &'static str {
    if STATUS_ON_SCREEN.swap(false, Ordering::Relaxed) {
        ERASE_LINE
    } else {
        ""
    }
}

/// Rates between two samples of the counters, drawn as one line on stderr.
pub struct StatusLine {
    tty: bool,
    last: Vec<u64>,
    last_t: Instant,
}

impl StatusLine {
    /// A status line for stderr.
    pub fn new() -> StatusLine {
        StatusLine {
            tty: std::io::stderr().is_terminal(),
            last: Vec::new(),
            last_t: Instant::now(),
        }
    }

    /// One status line from the live counters.
    fn render(&mut self, live: &Live<'_>) -> String {
        let now = Instant::now();
        let dt = now.duration_since(self.last_t).as_secs_f64().max(1e-3);
        self.last_t = now;
        let mut parts = Vec::new();
        for (i, n) in live.nodes().enumerate() {
            if self.last.len() <= i {
                self.last.resize(i + 1, 0);
            }
            let count = match n.kind {
                NodeKind::Source => n.frames_out,
                _ => n.frames_in,
            };
            let rate = (count - self.last[i].min(count)) as f64 / dt;
            self.last[i] = count;
            parts.push(format!("{} {:.0} fps", n.name, rate));
        }
        let mut lanes = Vec::new();
        let mut drops = 0;
        for l in live.lanes() {
            drops += l.dropped;
            lanes.push(format!("{}→{} {}/{}", l.from, l.to, l.queued, l.capacity));
        }
        format!(
            "[{:>6.1}s] {} | queues {} | dropped {}",
            live.elapsed().as_secs_f64(),
            parts.join(", "),
            lanes.join(" "),
            drops
        )
    }
}

impl Monitor for StatusLine {
    fn interval(&self) -> Duration {
        if self.tty {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        }
    }

    fn begin(&mut self) {
        self.last_t = Instant::now();
        STATUS_ON_SCREEN.store(false, Ordering::Relaxed);
    }

    fn update(&mut self, live: &Live<'_>) {
        let line = self.render(live);
        if self.tty {
            eprint!("{ERASE_LINE}{line}");
            let _ = std::io::stderr().flush();
            STATUS_ON_SCREEN.store(true, Ordering::Relaxed);
        } else {
            eprintln!("{line}");
        }
    }

    fn clear(&mut self) {
        let erase = take_status_line();
        if !erase.is_empty() {
            eprint!("{erase}");
        }
    }
}

//! Numbers as the panel shows them: frames-per-second estimates ([`RateMeter`]) and raw
//! pixel values formatted for reading ([`format_value`]).

use std::time::Instant;

/// A frames-per-second estimate over windows of about half a second.
#[derive(Debug, Clone)]
pub(super) struct RateMeter {
    since: Instant,
    count_at_since: u64,
    rate: f64,
}

impl RateMeter {
    pub(super) fn new() -> Self {
        Self {
            since: Instant::now(),
            count_at_since: 0,
            rate: 0.0,
        }
    }

    /// The rate, given the counter's value now (updated twice a second).
    pub(super) fn update(&mut self, count: u64) -> f64 {
        let dt = self.since.elapsed().as_secs_f64();
        if dt >= 0.5 {
            self.rate = count.saturating_sub(self.count_at_since) as f64 / dt;
            self.since = Instant::now();
            self.count_at_since = count;
        }
        self.rate
    }
}

/// A raw value for display: integers without decimals, floats with 4 significant digits.
pub(super) fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_naturally() {
        assert_eq!(format_value(4095.0), "4095");
        assert_eq!(format_value(0.25), "0.2500");
        assert_eq!(format_value(1.5e9 + 0.5), "1.500e9");
        assert_eq!(format_value(1e-4), "1.000e-4");
    }
}

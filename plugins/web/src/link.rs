//! What a client's acknowledgements say about its link, and what the client is sent
//! for it: the goodput estimate (a median of delivery-rate samples), the frame age and
//! displayed rate, and the codec choice — JPEG or lossless in automatic quality (with
//! hysteresis), and deflated or raw lossless frames (with a hold-off after a failed try).
//!
//! Goodput is estimated from acknowledgements — TCP writability says nothing about the
//! link (FINDINGS: socket buffers hide megabytes).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_sdk::now_ns;
use serde::Deserialize;

use crate::client::ClientConfig;
use crate::encode::Codec;
use crate::hub::Hub;

/// Delivery-rate samples kept for the goodput estimate (their median).
pub(crate) const GOODPUT_SAMPLES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
/// The quality a page asks for (`auto` chooses by the measured link).
pub(crate) enum Quality {
    #[default]
    Auto,
    Lossless,
    Lossy,
}

#[derive(Debug)]
/// A frame message sent and not yet acknowledged.
pub(crate) struct InFlight {
    pub(crate) seq: u64,
    pub(crate) sent_at: Instant,
    pub(crate) bytes: usize,
    pub(crate) frame_ts_ns: u64,
}

/// Per-client measurements.
#[derive(Debug)]
pub(crate) struct Link {
    /// Bytes a second the link delivers (the median of recent samples); `None` before
    /// the first sample.
    pub(crate) goodput: Option<f64>,
    /// The last delivery-rate samples, bytes a second.
    pub(crate) samples: VecDeque<f64>,
    /// When the last acknowledged message arrived in the browser (server clock).
    pub(crate) last_arrival: Option<Instant>,
    /// Last frame's age at acknowledgement, ms.
    pub(crate) age_ms: f64,
    /// Acks counted for the displayed rate, and since when.
    pub(crate) fps_count: u32,
    pub(crate) fps_since: Instant,
    pub(crate) fps: f64,
    /// Size of the last lossless payload per pixel sent (bytes), for the codec choice.
    pub(crate) lossless_bytes_per_px: f64,
    pub(crate) codec: Codec,
    /// Stored frames are not tried again before this (after they proved too big for the
    /// link), and the hold-off after the next failed try.
    pub(crate) stored_retry_at: Instant,
    pub(crate) stored_backoff: Duration,
}

impl Link {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            goodput: None,
            samples: VecDeque::with_capacity(GOODPUT_SAMPLES),
            last_arrival: None,
            age_ms: 0.0,
            fps_count: 0,
            fps_since: now,
            fps: 0.0,
            lossless_bytes_per_px: 1.0,
            // Until the first choice: `choose_codec` starts large views in JPEG (a first
            // lossless 1024² frame takes ~1 s at 10 Mbit/s, before the goodput is even
            // known) and small ones lossless.
            codec: Codec::Jpeg,
            stored_retry_at: now,
            stored_backoff: STORED_BACKOFF,
        }
    }
}

/// Counts an acknowledgement: the frame's age, a goodput sample, the displayed rate.
pub(crate) fn on_ack<F>(link: &mut Link, hub: &Hub<F>, f: &InFlight, busy_ms: f64) {
    let now = Instant::now();
    hub.stats.frames_acked.fetch_add(1, Ordering::Relaxed);
    link.age_ms = now_ns().saturating_sub(f.frame_ts_ns) as f64 / 1e6;
    hub.stats.age_buckets.record(link.age_ms);
    // A delivery-rate sample: the message's arrival in the browser is its ack minus the
    // time the browser held it (`busy_ms`: decoding, waiting for the previous frame's
    // paint, painting). It was carried from its send — or from the previous arrival, if
    // it queued behind that one — to its arrival. Arrivals are observed late when the
    // browser's main thread is busy, which errs both ways on consecutive samples: the
    // estimate is their median. Samples shorter than 2 ms (the browser's timer and
    // event-loop resolution) are counted as 2 ms: a lower bound of a fast link's rate.
    let arrival = now
        .checked_sub(Duration::from_secs_f64(busy_ms.clamp(0.0, 60_000.0) / 1e3))
        .unwrap_or(now);
    let start = match link.last_arrival {
        Some(a) if f.sent_at < a => a,
        _ => f.sent_at,
    };
    let interval = arrival
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(0.002);
    if link.samples.len() == GOODPUT_SAMPLES {
        link.samples.pop_front();
    }
    link.samples.push_back(f.bytes as f64 / interval);
    let mut sorted = [0f64; GOODPUT_SAMPLES];
    let sorted = &mut sorted[..link.samples.len()];
    for (d, s) in sorted.iter_mut().zip(&link.samples) {
        *d = *s;
    }
    sorted.sort_unstable_by(f64::total_cmp);
    link.goodput = Some(sorted[sorted.len() / 2]);
    link.last_arrival = Some(arrival.max(link.last_arrival.unwrap_or(arrival)));
    link.fps_count += 1;
    let dt = link.fps_since.elapsed().as_secs_f64();
    if dt >= 1.0 {
        link.fps = f64::from(link.fps_count) / dt;
        link.fps_count = 0;
        link.fps_since = now;
    }
}

/// Automatic quality starts lossless for views this small (est. deflated bytes: ~0.1 s at
/// 10 Mbit/s), JPEG for larger ones until the link is measured. The goodput measured
/// with small messages is bounded by latency rather than bandwidth, so starting small
/// views in JPEG could keep them there on a fast link with a busy browser.
const SMALL_LOSSLESS_BYTES: f64 = 128.0 * 1024.0;
/// First hold-off before stored frames are tried again after they proved too big for the
/// link (doubling up to a minute): goodput measured with small messages overestimates a
/// link with a burst allowance (a token bucket), so a try can fail; it must not flap.
const STORED_BACKOFF: Duration = Duration::from_secs(5);

/// Chooses the codec for this view (with hysteresis in automatic quality, and between
/// deflated and stored lossless frames).
pub(crate) fn choose_codec(
    link: &mut Link,
    quality: Quality,
    pixels: f64,
    raw_bytes_per_px: f64,
    cfg: &ClientConfig,
) -> Codec {
    let lossless = match quality {
        Quality::Lossless => true,
        Quality::Lossy => false,
        Quality::Auto => match link.goodput {
            // Before the first acknowledgement: lossless when the frame is small enough
            // to cross even a slow link quickly, JPEG otherwise.
            None => link.lossless_bytes_per_px * pixels <= SMALL_LOSSLESS_BYTES,
            Some(g) => {
                let needed = link.lossless_bytes_per_px * pixels * cfg.lossless_min_fps;
                match link.codec {
                    Codec::Jpeg => g > needed * 1.25,
                    _ => g >= needed * 0.8,
                }
            }
        },
    };
    link.codec = if !lossless {
        Codec::Jpeg
    } else {
        // Raw while the link carries `raw_min_fps` raw frames a second (30 by default):
        // deflate would then cost CPU (~30 ms for a 1024² u16 view) without buying frames.
        let stored_needed = raw_bytes_per_px * pixels * cfg.raw_min_fps;
        let now = Instant::now();
        match (link.codec, link.goodput) {
            _ if cfg.raw_min_fps == 0.0 => Codec::LosslessStored,
            (Codec::LosslessStored, Some(g)) if g < stored_needed * 0.8 => {
                link.stored_retry_at = now + link.stored_backoff;
                link.stored_backoff = (link.stored_backoff * 2).min(Duration::from_secs(60));
                Codec::Lossless
            }
            (Codec::LosslessStored, _) => Codec::LosslessStored,
            (_, Some(g)) if g > stored_needed * 1.25 && now >= link.stored_retry_at => {
                Codec::LosslessStored
            }
            _ => Codec::Lossless,
        }
    };
    link.codec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlowControl;

    fn cfg() -> ClientConfig {
        ClientConfig {
            credit: 2,
            flow: FlowControl::Credit,
            max_fps: 60.0,
            lossless_min_fps: 10.0,
            raw_min_fps: 30.0,
            jpeg_quality: 85,
            max_side: 4096,
            hello: String::new(),
        }
    }

    #[test]
    fn auto_quality_starts_small_views_lossless_and_large_ones_jpeg() {
        let mut link = Link::new(Instant::now());
        let small = 300.0 * 200.0;
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, small, 2.0, &cfg()),
            Codec::Lossless
        );
        let mut link = Link::new(Instant::now());
        let large = 1024.0 * 1024.0;
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, large, 2.0, &cfg()),
            Codec::Jpeg
        );
        // A measured 100 MB/s carries 1 MB lossless frames 100 times a second: lossless,
        // and raw 2 MB frames 50 times (> 30 × 1.25): stored.
        link.goodput = Some(100e6);
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, large, 2.0, &cfg()),
            Codec::LosslessStored
        );
        // A forced quality wins whatever the link.
        link.goodput = Some(1e3);
        assert_eq!(
            choose_codec(&mut link, Quality::Lossless, large, 2.0, &cfg()),
            Codec::Lossless
        );
        assert_eq!(
            choose_codec(&mut link, Quality::Lossy, large, 2.0, &cfg()),
            Codec::Jpeg
        );
    }

    #[test]
    fn stored_frames_that_prove_too_big_are_held_off() {
        let mut link = Link::new(Instant::now());
        let large = 1024.0 * 1024.0;
        link.codec = Codec::LosslessStored;
        // 40 MB/s: raw frames 20 times a second, below 30 × 0.8 → deflate again...
        link.goodput = Some(40e6);
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, large, 2.0, &cfg()),
            Codec::Lossless
        );
        // ...and a burst that looks fast does not switch back before the hold-off.
        link.goodput = Some(1e9);
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, large, 2.0, &cfg()),
            Codec::Lossless
        );
        assert_eq!(
            link.stored_backoff,
            STORED_BACKOFF * 2,
            "the next hold-off doubles"
        );
        link.stored_retry_at = Instant::now();
        assert_eq!(
            choose_codec(&mut link, Quality::Auto, large, 2.0, &cfg()),
            Codec::LosslessStored
        );
    }

    #[test]
    fn raw_min_fps_zero_is_always_raw_and_huge_never() {
        let large = 1024.0 * 1024.0;
        let always = ClientConfig {
            raw_min_fps: 0.0,
            ..cfg()
        };
        let mut link = Link::new(Instant::now());
        // Raw from the first frame, before any acknowledgement, and on a slow link.
        assert_eq!(
            choose_codec(&mut link, Quality::Lossless, large, 2.0, &always),
            Codec::LosslessStored
        );
        link.goodput = Some(1e5);
        assert_eq!(
            choose_codec(&mut link, Quality::Lossless, large, 2.0, &always),
            Codec::LosslessStored
        );
        let never = ClientConfig {
            raw_min_fps: 1e9,
            ..cfg()
        };
        let mut link = Link::new(Instant::now());
        link.goodput = Some(1e12);
        for _ in 0..3 {
            assert_eq!(
                choose_codec(&mut link, Quality::Lossless, large, 2.0, &never),
                Codec::Lossless
            );
        }
    }
}

//! One connected browser, on its own thread: reads its view requests and
//! acknowledgements, and sends it the newest frame whenever it has credit.
//!
//! Flow control: at most `credit_frames` frame messages are in flight (sent, not yet
//! acknowledged as painted); the next one is always the newest frame, so a slow client
//! gets fewer frames, never older ones, and a client that never acknowledges stalls only
//! itself. At most one message sits in the socket's write buffer (the next one is written
//! only once it is flushed), so a client costs at most a few frames of memory.
//!
//! Goodput is estimated from acknowledgements — TCP writability says nothing about the
//! link (FINDINGS: socket buffers hide megabytes) — and chooses, in automatic quality,
//! between lossless and JPEG frames.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use daqflow_display::{Scale, ViewFrame};
use daqflow_sdk::now_ns;
use serde::Deserialize;
use tungstenite::{Message, WebSocket};

use crate::config::FlowControl;
use crate::encode::{self, Codec, Region, Scratch, Window};
use crate::hub::{self, FrameMeta, Hub, Prepared, ViewKey};

/// How long a read waits for the browser before the loop looks for a new frame.
const POLL: Duration = Duration::from_millis(4);
/// Frames remembered in push mode (`flow_control = "none"`) to measure their age when
/// acknowledged: seconds of backlog at display rates.
const PUSH_RECORD: usize = 1024;
/// Delivery-rate samples kept for the goodput estimate (their median).
const GOODPUT_SAMPLES: usize = 8;
/// Longest message a browser may send (view requests and acks are tiny).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// What every client thread of a node is told.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Frames in flight per client.
    pub credit: usize,
    /// Credit or push.
    pub flow: FlowControl,
    /// Most frames a second per client.
    pub max_fps: f64,
    /// Lossless while the goodput carries this many frames a second.
    pub lossless_min_fps: f64,
    /// JPEG quality.
    pub jpeg_quality: u8,
    /// Longest side of a sent image.
    pub max_side: u32,
    /// The hello message (page defaults).
    pub hello: String,
}

/// What the page asks for.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum FromClient {
    View {
        canvas: [u32; 2],
        #[serde(default)]
        region: Option<[u32; 4]>,
        #[serde(default)]
        quality: Quality,
        #[serde(default)]
        manual: Option<[f64; 2]>,
        #[serde(default)]
        scale: Scale,
        #[serde(default)]
        paused: bool,
    },
    Ack {
        seq: u64,
        /// How long the browser held the message before acknowledging it, ms.
        #[serde(default)]
        busy_ms: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Quality {
    #[default]
    Auto,
    Lossless,
    Lossy,
}

#[derive(Debug)]
struct View {
    canvas: [u32; 2],
    region: Option<[u32; 4]>,
    quality: Quality,
    manual: Option<[f64; 2]>,
    scale: Scale,
    paused: bool,
}

#[derive(Debug)]
struct InFlight {
    seq: u64,
    sent_at: Instant,
    bytes: usize,
    frame_ts_ns: u64,
}

/// Per-client measurements.
#[derive(Debug)]
struct Link {
    /// Bytes a second the link delivers (the median of recent samples); `None` before
    /// the first sample.
    goodput: Option<f64>,
    /// The last delivery-rate samples, bytes a second.
    samples: VecDeque<f64>,
    /// When the last acknowledged message arrived in the browser (server clock).
    last_arrival: Option<Instant>,
    /// Last frame's age at acknowledgement, ms.
    age_ms: f64,
    /// Acks counted for the displayed rate, and since when.
    fps_count: u32,
    fps_since: Instant,
    fps: f64,
    /// Size of the last lossless payload per pixel sent (bytes), for the codec choice.
    lossless_bytes_per_px: f64,
    codec: Codec,
    /// Stored frames are not tried again before this (after they proved too big for the
    /// link), and the hold-off after the next failed try.
    stored_retry_at: Instant,
    stored_backoff: Duration,
}

impl Link {
    fn new(now: Instant) -> Self {
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

/// Message buffers of one client, back from tungstenite once it has written (and
/// dropped) them: a client reuses the same few buffers instead of allocating one per
/// sent frame.
#[derive(Default, Clone)]
struct Spare(Arc<Mutex<Vec<Vec<u8>>>>);

/// Buffers a client keeps: one being written, one being built, one in reserve.
const SPARE_BUFFERS: usize = 3;

impl Spare {
    /// An empty buffer (with the capacity of an earlier message when there is one).
    fn take(&self) -> Vec<u8> {
        let mut b = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        b.clear();
        b
    }

    /// `buf` as a message payload that comes back here when tungstenite drops it.
    fn wrap(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Recycled {
            buf,
            home: self.clone(),
        })
    }
}

struct Recycled {
    buf: Vec<u8>,
    home: Spare,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut spare = self.home.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_BUFFERS {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Serves one browser until it leaves or the pipeline stops.
pub fn serve<F: ViewFrame + FrameMeta + Sync>(
    mut ws: WebSocket<TcpStream>,
    hub: &Hub<F>,
    cfg: &ClientConfig,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("socket: {e}");
    ws.get_mut().set_read_timeout(Some(POLL)).map_err(io)?;
    ws.get_mut().set_write_timeout(Some(POLL)).map_err(io)?;
    ws.get_mut().set_nodelay(true).map_err(io)?;
    let max_message = (cfg.max_side as usize).pow(2) * 4 + MAX_CLIENT_MESSAGE;
    ws.set_config(|c| {
        c.max_message_size = Some(MAX_CLIENT_MESSAGE);
        c.max_frame_size = Some(MAX_CLIENT_MESSAGE);
        // Bounded memory per client: tungstenite's buffer is unbounded by default.
        c.max_write_buffer_size = max_message + 64 * 1024;
    });
    send_now(&mut ws, Message::text(cfg.hello.clone()))?;

    let now = Instant::now();
    let received_at_start = hub.stats.received.load(Ordering::Relaxed);
    let mut view: Option<View> = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(cfg.credit + 1);
    let mut link = Link::new(now);
    let mut acked: u64 = 0;
    let mut pending_flush = false;
    let mut last_frame_seq = 0u64;
    let mut msg_seq = 0u64;
    let mut last_send = now - Duration::from_secs(1);
    let mut scratch = Scratch::default();
    let spare = Spare::default();
    let min_interval = Duration::from_secs_f64(1.0 / cfg.max_fps);

    loop {
        if hub.stopping.load(Ordering::Acquire) {
            say_stopped(&mut ws);
            return Ok(());
        }
        // Everything the browser sent (returns after POLL when it sent nothing).
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => match serde_json::from_str::<FromClient>(&t) {
                    Ok(FromClient::View {
                        canvas,
                        region,
                        quality,
                        manual,
                        scale,
                        paused,
                    }) => {
                        view = Some(View {
                            canvas,
                            region,
                            quality,
                            manual,
                            scale,
                            paused,
                        });
                        // A new view (zoom, pan, quality) also applies to the frame on
                        // screen: a slow or stopped source need not send a new one first.
                        last_frame_seq = last_frame_seq.saturating_sub(1);
                    }
                    Ok(FromClient::Ack { seq, busy_ms }) => {
                        if let Some(pos) = in_flight.iter().position(|f| f.seq == seq) {
                            let f = in_flight.remove(pos).expect("position is in range");
                            // Older messages acknowledged implicitly (painted in order).
                            in_flight.retain(|o| o.seq > seq);
                            acked += 1;
                            on_ack(&mut link, hub, &f, busy_ms);
                        }
                    }
                    Err(e) => log::debug!("web: ignoring a message from a browser: {e}"),
                },
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(());
                }
                Err(e) => return Err(format!("reading from the browser: {e}")),
            }
        }
        if pending_flush {
            match ws.flush() {
                Ok(()) => pending_flush = false,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => return Err(format!("writing to the browser: {e}")),
            }
        }
        let Some(v) = view.as_ref().filter(|v| !v.paused) else {
            continue;
        };
        let credit_ok = match cfg.flow {
            FlowControl::Credit => in_flight.len() < cfg.credit,
            FlowControl::None => true,
        };
        if !credit_ok || last_send.elapsed() < min_interval {
            continue;
        }
        let Some(frame) = hub.newest_after(last_frame_seq) else {
            continue;
        };
        if frame.seq > hub.stats.frames_shown.load(Ordering::Relaxed) {
            hub.stats
                .frames_shown
                .fetch_max(frame.seq, Ordering::Relaxed);
        }
        last_frame_seq = frame.seq;
        msg_seq += 1;
        let dropped = hub
            .stats
            .received
            .load(Ordering::Relaxed)
            .saturating_sub(received_at_start)
            .saturating_sub(acked + in_flight.len() as u64);
        let cpu = hub::thread_cpu();
        let mut message = spare.take();
        let bytes = build_message(
            &frame,
            v,
            &mut link,
            hub,
            cfg,
            msg_seq,
            dropped,
            &mut scratch,
            &mut message,
        )?;
        if in_flight.len() >= PUSH_RECORD {
            // Push mode (benchmarks): a bounded record, for the age of what is acknowledged.
            in_flight.pop_front();
        }
        in_flight.push_back(InFlight {
            seq: msg_seq,
            sent_at: Instant::now(),
            bytes,
            frame_ts_ns: frame.timestamp_ns,
        });
        last_send = Instant::now();
        hub.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
        hub.stats
            .bytes_sent
            .fetch_add(bytes as u64, Ordering::Relaxed);
        pending_flush = write(&mut ws, Message::Binary(spare.wrap(message)))?;
        frame.add_cost(hub::thread_cpu().saturating_sub(cpu));
        drop(frame);
    }
}

/// Writes `msg` and tries to flush it; true when part of it is still buffered.
fn write(ws: &mut WebSocket<TcpStream>, msg: Message) -> Result<bool, String> {
    match ws.write(msg).and_then(|()| ws.flush()) {
        Ok(()) => Ok(false),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            Ok(true)
        }
        Err(e) => Err(format!("writing to the browser: {e}")),
    }
}

/// Writes a small message, waiting up to a second for it to leave.
fn send_now(ws: &mut WebSocket<TcpStream>, msg: Message) -> Result<(), String> {
    let mut pending = write(ws, msg)?;
    let t = Instant::now();
    while pending && t.elapsed() < Duration::from_secs(1) {
        pending = write_pending(ws)?;
    }
    Ok(())
}

fn write_pending(ws: &mut WebSocket<TcpStream>) -> Result<bool, String> {
    match ws.flush() {
        Ok(()) => Ok(false),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            Ok(true)
        }
        Err(e) => Err(format!("writing to the browser: {e}")),
    }
}

/// Tells the page the pipeline stopped, and closes (best effort, bounded in time: a
/// frame still in the write buffer is finished first, up to a second).
fn say_stopped(ws: &mut WebSocket<TcpStream>) {
    let _ = send_now(ws, Message::text(r#"{"type":"stopped"}"#));
    let _ = ws.close(None);
    let t = Instant::now();
    while matches!(write_pending(ws), Ok(true)) && t.elapsed() < Duration::from_secs(1) {}
}

fn on_ack<F>(link: &mut Link, hub: &Hub<F>, f: &InFlight, busy_ms: f64) {
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

/// Lossless frames go raw (neither shuffled nor deflated) while the link carries them
/// this often: deflate would then cost CPU (~30 ms for a 1024² u16 view) without buying
/// frames.
const STORED_MIN_FPS: f64 = 30.0;
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
fn choose_codec(
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
        let stored_needed = raw_bytes_per_px * pixels * STORED_MIN_FPS;
        let now = Instant::now();
        match (link.codec, link.goodput) {
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

/// Encodes (or reuses) the view of `frame` and builds the message in `out`; returns its
/// size in bytes.
#[allow(clippy::too_many_arguments)]
fn build_message<F: ViewFrame + FrameMeta>(
    frame: &Prepared<F>,
    v: &View,
    link: &mut Link,
    hub: &Hub<F>,
    cfg: &ClientConfig,
    seq: u64,
    dropped: u64,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<usize, String> {
    let region = v
        .region
        .map_or(Region::full(frame.width, frame.height), |[x, y, w, h]| {
            Region { x, y, w, h }
        })
        .clip(frame.width, frame.height);
    let bin = encode::bin_factor(region, v.canvas[0], v.canvas[1], cfg.max_side);
    let pixels = f64::from(region.w.div_ceil(bin)) * f64::from(region.h.div_ceil(bin));
    let raw_bytes_per_px = encode::wire_dtype(frame.dtype).size_bytes() as f64;
    let codec = choose_codec(link, v.quality, pixels, raw_bytes_per_px, cfg);
    let (low, high) = v.manual.map_or(frame.auto_window, |[l, h]| (l, h));
    let window = Window {
        low,
        high,
        scale: v.scale,
    };
    let key = ViewKey {
        region,
        bin,
        codec,
        window: match codec {
            Codec::Lossless | Codec::LosslessStored => (0, 0, false),
            Codec::Jpeg => (low.to_bits(), high.to_bits(), v.scale == Scale::Log),
        },
    };
    let encoded = frame.encoding(key, || {
        let image = frame.shown.image().map_err(|e| e.to_string())?;
        encode::encode(
            &image,
            region,
            bin,
            codec,
            window,
            cfg.jpeg_quality,
            scratch,
        )
    })?;
    if codec == Codec::Lossless {
        link.lossless_bytes_per_px = encoded.payload.len() as f64 / pixels.max(1.0);
    }
    let header = serde_json::json!({
        "type": "frame",
        "seq": seq,
        "frame": frame.number,
        "timestamp_ns": frame.timestamp_ns,
        "width": frame.width,
        "height": frame.height,
        "dtype": frame.dtype.name(),
        "region": [region.x, region.y, region.w, region.h],
        "bin": bin,
        "w": encoded.w,
        "h": encoded.h,
        "codec": codec.name(),
        "wire": encoded.dtype.name(),
        "window": [low, high],
        "summary": frame.summary,
        "meta": frame.meta,
        "stats": {
            "age_ms": link.age_ms,
            "fps": link.fps,
            "acq_fps": hub.acquisition_fps(),
            "dropped": dropped,
            "goodput_bps": link.goodput.unwrap_or(0.0) * 8.0,
            "clients": hub.stats.clients.load(Ordering::Relaxed),
            "in_flight": cfg.credit,
        },
    });
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    out.clear();
    out.reserve(4 + header.len() + encoded.payload.len());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&encoded.payload);
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClientConfig {
        ClientConfig {
            credit: 2,
            flow: FlowControl::Credit,
            max_fps: 60.0,
            lossless_min_fps: 10.0,
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
    fn message_buffers_come_back_once_written() {
        let spare = Spare::default();
        let mut b = spare.take();
        b.extend_from_slice(&[7; 4096]);
        let ptr = b.as_ptr();
        let bytes = spare.wrap(b);
        assert_eq!(&bytes[..3], &[7, 7, 7]);
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(spare.0.lock().unwrap().len(), 0, "still referenced");
        drop(copy);
        let again = spare.take();
        assert!(again.is_empty() && again.capacity() >= 4096);
        assert_eq!(again.as_ptr(), ptr, "the same allocation, reused");
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
}

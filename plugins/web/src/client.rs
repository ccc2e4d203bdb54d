//! One connected browser, on its own thread: reads its view requests and
//! acknowledgements, and sends it the newest frame whenever it has credit.
//!
//! Flow control: at most `credit_frames` frame messages are in flight (sent, not yet
//! acknowledged as painted); the next one is always the newest frame, so a slow client
//! gets fewer frames, never older ones, and a client that never acknowledges stalls only
//! itself. At most one message sits in the socket's write buffer (the next one is written
//! only once it is flushed), so a client costs at most a few frames of memory.
//!
//! Each acknowledgement feeds the client's `Link` (goodput, frame age), which chooses
//! the codec of the next frame (see `crate::link`).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use daqflow_display::{Scale, ViewFrame};
use serde::Deserialize;
use tungstenite::{Message, WebSocket};

use crate::config::FlowControl;
use crate::encode::{self, Codec, Region, Scratch, Window};
use crate::hub::{self, FrameMeta, Hub, Prepared, ViewKey};
use crate::link::{InFlight, Link, Quality, choose_codec, on_ack};

/// How long a read waits for the browser before the loop looks for a new frame.
const POLL: Duration = Duration::from_millis(4);
/// Frames remembered in push mode (`flow_control = "none"`) to measure their age when
/// acknowledged: seconds of backlog at display rates.
const PUSH_RECORD: usize = 1024;
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

#[derive(Debug)]
struct View {
    canvas: [u32; 2],
    region: Option<[u32; 4]>,
    quality: Quality,
    manual: Option<[f64; 2]>,
    scale: Scale,
    paused: bool,
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
}

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
use std::io::{ErrorKind, IoSlice, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_display::{Scale, ViewFrame};
use serde::{Deserialize, Serialize};
use tungstenite::{Message, WebSocket};

use crate::config::FlowControl;
use crate::encode::{self, Codec, Encoded, Region, Scratch, Window};
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
    /// Lossless frames go raw on links that carry this many a second (0: always).
    pub raw_min_fps: f64,
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

/// A frame message written straight to the socket: the WebSocket frame header, the
/// message header and the shared encoding, without copying the payload into a message
/// buffer or into tungstenite's write buffer (for a full-resolution view, two copies of
/// a few MB per sent frame). Small text messages still go through tungstenite; the two
/// never interleave (see `serve`).
struct Outgoing {
    /// WebSocket frame header, then the 4-byte header length and the JSON header.
    head: Vec<u8>,
    payload: Arc<Encoded>,
    written: usize,
}

impl Outgoing {
    fn len(&self) -> usize {
        self.head.len() + self.payload.payload.len()
    }

    /// Writes what the socket takes now; true once the whole message is written.
    fn write_some(&mut self, sock: &mut TcpStream) -> Result<bool, String> {
        while self.written < self.len() {
            let (head, body) = (&self.head, &self.payload.payload);
            let parts = if self.written < head.len() {
                [IoSlice::new(&head[self.written..]), IoSlice::new(body)]
            } else {
                [
                    IoSlice::new(&body[self.written - head.len()..]),
                    IoSlice::new(&[]),
                ]
            };
            match sock.write_vectored(&parts) {
                Ok(0) => return Err("writing to the browser: connection closed".into()),
                Ok(n) => self.written += n,
                Err(e) if blocked(&e) => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("writing to the browser: {e}")),
            }
        }
        Ok(true)
    }
}

/// A socket that cannot take (or give) more now: its timeout (POLL) ran out.
fn blocked(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Longest header of a server's WebSocket frame.
const WS_HEADER_MAX: usize = 10;

/// The header of an unmasked, final, binary WebSocket frame of `len` bytes, and its
/// length (RFC 6455 §5.2; a server never masks).
fn ws_binary_header(len: usize) -> ([u8; WS_HEADER_MAX], usize) {
    let mut h = [0u8; WS_HEADER_MAX];
    h[0] = 0x82;
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
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
    // The frame being written (at most one: the next is built once it has left), and
    // the header buffer of the next one.
    let mut outgoing: Option<Outgoing> = None;
    let mut head = Vec::new();
    // Set when the browser pinged while a frame was half written: tungstenite answers
    // from its next read, which must wait for the frame to end.
    let mut hold_reads = false;
    let min_interval = Duration::from_secs_f64(1.0 / cfg.max_fps);

    loop {
        if hub.stopping.load(Ordering::Acquire) {
            say_stopped(&mut ws, outgoing.as_mut());
            return Ok(());
        }
        // Everything the browser sent (returns after POLL when it sent nothing).
        while !hold_reads {
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
                // tungstenite queued a pong: it must leave between two frames.
                Ok(Message::Ping(_)) if outgoing.is_some() => hold_reads = true,
                Ok(Message::Ping(_)) => pending_flush = true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if blocked(&e) => break,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(());
                }
                Err(e) => return Err(format!("reading from the browser: {e}")),
            }
        }
        if let Some(out) = outgoing.as_mut() {
            // (Waits up to POLL for room in the socket.)
            if !out.write_some(ws.get_mut())? {
                continue;
            }
            head = outgoing.take().expect("being written").head;
            if hold_reads {
                hold_reads = false;
                pending_flush = true;
            }
        }
        // Text messages and pongs go through tungstenite, never while a frame is half
        // written (it is finished first, above).
        if pending_flush {
            pending_flush = write_pending(&mut ws)?;
            if pending_flush {
                continue;
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
        let mut out = build_message(
            &frame,
            v,
            &mut link,
            hub,
            cfg,
            msg_seq,
            dropped,
            &mut scratch,
            std::mem::take(&mut head),
        )?;
        let bytes = out.len();
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
        if !out.write_some(ws.get_mut())? {
            outgoing = Some(out);
        } else {
            head = out.head;
        }
        frame.add_cost(hub::thread_cpu().saturating_sub(cpu));
        drop(frame);
    }
}

/// Writes `msg` and tries to flush it; true when part of it is still buffered.
fn write(ws: &mut WebSocket<TcpStream>, msg: Message) -> Result<bool, String> {
    match ws.write(msg).and_then(|()| ws.flush()) {
        Ok(()) => Ok(false),
        Err(tungstenite::Error::Io(e)) if blocked(&e) => Ok(true),
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

/// Flushes tungstenite's write buffer; true when part of it is still there.
fn write_pending(ws: &mut WebSocket<TcpStream>) -> Result<bool, String> {
    match ws.flush() {
        Ok(()) => Ok(false),
        Err(tungstenite::Error::Io(e)) if blocked(&e) => Ok(true),
        Err(e) => Err(format!("writing to the browser: {e}")),
    }
}

/// Tells the page the pipeline stopped, and closes (best effort, bounded in time: a
/// frame still being written is finished first, up to a second).
fn say_stopped(ws: &mut WebSocket<TcpStream>, outgoing: Option<&mut Outgoing>) {
    if let Some(out) = outgoing {
        let t = Instant::now();
        loop {
            match out.write_some(ws.get_mut()) {
                Ok(true) => break,
                Ok(false) if t.elapsed() < Duration::from_secs(1) => {}
                // Half a frame on the wire: nothing more can follow it.
                _ => return,
            }
        }
    }
    let _ = send_now(ws, Message::text(r#"{"type":"stopped"}"#));
    let _ = ws.close(None);
    let t = Instant::now();
    while matches!(write_pending(ws), Ok(true)) && t.elapsed() < Duration::from_secs(1) {}
}

/// The JSON header of a frame message (what `app.js` reads).
#[derive(Serialize)]
struct FrameHeader<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    frame: u64,
    timestamp_ns: u64,
    width: u32,
    height: u32,
    dtype: &'static str,
    region: [u32; 4],
    bin: u32,
    w: u32,
    h: u32,
    codec: &'static str,
    wire: &'static str,
    window: [f64; 2],
    summary: &'a serde_json::Value,
    meta: &'a serde_json::Value,
    stats: LinkStats,
}

/// The link's figures shown on the page.
#[derive(Serialize)]
struct LinkStats {
    age_ms: f64,
    fps: f64,
    acq_fps: f64,
    dropped: u64,
    goodput_bps: f64,
    clients: u32,
    in_flight: usize,
}

/// Encodes (or reuses) the view of `frame` and builds the message to send, its header
/// in `head` (a buffer to reuse).
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
    mut head: Vec<u8>,
) -> Result<Outgoing, String> {
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
    let header = FrameHeader {
        kind: "frame",
        seq,
        frame: frame.number,
        timestamp_ns: frame.timestamp_ns,
        width: frame.width,
        height: frame.height,
        dtype: frame.dtype.name(),
        region: [region.x, region.y, region.w, region.h],
        bin,
        w: encoded.w,
        h: encoded.h,
        codec: codec.name(),
        wire: encoded.dtype.name(),
        window: [low, high],
        summary: &frame.summary,
        meta: &frame.meta,
        stats: LinkStats {
            age_ms: link.age_ms,
            fps: link.fps,
            acq_fps: hub.acquisition_fps(),
            dropped,
            goodput_bps: link.goodput.unwrap_or(0.0) * 8.0,
            clients: hub.stats.clients.load(Ordering::Relaxed),
            in_flight: cfg.credit,
        },
    };
    // The message: the JSON header's length (u32 LE), the header, the payload; the
    // WebSocket frame header in front of it, written once the JSON's length is known.
    const AT: usize = WS_HEADER_MAX + 4;
    head.clear();
    head.resize(AT, 0);
    serde_json::to_writer(&mut head, &header).map_err(|e| e.to_string())?;
    let json_len = head.len() - AT;
    let (ws_head, n) = ws_binary_header(4 + json_len + encoded.payload.len());
    let start = AT - 4 - n;
    head[start..AT - 4].copy_from_slice(&ws_head[..n]);
    head[AT - 4..AT].copy_from_slice(&(json_len as u32).to_le_bytes());
    head.drain(..start);
    Ok(Outgoing {
        head,
        payload: encoded,
        written: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    #[test]
    fn frame_headers_are_those_tungstenite_writes() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 2 * 1024 * 1024 + 77] {
            let payload = vec![0xA5u8; len];
            let mut theirs = Vec::new();
            Frame::message(payload.clone(), OpCode::Data(Data::Binary), true)
                .format(&mut theirs)
                .unwrap();
            let (h, n) = ws_binary_header(len);
            let mut ours = h[..n].to_vec();
            ours.extend_from_slice(&payload);
            assert_eq!(ours, theirs, "payload of {len} bytes");
        }
    }
}

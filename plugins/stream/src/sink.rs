//! The `stream` sink node: one bound ZeroMQ PUSH socket per endpoint. Frames become stream
//! v2 image messages (sent to the endpoint their block of frame numbers belongs to),
//! with a start message before the first frame of each series and an end message after
//! its last one, both to every endpoint. Sending waits for a receiver (lossless
//! back-pressure) by polling for writability, so a stop is noticed and bounded.

use std::time::{Duration, Instant};

use daqflow_sdk::prelude::*;
use daqflow_sdk::series;

use crate::config::Settings;
use crate::encode::{self, ImageInfo, StartInfo};

/// How long one wait for writability lasts before the stop flag is checked again.
const POLL_MS: i64 = 200;

/// The series being sent.
struct Series {
    id: u64,
    unique_id: String,
    arm_date: String,
    t0_ns: u64,
    format: (DType, Encoding, u32, u32),
}

/// Open sockets: exist between `start` and `stop`.
struct Link {
    // Field order: sockets close (lingering at most `stop_timeout_ms`) before the
    // context is dropped.
    sockets: Vec<(String, zmq::Socket)>,
    _ctx: zmq::Context,
}

/// The `stream` sink.
pub struct StreamSink {
    settings: Settings,
    link: Option<Link>,
    open: Option<Series>,
    next_series: u64,
    buf: Vec<u8>,
    sent: u64,
    lost: u64,
    waits: u64,
}

fn zerr(what: &str, endpoint: &str) -> impl FnOnce(zmq::Error) -> PluginError {
    let msg = format!("{what} {endpoint}");
    move |e| PluginError::new(format!("{msg}: {e}"))
}

impl Sink for StreamSink {
    type Settings = Settings;
    const INPUT: InputLane = InputLane::Lossless;

    fn accepts(_settings: &Settings, input: &FrameFormat) -> Result<(), Vec<SettingsError>> {
        match input.encoding {
            Encoding::Raw | Encoding::Lz4 | Encoding::BsLz4 | Encoding::Lz4Block => Ok(()),
            other => Err(vec![SettingsError::new(
                "",
                format!("stream v2 carries raw, lz4 or bslz4 frames, not {other}"),
            )]),
        }
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        let next_series = settings.series_id;
        Ok(StreamSink {
            settings,
            link: None,
            open: None,
            next_series,
            buf: Vec::with_capacity(512),
            sent: 0,
            lost: 0,
            waits: 0,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let zctx = zmq::Context::new();
        let mut sockets = Vec::new();
        for ep in self.settings.addresses() {
            let s = zctx
                .socket(zmq::PUSH)
                .map_err(zerr("create a PUSH socket for", &ep))?;
            s.set_sndhwm(self.settings.sndhwm)
                .map_err(zerr("set sndhwm on", &ep))?;
            s.set_linger(self.settings.stop_timeout_ms.min(i32::MAX as u64) as i32)
                .map_err(zerr("set linger on", &ep))?;
            s.bind(&ep).map_err(|e| {
                PluginError::new(format!(
                    "bind {ep}: {e}; is another process using the port? (`bind`/`endpoints` setting)"
                ))
            })?;
            log::info!("publishing DECTRIS stream v2 on {ep} (PUSH)");
            sockets.push((ep, s));
        }
        self.link = Some(Link {
            sockets,
            _ctx: zctx,
        });
        self.counters(ctx);
        Ok(())
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let series_id = match frame.meta(series::SERIES_ID) {
            Some(MetaValue::I64(v)) if v >= 0 => v as u64,
            _ => self.open.as_ref().map_or(self.next_series, |s| s.id),
        };
        let format = (
            frame.dtype(),
            frame.encoding(),
            frame.width(),
            frame.height(),
        );
        let new_series = match &self.open {
            None => true,
            Some(s) => s.id != series_id || s.format != format,
        };
        if new_series {
            self.end_series(ctx)?;
            // Frames without a series id: a new format is a new series number.
            let id = if frame.meta(series::SERIES_ID).is_some() {
                series_id
            } else {
                self.next_series
            };
            self.begin_series(id, &frame, ctx)?;
        }
        let s = self.open.as_ref().expect("opened above");
        let info = ImageInfo {
            series_id: s.id,
            unique_id: &s.unique_id,
            series_date: &s.arm_date,
            image_id: frame.frame_number(),
            since_start_ns: frame.timestamp_ns().saturating_sub(s.t0_ns),
            channel: &self.settings.channel,
            width: frame.width(),
            height: frame.height(),
            dtype: frame.dtype(),
            encoding: frame.encoding(),
            payload_len: frame.bytes().len(),
        };
        encode::image_header(&info, &mut self.buf).map_err(PluginError::new)?;
        let payload = frame.bytes();
        let mut msg = zmq::Message::with_size(self.buf.len() + payload.len());
        msg[..self.buf.len()].copy_from_slice(&self.buf);
        msg[self.buf.len()..].copy_from_slice(payload);
        let n = self.link.as_ref().map_or(1, |l| l.sockets.len()) as u64;
        let idx = (frame.frame_number() / self.settings.block_frames % n) as usize;
        if self.send(idx, msg, ctx)? {
            self.sent += 1;
        } else {
            self.lost += 1;
        }
        self.counters(ctx);
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let r = self.end_series(ctx);
        self.counters(ctx);
        if self.lost > 0 {
            log::error!(
                "{} frames were not delivered (no receiver took them within stop_timeout_ms = {})",
                self.lost,
                self.settings.stop_timeout_ms
            );
        }
        // Closing lingers at most stop_timeout_ms for queued messages; then the ports are free.
        self.link = None;
        r
    }
}

impl StreamSink {
    fn counters(&self, ctx: &Context) {
        ctx.set_counter("images_sent", self.sent);
        ctx.set_counter("frames_lost", self.lost);
        ctx.set_counter("receiver_waits", self.waits);
    }

    fn begin_series(&mut self, id: u64, frame: &Frame, ctx: &Context) -> Result<(), PluginError> {
        let t0 = frame.timestamp_ns();
        let s = Series {
            id,
            unique_id: format!("daqflow-{}-{t0}-{id}", ctx.node_name()),
            arm_date: daqflow_sdk::time::rfc3339_utc(t0),
            t0_ns: t0,
            format: (
                frame.dtype(),
                frame.encoding(),
                frame.width(),
                frame.height(),
            ),
        };
        let info = StartInfo {
            series_id: id,
            unique_id: s.unique_id.clone(),
            arm_date: s.arm_date.clone(),
            width: frame.width(),
            height: frame.height(),
            dtype: Some(frame.dtype()),
            channel: self.settings.channel.clone(),
            meta: frame
                .meta_iter()
                .filter(|(k, _)| series::is_series_key(k))
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        encode::start(&info, &mut self.buf);
        log::info!(
            "series {id}: {}×{} {} {}",
            frame.width(),
            frame.height(),
            frame.dtype(),
            frame.encoding()
        );
        self.open = Some(s);
        self.next_series = id + 1;
        self.send_to_all(ctx)
    }

    fn end_series(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let Some(s) = self.open.take() else {
            return Ok(());
        };
        encode::end(s.id, &s.unique_id, &mut self.buf);
        self.send_to_all(ctx)
    }

    /// Sends `self.buf` to every endpoint.
    fn send_to_all(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let n = self.link.as_ref().map_or(0, |l| l.sockets.len());
        for i in 0..n {
            let msg = zmq::Message::from(&self.buf[..]);
            if !self.send(i, msg, ctx)? {
                log::error!(
                    "a series start/end message was not delivered to {}",
                    self.link.as_ref().map_or("", |l| l.sockets[i].0.as_str())
                );
            }
        }
        Ok(())
    }

    /// Sends `msg` on socket `i`, waiting for a receiver. False when it could not be
    /// delivered: the pipeline is stopping and no receiver took it within
    /// `stop_timeout_ms`.
    fn send(&mut self, i: usize, msg: zmq::Message, ctx: &Context) -> Result<bool, PluginError> {
        let link = self.link.as_ref().ok_or("stream: send before start")?;
        let (ep, sock) = &link.sockets[i];
        let began = Instant::now();
        let mut logged = false;
        loop {
            let ready = sock.poll(zmq::POLLOUT, POLL_MS).map_err(zerr("poll", ep))?;
            if ready > 0 {
                match sock.send(msg, zmq::DONTWAIT) {
                    Ok(()) => return Ok(true),
                    // Writable but refused (a receiver left in between): the message is
                    // gone with the failed call; count it as not delivered.
                    Err(zmq::Error::EAGAIN) => return Ok(false),
                    Err(e) => return Err(PluginError::new(format!("send on {ep}: {e}"))),
                }
            }
            let waited = began.elapsed();
            if !logged && waited >= Duration::from_secs(1) {
                logged = true;
                self.waits += 1;
                log::warn!("waiting for a receiver on {ep} (PUSH: nobody takes messages)");
            }
            if ctx.should_stop() && waited >= Duration::from_millis(self.settings.stop_timeout_ms) {
                return Ok(false);
            }
        }
    }
}

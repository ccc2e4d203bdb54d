//! The `dectris` source node: a ZeroMQ PULL socket connected to the detector, polled
//! with a timeout so a stop (Ctrl-C) is noticed while no sender is there, and a socket
//! monitor that logs the sender connecting and going away. Each message is decoded by
//! `stream2.rs` or `legacy.rs`, accounted by `tracker.rs`, and each image becomes one
//! frame in its own encoding (compressed images are copied once, from the ZeroMQ message
//! into a pool frame, never decompressed).

use std::time::{Duration, Instant};

use daqflow_codec::Decoder;
use daqflow_sdk::prelude::*;
use daqflow_sdk::series;

use crate::config::{Protocol, Settings, Verify};
use crate::message::{self, Image, Kind, Message, Problem};
use crate::tracker::Tracker;
use crate::{legacy, stream2};

/// Open sockets: exist between `start` and `stop`.
struct Link {
    // Field order: sockets close before their context is dropped (which waits for them).
    socket: zmq::Socket,
    monitor: zmq::Socket,
    _ctx: zmq::Context,
    /// Reused receive buffers (one per part for v1).
    parts: Vec<zmq::Message>,
}

/// The `dectris` source.
pub struct DectrisSource {
    settings: Settings,
    link: Option<Link>,
    tracker: Tracker,
    decoder: Decoder,
    scratch: Vec<u8>,
    last_message: Instant,
    idle_logged: bool,
    ended: bool,
}

fn zerr(what: &str, endpoint: &str) -> impl FnOnce(zmq::Error) -> PluginError {
    let msg = format!("{what} {endpoint}");
    move |e| PluginError::new(format!("{msg}: {e}"))
}

impl Source for DectrisSource {
    type Settings = Settings;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(DectrisSource {
            settings,
            link: None,
            tracker: Tracker::new(),
            decoder: Decoder::default(),
            scratch: Vec::new(),
            last_message: Instant::now(),
            idle_logged: false,
            ended: false,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let ep = self.settings.endpoint.as_str();
        let zctx = zmq::Context::new();
        let socket = zctx
            .socket(zmq::PULL)
            .map_err(zerr("create a PULL socket for", ep))?;
        socket
            .set_rcvhwm(self.settings.rcvhwm)
            .map_err(zerr("set rcvhwm on", ep))?;
        // Nothing to flush on a receiving socket: closing must never wait.
        socket.set_linger(0).map_err(zerr("set linger on", ep))?;
        let monitor_ep = format!("inproc://dectris-monitor-{:p}", &socket);
        socket
            .monitor(
                &monitor_ep,
                (zmq::SocketEvent::CONNECTED as i32) | (zmq::SocketEvent::DISCONNECTED as i32),
            )
            .map_err(zerr("monitor", ep))?;
        let monitor = zctx
            .socket(zmq::PAIR)
            .map_err(zerr("create a monitor socket for", ep))?;
        monitor.set_linger(0).map_err(zerr("set linger on", ep))?;
        monitor
            .connect(&monitor_ep)
            .map_err(zerr("connect the monitor of", ep))?;
        socket.connect(ep).map_err(|e| {
            PluginError::new(format!(
                "connect to endpoint {ep}: {e}; check the address (\"tcp://host:31001\")"
            ))
        })?;
        log::info!(
            "receiving {} from {ep} (PULL, rcvhwm {})",
            match self.settings.protocol {
                Protocol::Stream2 => "DECTRIS stream v2",
                Protocol::Legacy => "DECTRIS stream v1 (legacy)",
            },
            self.settings.rcvhwm
        );
        self.link = Some(Link {
            socket,
            monitor,
            _ctx: zctx,
            parts: Vec::new(),
        });
        self.last_message = Instant::now();
        self.publish(ctx);
        Ok(())
    }

    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError> {
        if self.ended {
            return Ok(Next::End);
        }
        let link = self.link.as_mut().ok_or("dectris: next before start")?;
        let mut items = [
            link.socket.as_poll_item(zmq::POLLIN),
            link.monitor.as_poll_item(zmq::POLLIN),
        ];
        let n = zmq::poll(&mut items, self.settings.poll_ms as i64)
            .map_err(zerr("poll", &self.settings.endpoint))?;
        let (data_ready, monitor_ready) = (items[0].is_readable(), items[1].is_readable());
        if monitor_ready {
            self.monitor_event();
        }
        if n == 0 || !data_ready {
            self.idle_check();
            return Ok(Next::Continue);
        }
        // Drain what is queued (bounded by the high-water mark) before polling again.
        for _ in 0..self.settings.rcvhwm.max(1) {
            if !self.receive_one(ctx)? || self.ended || ctx.should_stop() {
                break;
            }
        }
        self.publish(ctx);
        Ok(if self.ended {
            Next::End
        } else {
            Next::Continue
        })
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if let Some((id, got, expected)) = self.tracker.open_state() {
            log::warn!(
                "stopping with series {} open: {got} images received{}",
                id.map_or_else(|| "(no id)".to_owned(), |i| i.to_string()),
                expected
                    .map(|e| format!(" of {e} announced"))
                    .unwrap_or_default()
            );
        }
        self.tracker.finish();
        self.publish(ctx);
        // Sockets close with linger 0: the port is released at once.
        self.link = None;
        Ok(())
    }
}

impl DectrisSource {
    fn publish(&self, ctx: &Context) {
        for (name, v) in self.tracker.counters() {
            ctx.set_counter(name, v);
        }
    }

    fn idle_check(&mut self) {
        let idle = self.last_message.elapsed();
        if !self.idle_logged && idle >= Duration::from_secs(self.settings.idle_log_secs) {
            self.idle_logged = true;
            match self.tracker.open_state() {
                Some((id, got, expected)) => log::warn!(
                    "no message from {} for {} s with series {} open ({got}{} images): waiting for the sender",
                    self.settings.endpoint,
                    idle.as_secs(),
                    id.map_or_else(|| "(no id)".to_owned(), |i| i.to_string()),
                    expected.map(|e| format!(" of {e}")).unwrap_or_default()
                ),
                None => log::info!(
                    "no message from {} for {} s: waiting for a series",
                    self.settings.endpoint,
                    idle.as_secs()
                ),
            }
        }
    }

    fn monitor_event(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        // Two parts: [u16 event, u32 value] and the endpoint.
        let Ok(parts) = link.monitor.recv_multipart(zmq::DONTWAIT) else {
            return;
        };
        let Some(ev) = parts.first().filter(|p| p.len() >= 2) else {
            return;
        };
        let event = u16::from_le_bytes([ev[0], ev[1]]);
        let ep = &self.settings.endpoint;
        if event == zmq::SocketEvent::CONNECTED as u16 {
            log::info!("connected to the sender at {ep}");
        } else if event == zmq::SocketEvent::DISCONNECTED as u16 {
            match self.tracker.open_state() {
                Some((id, got, _)) => log::warn!(
                    "the sender at {ep} went away during series {} ({got} images so far): waiting for it to come back",
                    id.map_or_else(|| "(no id)".to_owned(), |i| i.to_string())
                ),
                None => log::info!("the sender at {ep} went away: waiting for it to come back"),
            }
        }
    }

    /// Receives and handles one message; false when none was waiting.
    fn receive_one(&mut self, ctx: &Context) -> Result<bool, PluginError> {
        let mut link = self.link.take().ok_or("dectris: receive before start")?;
        let result = self.receive_on(&mut link, ctx);
        self.link = Some(link);
        result
    }

    fn receive_on(&mut self, link: &mut Link, ctx: &Context) -> Result<bool, PluginError> {
        let mut n = 0;
        loop {
            if link.parts.len() == n {
                link.parts.push(zmq::Message::new());
            }
            match link.socket.recv(&mut link.parts[n], zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if n == 0 => return Ok(false),
                Err(e) => {
                    return Err(PluginError::new(format!(
                        "receive from {}: {e}",
                        self.settings.endpoint
                    )));
                }
            }
            n += 1;
            if !link.parts[n - 1].get_more() {
                break;
            }
        }
        self.last_message = Instant::now();
        self.idle_logged = false;
        let decoded = match self.settings.protocol {
            Protocol::Stream2 => {
                if n > 1 {
                    Err(Problem::new(
                        Kind::Malformed,
                        format!(
                            "a {n}-part message; stream v2 messages have one part (is the detector set to `legacy`?)"
                        ),
                    ))
                } else {
                    stream2::decode(&link.parts[0], self.settings.channel.as_deref())
                }
            }
            Protocol::Legacy => legacy::decode(&link.parts[..n]),
        };
        match decoded {
            Err(p) => self.tracker.problem(&p),
            Ok(Message::Start(s)) => {
                if self.limit_reached() {
                    self.ended = true;
                } else {
                    self.tracker.start(s);
                }
            }
            Ok(Message::Config(s)) => self.tracker.config(s),
            Ok(Message::End { series_id }) => {
                self.tracker.end(series_id);
                self.ended = self.limit_reached();
            }
            Ok(Message::Other) => {}
            Ok(Message::Image(img)) => {
                self.image(&img, ctx)?;
            }
        }
        Ok(true)
    }

    fn limit_reached(&self) -> bool {
        self.settings
            .series
            .is_some_and(|n| self.tracker.series_done >= n)
    }

    fn image(&mut self, img: &Image<'_>, ctx: &Context) -> Result<(), PluginError> {
        if let Err(p) = message::check_payload(img).and_then(|()| self.verify(img)) {
            self.tracker.problem(&p);
            return Ok(());
        }
        let Some(pass) = self.tracker.image(img) else {
            return Ok(());
        };
        // A bare LZ4 block (v1 `lz4<`) travels as an HDF5 LZ4 chunk: a 16-byte header.
        let (encoding, prefix) = match img.encoding {
            Encoding::Lz4Block => (
                Encoding::Lz4,
                message::lz4_block_prefix(
                    img.width as usize * img.height as usize * img.dtype.size_bytes(),
                    img.payload.len(),
                ),
            ),
            e => (e, img.prefix.clone()),
        };
        let len = prefix.len() + img.payload.len();
        let mut frame = ctx.alloc_encoded(img.dtype, encoding, img.width, img.height, len)?;
        {
            let out = frame.bytes_mut();
            out[..prefix.len()].copy_from_slice(&prefix);
            out[prefix.len()..].copy_from_slice(img.payload);
        }
        frame.set_frame_number(img.image_id);
        if let Some(id) = pass.series_id {
            frame.set_meta(series::SERIES_ID, MetaValue::I64(id as i64))?;
        }
        for (k, v) in pass.meta.into_iter().flatten() {
            frame.set_meta(k, v)?;
        }
        ctx.emit(frame)?;
        ctx.set_counter("images_received", self.tracker.get("images_received"));
        Ok(())
    }

    /// With `verify = "decode"`, decodes a compressed image into a scratch buffer.
    fn verify(&mut self, img: &Image<'_>) -> Result<(), Problem> {
        if self.settings.verify != Verify::Decode
            || !matches!(img.encoding, Encoding::BsLz4 | Encoding::Lz4)
        {
            return Ok(());
        }
        let n = img.width as usize * img.height as usize * img.dtype.size_bytes();
        self.scratch.resize(n, 0);
        let result = if img.prefix.is_empty() {
            self.decoder.decode(
                img.encoding,
                img.dtype.size_bytes(),
                img.payload,
                &mut self.scratch,
            )
        } else {
            let mut whole = img.prefix.clone();
            whole.extend_from_slice(img.payload);
            self.decoder.decode(
                img.encoding,
                img.dtype.size_bytes(),
                &whole,
                &mut self.scratch,
            )
        };
        result.map_err(|e| {
            Problem::new(
                Kind::BadCompressed,
                format!("image {} ({}): {e}", img.image_id, img.encoding),
            )
        })
    }
}

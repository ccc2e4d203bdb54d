//! The `web` sink: `consume` swaps the newest frame into the hub's one-frame slot and
//! returns (it never waits on a browser); the server's threads take frames from there.
//! On a lossy input (the default `latest` lane) the node takes at most two frames per
//! frame the fastest client may be sent (`Context::limit_input_rate`), so acquisition at
//! kHz rates does not wake it per frame.
//!
//! Counters in the run report: `frames_received` (offered by the lane, including those it
//! replaced), `frames_shown` (distinct frames sent to at least one browser),
//! `frames_dropped_for_display` (received, never sent: by design, not a loss),
//! `frames_sent` and `bytes_sent` (messages to all browsers), `frames_acked` (painted),
//! `frame_age_p50_ms` / `frame_age_p95_ms` (acknowledgement − acquisition time, server
//! clock, 10 ms buckets), `clients_accepted`, `clients_refused` (over `max_clients`),
//! `requests_refused` (token, Host, Origin, malformed), `frames_unshowable`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use daqflow_sdk::prelude::*;

use crate::client::ClientConfig;
use crate::config::{FlowControl, Settings};
use crate::http::{self, Access};
use crate::hub::Hub;
use crate::server::{Server, ServerConfig};
use daqflow_sdk::thread::lower_thread_priority;

/// How often `consume` refreshes the counters.
const COUNTER_INTERVAL: Duration = Duration::from_millis(250);

/// Frames taken from a lossy lane per frame a client may be sent.
const INPUT_RATE_PER_SEND: f64 = 2.0;

/// The web sink.
#[derive(Debug)]
pub struct Web {
    settings: Settings,
    hub: Arc<Hub<Frame>>,
    server: Option<Server>,
    counters_at: Instant,
}

impl Web {
    /// The address the server listens on, once started.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }
}

fn publish_counters(ctx: &Context, hub: &Hub<Frame>) {
    let s = &hub.stats;
    let received = s.received.load(Ordering::Relaxed);
    let shown = s.frames_shown.load(Ordering::Relaxed);
    ctx.set_counter("frames_received", received);
    ctx.set_counter("frames_shown", shown);
    ctx.set_counter("frames_dropped_for_display", received.saturating_sub(shown));
    ctx.set_counter("frames_sent", s.frames_sent.load(Ordering::Relaxed));
    ctx.set_counter("bytes_sent", s.bytes_sent.load(Ordering::Relaxed));
    ctx.set_counter("frames_acked", s.frames_acked.load(Ordering::Relaxed));
    ctx.set_counter("frame_age_p50_ms", s.age_buckets.percentile_ms(50.0));
    ctx.set_counter("frame_age_p95_ms", s.age_buckets.percentile_ms(95.0));
    ctx.set_counter(
        "clients_accepted",
        s.clients_accepted.load(Ordering::Relaxed),
    );
    ctx.set_counter("clients_refused", s.clients_refused.load(Ordering::Relaxed));
    ctx.set_counter(
        "requests_refused",
        s.requests_refused.load(Ordering::Relaxed),
    );
    ctx.set_counter("frames_unshowable", s.unshowable.load(Ordering::Relaxed));
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<this-host>".into())
}

impl Sink for Web {
    type Settings = Settings;
    const INPUT: InputLane = InputLane::PrefersLatest;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Self {
            hub: Arc::new(Hub::new(settings.max_cpu_pct / 100.0)),
            settings,
            server: None,
            counters_at: Instant::now(),
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let s = &self.settings;
        let addr = s.addr()?;
        let mut token = s.token.clone();
        if token.is_none() && !addr.ip().is_loopback() {
            token = Some(http::generate_token().map_err(|e| {
                PluginError::new(format!("web: cannot generate a token (/dev/urandom): {e}"))
            })?);
        }
        let title = s
            .title
            .clone()
            .unwrap_or_else(|| format!("daqflow — {}", ctx.node_name()));
        let hello = serde_json::json!({
            "type": "hello",
            "node": ctx.node_name(),
            "title": title,
            "colormap": s.colormap,
            "reversed": s.reversed,
            "scale": s.scale,
            "credit": s.credit_frames,
            "flow_control": s.flow_control,
            "max_clients": s.max_clients,
            // The exact colormap tables of daqflow-display (the native viewer's).
            "luts": daqflow_display::Colormap::ALL
                .iter()
                .map(|c| (c.name().to_owned(), http::base64(c.lut().as_flattened()).into()))
                .collect::<serde_json::Map<_, _>>(),
        });
        let cfg = ServerConfig {
            access: Access {
                token: token.clone(),
                bind: addr,
                allowed_hosts: s.allowed_hosts.clone(),
                allowed_origins: s.allowed_origins.clone(),
            },
            max_clients: s.max_clients,
            client: ClientConfig {
                credit: s.credit_frames as usize,
                flow: s.flow_control,
                max_fps: s.max_fps,
                lossless_min_fps: s.lossless_min_fps,
                raw_min_fps: s.raw_min_fps,
                jpeg_quality: s.jpeg_quality,
                max_side: s.max_side_px,
                hello: hello.to_string(),
            },
            node: ctx.node_name().to_owned(),
        };
        let log_ctx = ctx.clone();
        let server = Server::start(addr, self.hub.clone(), cfg, move || {
            log_ctx.bind_log_thread();
            lower_thread_priority("web: a server thread");
        })
        .map_err(|e| PluginError::new(format!("web: {e}")))?;
        let host = if addr.ip().is_unspecified() {
            hostname()
        } else {
            server.addr.ip().to_string()
        };
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        log::info!(
            "web: live view at http://{host}:{}/{query}{}",
            server.addr.port(),
            if s.flow_control == FlowControl::None {
                " (flow_control = \"none\": benchmark mode, frames are pushed without credit)"
            } else {
                ""
            }
        );
        self.server = Some(server);
        if !ctx.input_is_lossless() {
            ctx.limit_input_rate(INPUT_RATE_PER_SEND * s.max_fps);
        }
        Ok(())
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let offered = ctx.input_frames_offered();
        self.hub.publish(frame, offered);
        if self.counters_at.elapsed() >= COUNTER_INTERVAL {
            self.counters_at = Instant::now();
            self.hub.update_rate(offered);
            publish_counters(ctx, &self.hub);
        }
        Ok(())
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.hub.stopping.store(true, Ordering::Release);
        self.hub.slot.close();
        if let Some(mut server) = self.server.take() {
            server.join();
        }
        // Frames still held (the slot, the newest prepared one) go back to the pool.
        drop(self.hub.slot.try_take());
        self.hub
            .stats
            .received
            .fetch_max(ctx.input_frames_offered(), Ordering::Relaxed);
        publish_counters(ctx, &self.hub);
        Ok(())
    }
}

impl Drop for Web {
    /// Without a `stop` (a failed start elsewhere), the server threads end here.
    fn drop(&mut self) {
        self.hub.stopping.store(true, Ordering::Release);
        if let Some(mut server) = self.server.take() {
            server.join();
        }
    }
}

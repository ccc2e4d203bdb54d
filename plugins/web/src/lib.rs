//! `web`: the browser live view sink of daqflow. An embedded HTTP + WebSocket server
//! (plain threads, `tungstenite`) serves one page, compiled in, that shows the newest
//! frame with WebGL colormaps — live over any link: each browser has a small credit of
//! frames in flight, gets frames binned to its canvas (or its zoomed region), lossless or
//! JPEG by its measured goodput, and acquisition never waits for it.
//!
//! Modules: [`config`] (settings), [`sink`] (the `Sink` impl), [`hub`] (the slot, the
//! newest prepared frame and its shared encodings, counters), [`encode`] (binning,
//! byte-shuffle + zlib, JPEG), [`server`] (listener and connection threads), [`http`]
//! (request parsing, token/Host/Origin checks, handshake, the page), [`client`] (one
//! browser: credit, messages), `link` (goodput, frame age, codec choice).

pub mod client;
pub mod config;
pub mod encode;
pub mod http;
pub mod hub;
mod link;
pub mod server;
pub mod sink;

pub use config::Settings;
pub use sink::Web;

daqflow_sdk::export_plugin!(
    sink Web,
    name = "web",
    description = "Browser live view: HTTP + WebSocket server, newest frame with colormaps, \
                   contrast, zoom and pixel readout, per-client credit so a slow link never \
                   builds a backlog; never slows acquisition"
);

//! The listening socket and its threads: an acceptor polls the (non-blocking) listener
//! so that it notices the stop within a few milliseconds; each connection gets a thread
//! that reads its request head, refuses it or serves the page, or upgrades it to a
//! WebSocket and runs [`client::serve`]. At stop every thread ends and the listener is
//! closed before `stop` returns: the port is free for the next run.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use daqflow_display::ViewFrame;
use tungstenite::WebSocket;
use tungstenite::protocol::Role;

use crate::client::{self, ClientConfig};
use crate::http::{self, Access};
use crate::hub::{FrameMeta, Hub};

/// How often the acceptor looks at the stop flag while nobody connects.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Connections being answered at once beyond `max_clients` (page loads, refusals).
const EXTRA_CONNECTIONS: usize = 16;

/// The running server.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (the real port when `bind` asked for port 0).
    pub addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

/// What the connection threads need.
#[derive(Debug)]
pub struct ServerConfig {
    /// Who may connect.
    pub access: Access,
    /// Most WebSocket clients at once.
    pub max_clients: u32,
    /// Per-client settings.
    pub client: ClientConfig,
    /// Node name (logs).
    pub node: String,
}

impl Server {
    /// Binds `addr` and starts accepting.
    pub fn start<F: ViewFrame + FrameMeta + Sync>(
        addr: SocketAddr,
        hub: Arc<Hub<F>>,
        cfg: ServerConfig,
        on_thread: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            let hint = if e.kind() == ErrorKind::AddrInUse {
                " (another program, or another web node, uses it: choose another port in `bind`)"
            } else {
                ""
            };
            format!("cannot listen on {addr}: {e}{hint}")
        })?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let cfg = Arc::new(cfg);
        let on_thread = Arc::new(on_thread);
        let acceptor = std::thread::Builder::new()
            .name(format!("{}:http", cfg.node))
            .spawn(move || {
                on_thread();
                accept_loop(listener, &hub, &cfg, &on_thread);
            })
            .map_err(|e| format!("cannot start the server thread: {e}"))?;
        Ok(Self {
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// Waits for the acceptor and every connection thread (the hub's stop flag must be
    /// set first); the port is released when this returns.
    pub fn join(&mut self) {
        if let Some(t) = self.acceptor.take()
            && t.join().is_err()
        {
            log::error!("web: the server thread panicked");
        }
    }
}

fn accept_loop<F: ViewFrame + FrameMeta + Sync>(
    listener: TcpListener,
    hub: &Arc<Hub<F>>,
    cfg: &Arc<ServerConfig>,
    on_thread: &Arc<impl Fn() + Send + Sync + 'static>,
) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !hub.stopping.load(Ordering::Acquire) {
        threads.retain(|t| !t.is_finished());
        match listener.accept() {
            Ok((stream, peer)) => {
                if threads.len() >= cfg.max_clients as usize + EXTRA_CONNECTIONS {
                    hub.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
                let (hub, cfg, on_thread) = (hub.clone(), cfg.clone(), on_thread.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("{}:client", cfg.node))
                    .spawn(move || {
                        on_thread();
                        connection(stream, peer, &hub, &cfg);
                    });
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => log::warn!("web: cannot start a thread for {peer}: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                log::warn!("web: accept failed: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
    // The listener closes here: no new connection; then every client says "stopped".
    drop(listener);
    for t in threads {
        let _ = t.join();
    }
}

fn connection<F: ViewFrame + FrameMeta + Sync>(
    mut stream: TcpStream,
    peer: SocketAddr,
    hub: &Hub<F>,
    cfg: &ServerConfig,
) {
    // Accepted sockets inherit non-blocking mode on some systems: make it explicit.
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let req = match http::read_request(&mut stream) {
        Ok(r) => r,
        Err(e) => {
            hub.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
            log::debug!("web: {peer}: {e}");
            http::respond(&mut stream, "400 Bad Request", "text/plain", e.as_bytes());
            return;
        }
    };
    if let Some(why) = cfg.access.refusal(&req) {
        hub.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
        log::warn!("web: refused {peer} ({}): {why}", req.path);
        http::respond(
            &mut stream,
            "403 Forbidden",
            "text/plain; charset=utf-8",
            why.as_bytes(),
        );
        return;
    }
    match (req.path.as_str(), req.ws_key.as_deref()) {
        ("/ws", Some(key)) => websocket(stream, key, peer, hub, cfg),
        ("/", None) | ("/index.html", None) => {
            http::respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                http::PAGE.as_bytes(),
            );
        }
        ("/app.js", None) => {
            http::respond(
                &mut stream,
                "200 OK",
                "text/javascript; charset=utf-8",
                http::SCRIPT.as_bytes(),
            );
        }
        ("/favicon.ico", None) => http::respond(&mut stream, "204 No Content", "text/plain", b""),
        _ => http::respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found: the page is at /",
        ),
    }
}

fn websocket<F: ViewFrame + FrameMeta + Sync>(
    mut stream: TcpStream,
    key: &str,
    peer: SocketAddr,
    hub: &Hub<F>,
    cfg: &ServerConfig,
) {
    if let Err(e) = http::accept_websocket(&mut stream, key) {
        log::debug!("web: handshake with {peer}: {e}");
        return;
    }
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
    let stats = &hub.stats;
    let n = stats.clients.fetch_add(1, Ordering::AcqRel) + 1;
    if n > cfg.max_clients {
        stats.clients.fetch_sub(1, Ordering::AcqRel);
        stats.clients_refused.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "web: refused {peer}: {} clients connected already (max_clients = {})",
            cfg.max_clients,
            cfg.max_clients
        );
        let msg = serde_json::json!({
            "type": "refused",
            "reason": format!(
                "This live view already has {} viewers (max_clients = {}). Close another \
                 tab, or ask for a higher max_clients.",
                cfg.max_clients, cfg.max_clients
            ),
        });
        let _ = ws.send(tungstenite::Message::text(msg.to_string()));
        let _ = ws.close(None);
        let _ = ws.flush();
        return;
    }
    stats.clients_accepted.fetch_add(1, Ordering::Relaxed);
    log::info!("web: {peer} connected ({n} of {} clients)", cfg.max_clients);
    match client::serve(ws, hub, &cfg.client) {
        Ok(()) => log::info!("web: {peer} left"),
        Err(e) => log::info!("web: {peer} dropped: {e}"),
    }
    stats.clients.fetch_sub(1, Ordering::AcqRel);
}

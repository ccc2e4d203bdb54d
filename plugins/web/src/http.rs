//! The HTTP side of the server: read one request head, check it (token, `Host`,
//! `Origin`), answer the page or a refusal, or complete the WebSocket handshake.
//! Nothing here changes the pipeline: the only routes are `/` (the page) and `/ws`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The page, compiled into the plugin (nothing is fetched from the internet).
pub const PAGE: &str = include_str!("assets/index.html");
/// The page's script.
pub const SCRIPT: &str = include_str!("assets/app.js");

/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Default)]
pub struct Request {
    /// Path without the query.
    pub path: String,
    /// The `token` query parameter.
    pub token: Option<String>,
    /// `Host` header.
    pub host: Option<String>,
    /// `Origin` header.
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key` when this is an upgrade.
    pub ws_key: Option<String>,
}

/// Who may connect.
#[derive(Debug, Clone)]
pub struct Access {
    /// Required token, if any.
    pub token: Option<String>,
    /// The listening address.
    pub bind: SocketAddr,
    /// Extra Host names.
    pub allowed_hosts: Vec<String>,
    /// Extra Origins.
    pub allowed_origins: Vec<String>,
}

impl Access {
    /// Why `req` is refused (HTTP 403 text), or `None` when it may proceed.
    pub fn refusal(&self, req: &Request) -> Option<String> {
        // The script is public code, not data: a page opened with its token loads it
        // without repeating the token.
        if let Some(t) = self.token.as_ref().filter(|_| req.path != "/app.js")
            && !req
                .token
                .as_deref()
                .is_some_and(|got| constant_time_eq(got.as_bytes(), t.as_bytes()))
        {
            return Some(
                "wrong or missing token: open the URL the daqflow log printed (…?token=…)".into(),
            );
        }
        let Some(host) = req.host.as_deref() else {
            return Some("no Host header".into());
        };
        let name = host_name(host);
        let host_ok = self
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
            || if self.bind.ip().is_loopback() {
                // DNS rebinding: a foreign name resolving to 127.0.0.1 is refused.
                matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            } else {
                // A token guards non-loopback binds; any name that reaches us is fine.
                self.allowed_hosts.is_empty()
            };
        if !host_ok {
            return Some(format!(
                "Host {host:?} is not accepted (loopback names only on a loopback bind); add it \
                 to allowed_hosts if it is a proxy of yours"
            ));
        }
        if req.ws_key.is_some()
            && let Some(origin) = req.origin.as_deref()
        {
            let same = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !same && !self.allowed_origins.iter().any(|o| o == origin) {
                return Some(format!(
                    "Origin {origin:?} may not open the live view (another site's page); add it \
                     to allowed_origins if it is yours"
                ));
            }
        }
        None
    }
}

fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(n, _)| n)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads and parses one request head (bounded in size and time).
pub fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err("connection closed before a request".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too long".into());
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&buf).map_err(|e| format!("bad request: {e}"))?;
    if req.method != Some("GET") {
        return Err(format!(
            "method {:?} not allowed (read-only view)",
            req.method.unwrap_or("")
        ));
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = Request {
        path: path.to_owned(),
        token: query
            .split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_owned),
        ..Request::default()
    };
    let mut upgrade = false;
    for h in req.headers.iter() {
        let value = || String::from_utf8_lossy(h.value).trim().to_owned();
        match h.name.to_ascii_lowercase().as_str() {
            "host" => out.host = Some(value()),
            "origin" => out.origin = Some(value()),
            "upgrade" => upgrade = value().eq_ignore_ascii_case("websocket"),
            "sec-websocket-key" => out.ws_key = Some(value()),
            _ => {}
        }
    }
    if !upgrade {
        out.ws_key = None;
    }
    Ok(out)
}

/// Writes a complete HTTP response and closes the exchange.
pub fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; connect-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Completes the WebSocket handshake (101 Switching Protocols).
pub fn accept_websocket(stream: &mut TcpStream, key: &str) -> std::io::Result<()> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(head.as_bytes())
}

/// Standard base64 (the colormap tables in the hello message).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A random token (128 bits from the kernel, hex).
pub fn generate_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(bind: &str, token: Option<&str>) -> Access {
        Access {
            token: token.map(str::to_owned),
            bind: bind.parse().unwrap(),
            allowed_hosts: vec![],
            allowed_origins: vec![],
        }
    }

    fn req(host: &str, origin: Option<&str>, token: Option<&str>) -> Request {
        Request {
            path: "/ws".into(),
            token: token.map(str::to_owned),
            host: Some(host.into()),
            origin: origin.map(str::to_owned),
            ws_key: Some("k".into()),
        }
    }

    #[test]
    fn loopback_accepts_local_names_only() {
        let a = access("127.0.0.1:8080", None);
        assert_eq!(
            a.refusal(&req("localhost:9000", Some("http://localhost:9000"), None)),
            None
        );
        assert_eq!(a.refusal(&req("127.0.0.1:8080", None, None)), None);
        assert_eq!(a.refusal(&req("[::1]:8080", None, None)), None);
        assert!(
            a.refusal(&req("evil.example:8080", None, None))
                .unwrap()
                .contains("Host")
        );
        assert!(
            a.refusal(&req("localhost:8080", Some("http://evil.example"), None))
                .unwrap()
                .contains("Origin")
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn token_is_required_when_set() {
        let a = access("0.0.0.0:8080", Some("s3cret"));
        assert!(
            a.refusal(&req("daq-pc:8080", None, None))
                .unwrap()
                .contains("token")
        );
        assert!(
            a.refusal(&req("daq-pc:8080", None, Some("s3creT")))
                .is_some()
        );
        assert_eq!(
            a.refusal(&req(
                "daq-pc:8080",
                Some("http://daq-pc:8080"),
                Some("s3cret")
            )),
            None
        );
    }
}

//! Shared by the web sink's end-to-end tests: run the real `daqflow` binary with a
//! pipeline, learn the live view's address from its log, talk to it as a browser would
//! (tungstenite client), read the run report.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// A running pipeline with a web node.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub token: Option<String>,
    report: PathBuf,
    /// Every line of its stderr so far (a thread reads it all, so daqflow never blocks
    /// on a full pipe).
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Starts `toml` (written to `dir`) and waits until the web node logs its URL.
pub fn start(dir: &Path, toml: &str) -> Running {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let report = dir.join("report.json");
    let mut cmd = daqflow_tests::daqflow();
    cmd.arg("run")
        .arg("--quiet")
        .arg("--report")
        .arg(&report)
        .arg(&file);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn daqflow");
    let err = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = log.lock().unwrap().iter().find_map(|line| {
            let url = line.split("live view at http://").nth(1)?;
            let url = url.split_whitespace().next()?;
            let (hostport, rest) = url.split_once('/')?;
            let port: u16 = hostport.rsplit_once(':')?.1.parse().ok()?;
            Some((port, rest.strip_prefix("?token=").map(str::to_owned)))
        });
        if let Some((port, token)) = found {
            return Running {
                child,
                port,
                token,
                report,
                log,
                reader: Some(reader),
            };
        }
        let exited = child.try_wait().unwrap().is_some();
        if exited || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no 'live view at' line in the log: {:#?}",
                log.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Running {
    /// Asks the pipeline to stop (SIGINT, like Ctrl-C) and waits for its report.
    pub fn interrupt(self, timeout: Duration) -> (serde_json::Value, String) {
        let ok = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -INT daqflow");
        self.finish(timeout)
    }

    /// Waits for the pipeline to end by itself; returns the report and the whole log.
    pub fn finish(mut self, timeout: Duration) -> (serde_json::Value, String) {
        let status = daqflow_tests::wait_or_kill(&mut self.child, timeout, "daqflow");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let log = self.log.lock().unwrap().join("\n");
        assert!(status.success(), "daqflow failed: {status}\n{log}");
        let report = std::fs::read_to_string(&self.report).expect("report written");
        (serde_json::from_str(&report).unwrap(), log)
    }
}

impl Drop for Running {
    /// A test that panicked midway does not leave daqflow running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The counters of node `name` in a report.
pub fn counters<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let node = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("node {name} in {report:#}"));
    &node["counters"]
}

/// A node of a report.
pub fn node<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("node {name} in {report:#}"))
}

/// Opens the live view's WebSocket as a browser on `http://127.0.0.1:<port>` would.
pub fn connect(
    port: u16,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<WebSocket<TcpStream>, String> {
    let q = token.map(|t| format!("?token={t}")).unwrap_or_default();
    let mut req = format!("ws://127.0.0.1:{port}/ws{q}")
        .into_client_request()
        .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    tungstenite::client::client(req, stream)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r)) => format!(
                "HTTP {}: {}",
                r.status(),
                String::from_utf8_lossy(r.body().as_deref().unwrap_or_default())
            ),
            other => other.to_string(),
        })
}

/// A plain HTTP GET; returns the status line and the body.
pub fn http_get(port: u16, path: &str, host: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// Asks for frames binned to a `w × h` canvas.
pub fn send_view(ws: &mut WebSocket<TcpStream>, w: u32, h: u32, quality: &str) {
    let msg = serde_json::json!({"type": "view", "canvas": [w, h], "quality": quality});
    ws.send(Message::text(msg.to_string())).unwrap();
}

/// A frame message: its header and payload.
pub fn split_frame(data: &[u8]) -> (serde_json::Value, &[u8]) {
    let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&data[4..4 + n]).unwrap(),
        &data[4 + n..],
    )
}

/// What a client saw until the server closed.
#[derive(Debug, Default)]
pub struct Seen {
    pub hello: bool,
    pub frames: Vec<serde_json::Value>,
    pub stopped: bool,
    pub refused: Option<String>,
}

/// Reads until the server closes; acknowledges each frame when `ack`.
pub fn read_all(mut ws: WebSocket<TcpStream>, ack: bool) -> Seen {
    let mut seen = Seen::default();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str().unwrap() {
                    "hello" => seen.hello = true,
                    "stopped" => seen.stopped = true,
                    "refused" => seen.refused = Some(v["reason"].as_str().unwrap().to_owned()),
                    other => panic!("unexpected message {other}"),
                }
            }
            Ok(Message::Binary(b)) => {
                let (h, _) = split_frame(&b);
                if ack {
                    let a = serde_json::json!({"type": "ack", "seq": h["seq"], "busy_ms": 0});
                    let _ = ws.send(Message::text(a.to_string()));
                }
                seen.frames.push(h);
            }
            Ok(_) => {}
            Err(_) => return seen,
        }
    }
}

/// Chromium and Playwright, or a failure saying how to get them (never a silent skip).
pub fn browser_python() -> PathBuf {
    let py = daqflow_tests::python();
    let ok = std::process::Command::new(&py)
        .args(["-c", "import playwright"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium and Playwright in .venv: run scripts/setup.sh"
    );
    py
}

/// `target/web-test/<name>`, emptied.
pub fn artefacts(name: &str) -> PathBuf {
    let d = daqflow_tests::target_dir().join("web-test").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

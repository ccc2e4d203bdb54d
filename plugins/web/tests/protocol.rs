//! The web sink's protocol against the real `daqflow` binary, with tungstenite clients
//! standing in for browsers: credit flow control (a client that never acknowledges gets
//! `credit_frames` frames and stalls only itself), 8 clients at once sharing encodings,
//! a client killed mid-frame, the client cap, token / Host / Origin refusals, "pipeline
//! stopped" and the port released at stop, and acquisition untouched (a lossless
//! `discard` beside the web sink gets every frame).

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{connect, counters, http_get, node, read_all, send_view, split_frame, start};
use tungstenite::Message;

fn pipeline(web: &str, secs: u32) -> String {
    pipeline_encoded(web, secs, "raw")
}

fn pipeline_encoded(web: &str, secs: u32, encoding: &str) -> String {
    format!(
        r#"
[pipeline]
name = "web-protocol"
stop_after_secs = {secs}

[sources.det]
plugin = {det}
width = 512
height = 384
dtype = "u16"
rate_hz = 200
pattern = "ramp"
encoding = "{encoding}"

[sinks.all]
plugin = {discard}
inputs = ["det"]

[sinks.web]
plugin = {web_so}
inputs = ["det"]
{web}
"#,
        det = daqflow_tests::toml_path(&daqflow_tests::plugin("sim_detector")),
        discard = daqflow_tests::toml_path(&daqflow_tests::plugin("discard")),
        web_so = daqflow_tests::toml_path(&daqflow_tests::plugin("web")),
    )
}

#[test]
fn credit_stalls_only_the_silent_client_and_stop_frees_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        dir.path(),
        &pipeline("bind = \"127.0.0.1:0\"\ncredit_frames = 2", 4),
    );
    let port = run.port;

    // The silent client: asks for frames, never acknowledges.
    let mut silent = connect(port, None, None).unwrap();
    send_view(&mut silent, 256, 192, "lossless");
    // A client killed in the middle of a frame message.
    let killed: TcpStream = {
        let mut ws = connect(port, None, None).unwrap();
        send_view(&mut ws, 512, 384, "lossless");
        // The hello (text), then the start of a frame: read a little, then drop the socket.
        let mut head = [0u8; 16384];
        ws.get_mut().read_exact(&mut head).unwrap();
        ws.into_inner()
    };
    drop(killed);
    // Seven acknowledging clients (eight with the silent one), half lossless, half JPEG.
    let readers: Vec<_> = (0..7)
        .map(|i| {
            let mut ws = connect(port, None, Some(&format!("http://127.0.0.1:{port}"))).unwrap();
            send_view(
                &mut ws,
                256,
                192,
                if i % 2 == 0 { "lossless" } else { "lossy" },
            );
            std::thread::spawn(move || read_all(ws, true))
        })
        .collect();
    let silent = std::thread::spawn(move || read_all(silent, false));

    let (report, log) = run.finish(Duration::from_secs(60));
    let silent = silent.join().unwrap();
    assert!(silent.hello && silent.stopped, "{silent:?}");
    assert_eq!(
        silent.frames.len(),
        2,
        "a client that never acknowledges gets its credit only"
    );
    // Each frame message is the newest frame: numbers only increase.
    for r in readers {
        let seen = r.join().unwrap();
        assert!(seen.stopped, "every page is told the pipeline stopped");
        assert!(
            seen.frames.len() > 2,
            "acknowledging clients go on: {}",
            seen.frames.len()
        );
        let numbers: Vec<u64> = seen
            .frames
            .iter()
            .map(|h| h["frame"].as_u64().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "never an older frame: {numbers:?}"
        );
        let h = &seen.frames[0];
        assert_eq!(
            (h["w"].as_u64(), h["h"].as_u64(), h["bin"].as_u64()),
            (Some(256), Some(192), Some(2))
        );
        assert_eq!(h["width"], 512);
    }
    // Acquisition untouched: the lossless sink beside it got every frame.
    let produced = node(&report, "det")["frames_out"].as_u64().unwrap();
    assert!(produced > 100, "{produced}");
    assert_eq!(
        node(&report, "all")["frames_in"].as_u64().unwrap(),
        produced
    );
    let c = counters(&report, "web");
    assert_eq!(c["clients_accepted"], 9, "{c:#}\n{log}");
    assert!(c["frames_acked"].as_u64().unwrap() > 14, "{c:#}");
    // Encodings are shared: fewer distinct frames shown than messages sent.
    assert!(
        c["frames_shown"].as_u64().unwrap() < c["frames_sent"].as_u64().unwrap(),
        "{c:#}"
    );
    // The port is free once the run is over.
    TcpListener::bind(("127.0.0.1", port)).expect("port released at stop");
}

#[test]
fn token_host_origin_and_client_cap() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        dir.path(),
        &pipeline(
            "bind = \"127.0.0.1:0\"\ntoken = \"s3cret\"\nmax_clients = 1",
            3,
        ),
    );
    let port = run.port;
    let host = format!("127.0.0.1:{port}");
    let (status, body) = http_get(port, "/", &host);
    assert!(status.contains("403"), "{status}");
    assert!(body.contains("token"), "{body}");
    let (status, body) = http_get(port, "/?token=s3cret", &host);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("app.js"));
    let (status, _) = http_get(port, "/?token=s3cret", &format!("rebind.example:{port}"));
    assert!(status.contains("403"), "DNS rebinding: {status}");

    let e = connect(port, Some("wrong"), None).unwrap_err();
    assert!(e.contains("403"), "wrong token: {e}");
    let e = connect(port, Some("s3cret"), Some("http://evil.example")).unwrap_err();
    assert!(e.contains("403"), "foreign Origin: {e}");

    let first = connect(port, Some("s3cret"), Some(&format!("http://{host}"))).unwrap();
    let second = connect(port, Some("s3cret"), None).unwrap();
    let second = read_all(second, true);
    assert!(second.refused.unwrap().contains("max_clients = 1"));
    let mut first = first;
    send_view(&mut first, 64, 64, "auto");
    let first = read_all(first, true);
    assert!(
        first.hello && first.stopped && !first.frames.is_empty(),
        "{first:?}"
    );

    let (report, _) = run.finish(Duration::from_secs(60));
    let c = counters(&report, "web");
    assert_eq!(c["clients_refused"], 1, "{c:#}");
    assert_eq!(c["requests_refused"], 4, "{c:#}");
    assert_eq!(c["clients_accepted"], 1, "{c:#}");
}

/// Lossless frames carry the exact pixels — also when the detector sends bitshuffle-LZ4
/// chunks (decoded by the web sink only for the frames it sends). The client pings with
/// every acknowledgement: the pongs (written by tungstenite) and the frames (written
/// straight to the socket) must arrive whole, never interleaved.
#[test]
fn lossless_frames_are_exact_also_from_bslz4_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        dir.path(),
        &pipeline_encoded("bind = \"127.0.0.1:0\"", 120, "bslz4"),
    );
    let mut ws = connect(run.port, None, None).unwrap();
    send_view(&mut ws, 4096, 4096, "lossless");
    let mut checked = 0;
    let mut codecs = std::collections::BTreeSet::new();
    let mut pongs = 0;
    while checked < 6 {
        let msg = ws.read().unwrap();
        if let Message::Pong(p) = &msg {
            assert_eq!(&p[..], b"are you there", "pong {pongs}");
            pongs += 1;
        }
        if let Message::Binary(b) = msg {
            {
                let (h, payload) = split_frame(&b);
                assert_eq!(h["bin"].as_u64(), Some(1));
                let (w, n) = (512usize, 512 * 384);
                // Deflated byte planes, or (on a link that carries them) raw values.
                let values: Vec<u16> = match h["codec"].as_str() {
                    Some("deflate") => {
                        let mut planes = Vec::new();
                        flate2::read::ZlibDecoder::new(payload)
                            .read_to_end(&mut planes)
                            .unwrap();
                        (0..n)
                            .map(|i| u16::from_le_bytes([planes[i], planes[n + i]]))
                            .collect()
                    }
                    Some("raw") => payload
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                    other => panic!("lossless frame with codec {other:?}"),
                };
                assert_eq!(values.len(), n);
                codecs.insert(h["codec"].as_str().unwrap().to_owned());
                let f = h["frame"].as_u64().unwrap() as usize;
                for i in (0..n).step_by(97) {
                    let v = values[i];
                    let (x, y) = (i % w, i / w);
                    assert_eq!(
                        usize::from(v),
                        (x + y + f) % 65536,
                        "pixel {x},{y} of frame {f}"
                    );
                }
                let a = serde_json::json!({"type": "ack", "seq": h["seq"]});
                ws.send(Message::Ping(b"are you there".as_slice().into()))
                    .unwrap();
                ws.send(Message::text(a.to_string())).unwrap();
                checked += 1;
            }
        }
    }
    assert!(pongs >= 4, "pongs answered between frames: {pongs}");
    drop(ws);
    // The first frame, before the link is measured, is deflated; later ones are raw
    // where the link carries raw frames 30 times a second (loopback, unless loaded).
    assert!(codecs.contains("deflate"), "{codecs:?}");
    eprintln!("lossless codecs seen: {codecs:?}");
    let (report, _) = run.interrupt(Duration::from_secs(60));
    let c = counters(&report, "web");
    assert_eq!(c["frames_unshowable"], 0, "{c:#}");
}

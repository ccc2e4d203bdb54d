//! Real signals to a real `daqflow run` process: Ctrl-C (SIGINT) drains every queue and
//! exits 0 with the report; a second Ctrl-C aborts (exit 3) and says what was lost; a
//! drain that overruns its timeout aborts too; SIGTERM stops in order like Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use daqflow_tests::{daqflow, wait_or_kill};

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    report: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(pipeline: &str, extra: &[&str]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, pipeline).unwrap();
        let report = dir.path().join("report.json");
        let mut cmd = daqflow();
        cmd.arg("run")
            .arg("--report")
            .arg(&report)
            .args(extra)
            .arg(&file);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        // A std channel: the reader thread is bounded by the child's output anyway.
        #[allow(clippy::disallowed_methods)]
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            log: Vec::new(),
            report,
            _dir: dir,
        }
    }

    /// Waits until a stderr line contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(needle);
                self.log.push(l);
                if hit {
                    return;
                }
            }
        }
        panic!("no `{needle}` in stderr:\n{}", self.log.join("\n"));
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill failed");
    }

    fn finish(mut self) -> (i32, String, serde_json::Value) {
        let status = wait_or_kill(
            &mut self.child,
            Duration::from_secs(60),
            "daqflow after a signal",
        );
        std::thread::sleep(Duration::from_millis(50));
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
        let report = std::fs::read_to_string(&self.report)
            .unwrap_or_else(|_| panic!("no report written; stderr:\n{}", self.log.join("\n")));
        (
            status.code().expect("exited, not killed"),
            self.log.join("\n"),
            serde_json::from_str(&report).unwrap(),
        )
    }
}

const BACKLOG: &str = r#"
[sources.det]
plugin = "sim_detector"
width = 64
height = 64
rate_hz = 400

[filters.thr]
plugin = "threshold"
inputs = ["det"]
level = 100

[sinks.slow]
plugin = "discard"
inputs = ["thr"]
delay_ms = 10
queue = { capacity = 64, when_full = "block" }
"#;

fn node<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap()
}

#[test]
fn ctrl_c_drains_every_queue_and_exits_0() {
    let mut run = Running::start(BACKLOG, &[]);
    run.wait_for("running pipeline");
    std::thread::sleep(Duration::from_millis(1500));
    run.signal(libc::SIGINT);
    let (code, log, r) = run.finish();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("stopping — sources stop, queues drain"),
        "{log}"
    );
    assert_eq!(r["outcome"], "ok", "{r:#}");
    assert_eq!(r["stop_reason"], "Ctrl-C");
    let produced = node(&r, "det")["frames_out"].as_u64().unwrap();
    assert!(produced > 0);
    // The backlog (up to 64 queued frames at 10 ms each) was drained, not dropped.
    assert_eq!(
        node(&r, "slow")["counters"]["frames"].as_u64().unwrap(),
        produced,
        "{r:#}"
    );
    for e in r["edges"].as_array().unwrap() {
        assert_eq!(e["sent"], e["received"], "{e}");
        assert_eq!(e["lost"], 0, "{e}");
    }
    assert!(
        log.contains("every lossless lane (2) delivered every frame"),
        "{log}"
    );
}

#[test]
fn second_ctrl_c_aborts_and_says_what_was_lost() {
    let pipeline = BACKLOG
        .replace("delay_ms = 10", "delay_ms = 100")
        .replace("rate_hz = 400", "rate_hz = 0");
    let mut run = Running::start(&pipeline, &["--quiet"]);
    run.wait_for("running pipeline");
    std::thread::sleep(Duration::from_millis(1000));
    run.signal(libc::SIGINT);
    run.wait_for("stopping");
    std::thread::sleep(Duration::from_millis(200));
    run.signal(libc::SIGINT);
    let (code, log, r) = run.finish();
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("aborting"), "{log}");
    assert_eq!(r["outcome"], "aborted", "{r:#}");
    // The abandoned backlog is counted where the abort found it: still queued or in a
    // blocked send (the lane's `lost`), or already taken by a node that then could not
    // handle it (the node's `frames_failed`). Which one depends on timing; the sum not.
    let sum = |list: &str, key: &str| -> u64 {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_u64().unwrap())
            .sum()
    };
    let (lost, failed) = (sum("edges", "lost"), sum("nodes", "frames_failed"));
    assert!(
        lost + failed > 0,
        "a backlog of 100 ms frames was abandoned, and counted: {r:#}"
    );
    let produced = node(&r, "det")["frames_out"].as_u64().unwrap();
    let handled = node(&r, "slow")["counters"]["frames"].as_u64().unwrap();
    assert_eq!(
        handled + lost + failed,
        produced,
        "every frame handled or counted: {r:#}"
    );
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| {
            let e = e.as_str().unwrap();
            e.contains("lost") || e.contains("did not handle")
        }),
        "{r:#}"
    );
    // The sink's stop still ran (discard sets its counters there).
    assert!(node(&r, "slow")["counters"]["frames"].is_u64(), "{r:#}");
}

#[test]
fn a_drain_that_overruns_its_timeout_aborts() {
    let pipeline = BACKLOG
        .replace("delay_ms = 10", "delay_ms = 200")
        .replace("rate_hz = 400", "rate_hz = 0");
    let mut run = Running::start(&pipeline, &["--quiet", "--drain-timeout-secs", "0.5"]);
    run.wait_for("running pipeline");
    std::thread::sleep(Duration::from_millis(800));
    run.signal(libc::SIGINT);
    let (code, log, r) = run.finish();
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("the drain did not finish within 0.5 s; aborting"),
        "{log}"
    );
    assert_eq!(r["outcome"], "aborted");
}

#[test]
fn sigterm_stops_in_order() {
    let mut run = Running::start(BACKLOG, &["--quiet"]);
    run.wait_for("running pipeline");
    std::thread::sleep(Duration::from_millis(500));
    run.signal(libc::SIGTERM);
    let (code, log, r) = run.finish();
    assert_eq!(code, 0, "{log}");
    assert_eq!(r["outcome"], "ok");
}

//! Running a validated pipeline: one thread per node, bounded lanes between them, the
//! frame pool, and the lifecycle — start (sinks → filters → sources), steady state, stop
//! (sources stop; queues drain; sinks finish and close files), report. Ctrl-C asks for the
//! same orderly stop; a second Ctrl-C, or a drain that overruns its timeout, aborts:
//! queued frames are counted as lost and every node is still asked to `stop` (so files are
//! closed) before the report says what was lost.

pub mod edge;
pub mod host;
pub mod pool;

use std::ffi::c_void;
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use daqflow_sdk::abi::{self, RStr};

use self::edge::{EdgeStats, Inputs, Recv};
use self::host::{ErrorSink, HOST_API, NodeHost, NodeStats, Shared};
use self::pool::FrameRef;
use crate::config::{NodeKind, WhenFull};
use crate::plugin::Plugin;
use crate::stats::{EdgeReport, NodeReport, Outcome, RunReport, StatusLine};
use crate::validate::Validated;

/// True while the live status line is drawn on the terminal (without a newline): a
/// logger writing to the same terminal calls [`take_status_line`] first to erase it.
static STATUS_ON_SCREEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Erases the status line if one is on screen; returns the escape text to print first
/// (empty when none). The status line is redrawn at its next tick.
pub fn take_status_line() -> &'static str {
    if STATUS_ON_SCREEN.swap(false, Ordering::Relaxed) {
        "\r\x1b[2K"
    } else {
        ""
    }
}

/// External control of a run: Ctrl-C presses (from a signal handler).
#[derive(Debug, Default)]
pub struct RunControl {
    interrupts: AtomicU32,
}

impl RunControl {
    /// A new control.
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl::default())
    }

    /// One Ctrl-C: the first asks for an orderly stop, the second aborts.
    pub fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::SeqCst);
    }

    /// Ctrl-C presses so far.
    pub fn count(&self) -> u32 {
        self.interrupts.load(Ordering::SeqCst)
    }
}

/// How the live status is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMode {
    /// Redraw one line on a terminal, print a line every few seconds otherwise.
    Auto,
    /// No status.
    Off,
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Live status.
    pub status: StatusMode,
    /// Overrides `[pipeline] drain_timeout_secs`.
    pub drain_timeout: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            status: StatusMode::Auto,
            drain_timeout: None,
        }
    }
}

/// A plugin instance pointer (owned by the plugin; destroyed through its vtable).
struct Instance {
    plugin: Plugin,
    ptr: *mut c_void,
}

// SAFETY: plugin instances are `Send` (the SDK requires it of every plugin type) and are
// used by one thread at a time: created on the main thread, run on the node thread,
// destroyed on the main thread after that thread has finished.
unsafe impl Send for Instance {}

impl Instance {
    fn call(&self, f: unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32) -> (i32, String) {
        let mut err = ErrorSink::default();
        // SAFETY: a live instance of this plugin; err outlives the call.
        let status = unsafe { f(self.ptr, err.as_ptr()) };
        (
            status,
            if status < 0 {
                err.message()
            } else {
                String::new()
            },
        )
    }

    fn push(&self, frame: FrameRef) -> (i32, String) {
        let push = self
            .plugin
            .vt
            .push
            .expect("checked at load: filters and sinks have push");
        let mut err = ErrorSink::default();
        // SAFETY: a live instance; ownership of the frame reference passes to the plugin.
        let status = unsafe { push(self.ptr, frame.into_raw(), err.as_ptr()) };
        (
            status,
            if status < 0 {
                err.message()
            } else {
                String::new()
            },
        )
    }

    fn destroy(self) {
        // SAFETY: created by this plugin's create, destroyed once, no thread uses it now.
        unsafe { (self.plugin.vt.destroy)(self.ptr) };
    }
}

fn describe_failure(status: i32, what: &str, msg: String) -> String {
    if status == abi::STATUS_PANIC {
        format!("panicked in {what}: {msg}")
    } else {
        format!("{what} failed: {msg}")
    }
}

/// A node on an `inline` lane: no thread of its own; its producer's thread calls it.
pub struct InlineNode {
    host: Arc<NodeHost>,
    inst: std::sync::Mutex<Option<Instance>>,
    healthy: std::sync::atomic::AtomicBool,
    started: std::sync::atomic::AtomicBool,
    finished: std::sync::atomic::AtomicBool,
}

impl InlineNode {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instance>> {
        self.inst.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls the plugin's `start` (on the supervisor thread, in start order).
    fn start(&self) -> bool {
        let guard = self.lock();
        let Some(inst) = guard.as_ref() else {
            return false;
        };
        let (status, msg) = inst.call(inst.plugin.vt.start);
        if status == abi::STATUS_OK {
            self.started.store(true, Ordering::Release);
            self.healthy.store(true, Ordering::Release);
            true
        } else {
            fail(&self.host, describe_failure(status, "start", msg));
            false
        }
    }

    /// One frame from the producer, handled on the producer's thread.
    pub fn push(&self, frame: FrameRef) -> Result<(), edge::Aborted> {
        let stats = &self.host.stats;
        stats.frames_in.fetch_add(1, Ordering::Relaxed);
        if !self.healthy.load(Ordering::Acquire) || self.host.shared.aborting() {
            stats.frames_failed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let guard = self.lock();
        let Some(inst) = guard.as_ref() else {
            stats.frames_failed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let (status, msg) = inst.push(frame);
        match status {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_ABORTED => Err(edge::Aborted),
            s => {
                self.healthy.store(false, Ordering::Release);
                fail(&self.host, describe_failure(s, "handling a frame", msg));
                Ok(())
            }
        }
    }

    /// The producer is done: stop the plugin (if it started) and close its own outputs.
    pub fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.started.load(Ordering::Acquire) {
            let guard = self.lock();
            if let Some(inst) = guard.as_ref() {
                let (status, msg) = inst.call(inst.plugin.vt.stop);
                if status < 0 {
                    fail(&self.host, describe_failure(status, "stop", msg));
                }
            }
        }
        self.host.close_outputs();
    }
}

/// What the status line reads while the run goes on.
pub struct Live<'a> {
    /// Nodes.
    pub nodes: &'a [Arc<NodeHost>],
    /// Node names.
    pub names: &'a [String],
    /// Lanes.
    pub edges: &'a [LiveEdge],
    started: Instant,
}

impl Live<'_> {
    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Frames queued on each lane now (0 for inline lanes).
    pub fn queue_lens(&self) -> Vec<usize> {
        // Read from the producer's side: a receiver kept here would keep lanes connected.
        self.edges
            .iter()
            .map(|e| {
                let outs = self.nodes[e.from]
                    .outputs
                    .read()
                    .unwrap_or_else(|p| p.into_inner());
                outs.get(e.slot).map_or(0, |tx| tx.queued())
            })
            .collect()
    }
}

/// A lane as the status line and report see it.
pub struct LiveEdge {
    /// Producer index.
    pub from: usize,
    /// Consumer index.
    pub to: usize,
    /// Capacity.
    pub capacity: usize,
    /// Counters.
    pub stats: Arc<EdgeStats>,
    /// Index of this lane in its producer's outputs.
    slot: usize,
}

/// Runs `v` until its sources end, it is stopped (Ctrl-C, `stop_after_*`, a plugin's
/// request, a failure) or aborted; returns the report.
pub fn run(v: &Validated, control: &RunControl, opts: &RunOptions) -> RunReport {
    let file = &v.file;
    let started = Instant::now();
    let n = file.nodes.len();
    let frames_in_flight: usize = v
        .graph
        .edges
        .iter()
        .map(|e| e.policy.capacity)
        .sum::<usize>()
        + 2 * n;
    let pool_bytes =
        usize::try_from(file.pipeline.pool_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let shared = Shared::new(pool_bytes, frames_in_flight);

    let hosts: Vec<Arc<NodeHost>> = file
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            Arc::new(NodeHost {
                input_lossless: v
                    .graph
                    .edges
                    .iter()
                    .filter(|e| e.to == i)
                    .all(|e| e.policy.is_lossless()),
                input_inline: v
                    .graph
                    .edges
                    .iter()
                    .any(|e| e.to == i && e.policy.when_full == WhenFull::Inline),
                input_all_lossy: v.graph.edges.iter().any(|e| e.to == i)
                    && v.graph
                        .edges
                        .iter()
                        .filter(|e| e.to == i)
                        .all(|e| !e.policy.is_lossless()),
                input_stats: std::sync::OnceLock::new(),
                input_min_interval_ns: AtomicU64::new(0),
                name: node.name.clone(),
                kind: node.kind,
                shared: shared.clone(),
                stats: Arc::new(NodeStats::default()),
                outputs: std::sync::RwLock::new(Vec::new()),
            })
        })
        .collect();
    // Nodes fed by an `inline` lane run on their producer's thread.
    let inline: Vec<Option<Arc<InlineNode>>> = (0..n)
        .map(|i| {
            hosts[i].input_inline.then(|| {
                Arc::new(InlineNode {
                    host: hosts[i].clone(),
                    inst: std::sync::Mutex::new(None),
                    healthy: std::sync::atomic::AtomicBool::new(false),
                    started: std::sync::atomic::AtomicBool::new(false),
                    finished: std::sync::atomic::AtomicBool::new(false),
                })
            })
        })
        .collect();

    // Lanes.
    let mut inputs: Vec<Vec<edge::EdgeRx>> = (0..n).map(|_| Vec::new()).collect();
    let mut live_edges = Vec::new();
    for e in &v.graph.edges {
        let tx = match &inline[e.to] {
            Some(target) => {
                let tx = edge::inline_lane(target.clone());
                live_edges.push(LiveEdge {
                    from: e.from,
                    to: e.to,
                    capacity: 0,
                    stats: tx.stats.clone(),
                    slot: 0,
                });
                tx
            }
            None => {
                let (tx, rx) = edge::lane(e.policy);
                live_edges.push(LiveEdge {
                    from: e.from,
                    to: e.to,
                    capacity: e.policy.capacity,
                    stats: tx.stats.clone(),
                    slot: 0,
                });
                inputs[e.to].push(rx);
                tx
            }
        };
        let mut outs = hosts[e.from]
            .outputs
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(last) = live_edges.last_mut() {
            last.slot = outs.len();
        }
        outs.push(tx);
    }

    for (i, host) in hosts.iter().enumerate() {
        let stats = live_edges
            .iter()
            .filter(|e| e.to == i)
            .map(|e| e.stats.clone())
            .collect();
        let _ = host.input_stats.set(stats);
    }

    // Create every instance first: a settings problem fails the run before anything starts.
    let mut instances: Vec<Option<Instance>> = Vec::with_capacity(n);
    for (i, node) in file.nodes.iter().enumerate() {
        let plugin = v.plugins[i].clone();
        let json = serde_json::Value::Object(node.settings.clone()).to_string();
        let mut err = ErrorSink::default();
        let mut ptr = std::ptr::null_mut();
        // SAFETY: the host node outlives the instance (kept in `hosts` until after destroy).
        let status = unsafe {
            (plugin.vt.create)(
                &HOST_API,
                hosts[i].as_ptr(),
                RStr::new(&json),
                &mut ptr,
                err.as_ptr(),
            )
        };
        if status == abi::STATUS_OK && !ptr.is_null() {
            let inst = Instance { plugin, ptr };
            match &inline[i] {
                Some(target) => {
                    *target.lock() = Some(inst);
                    instances.push(None);
                }
                None => instances.push(Some(inst)),
            }
        } else {
            let msg = describe_failure(status, "create", err.message());
            log::error!(target: &node.name, "{msg}");
            hosts[i].stats.fail(&node.name, msg);
            shared.request_stop(&format!("node `{}` failed to start", node.name));
            instances.push(None);
        }
    }

    // Start in groups: sinks, then filters, then sources — each group only once the
    // previous one started, so no frame is produced before its consumers are ready.
    let (done_tx, done_rx) = crossbeam_channel::bounded::<usize>(n.max(1));
    let mut threads: Vec<Option<JoinHandle<Instance>>> = (0..n).map(|_| None).collect();
    let mut unspawned: Vec<usize> = Vec::new();
    let mut inputs: Vec<Option<Vec<edge::EdgeRx>>> = inputs.into_iter().map(Some).collect();
    for kind in [NodeKind::Sink, NodeKind::Filter, NodeKind::Source] {
        let group: Vec<usize> = (0..n).filter(|&i| file.nodes[i].kind == kind).collect();
        let (started_tx, started_rx) = crossbeam_channel::bounded::<bool>(group.len().max(1));
        let mut spawned = 0;
        for &i in &group {
            if let Some(target) = &inline[i] {
                if !shared.stopping() && !target.start() {
                    shared.request_stop("a node failed to start");
                }
                continue;
            }
            if shared.stopping() {
                unspawned.push(i);
                continue;
            }
            let Some(inst) = instances[i].take() else {
                unspawned.push(i);
                continue;
            };
            let host = hosts[i].clone();
            let ins = Inputs::new(inputs[i].take().unwrap_or_default());
            let limit = if kind == NodeKind::Source {
                file.pipeline.stop_after_frames
            } else {
                None
            };
            let done = done_tx.clone();
            let started_tx = started_tx.clone();
            let name = host.name.clone();
            let spawn = std::thread::Builder::new()
                .name(format!("node:{name}"))
                .spawn(move || {
                    let _done = DoneGuard(done, i);
                    node_thread(inst, host, ins, limit, started_tx)
                });
            match spawn {
                Ok(h) => {
                    threads[i] = Some(h);
                    spawned += 1;
                }
                Err(e) => {
                    // The instance went down with the closure (not destroyed: a leak, but
                    // no call into a plugin that never started).
                    hosts[i]
                        .stats
                        .fail(&name, format!("cannot spawn its thread: {e}"));
                    shared.request_stop("a node thread could not be spawned");
                    unspawned.push(i);
                }
            }
        }
        // Wait for this group's starts; Ctrl-C during a slow start (a device that does not
        // answer) stops the remaining groups from starting.
        drop(started_tx);
        let mut waiting = spawned;
        while waiting > 0 {
            match started_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ok) => {
                    waiting -= 1;
                    if !ok {
                        shared.request_stop("a node failed to start");
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if control.count() > 0 && !shared.stopping() {
                        eprintln!(
                            "daqflow: stopping while starting — nodes not yet started will not start"
                        );
                        shared.request_stop("Ctrl-C");
                        break;
                    }
                }
            }
        }
    }
    drop(done_tx);
    // Nodes that never ran: close their lanes so consumers see the end, free instances.
    for i in unspawned {
        hosts[i].close_outputs();
        if let Some(inst) = instances[i].take() {
            inst.destroy();
        }
        // Receivers dropped with `inputs`: producers now see their consumer gone.
        inputs[i] = None;
    }

    // Supervise: status, Ctrl-C, timers, drain timeout.
    let live = Live {
        nodes: &hosts,
        names: &v.graph.names,
        edges: &live_edges,
        started,
    };
    let drain_timeout = opts
        .drain_timeout
        .unwrap_or(Duration::from_secs_f64(file.pipeline.drain_timeout_secs));
    let tty = std::io::stderr().is_terminal();
    let status_every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    let mut status = StatusLine::new(n);
    let mut last_status = Instant::now();
    let mut status_drawn = false;
    STATUS_ON_SCREEN.store(false, Ordering::Relaxed);
    let mut remaining = threads.iter().filter(|t| t.is_some()).count();
    let mut drain_deadline: Option<Instant> = None;
    let mut abort_deadline: Option<Instant> = None;
    let mut seen_interrupts = 0;
    let clear_status = |drawn: &mut bool| {
        if *drawn && STATUS_ON_SCREEN.swap(false, Ordering::Relaxed) {
            eprint!("\r\x1b[2K");
        }
        *drawn = false;
    };
    while remaining > 0 {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(_) => {
                remaining -= 1;
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        let k = control.count();
        if k > seen_interrupts {
            clear_status(&mut status_drawn);
            if k == 1 || !shared.stopping() {
                eprintln!("daqflow: stopping — sources stop, queues drain (Ctrl-C again to abort)");
                shared.request_stop("Ctrl-C");
            }
            if k >= 2 && !shared.aborting() {
                eprintln!("daqflow: aborting — queued frames will be counted as lost");
                shared.abort();
            }
            seen_interrupts = k;
        }
        if let Some(secs) = file.pipeline.stop_after_secs
            && started.elapsed().as_secs_f64() >= secs
        {
            shared.request_stop("stop_after_secs reached");
        }
        if shared.stopping() && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + drain_timeout);
        }
        if let Some(d) = drain_deadline
            && Instant::now() > d
            && !shared.aborting()
        {
            clear_status(&mut status_drawn);
            log::error!(
                "the drain did not finish within {:.1} s; aborting (raise [pipeline] drain_timeout_secs for slow sinks)",
                drain_timeout.as_secs_f64()
            );
            shared.abort();
        }
        if shared.aborting() {
            let d = *abort_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
            if Instant::now() > d {
                break;
            }
        }
        if opts.status == StatusMode::Auto && last_status.elapsed() >= status_every {
            last_status = Instant::now();
            let line = status.render(&live);
            if tty {
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
                status_drawn = true;
                STATUS_ON_SCREEN.store(true, Ordering::Relaxed);
            } else {
                eprintln!("{line}");
            }
        }
    }
    clear_status(&mut status_drawn);

    // Collect: join finished threads, destroy their instances; name the stuck ones.
    let mut stuck = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        let Some(t) = t else { continue };
        if t.is_finished() || remaining == 0 {
            match t.join() {
                Ok(inst) => inst.destroy(),
                Err(_) => hosts[i].stats.fail(
                    &hosts[i].name,
                    "the node thread panicked in the core".into(),
                ),
            }
        } else {
            stuck.push(hosts[i].name.clone());
        }
    }
    drop(inputs);
    if stuck.is_empty() {
        for target in inline.iter().flatten() {
            target.finish();
            if let Some(inst) = target.lock().take() {
                inst.destroy();
            }
        }
    }
    shared.pool.release_idle();

    let aborted = shared.aborting();
    let stop_reason = shared.stop_reason().unwrap_or_else(|| {
        if file.pipeline.stop_after_frames.is_some() {
            "stop_after_frames reached or end of stream".into()
        } else {
            "end of stream".into()
        }
    });
    let mut report = RunReport {
        pipeline: file.pipeline.name.clone(),
        outcome: Outcome::Ok,
        stop_reason,
        duration_secs: started.elapsed().as_secs_f64(),
        nodes: hosts
            .iter()
            .zip(&file.nodes)
            .map(|(h, node)| NodeReport {
                name: h.name.clone(),
                kind: h.kind,
                plugin: node.plugin.clone(),
                frames_in: h.stats.frames_in.load(Ordering::Relaxed),
                frames_out: h.stats.frames_out.load(Ordering::Relaxed),
                frames_failed: h.stats.frames_failed.load(Ordering::Relaxed),
                copies: h.stats.copies.load(Ordering::Relaxed),
                counters: h
                    .stats
                    .custom
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
                error: h
                    .stats
                    .error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
                active_secs: match h.stats.active_ns.load(Ordering::Relaxed) {
                    0 => None,
                    ns => Some(ns as f64 * 1e-9),
                },
            })
            .collect(),
        edges: v
            .graph
            .edges
            .iter()
            .zip(&live_edges)
            .map(|(e, l)| EdgeReport {
                from: v.graph.names[e.from].clone(),
                to: v.graph.names[e.to].clone(),
                policy: e.policy.to_string(),
                lossless: e.policy.is_lossless(),
                sent: l.stats.sent.load(Ordering::Relaxed),
                received: l.stats.received.load(Ordering::Relaxed),
                dropped: l.stats.dropped.load(Ordering::Relaxed),
                lost: l.stats.lost.load(Ordering::Relaxed),
            })
            .collect(),
        pool: shared.pool.stats(),
        errors: Vec::new(),
        stuck_nodes: stuck,
    };
    report.settle(aborted);
    // A plugin may keep a clone of its Context (a detached thread, a static) and call it
    // after the run: node objects live for the rest of the process, like the libraries.
    // Each is a few hundred bytes; their lanes and frames are released already.
    for h in hosts {
        std::mem::forget(h);
    }
    report
}

/// Tells the supervisor a node thread ended, however it ended.
struct DoneGuard(crossbeam_channel::Sender<usize>, usize);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.0.try_send(self.1);
    }
}

fn fail(host: &NodeHost, msg: String) {
    log::error!(target: &host.name, "{msg}; stopping the pipeline");
    host.stats.fail(&host.name, msg);
    host.shared
        .request_stop(&format!("node `{}` failed", host.name));
}

fn node_thread(
    inst: Instance,
    host: Arc<NodeHost>,
    mut inputs: Inputs,
    limit: Option<u64>,
    started: crossbeam_channel::Sender<bool>,
) -> Instance {
    let vt = inst.plugin.vt;
    let (status, msg) = inst.call(vt.start);
    let ok = status == abi::STATUS_OK;
    let _ = started.send(ok);
    drop(started);
    let mut healthy = ok;
    if !ok {
        fail(&host, describe_failure(status, "start", msg));
    }

    match host.kind {
        NodeKind::Source if healthy => {
            let next = vt.next.expect("checked at load: sources have next");
            let began = Instant::now();
            loop {
                if host.shared.stopping() {
                    break;
                }
                if let Some(l) = limit
                    && host.stats.frames_out.load(Ordering::Relaxed) >= l
                {
                    break;
                }
                let (status, msg) = inst.call(next);
                match status {
                    abi::STATUS_OK => {}
                    abi::STATUS_END | abi::STATUS_ABORTED => break,
                    s => {
                        fail(&host, describe_failure(s, "next", msg));
                        healthy = false;
                        break;
                    }
                }
            }
            let ns = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
            host.stats.active_ns.store(ns.max(1), Ordering::Relaxed);
        }
        NodeKind::Source => {}
        NodeKind::Filter | NodeKind::Sink => loop {
            let min_interval =
                Duration::from_nanos(host.input_min_interval_ns.load(Ordering::Relaxed));
            match inputs.recv(min_interval) {
                Recv::Frame(f) => {
                    host.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    if !healthy || host.shared.aborting() {
                        // The node cannot take it: counted, never silently gone.
                        host.stats.frames_failed.fetch_add(1, Ordering::Relaxed);
                        drop(f);
                        continue;
                    }
                    let (status, msg) = inst.push(f);
                    match status {
                        abi::STATUS_OK | abi::STATUS_ABORTED => {}
                        s => {
                            fail(&host, describe_failure(s, "handling a frame", msg));
                            healthy = false;
                        }
                    }
                }
                Recv::Idle => {
                    if host.shared.aborting() {
                        inputs.discard_all();
                        break;
                    }
                }
                Recv::End => break,
            }
        },
    }

    // Always give the plugin its stop (after a failure too: it may close a file).
    if ok {
        let (status, msg) = inst.call(vt.stop);
        if status < 0 {
            fail(&host, describe_failure(status, "stop", msg));
        }
    }
    host.close_outputs();
    let _ = healthy;
    inst
}

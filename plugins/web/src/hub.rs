//! What the sink and the client threads share ([`Hub`]): the one-frame slot `consume`
//! swaps frames into, the newest frame prepared for sending ([`Prepared`]: decoded if it
//! arrived compressed, its histogram and percentiles, its metadata — done once, when a
//! client first needs it, never on the acquisition path), the encodings of that frame
//! shared by every client asking for the same view, the counters, and the stop flag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use daqflow_display::{FrameDecoder, Histogram, LatestSlot, Showable, ViewFrame};
use daqflow_sdk::{DType, Frame, MetaValue};

use crate::encode::{Codec, Encoded, Region};

/// Bins of the histogram sent with each frame (between the frame's min and max).
pub const HIST_BINS: usize = 128;

/// Metadata of a frame as a JSON object (the page lists it).
pub trait FrameMeta {
    /// `{"key": value, …}`.
    fn meta_json(&self) -> serde_json::Value;
}

impl FrameMeta for Frame {
    fn meta_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in self.meta_iter() {
            let v = match v {
                MetaValue::I64(i) => serde_json::Value::from(i),
                MetaValue::F64(f) => serde_json::Value::from(f),
                MetaValue::Bool(b) => serde_json::Value::from(b),
                MetaValue::Str(s) => serde_json::Value::from(s),
                _ => continue,
            };
            m.insert(k.to_owned(), v);
        }
        serde_json::Value::Object(m)
    }
}

impl FrameMeta for daqflow_display::TestFrame {
    fn meta_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// What identifies one encoding of a frame (shared by the clients that ask for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// Region in frame pixels.
    pub region: Region,
    /// Binning factor.
    pub bin: u32,
    /// Codec.
    pub codec: Codec,
    /// JPEG's contrast window and scale (bits of the f64s; zero for lossless).
    pub window: (u64, u64, bool),
}

type EncodedSlot = Arc<OnceLock<Result<Arc<Encoded>, String>>>;

/// The newest frame, ready to encode for any client.
pub struct Prepared<F> {
    /// Increases by one per prepared frame.
    pub seq: u64,
    /// The frame (holding its pool buffer) and its decoded pixels.
    pub shown: Showable<F>,
    /// Frame number from the source.
    pub number: u64,
    /// Acquisition time, ns since the epoch (the server's clock).
    pub timestamp_ns: u64,
    /// Width, height, pixel type of the frame.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Pixel type.
    pub dtype: DType,
    /// Frame summary for the page: min, max, 0.5 % and 99.5 % percentiles, histogram.
    pub summary: serde_json::Value,
    /// The auto-contrast window (0.5 % … 99.5 %).
    pub auto_window: (f64, f64),
    /// Metadata.
    pub meta: serde_json::Value,
    encodings: Mutex<HashMap<ViewKey, EncodedSlot>>,
    /// When it was prepared.
    prepared_at: Instant,
    /// CPU time spent on it so far (preparing, encoding, sending, by all client threads),
    /// ns.
    cost_ns: AtomicU64,
}

impl<F> std::fmt::Debug for Prepared<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("seq", &self.seq)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl<F: ViewFrame> Prepared<F> {
    /// The encoding for `key`, made by the first client that asks (the others wait for
    /// it and share it).
    pub fn encoding(
        &self,
        key: ViewKey,
        make: impl FnOnce() -> Result<Encoded, String>,
    ) -> Result<Arc<Encoded>, String> {
        let slot = {
            let mut map = self
                .encodings
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.entry(key).or_default().clone()
        };
        slot.get_or_init(|| make().map(Arc::new)).clone()
    }

    /// Counts CPU time spent on this frame (by the client threads: encoding, building and
    /// writing messages) against the server's budget.
    pub fn add_cost(&self, d: Duration) {
        self.cost_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Counters of one web node (lock-free).
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames offered to the node by its lane (those the lane replaced included).
    pub received: AtomicU64,
    /// Distinct frames sent to at least one client.
    pub frames_shown: AtomicU64,
    /// Frame messages sent (to all clients).
    pub frames_sent: AtomicU64,
    /// Frames acknowledged (painted) by clients.
    pub frames_acked: AtomicU64,
    /// Bytes of frame messages sent.
    pub bytes_sent: AtomicU64,
    /// Clients connected now.
    pub clients: AtomicU32,
    /// WebSocket clients accepted since start.
    pub clients_accepted: AtomicU64,
    /// Clients turned away because `max_clients` were connected.
    pub clients_refused: AtomicU64,
    /// HTTP requests refused (token, Host, Origin, malformed).
    pub requests_refused: AtomicU64,
    /// Frames that could not be shown (bad chunk, unsupported).
    pub unshowable: AtomicU64,
    /// Frame age at acknowledgement, 10 ms buckets (the last one: ≥ 10 s).
    pub age_buckets: AgeHistogram,
}

/// Frame ages (acknowledgement − acquisition time) in 10 ms buckets up to 10 s.
#[derive(Debug)]
pub struct AgeHistogram(Box<[AtomicU64; AGE_BUCKETS]>);

const AGE_BUCKETS: usize = 1001;

impl Default for AgeHistogram {
    fn default() -> Self {
        Self(Box::new(std::array::from_fn(|_| AtomicU64::new(0))))
    }
}

impl AgeHistogram {
    /// Counts one age.
    pub fn record(&self, age_ms: f64) {
        let b = ((age_ms.max(0.0) / 10.0) as usize).min(AGE_BUCKETS - 1);
        self.0[b].fetch_add(1, Ordering::Relaxed);
    }

    /// The age (ms, upper bucket edge) below which `pct` percent of the ages lie; 0 with
    /// no ages.
    pub fn percentile_ms(&self, pct: f64) -> u64 {
        let counts: Vec<u64> = self.0.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let target = ((pct / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut cum = 0;
        for (i, c) in counts.iter().enumerate() {
            cum += c;
            if cum >= target {
                return (i as u64 + 1) * 10;
            }
        }
        AGE_BUCKETS as u64 * 10
    }
}

/// CPU time of the calling thread (what the server's budget counts: time a thread
/// spends waiting for the link or for the CPU is not its cost).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What the sink and the client threads share.
pub struct Hub<F> {
    /// The newest frame from `consume`, not yet prepared.
    pub slot: LatestSlot<F>,
    newest: Mutex<Newest<F>>,
    /// Counters.
    pub stats: Stats,
    /// Set at stop: clients say "pipeline stopped" and close.
    pub stopping: AtomicBool,
    /// Acquisition rate estimate (frames offered a second), as f64 bits.
    acq_fps: AtomicU64,
    rate_mark: Mutex<(Instant, u64)>,
    /// Share of one core the server may spend preparing and encoding frames.
    cpu_fraction: f64,
}

struct Newest<F> {
    decoder: FrameDecoder,
    current: Option<Arc<Prepared<F>>>,
    seq: u64,
}

impl<F> std::fmt::Debug for Hub<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<F> Default for Hub<F> {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl<F> Hub<F> {
    /// A hub whose frames may cost `cpu_fraction` of one core (0.3 = 30 %).
    pub fn new(cpu_fraction: f64) -> Self {
        Self {
            slot: LatestSlot::new(),
            newest: Mutex::new(Newest {
                decoder: FrameDecoder::default(),
                current: None,
                seq: 0,
            }),
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
            acq_fps: AtomicU64::new(0),
            rate_mark: Mutex::new((Instant::now(), 0)),
            cpu_fraction: cpu_fraction.clamp(0.01, 64.0),
        }
    }
}

impl<F: ViewFrame + FrameMeta> Hub<F> {
    /// Hands a frame over (replacing an older one not yet taken). Never blocks beyond a
    /// swap. `offered` is the lane's count of frames offered so far.
    pub fn publish(&self, frame: F, offered: u64) {
        self.stats.received.fetch_max(offered, Ordering::Relaxed);
        drop(self.slot.publish(frame));
    }

    /// Updates the acquisition rate estimate from the offered count (about twice a second).
    pub fn update_rate(&self, offered: u64) {
        let mut mark = self
            .rate_mark
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let dt = mark.0.elapsed().as_secs_f64();
        if dt >= 0.5 {
            let fps = offered.saturating_sub(mark.1) as f64 / dt;
            self.acq_fps.store(fps.to_bits(), Ordering::Relaxed);
            *mark = (Instant::now(), offered);
        }
    }

    /// Frames a second offered to the node lately.
    pub fn acquisition_fps(&self) -> f64 {
        f64::from_bits(self.acq_fps.load(Ordering::Relaxed))
    }

    /// The newest prepared frame if it is newer than `after` (a sequence number); takes a
    /// waiting frame from the slot and prepares it when there is one.
    ///
    /// CPU budget: a new frame is prepared only once the previous one's cost (preparing
    /// it and every encoding of it) fits in `cpu_fraction` of one core since it was
    /// prepared — browsers then get fewer frames, acquisition keeps its cores.
    pub fn newest_after(&self, after: u64) -> Option<Arc<Prepared<F>>> {
        let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
        let due = newest.current.as_ref().is_none_or(|p| {
            let cost = Duration::from_nanos(p.cost_ns.load(Ordering::Relaxed));
            p.prepared_at.elapsed().as_secs_f64() * self.cpu_fraction >= cost.as_secs_f64()
        });
        if due && let Some(frame) = self.slot.try_take() {
            // The previous frame is released here (unless a client is still encoding it).
            newest.current = None;
            let n = &mut *newest;
            let cpu = thread_cpu();
            match prepare(frame, n.seq + 1, &mut n.decoder) {
                Ok(p) => {
                    n.seq += 1;
                    p.add_cost(thread_cpu().saturating_sub(cpu));
                    n.current = Some(Arc::new(p));
                }
                Err(e) => {
                    if self.stats.unshowable.fetch_add(1, Ordering::Relaxed) == 0 {
                        log::warn!(
                            "web: a frame cannot be shown: {e} (counted in frames_unshowable)"
                        );
                    }
                }
            }
        }
        newest.current.as_ref().filter(|p| p.seq > after).cloned()
    }
}

fn prepare<F: ViewFrame + FrameMeta>(
    frame: F,
    seq: u64,
    decoder: &mut FrameDecoder,
) -> Result<Prepared<F>, String> {
    let meta = frame.meta_json();
    let shown = Showable::new(frame, decoder).map_err(|e| e.to_string())?;
    let image = shown.image().map_err(|e| e.to_string())?;
    let hist = Histogram::of(&image);
    let (min, max) = if hist.total == 0 {
        (0.0, 0.0)
    } else {
        (hist.min, hist.max)
    };
    let auto_window = (hist.percentile(0.5), hist.percentile(99.5));
    // One bin per value for narrow integer ranges (exact), else HIST_BINS over [min, max].
    let integer = image.dtype() != DType::F32;
    let hi = if integer { max + 1.0 } else { max };
    let counts = hist.display_bins(min, hi.max(min + f64::MIN_POSITIVE), HIST_BINS);
    let summary = serde_json::json!({
        "min": min, "max": max, "p_low": auto_window.0, "p_high": auto_window.1,
        "hist": {"lo": min, "hi": hi, "counts": counts},
    });
    let (width, height, dtype) = (image.width(), image.height(), image.dtype());
    Ok(Prepared {
        seq,
        number: shown.frame_number(),
        timestamp_ns: shown.timestamp_ns(),
        width,
        height,
        dtype,
        summary,
        auto_window,
        meta,
        shown,
        encodings: Mutex::new(HashMap::new()),
        prepared_at: Instant::now(),
        cost_ns: AtomicU64::new(0),
    })
}

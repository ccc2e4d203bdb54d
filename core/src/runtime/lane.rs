//! Lanes between nodes: bounded crossbeam channels carrying frame references, with the
//! lane's policy (the TOML `queue` key) applied on the sending side — `block` waits
//! (lossless back-pressure), `drop_newest` discards the new frame, `drop_oldest`/`latest`
//! evict the oldest queued frame; an `inline` lane has no queue and hands the frame to an
//! [`InlineConsumer`] on the producer's thread. The receiving side ([`Inputs`]) waits on
//! all of a node's lanes at once, with input rate limits and wake-up coalescing. Every
//! drop is counted; nothing is ever dropped silently.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, Select, SendTimeoutError, Sender, TrySendError,
};

use super::counters::LaneStats;
use super::pool::FrameRef;
use super::state::RunState;
use crate::config::{QueuePolicy, WhenFull};

/// How often blocked senders and receivers look at the abort flag.
const POLL: Duration = Duration::from_millis(50);

/// Wake-up coalescing on lossless lanes (see [`Inputs::recv`]): engaged when frames arrive
/// at least this often...
const COALESCE_MAX_GAP: Duration = Duration::from_micros(250);
/// ...for a pause of at most this long (the latency it can add)...
const COALESCE_MAX_PAUSE: Duration = Duration::from_micros(500);
/// ...covering at most this fraction of the smallest lane's capacity, so the producer
/// does not find the queue full while the consumer pauses.
const COALESCE_CAPACITY_DIVISOR: u32 = 4;
/// The arrival rate is measured over windows of this length.
const RATE_WINDOW: Duration = Duration::from_millis(20);
/// A pause after which a lane was half full means bursts: no pauses for this long.
const COALESCE_BACKOFF: Duration = Duration::from_secs(1);
/// A pause shorter than this is not worth a sleep...
const COALESCE_MIN_PAUSE: Duration = Duration::from_micros(50);
/// ...which lasts about this much longer than asked (timer slack, wake-up): the real pause
/// must fit in half the queue, or the producer would block on a full lane.
const SLEEP_OVERSHOOT: Duration = Duration::from_micros(60);

/// The consumer at the end of an `inline` lane: it handles each frame on the producer's
/// thread, and is finished (stopped) when the producer closes the lane.
pub trait InlineConsumer: Send + Sync {
    /// One frame from the producer; `Err` when the run is aborting.
    fn push(&self, frame: FrameRef) -> Result<(), Aborted>;
    /// The producer is done (called once per lane; the consumer ignores repeats).
    fn finish(&self);
}

/// Sending end of a lane.
pub struct LaneTx {
    kind: TxKind,
    /// Counters.
    pub stats: Arc<LaneStats>,
}

enum TxKind {
    Queue {
        tx: Sender<FrameRef>,
        /// The producer's handle on the queue, to evict the oldest frame.
        evict: Option<Receiver<FrameRef>>,
        policy: QueuePolicy,
    },
    /// No queue: the consumer runs on the producer's thread.
    Inline(Arc<dyn InlineConsumer>),
}

/// Receiving end of a lane.
pub struct LaneRx {
    /// The queue.
    pub rx: Receiver<FrameRef>,
    /// Counters.
    pub stats: Arc<LaneStats>,
    /// A `block` lane: the consumer may pause to take frames in batches (never drops).
    lossless: bool,
}

/// A new lane with `policy`.
pub fn lane(policy: QueuePolicy) -> (LaneTx, LaneRx) {
    let (tx, rx) = crossbeam_channel::bounded(policy.capacity.max(1));
    let stats = Arc::new(LaneStats::default());
    let evict = (policy.when_full == WhenFull::DropOldest).then(|| rx.clone());
    (
        LaneTx {
            kind: TxKind::Queue { tx, evict, policy },
            stats: stats.clone(),
        },
        LaneRx {
            rx,
            stats,
            lossless: policy.when_full == WhenFull::Block,
        },
    )
}

/// An `inline` lane into `target`.
pub fn inline_lane(target: Arc<dyn InlineConsumer>) -> LaneTx {
    LaneTx {
        kind: TxKind::Inline(target),
        stats: Arc::new(LaneStats::default()),
    }
}

/// The send failed because the run is aborting (the frame was counted as lost).
#[derive(Debug)]
pub struct Aborted;

impl LaneTx {
    /// Frames queued now (0 for inline lanes).
    pub fn queued(&self) -> usize {
        match &self.kind {
            TxKind::Queue { tx, .. } => tx.len(),
            TxKind::Inline(_) => 0,
        }
    }

    /// Ends the lane: a queue's consumer drains it and sees the end; an inline consumer
    /// is finished (stopped) right here, on the producer's thread.
    pub fn close(self) {
        self.stats.closed.store(true, Ordering::Release);
        if let TxKind::Inline(target) = self.kind {
            target.finish();
        }
    }

    /// Sends one frame reference according to the lane's policy.
    pub fn send(&self, frame: FrameRef, run: &RunState) -> Result<(), Aborted> {
        let s = &self.stats;
        s.offered.fetch_add(1, Ordering::Relaxed);
        if run.aborting() {
            // Consumers stop taking frames once aborting: a frame queued now would vanish.
            s.lost.fetch_add(1, Ordering::Relaxed);
            return Err(Aborted);
        }
        let (tx, evict, policy) = match &self.kind {
            TxKind::Queue { tx, evict, policy } => (tx, evict, policy),
            TxKind::Inline(target) => {
                s.sent.fetch_add(1, Ordering::Relaxed);
                s.received.fetch_add(1, Ordering::Relaxed);
                return target.push(frame);
            }
        };
        match policy.when_full {
            WhenFull::Inline => unreachable!("inline lanes have no queue"),
            WhenFull::Block => {
                let mut frame = match tx.try_send(frame) {
                    Ok(()) => {
                        s.sent.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    Err(TrySendError::Full(f)) => f,
                    Err(TrySendError::Disconnected(_)) => {
                        s.lost.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                };
                loop {
                    if run.aborting() {
                        s.lost.fetch_add(1, Ordering::Relaxed);
                        return Err(Aborted);
                    }
                    match tx.send_timeout(frame, POLL) {
                        Ok(()) => {
                            s.sent.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        Err(SendTimeoutError::Timeout(f)) => frame = f,
                        Err(SendTimeoutError::Disconnected(_)) => {
                            s.lost.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                    }
                }
            }
            WhenFull::DropNewest => {
                match tx.try_send(frame) {
                    Ok(()) => s.sent.fetch_add(1, Ordering::Relaxed),
                    Err(TrySendError::Full(_)) => s.dropped.fetch_add(1, Ordering::Relaxed),
                    Err(TrySendError::Disconnected(_)) => s.lost.fetch_add(1, Ordering::Relaxed),
                };
                Ok(())
            }
            WhenFull::DropOldest => {
                let mut frame = frame;
                loop {
                    match tx.try_send(frame) {
                        Ok(()) => {
                            s.sent.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        Err(TrySendError::Full(f)) => {
                            frame = f;
                            if let Some(old) = evict.as_ref().and_then(|r| r.try_recv().ok()) {
                                // Counted as sent when queued, now dropped instead of received.
                                s.dropped.fetch_add(1, Ordering::Relaxed);
                                drop(old);
                            }
                        }
                        Err(TrySendError::Disconnected(_)) => {
                            s.lost.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// What [`Inputs::recv`] got.
pub enum Recv {
    /// A frame from input lane `usize`.
    Frame(FrameRef),
    /// Nothing yet (poll timeout): check flags and call again.
    Idle,
    /// Every input lane is closed and empty.
    End,
}

/// All input lanes of a node.
pub struct Inputs {
    lanes: Vec<LaneRx>,
    /// When the last frame was handed out (for [`Inputs::recv`]'s rate limit).
    last: Option<Instant>,
    /// Start of the current arrival-rate window and the frames received in it.
    window: (Instant, u32),
    /// Mean time between frames over the last complete window.
    gap: Option<Duration>,
    /// Every lane is lossless, so pausing can never drop a frame.
    may_coalesce: bool,
    /// Smallest lane capacity.
    capacity: u32,
    /// No pauses before this (frames came in bursts).
    coalesce_off_until: Option<Instant>,
    /// Length of a rate window (a field so tests can freeze the measured rate).
    rate_window: Duration,
    /// Pauses taken (tests).
    pauses: u64,
}

impl Inputs {
    /// Wraps a node's input lanes.
    pub fn new(lanes: Vec<LaneRx>) -> Inputs {
        let may_coalesce = !lanes.is_empty() && lanes.iter().all(|l| l.lossless);
        let capacity = lanes
            .iter()
            .filter_map(|l| l.rx.capacity())
            .min()
            .unwrap_or(1);
        Inputs {
            lanes,
            last: None,
            window: (Instant::now(), 0),
            gap: None,
            may_coalesce,
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            coalesce_off_until: None,
            rate_window: RATE_WINDOW,
            pauses: 0,
        }
    }

    /// How long to pause before waiting on empty lanes, if frames come fast enough that
    /// waking up for each one would cost more than handling a few at once.
    fn coalesce_pause(&self) -> Option<Duration> {
        // The cheap checks first: most nodes (lossy inputs, slow frames) stop here, before
        // any clock read.
        let gap = self
            .gap
            .filter(|g| self.may_coalesce && *g < COALESCE_MAX_GAP)?;
        let frames = (self.capacity / COALESCE_CAPACITY_DIVISOR).max(1);
        let pause = (gap * frames).min(COALESCE_MAX_PAUSE);
        let fits = pause + SLEEP_OVERSHOOT <= gap * (self.capacity / 2).max(1);
        let backed_off = self.coalesce_off_until.is_some_and(|t| Instant::now() < t);
        (pause >= COALESCE_MIN_PAUSE && fits && !backed_off).then_some(pause)
    }

    fn note_arrival(&mut self) {
        self.window.1 += 1;
        // A clock read every 16 frames: at a million frames a second it would show.
        if !self.window.1.is_multiple_of(16) {
            return;
        }
        let elapsed = self.window.0.elapsed();
        if elapsed >= self.rate_window {
            self.gap = Some(elapsed / self.window.1);
            self.window = (Instant::now(), 0);
        }
    }

    fn all_empty(&self) -> bool {
        self.lanes.iter().all(|l| l.rx.is_empty())
    }

    /// Every producer has ended its lane: the node is draining.
    fn all_closed(&self) -> bool {
        self.lanes
            .iter()
            .all(|l| l.stats.closed.load(Ordering::Acquire))
    }

    /// One coalescing pause; frames that came in a burst turn pausing off for a while
    /// (the average rate said the pause fits, the lane says otherwise).
    fn pause(&mut self, pause: Duration) {
        std::thread::sleep(pause);
        self.pauses += 1;
        let half = (self.capacity as usize / 2).max(1);
        if self.lanes.iter().any(|l| l.rx.len() >= half) {
            self.coalesce_off_until = Some(Instant::now() + COALESCE_BACKOFF);
        }
    }

    /// Waits up to the poll interval for a frame from any input, handing out at most one
    /// frame per `min_interval` (zero: no limit). While a limited node waits for its next
    /// turn it is not registered on its lanes, so producers never wake it: a lossy lane
    /// keeps replacing its frames meanwhile (the caller only limits lossy inputs).
    ///
    /// Wake-up coalescing: a node whose inputs are all lossless and whose frames arrive
    /// more often than every [`COALESCE_MAX_GAP`] does not wait on empty lanes at once: it
    /// first pauses, unregistered, for about a quarter of its queue's worth of frames (at
    /// most [`COALESCE_MAX_PAUSE`]), then takes what arrived in a batch. Producers then
    /// find nobody to wake: each wake-up (a futex call, on a VM an inter-processor
    /// interrupt to an idle vCPU) costs the *producer* microseconds, once per frame
    /// otherwise. Below that rate, or on lossy lanes, nothing changes.
    pub fn recv(&mut self, min_interval: Duration) -> Recv {
        let r = self.recv_limited(min_interval);
        if matches!(r, Recv::Frame(_)) {
            self.note_arrival();
        }
        r
    }

    fn recv_limited(&mut self, min_interval: Duration) -> Recv {
        if min_interval.is_zero()
            && let Some(pause) = self.coalesce_pause()
            && self.all_empty()
        {
            self.pause(pause);
        }
        // A rate limit paces live frames; a draining lane hands out what it holds at once.
        let min_interval = if !min_interval.is_zero() && self.all_closed() {
            Duration::ZERO
        } else {
            min_interval
        };
        if !min_interval.is_zero()
            && let Some(last) = self.last
        {
            let due = last + min_interval;
            let now = Instant::now();
            if now < due {
                // At most one poll interval, so an abort is still noticed in time.
                std::thread::sleep((due - now).min(POLL));
                if Instant::now() < due {
                    return Recv::Idle;
                }
            }
        }
        let r = self.recv_now();
        if matches!(r, Recv::Frame(_)) && !min_interval.is_zero() {
            self.last = Some(Instant::now());
        }
        r
    }

    fn recv_now(&mut self) -> Recv {
        loop {
            match self.lanes.len() {
                0 => return Recv::End,
                1 => {
                    if let Ok(f) = self.lanes[0].rx.try_recv() {
                        self.lanes[0].stats.received.fetch_add(1, Ordering::Relaxed);
                        return Recv::Frame(f);
                    }
                    return match self.lanes[0].rx.recv_timeout(POLL) {
                        Ok(f) => {
                            self.lanes[0].stats.received.fetch_add(1, Ordering::Relaxed);
                            Recv::Frame(f)
                        }
                        Err(RecvTimeoutError::Timeout) => Recv::Idle,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.lanes.clear();
                            Recv::End
                        }
                    };
                }
                _ => {
                    let mut sel = Select::new();
                    for l in &self.lanes {
                        sel.recv(&l.rx);
                    }
                    let Ok(op) = sel.select_timeout(POLL) else {
                        return Recv::Idle;
                    };
                    let i = op.index();
                    match op.recv(&self.lanes[i].rx) {
                        Ok(f) => {
                            self.lanes[i].stats.received.fetch_add(1, Ordering::Relaxed);
                            return Recv::Frame(f);
                        }
                        Err(_) => {
                            self.lanes.remove(i);
                        }
                    }
                }
            }
        }
    }

    /// Empties every lane without handling the frames (abort): returns how many.
    pub fn discard_all(&mut self) -> u64 {
        let mut n = 0;
        for l in &self.lanes {
            while let Ok(f) = l.rx.try_recv() {
                drop(f);
                l.stats.lost.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daqflow_sdk::abi::{DTYPE_U8, FrameSpec};

    fn frame(run: &RunState, n: u64) -> FrameRef {
        let spec = FrameSpec {
            dtype: DTYPE_U8,
            encoding: 0,
            width: 8,
            height: 1,
            data_len: 8,
        };
        let mut f = run.pool.acquire(&spec, 0).unwrap();
        f.header_mut().frame_number = n;
        f
    }

    #[test]
    fn coalescing_only_on_fast_lossless_inputs() {
        let (_tx, rx) = lane(QueuePolicy::BLOCK);
        let mut ins = Inputs::new(vec![rx]);
        assert_eq!(ins.coalesce_pause(), None, "no rate measured yet");
        ins.gap = Some(Duration::from_micros(100));
        // A quarter of the 16-frame queue: 4 frames' worth.
        assert_eq!(ins.coalesce_pause(), Some(Duration::from_micros(400)));
        ins.gap = Some(Duration::from_micros(240));
        assert_eq!(ins.coalesce_pause(), Some(COALESCE_MAX_PAUSE));
        ins.gap = Some(Duration::from_micros(300));
        assert_eq!(ins.coalesce_pause(), None, "slow frames: woken per frame");
        ins.gap = Some(Duration::from_micros(5));
        assert_eq!(
            ins.coalesce_pause(),
            None,
            "too short to sleep, would fill the queue"
        );

        let (_tx, rx) = lane(QueuePolicy::LATEST);
        let mut lossy = Inputs::new(vec![rx]);
        lossy.gap = Some(Duration::from_micros(10));
        assert_eq!(lossy.coalesce_pause(), None, "a pause would drop frames");
    }

    #[test]
    fn a_coalescing_consumer_gets_every_frame_in_order() {
        let run = RunState::new(1 << 20, 16);
        let (tx, rx) = lane(QueuePolicy::BLOCK);
        let producer_run = run.clone();
        const N: u64 = 20_000;
        let producer = std::thread::spawn(move || {
            for n in 0..N {
                tx.send(frame(&producer_run, n), &producer_run).unwrap();
            }
            tx.close();
        });
        let mut ins = Inputs::new(vec![rx]);
        // Coalescing throughout (the measured rate frozen at 10 kHz), with a producer that
        // fills the queue during every pause: nothing is lost or reordered.
        ins.gap = Some(Duration::from_micros(100));
        ins.rate_window = Duration::MAX;
        let mut next = 0;
        loop {
            match ins.recv(Duration::ZERO) {
                Recv::Frame(f) => {
                    assert_eq!(f.header().frame_number, next);
                    next += 1;
                }
                Recv::Idle => {}
                Recv::End => break,
            }
        }
        producer.join().unwrap();
        assert_eq!(next, N);
        assert!(ins.pauses > 0, "the consumer paused");
        assert!(
            ins.coalesce_off_until.is_some(),
            "a producer faster than the measured rate turns pausing off"
        );
    }
}

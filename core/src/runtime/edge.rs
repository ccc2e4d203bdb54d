//! Lanes between nodes: bounded crossbeam channels carrying frame references, with the
//! lane's policy applied on the sending side — `block` waits (lossless back-pressure),
//! `drop_newest` discards the new frame, `drop_oldest`/`latest` evict the oldest queued
//! frame. Every drop is counted; nothing is ever dropped silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, Select, SendTimeoutError, Sender, TrySendError,
};

use super::host::Shared;
use super::pool::FrameRef;
use crate::config::{QueuePolicy, WhenFull};

/// How often blocked senders and receivers look at the abort flag.
const POLL: Duration = Duration::from_millis(50);

/// Counters of one lane.
#[derive(Default, Debug)]
pub struct EdgeStats {
    /// Frames the producer sent into the lane (whatever became of them).
    pub offered: AtomicU64,
    /// Frames put in the queue.
    pub sent: AtomicU64,
    /// Frames taken out by the consumer.
    pub received: AtomicU64,
    /// Frames discarded by the lane's policy.
    pub dropped: AtomicU64,
    /// Frames lost because the run aborted or the consumer was gone.
    pub lost: AtomicU64,
}

/// Sending end of a lane.
pub struct EdgeTx {
    kind: TxKind,
    /// Counters.
    pub stats: Arc<EdgeStats>,
}

enum TxKind {
    Queue {
        tx: Sender<FrameRef>,
        /// The producer's handle on the queue, to evict the oldest frame.
        evict: Option<Receiver<FrameRef>>,
        policy: QueuePolicy,
    },
    /// No queue: the consumer runs on the producer's thread.
    Inline(Arc<super::InlineNode>),
}

/// Receiving end of a lane.
pub struct EdgeRx {
    /// The queue.
    pub rx: Receiver<FrameRef>,
    /// Counters.
    pub stats: Arc<EdgeStats>,
}

/// A new lane with `policy`.
pub fn lane(policy: QueuePolicy) -> (EdgeTx, EdgeRx) {
    let (tx, rx) = crossbeam_channel::bounded(policy.capacity.max(1));
    let stats = Arc::new(EdgeStats::default());
    let evict = (policy.when_full == WhenFull::DropOldest).then(|| rx.clone());
    (
        EdgeTx {
            kind: TxKind::Queue { tx, evict, policy },
            stats: stats.clone(),
        },
        EdgeRx { rx, stats },
    )
}

/// An `inline` lane into `target`.
pub fn inline_lane(target: Arc<super::InlineNode>) -> EdgeTx {
    EdgeTx {
        kind: TxKind::Inline(target),
        stats: Arc::new(EdgeStats::default()),
    }
}

/// The send failed because the run is aborting (the frame was counted as lost).
#[derive(Debug)]
pub struct Aborted;

impl EdgeTx {
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
        if let TxKind::Inline(target) = self.kind {
            target.finish();
        }
    }

    /// Sends one frame reference according to the lane's policy.
    pub fn send(&self, frame: FrameRef, shared: &Shared) -> Result<(), Aborted> {
        let s = &self.stats;
        s.offered.fetch_add(1, Ordering::Relaxed);
        if shared.aborting() {
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
                    if shared.aborting() {
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
    lanes: Vec<EdgeRx>,
    /// When the last frame was handed out (for [`Inputs::recv`]'s rate limit).
    last: Option<Instant>,
}

impl Inputs {
    /// Wraps a node's input lanes.
    pub fn new(lanes: Vec<EdgeRx>) -> Inputs {
        Inputs { lanes, last: None }
    }

    /// Waits up to the poll interval for a frame from any input, handing out at most one
    /// frame per `min_interval` (zero: no limit). While a limited node waits for its next
    /// turn it is not registered on its lanes, so producers never wake it: a lossy lane
    /// keeps replacing its frames meanwhile (the caller only limits lossy inputs).
    pub fn recv(&mut self, min_interval: Duration) -> Recv {
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

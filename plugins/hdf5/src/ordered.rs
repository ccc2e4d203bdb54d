//! An ordered worker pool: jobs are processed by several threads at once and their results
//! come out in the order the jobs went in, with a fixed bound on the items in flight. The
//! hdf5 sink compresses frames with it; nothing here knows about frames or HDF5 (the same
//! shape would serve a filter's `workers = N`).
//!
//! [`ordered`] makes the three ends. The [`Submitter`] (the node's thread) takes a free slot
//! for each item — this wait is the back-pressure — and either queues a job for the
//! [`Worker`]s or, when an item needs no work, passes its result straight through, still in
//! order. The [`InOrder`] end (one consumer thread) gets results in submission order; an
//! item's slot is freed when the consumer asks for the next item, so the bound covers the
//! queued, working, reordering and consumed items alike. The caller starts the threads
//! (each runs [`Worker::run`]), so it chooses how they are named, logged and joined.
//!
//! Ends: dropping the `Submitter` lets the workers drain the queue and return; once they
//! and the `Submitter` are gone, the consumer gets [`Next::End`] after the last result. A
//! work function must not panic — a job whose result never arrives holds back every later
//! result (the hdf5 sink turns an encoder panic into an error result instead).

use std::collections::BTreeMap;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

/// The item cannot go anywhere: the consumer, or every worker, has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ordered pool has stopped")]
pub struct Closed;

/// Creates a pool holding at most `capacity` items (≥ 1) between
/// [`Submitter::submit`] and the consumer's next call after receiving them.
pub fn ordered<J, O>(capacity: usize) -> (Submitter<J, O>, Worker<J, O>, InOrder<O>) {
    let capacity = capacity.max(1);
    let (free_tx, free_rx) = bounded(capacity);
    for _ in 0..capacity {
        free_tx
            .send(())
            .expect("the channel holds `capacity` slots");
    }
    let (jobs_tx, jobs_rx) = bounded(capacity);
    let (done_tx, done_rx) = bounded(capacity);
    (
        Submitter {
            jobs: jobs_tx,
            done: done_tx.clone(),
            free: free_rx,
            next_seq: 0,
        },
        Worker {
            jobs: jobs_rx,
            done: done_tx,
        },
        InOrder {
            done: done_rx,
            waiting: BTreeMap::new(),
            next_seq: 0,
            free: free_tx,
            holding: false,
        },
    )
}

/// The submitting end: numbers items in the order they are submitted.
pub struct Submitter<J, O> {
    jobs: Sender<(u64, J)>,
    done: Sender<(u64, O)>,
    free: Receiver<()>,
    next_seq: u64,
}

impl<J, O> Submitter<J, O> {
    /// Waits for a free slot, then queues `job` for the workers.
    pub fn submit(&mut self, job: J) -> Result<(), Closed> {
        let seq = self.take_slot()?;
        self.jobs.send((seq, job)).map_err(|_| Closed)
    }

    /// Waits for a free slot, then passes `result` to the consumer in its turn, without
    /// a worker.
    pub fn submit_done(&mut self, result: O) -> Result<(), Closed> {
        let seq = self.take_slot()?;
        self.done.send((seq, result)).map_err(|_| Closed)
    }

    fn take_slot(&mut self) -> Result<u64, Closed> {
        self.free.recv().map_err(|_| Closed)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(seq)
    }
}

/// A worker's end; clone it once per worker thread.
pub struct Worker<J, O> {
    jobs: Receiver<(u64, J)>,
    done: Sender<(u64, O)>,
}

impl<J, O> Clone for Worker<J, O> {
    fn clone(&self) -> Self {
        Worker {
            jobs: self.jobs.clone(),
            done: self.done.clone(),
        }
    }
}

impl<J, O> Worker<J, O> {
    /// Runs `work` on jobs until the submitter is gone and the queue is empty, or the
    /// consumer is gone.
    pub fn run(self, mut work: impl FnMut(J) -> O) {
        for (seq, job) in self.jobs.iter() {
            if self.done.send((seq, work(job))).is_err() {
                return;
            }
        }
    }
}

/// What [`InOrder::next`] found.
#[derive(Debug)]
pub enum Next<O> {
    /// The next result in submission order.
    Item(O),
    /// The timeout passed first.
    Timeout,
    /// The submitter and the workers are gone and every result was handed out.
    End,
}

/// The consuming end: results in submission order.
pub struct InOrder<O> {
    done: Receiver<(u64, O)>,
    waiting: BTreeMap<u64, O>,
    next_seq: u64,
    free: Sender<()>,
    /// An item was handed out and its slot is not yet free.
    holding: bool,
}

impl<O> InOrder<O> {
    /// Frees the slot of the item handed out last, then waits (at most `timeout`, or
    /// without limit for `None`) for the next result in order.
    pub fn next(&mut self, timeout: Option<Duration>) -> Next<O> {
        if std::mem::take(&mut self.holding) {
            // Cannot be full: each slot is taken before its item is submitted.
            let _ = self.free.try_send(());
        }
        loop {
            if let Some(item) = self.waiting.remove(&self.next_seq) {
                self.next_seq += 1;
                self.holding = true;
                return Next::Item(item);
            }
            let received = match timeout {
                None => self.done.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => self.done.recv_timeout(t),
            };
            match received {
                Ok((seq, item)) => {
                    self.waiting.insert(seq, item);
                }
                Err(RecvTimeoutError::Timeout) => return Next::Timeout,
                Err(RecvTimeoutError::Disconnected) => return Next::End,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<O>(rx: &mut InOrder<O>) -> Vec<O> {
        let mut out = Vec::new();
        while let Next::Item(x) = rx.next(None) {
            out.push(x);
        }
        out
    }

    #[test]
    fn results_come_out_in_submission_order() {
        let (mut tx, worker, mut rx) = ordered::<u64, u64>(4);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let w = worker.clone();
                // Later jobs finish first: without reordering the output would be shuffled.
                std::thread::spawn(move || {
                    w.run(|x| {
                        std::thread::sleep(Duration::from_millis((20 - x % 20) / 4));
                        x * 10
                    })
                })
            })
            .collect();
        drop(worker);
        let consumer = std::thread::spawn(move || drain(&mut rx));
        for x in 0..40 {
            if x % 5 == 0 {
                tx.submit_done(x * 10).unwrap();
            } else {
                tx.submit(x).unwrap();
            }
        }
        drop(tx);
        for t in threads {
            t.join().unwrap();
        }
        let got = consumer.join().unwrap();
        assert_eq!(got, (0..40).map(|x| x * 10).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_capacity_items_are_in_flight() {
        let (mut tx, worker, mut rx) = ordered::<u32, u32>(3);
        let w = std::thread::spawn(move || worker.run(|x| x));
        for x in 0..3 {
            tx.submit(x).unwrap();
        }
        // All slots are taken: a fourth item waits until the consumer moves on.
        assert!(tx.free.try_recv().is_err());
        assert!(matches!(rx.next(None), Next::Item(0)));
        // Item 0 is still being consumed: its slot is not free yet.
        assert!(tx.free.try_recv().is_err());
        assert!(matches!(rx.next(None), Next::Item(1)));
        // Asking for item 1 freed item 0's slot.
        assert!(tx.free.try_recv().is_ok());
        drop(tx);
        w.join().unwrap();
        assert!(matches!(rx.next(None), Next::Item(2)));
        assert!(matches!(rx.next(None), Next::End));
    }

    #[test]
    fn a_timeout_is_reported_and_submitting_fails_once_the_consumer_is_gone() {
        let (mut tx, worker, mut rx) = ordered::<u32, u32>(2);
        assert!(matches!(
            rx.next(Some(Duration::from_millis(1))),
            Next::Timeout
        ));
        drop(rx);
        drop(worker);
        assert_eq!(tx.submit(1), Err(Closed));
    }
}

//! The single-slot "latest frame" hand-off between a view sink's `consume` (on the core's
//! node thread) and the thread that shows frames (a render/UI thread, a web server).
//!
//! `publish` swaps the newest frame in and returns the one it replaced, which the caller
//! drops at once (releasing its pool buffer): the producer never waits on rendering, and
//! the renderer only ever sees the newest frame. Capacity is exactly one.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A one-frame mailbox: the newest value wins.
#[derive(Debug)]
pub struct LatestSlot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
    /// Signalled only by `close` (waiters on it are never woken per frame).
    closed: Condvar,
}

#[derive(Debug)]
struct SlotState<T> {
    value: Option<T>,
    closed: bool,
    /// Threads inside `take_timeout`: `publish` signals only when someone waits (a futex
    /// wake per frame at tens of kHz is measurable).
    waiters: u32,
}

impl<T> Default for LatestSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> LatestSlot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(SlotState {
                value: None,
                closed: false,
                waiters: 0,
            }),
            ready: Condvar::new(),
            closed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `value` in the slot; returns the value it replaced (never shown: drop it).
    /// Never blocks beyond the few nanoseconds of the swap.
    pub fn publish(&self, value: T) -> Option<T> {
        let mut state = self.lock();
        let old = state.value.replace(value);
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        old
    }

    /// Takes the newest value if there is one.
    pub fn try_take(&self) -> Option<T> {
        self.lock().value.take()
    }

    /// Waits up to `timeout` for a value; `None` on timeout or once the slot is closed and
    /// empty.
    pub fn take_timeout(&self, timeout: Duration) -> Option<T> {
        let mut guard = self.lock();
        guard.waiters += 1;
        let (mut guard, _) = self
            .ready
            .wait_timeout_while(guard, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        guard.waiters -= 1;
        guard.value.take()
    }

    /// True when a value is waiting.
    pub fn has_value(&self) -> bool {
        self.lock().value.is_some()
    }

    /// Closes the slot: waiters wake up; the value still in it (if any) can be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.closed.notify_all();
    }

    /// Waits up to `timeout` for [`close`](Self::close), without being woken by
    /// `publish`; true once closed.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .closed
            .wait_timeout_while(guard, timeout, |s| !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        guard.closed
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn newest_wins_and_replaced_is_returned() {
        let slot = LatestSlot::new();
        assert_eq!(slot.publish(1), None);
        assert_eq!(slot.publish(2), Some(1));
        assert_eq!(slot.try_take(), Some(2));
        assert_eq!(slot.try_take(), None);
    }

    #[test]
    fn waiter_wakes_on_publish_and_on_close() {
        let slot = Arc::new(LatestSlot::new());
        let s = slot.clone();
        let t = std::thread::spawn(move || s.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        slot.publish(7);
        assert_eq!(t.join().unwrap(), Some(7));

        let s = slot.clone();
        let t = std::thread::spawn(move || s.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        slot.close();
        assert_eq!(t.join().unwrap(), None);
        assert!(slot.is_closed());
    }

    #[test]
    fn wait_closed_returns_on_close_only() {
        let slot = Arc::new(LatestSlot::new());
        assert!(
            !slot.wait_closed(Duration::from_millis(1)),
            "times out while open"
        );
        let s = slot.clone();
        let t = std::thread::spawn(move || s.wait_closed(Duration::from_secs(30)));
        for i in 0..1000 {
            slot.publish(i);
        }
        slot.close();
        assert!(t.join().unwrap(), "woken by close");
        assert_eq!(
            slot.try_take(),
            Some(999),
            "the newest value survives close"
        );
    }

    #[test]
    fn publisher_never_waits_for_a_blocked_consumer() {
        // The consumer takes the first value, then blocks until released: every publish
        // made meanwhile returns (a publish that waited for it would never return), and
        // each one replaces the previous value.
        let slot = Arc::new(LatestSlot::new());
        let (taken_tx, taken_rx) = std::sync::mpsc::sync_channel(0);
        let (release_tx, release_rx) = std::sync::mpsc::sync_channel::<()>(0);
        let s = slot.clone();
        let consumer = std::thread::spawn(move || {
            let first = s.take_timeout(Duration::from_secs(3600));
            taken_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            (first, s.try_take())
        });
        assert_eq!(slot.publish(0), None);
        taken_rx.recv().unwrap();
        let replaced = (1..=100_000).filter(|&i| slot.publish(i).is_some()).count();
        assert_eq!(
            replaced, 99_999,
            "all but the first publish replaced a value"
        );
        release_tx.send(()).unwrap();
        assert_eq!(consumer.join().unwrap(), (Some(0), Some(100_000)));
    }
}

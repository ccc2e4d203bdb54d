//! The single-slot "latest frame" hand-off between the sink's `consume` (on the core's
//! node thread) and the viewer's render/UI thread.
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
    fn publisher_never_waits_for_a_slow_consumer() {
        let slot = Arc::new(LatestSlot::new());
        let s = slot.clone();
        let consumer = std::thread::spawn(move || {
            let mut seen = 0;
            while let Some(v) = s.take_timeout(Duration::from_millis(200)) {
                seen += 1;
                std::thread::sleep(Duration::from_millis(5)); // a slow "render"
                if v == 99_999 {
                    break;
                }
            }
            seen
        });
        let start = std::time::Instant::now();
        let mut dropped = 0;
        for i in 0..100_000 {
            dropped += usize::from(slot.publish(i).is_some());
        }
        let publish_time = start.elapsed();
        let seen = consumer.join().unwrap();
        assert!((1..100_000).contains(&seen), "seen {seen}");
        assert!(dropped > 90_000, "dropped {dropped}");
        // 100k swaps while the consumer sleeps 5 ms a frame: far less than 100k × 5 ms.
        assert!(publish_time < Duration::from_secs(5), "{publish_time:?}");
    }
}

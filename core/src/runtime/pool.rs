//! The frame pool: every frame buffer of a run, with a byte budget. A buffer is a [`Slot`]
//! — header, reference count and payload — handed out as a [`FrameRef`]; the last release
//! puts it back on the free list. In steady state nothing is allocated: buffers of the
//! sizes in use are recycled. An exhausted pool is back-pressure (the caller waits), not
//! an allocation.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use daqflow_sdk::abi::{FrameHeader, FrameSpec, RawFrame};

/// Payload capacities are rounded up to this, so nearby sizes share buffers.
const GRANULE: usize = 4096;

/// One pool buffer: header, reference count, payload.
pub struct Slot {
    refs: AtomicUsize,
    header: UnsafeCell<FrameHeader>,
    /// The payload, owned (from a leaked `Box<[u64]>`): plugins write through this pointer,
    /// so it must not be derived from a shared reference.
    data: NonNull<u64>,
    words: usize,
    pool: Arc<Pool>,
}

impl Slot {
    fn new(words: usize, spec: &FrameSpec, pool: Arc<Pool>) -> Box<Slot> {
        // calloc: the OS hands zero pages lazily, so this is cheap even for GiBs.
        let data: &mut [u64] = Box::leak(vec![0u64; words.max(1)].into_boxed_slice());
        Box::new(Slot {
            refs: AtomicUsize::new(0),
            header: UnsafeCell::new(FrameHeader::new(spec)),
            data: NonNull::from(&mut data[0]),
            words: words.max(1),
            pool,
        })
    }

    fn capacity(&self) -> usize {
        self.words * 8
    }

    fn data_ptr(&self) -> *mut u8 {
        self.data.as_ptr() as *mut u8
    }
}

// SAFETY: the payload is plain memory owned by the slot; who may write it is governed by
// the reference count (only the unique holder), and the header likewise.
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

impl Drop for Slot {
    fn drop(&mut self) {
        let words = std::ptr::slice_from_raw_parts_mut(self.data.as_ptr(), self.words);
        // SAFETY: `data` came from a leaked Box<[u64]> of `words` elements, freed once here.
        drop(unsafe { Box::from_raw(words) });
    }
}

/// A counted reference to a pool slot (the core's side of a frame).
pub struct FrameRef(NonNull<Slot>);

// SAFETY: the slot is shared through an atomic count; its header and data are only
// written by the holder of the unique reference.
unsafe impl Send for FrameRef {}

impl FrameRef {
    fn slot(&self) -> &Slot {
        // SAFETY: we hold a reference, so the slot is alive.
        unsafe { self.0.as_ref() }
    }

    /// Number of live references.
    pub fn ref_count(&self) -> usize {
        self.slot().refs.load(Ordering::Acquire)
    }

    /// The frame's header (read-only).
    pub fn header(&self) -> &FrameHeader {
        // SAFETY: alive; shared readers never race a writer (writers hold the only ref).
        unsafe { &*self.slot().header.get() }
    }

    /// The header of a frame nobody else holds (tests number their frames with it).
    #[cfg(test)]
    pub fn header_mut(&mut self) -> &mut FrameHeader {
        assert_eq!(self.ref_count(), 1, "only a unique frame may be written");
        // SAFETY: the only reference, held mutably.
        unsafe { &mut *self.slot().header.get() }
    }

    /// Payload address.
    pub fn data_ptr(&self) -> *const u8 {
        self.slot().data_ptr()
    }

    /// Payload capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.slot().capacity()
    }

    /// Hands this reference to a plugin.
    pub fn into_raw(self) -> RawFrame {
        let slot = self.slot();
        let raw = RawFrame {
            handle: self.0.as_ptr() as *mut std::ffi::c_void,
            header: slot.header.get(),
            data: slot.data_ptr(),
            capacity: slot.capacity(),
        };
        std::mem::forget(self);
        raw
    }

    /// Takes back a reference a plugin handed to the core.
    ///
    /// # Safety
    /// `handle` must come from [`FrameRef::into_raw`] and carry one reference.
    pub unsafe fn from_handle(handle: *mut std::ffi::c_void) -> FrameRef {
        // SAFETY: guaranteed by the caller.
        FrameRef(unsafe { NonNull::new_unchecked(handle as *mut Slot) })
    }

    /// Adds a reference through a raw handle.
    ///
    /// # Safety
    /// `handle` must be a live slot.
    pub unsafe fn retain_handle(handle: *mut std::ffi::c_void) {
        // SAFETY: guaranteed by the caller.
        unsafe { &*(handle as *const Slot) }
            .refs
            .fetch_add(1, Ordering::Relaxed);
    }
}

impl Clone for FrameRef {
    fn clone(&self) -> Self {
        self.slot().refs.fetch_add(1, Ordering::Relaxed);
        FrameRef(self.0)
    }
}

impl Drop for FrameRef {
    fn drop(&mut self) {
        if self.slot().refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: that was the last reference: we own the slot now.
            let slot = unsafe { Box::from_raw(self.0.as_ptr()) };
            let pool = slot.pool.clone();
            pool.give_back(slot);
        }
    }
}

/// Why an allocation failed.
#[derive(Debug)]
pub enum AllocError {
    /// The pipeline is aborting.
    Aborted,
    /// The request can never be served.
    TooLarge(String),
}

struct PoolState {
    // Boxed: frames point at their slot, so a slot must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Slot>>,
    /// Bytes of payload allocated (free or in use).
    allocated: usize,
    /// Callers waiting for a buffer. std's `notify_one` always makes a futex syscall, so
    /// releases only notify when somebody waits: that keeps the release path lock + push.
    waiting: usize,
}

/// Pool statistics for the report.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct PoolStats {
    /// Buffers allocated from the system (first use of each buffer, or a resize).
    pub buffers_allocated: u64,
    /// Frames handed out.
    pub frames_acquired: u64,
    /// Times a caller had to wait for a free buffer (back-pressure).
    pub waits: u64,
    /// Peak bytes allocated.
    pub peak_bytes: u64,
    /// The budget.
    pub budget_bytes: u64,
}

/// The frame pool.
pub struct Pool {
    state: Mutex<PoolState>,
    freed: Condvar,
    budget: usize,
    abort: Arc<AtomicBool>,
    buffers_allocated: AtomicU64,
    frames_acquired: AtomicU64,
    waits: AtomicU64,
    peak: AtomicU64,
    warned_small: AtomicBool,
    warned_stall: AtomicBool,
}

impl Pool {
    /// A pool of at most `budget` payload bytes; waits give up when `abort` is set.
    pub fn new(budget: usize, abort: Arc<AtomicBool>) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(PoolState {
                free: Vec::new(),
                allocated: 0,
                waiting: 0,
            }),
            freed: Condvar::new(),
            budget,
            abort,
            buffers_allocated: AtomicU64::new(0),
            frames_acquired: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            warned_small: AtomicBool::new(false),
            warned_stall: AtomicBool::new(false),
        })
    }

    /// Statistics so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            buffers_allocated: self.buffers_allocated.load(Ordering::Relaxed),
            frames_acquired: self.frames_acquired.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            peak_bytes: self.peak.load(Ordering::Relaxed),
            budget_bytes: self.budget as u64,
        }
    }

    /// Frees every idle buffer. Called at the end of a run: idle slots hold the pool
    /// alive, so without this a finished run's buffers would never be returned.
    pub fn release_idle(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let idle = std::mem::take(&mut st.free);
        for s in &idle {
            st.allocated -= s.capacity();
        }
        drop(st);
        drop(idle);
    }

    fn give_back(&self, slot: Box<Slot>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.free.push(slot);
        let notify = st.waiting > 0;
        drop(st);
        if notify {
            self.freed.notify_one();
        }
    }

    /// A unique frame with room for `spec`, header initialised from it. Waits while the
    /// budget is in use. `frames_in_flight` (the most frames the queues can hold) is used
    /// only to warn when the budget is too small for the pipeline's queues.
    pub fn acquire(
        self: &Arc<Self>,
        spec: &FrameSpec,
        frames_in_flight: usize,
    ) -> Result<FrameRef, AllocError> {
        let need = spec
            .data_len
            .max(1)
            .checked_next_multiple_of(GRANULE)
            .unwrap_or(usize::MAX);
        if need > self.budget {
            return Err(AllocError::TooLarge(format!(
                "a frame of {} bytes ({}x{}) does not fit in the frame pool ({} MiB); raise \
                 `pool_mb` in [pipeline]",
                spec.data_len,
                spec.width,
                spec.height,
                self.budget >> 20
            )));
        }
        if frames_in_flight > 0
            && need.saturating_mul(frames_in_flight) > self.budget
            && !self.warned_small.swap(true, Ordering::Relaxed)
        {
            log::warn!(
                "the frame pool ({} MiB) holds {} frames of {} KiB but the pipeline's queues can \
                 hold {frames_in_flight}: acquisition will be throttled by the pool; raise \
                 `pool_mb` or lower queue capacities",
                self.budget >> 20,
                self.budget / need,
                need >> 10
            );
        }
        let mut waited = false;
        let wait_start = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = loop {
            // The most recently freed buffer of a fitting size (not more than twice the
            // need): its pages are the likeliest to still be in the CPU's caches, so a
            // steady pipeline keeps reusing a few warm buffers instead of cycling through
            // all of them.
            if let Some(i) = st
                .free
                .iter()
                .rposition(|s| s.capacity() >= need && s.capacity() <= need.saturating_mul(2))
            {
                break st.free.remove(i);
            }
            if st.allocated + need <= self.budget {
                st.allocated += need;
                self.peak.fetch_max(st.allocated as u64, Ordering::Relaxed);
                self.buffers_allocated.fetch_add(1, Ordering::Relaxed);
                break Slot::new(need / 8, spec, self.clone());
            }
            // Over budget: free buffers of other sizes make room; else wait.
            if let Some(i) = (0..st.free.len()).max_by_key(|&i| st.free[i].capacity()) {
                let s = st.free.swap_remove(i);
                st.allocated -= s.capacity();
                continue;
            }
            if self.abort.load(Ordering::Acquire) {
                return Err(AllocError::Aborted);
            }
            if !waited {
                waited = true;
                self.waits.fetch_add(1, Ordering::Relaxed);
            }
            st.waiting += 1;
            let (guard, _) = self
                .freed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.waiting -= 1;
            if wait_start.elapsed() > Duration::from_secs(10)
                && !self.warned_stall.swap(true, Ordering::Relaxed)
            {
                log::warn!(
                    "waiting for a free frame buffer for 10 s: every buffer of the {} MiB pool is \
                     held by queues or plugins; raise `pool_mb` in [pipeline]",
                    self.budget >> 20
                );
            }
        };
        drop(st);
        self.frames_acquired.fetch_add(1, Ordering::Relaxed);
        slot.refs.store(1, Ordering::Relaxed);
        // SAFETY: nobody else references a slot taken from the free list or new.
        let h = unsafe { &mut *slot.header.get() };
        h.dtype = spec.dtype;
        h.encoding = spec.encoding;
        h.width = spec.width;
        h.height = spec.height;
        h.data_len = spec.data_len;
        h.frame_number = 0;
        h.timestamp_ns = 0;
        h.meta_len = 0;
        Ok(FrameRef(NonNull::from(Box::leak(slot))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(len: usize) -> FrameSpec {
        FrameSpec {
            dtype: daqflow_sdk::abi::DTYPE_U8,
            encoding: 0,
            width: len as u32,
            height: 1,
            data_len: len,
        }
    }

    #[test]
    fn recycles_without_allocating() {
        let pool = Pool::new(1 << 20, Arc::new(AtomicBool::new(false)));
        for _ in 0..100 {
            let a = pool.acquire(&spec(10_000), 0).unwrap();
            let b = a.clone();
            assert_eq!(b.ref_count(), 2);
            drop((a, b));
        }
        assert_eq!(pool.stats().buffers_allocated, 1);
        assert_eq!(pool.stats().frames_acquired, 100);
    }

    #[test]
    fn exhausted_pool_waits_then_aborts() {
        let abort = Arc::new(AtomicBool::new(false));
        let pool = Pool::new(8192, abort.clone());
        let held = pool.acquire(&spec(8192), 0).unwrap();
        let p2 = pool.clone();
        let t = std::thread::spawn(move || p2.acquire(&spec(8192), 0).map(|_| ()));
        std::thread::sleep(Duration::from_millis(100));
        abort.store(true, Ordering::Release);
        assert!(matches!(t.join().unwrap(), Err(AllocError::Aborted)));
        drop(held);
    }

    #[test]
    fn waiter_gets_the_released_buffer() {
        let pool = Pool::new(8192, Arc::new(AtomicBool::new(false)));
        let held = pool.acquire(&spec(8000), 0).unwrap();
        let p2 = pool.clone();
        let t = std::thread::spawn(move || p2.acquire(&spec(8000), 0).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        assert!(t.join().unwrap());
        assert_eq!(pool.stats().buffers_allocated, 1);
    }

    #[test]
    fn too_large_is_an_error() {
        let pool = Pool::new(4096, Arc::new(AtomicBool::new(false)));
        assert!(matches!(
            pool.acquire(&spec(5000), 0),
            Err(AllocError::TooLarge(_))
        ));
    }
}

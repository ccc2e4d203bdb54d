//! Zero copy from the camera into pool frames: every buffer handed to Aravis is a pool
//! frame's own memory (`ArvBuffer` over the frame's payload), so the stream's receive
//! thread writes pixels where the pipeline reads them.
//!
//! The rule that keeps this sound: a pool frame queued to Aravis is held in [`Slots`]
//! and leaves it only (a) when our thread pops its buffer (Aravis is done with it), or
//! (b) from the buffer's destroy callback (Aravis freed it). Stopping therefore stops
//! and drops the stream first; its buffers' destroy callbacks then release the frames.
//! A probe that freed the memory while the stream was alive crashed 1 run in 3
//! (FINDINGS.md). Popped `ArvBuffer`s are kept by payload address and reused when the
//! pool hands out the same memory again, so steady state allocates nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aravis::prelude::*;
use aravis::{Buffer, Stream};
use daqflow_sdk::prelude::*;

/// Pool frames Aravis may be writing, by payload address; each with the id of the one
/// `ArvBuffer` over it.
#[derive(Default)]
struct Slots {
    frames: Mutex<HashMap<usize, (u64, FrameMut)>>,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, (u64, FrameMut)>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Kept `ArvBuffer`s at most (beyond that, the oldest addresses are forgotten: the pool
/// recycles a bounded set of buffers, so this only matters when frame sizes change).
const CACHE_MAX: usize = 256;

/// The stream and the pool frames queued to it.
pub struct Ring {
    stream: Option<Stream>,
    slots: Arc<Slots>,
    /// Popped `ArvBuffer`s by payload address, ready to be pushed again.
    cache: HashMap<usize, (u64, Buffer)>,
    next_id: u64,
    /// Bytes Aravis may write per buffer (the camera's payload size = the image's).
    payload: usize,
    dtype: DType,
    width: u32,
    height: u32,
    /// Buffers queued to Aravis (pushed, not popped).
    queued: usize,
    /// `ArvBuffer` objects created (the rest were reused).
    pub buffers_created: u64,
}

/// A buffer popped from the stream, with its pool frame.
pub struct Popped {
    /// The frame whose memory the camera filled.
    pub frame: FrameMut,
    /// The Aravis buffer (status, frame id, timestamps, chunks).
    pub buffer: Buffer,
}

impl Ring {
    /// A ring over `stream` for frames of `payload` bytes.
    pub fn new(stream: Stream, payload: usize, dtype: DType, width: u32, height: u32) -> Ring {
        Ring {
            stream: Some(stream),
            slots: Arc::default(),
            cache: HashMap::new(),
            next_id: 0,
            payload,
            dtype,
            width,
            height,
            queued: 0,
            buffers_created: 0,
        }
    }

    /// The stream (for statistics).
    pub fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    /// Buffers queued to Aravis.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Queues one more pool frame to the camera. Blocks while the pool is exhausted.
    pub fn push_one(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let Some(stream) = &self.stream else {
            return Err(PluginError::new("the stream is closed"));
        };
        let mut frame = ctx.alloc(self.dtype, self.width, self.height)?;
        let bytes = frame.bytes_mut();
        if bytes.len() < self.payload {
            return Err(PluginError::new(format!(
                "pool frame of {} bytes is smaller than the camera's payload {}",
                bytes.len(),
                self.payload
            )));
        }
        let data = bytes.as_mut_ptr();
        let addr = data as usize;
        let (id, buffer) = match self.cache.remove(&addr) {
            Some(kept) => kept,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.buffers_created += 1;
                let slots = Arc::clone(&self.slots);
                // The callback runs when Aravis frees this ArvBuffer (stream dropped, or
                // our cache dropping it). Only then may a frame still queued be released;
                // a frame already popped is no longer in `slots` under this id.
                let destroy = move || {
                    let mut map = slots.lock();
                    if map.get(&addr).is_some_and(|(owner, _)| *owner == id) {
                        map.remove(&addr);
                    }
                };
                // The pool frame's payload holds `payload` bytes (checked above) and stays
                // allocated until `destroy` runs or our thread pops the buffer: the frame
                // sits in `slots` meanwhile. (This constructor is safe to call in the
                // binding; its contract is documented, not enforced.)
                (
                    id,
                    Buffer::new_preallocated_owned(data, self.payload, destroy),
                )
            }
        };
        self.slots.lock().insert(addr, (id, frame));
        stream.push_buffer(buffer);
        self.queued += 1;
        Ok(())
    }

    /// Waits up to `timeout_us` for a filled buffer.
    pub fn pop(&mut self, timeout_us: u64) -> Result<Option<Popped>, PluginError> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        let Some(buffer) = stream.timeout_pop_buffer(timeout_us) else {
            return Ok(None);
        };
        self.queued = self.queued.saturating_sub(1);
        let (data, _) = buffer.data();
        let addr = data as usize;
        let Some((id, frame)) = self.slots.lock().remove(&addr) else {
            // Not one of ours: never happens unless Aravis hands out foreign buffers.
            return Err(PluginError::new(format!(
                "the stream returned a buffer at {addr:#x} that was not queued by this source"
            )));
        };
        // Keep the ArvBuffer for reuse; the frame travels on.
        let kept = buffer.clone();
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(addr, (id, kept));
        Ok(Some(Popped { frame, buffer }))
    }

    /// Stops the receive thread and frees every buffer still queued: their destroy
    /// callbacks release the pool frames. Returns how many frames were still queued.
    pub fn close(&mut self) -> usize {
        let queued = self.slots.lock().len();
        // Dropping the last reference finalizes the stream: it joins the receive thread,
        // then frees the queued buffers (their destroy callbacks release the frames).
        // (`stop_thread` is not called: after `AcquisitionStop` Aravis 0.8.26 may have
        // stopped the thread already, and asserts.)
        drop(self.stream.take());
        self.cache.clear();
        self.queued = 0;
        let left = self.slots.lock().len();
        if left > 0 {
            // Aravis still holds these buffers somewhere: never free memory it may write.
            log::warn!("{left} pool frame(s) still held by Aravis after the stream closed");
        }
        queued
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.close();
    }
}

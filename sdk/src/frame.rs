//! Frames: reference-counted handles to core pool buffers, seen as ndarray views.
//!
//! [`Frame`] is a shared, read-only reference: cloning it adds a reference (no copy), and
//! dropping it releases one; the last release returns the buffer to the pool. [`FrameMut`]
//! is a unique reference that may be written: a source gets one from
//! [`Context::alloc`](crate::Context::alloc), a filter turns a `Frame` into one with
//! [`Frame::into_mut`] (free when the frame is unique, a counted copy-on-write when it is
//! shared by a fan-out; defined next to [`Context`](crate::Context), which it needs).

use std::fmt;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::abi::{self, FrameHeader, HostApi, MetaEntry, RawFrame};
use crate::dtype::{DType, Encoding, Pixel};
use crate::error::PluginError;
use crate::format::FrameFormat;

/// A typed metadata value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetaValue {
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Short string (at most 47 bytes).
    Str(String),
}

fn decode_meta(e: &MetaEntry) -> Option<(&str, MetaValue)> {
    let key = std::str::from_utf8(e.key.get(..e.key_len as usize)?).ok()?;
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&e.value[..8]);
    let value = match e.kind {
        abi::META_I64 => MetaValue::I64(i64::from_le_bytes(eight)),
        abi::META_F64 => MetaValue::F64(f64::from_le_bytes(eight)),
        abi::META_BOOL => MetaValue::Bool(e.value[0] != 0),
        abi::META_STR => MetaValue::Str(
            String::from_utf8_lossy(e.value.get(..e.value_len as usize)?).into_owned(),
        ),
        _ => return None,
    };
    Some((key, value))
}

/// Read accessors shared by [`Frame`] and [`FrameMut`].
macro_rules! frame_accessors {
    () => {
        /// Pixel type. Unknown codes (a newer core) read as an error in [`Self::view`].
        pub fn dtype(&self) -> DType {
            DType::from_abi(self.header().dtype).unwrap_or(DType::U8)
        }
        /// Payload encoding ([`Encoding::Unknown`] for a code this SDK does not know:
        /// such a frame has no pixel view).
        pub fn encoding(&self) -> Encoding {
            Encoding::from_abi(self.header().encoding)
        }
        /// The frame's format (rate unknown); `None` for a dtype this SDK does not know.
        pub fn format(&self) -> Option<FrameFormat> {
            FrameFormat::of_header(self.header())
        }
        /// Pixels per row.
        pub fn width(&self) -> u32 {
            self.header().width
        }
        /// Rows.
        pub fn height(&self) -> u32 {
            self.header().height
        }
        /// `[height, width]`, the ndarray shape.
        pub fn shape(&self) -> [usize; 2] {
            [self.height() as usize, self.width() as usize]
        }
        /// Frame number given by the source.
        pub fn frame_number(&self) -> u64 {
            self.header().frame_number
        }
        /// Acquisition time, nanoseconds since the UNIX epoch.
        pub fn timestamp_ns(&self) -> u64 {
            self.header().timestamp_ns
        }
        /// The payload bytes.
        pub fn bytes(&self) -> &[u8] {
            let len = self.header().data_len.min(self.raw.capacity);
            // SAFETY: the pool slot holds `capacity` bytes for as long as we hold a reference.
            unsafe { std::slice::from_raw_parts(self.raw.data, len) }
        }
        /// Address of the payload: equal for every holder of the same buffer.
        pub fn data_ptr(&self) -> *const u8 {
            self.raw.data
        }
        /// A 2-D view `[height, width]` of raw pixels of type `T`.
        pub fn view<T: Pixel>(&self) -> Result<ArrayView2<'_, T>, PluginError> {
            let (ptr, len) = self.check_view::<T>()?;
            // SAFETY: check_view verified dtype, length and alignment; shared access only.
            let slice = unsafe { std::slice::from_raw_parts(ptr as *const T, len) };
            ArrayView2::from_shape(self.shape(), slice)
                .map_err(|e| PluginError::new(format!("frame {}: {e}", self.frame_number())))
        }
        /// The metadata value of `key`.
        pub fn meta(&self, key: &str) -> Option<MetaValue> {
            self.meta_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
        }
        /// All metadata entries in insertion order.
        pub fn meta_iter(&self) -> impl Iterator<Item = (&str, MetaValue)> + '_ {
            let h = self.header();
            let n = (h.meta_len as usize).min(abi::META_CAPACITY);
            h.meta[..n].iter().filter_map(decode_meta)
        }
        fn check_view<T: Pixel>(&self) -> Result<(*mut u8, usize), PluginError> {
            let h = self.header();
            if self.encoding() != Encoding::Raw {
                return Err(PluginError::new(format!(
                    "frame {} is {}-encoded; it has no pixel view (decode it first)",
                    h.frame_number,
                    self.encoding()
                )));
            }
            if DType::from_abi(h.dtype) != Some(T::DTYPE) {
                return Err(PluginError::new(format!(
                    "frame {} has dtype {} (code {}), not {}",
                    h.frame_number,
                    DType::from_abi(h.dtype).map_or("unknown", |d| d.name()),
                    h.dtype,
                    T::DTYPE
                )));
            }
            let n = (h.width as usize).checked_mul(h.height as usize);
            let bytes = n.and_then(|n| n.checked_mul(T::DTYPE.size_bytes()));
            let (Some(n), Some(bytes)) = (n, bytes) else {
                return Err(PluginError::new(format!(
                    "frame {}: {}x{} overflows",
                    h.frame_number, h.width, h.height
                )));
            };
            if bytes > h.data_len.min(self.raw.capacity) {
                return Err(PluginError::new(format!(
                    "frame {}: {}x{} {} needs {bytes} bytes, payload has {}",
                    h.frame_number,
                    h.width,
                    h.height,
                    T::DTYPE,
                    h.data_len
                )));
            }
            if (self.raw.data as usize) % std::mem::align_of::<T>() != 0 {
                return Err(PluginError::new(format!(
                    "frame {}: payload is not aligned for {}",
                    h.frame_number,
                    T::DTYPE
                )));
            }
            Ok((self.raw.data, n))
        }
    };
}

/// A shared, read-only reference to a frame in the core's pool.
///
/// Cheap to clone (a reference count); `Send`, so a sink may keep it on another thread.
pub struct Frame {
    raw: RawFrame,
    host: &'static HostApi,
}

// SAFETY: the pool slot is owned by the core and reference-counted atomically; a shared
// Frame only reads the header and payload, which nobody writes while it is shared.
unsafe impl Send for Frame {}
// SAFETY: as above — shared access is read-only.
unsafe impl Sync for Frame {}

impl Frame {
    /// Wraps one reference received from the core.
    ///
    /// # Safety
    /// `raw` must be a live reference from `host`, which this `Frame` now owns.
    pub unsafe fn from_raw(raw: RawFrame, host: &'static HostApi) -> Frame {
        Frame { raw, host }
    }

    /// Gives the reference back as raw parts (it is not released).
    pub fn into_raw(self) -> RawFrame {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    pub(crate) fn header(&self) -> &FrameHeader {
        // SAFETY: the header lives in the pool slot for as long as we hold a reference.
        unsafe { &*self.raw.header }
    }

    pub(crate) fn host(&self) -> &'static HostApi {
        self.host
    }

    frame_accessors!();
}

impl Clone for Frame {
    fn clone(&self) -> Self {
        // SAFETY: we hold a live reference, so the handle is valid.
        unsafe { (self.host.frame_retain)(self.raw.handle) };
        Frame {
            raw: self.raw,
            host: self.host,
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { (self.host.frame_release)(self.raw.handle) };
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("frame_number", &self.frame_number())
            .field("dtype", &self.dtype())
            .field("shape", &self.shape())
            .field("encoding", &self.encoding())
            .finish()
    }
}

/// A unique, writable reference to a frame in the core's pool.
pub struct FrameMut {
    raw: RawFrame,
    host: &'static HostApi,
}

// SAFETY: a FrameMut is the only reference to its slot; moving it moves exclusive access.
unsafe impl Send for FrameMut {}

impl FrameMut {
    /// Wraps a unique reference received from the core.
    ///
    /// # Safety
    /// `raw` must be the only live reference to its slot, owned from now on by this value.
    pub unsafe fn from_raw(raw: RawFrame, host: &'static HostApi) -> FrameMut {
        FrameMut { raw, host }
    }

    fn header(&self) -> &FrameHeader {
        // SAFETY: unique reference to a live slot.
        unsafe { &*self.raw.header }
    }

    fn header_mut(&mut self) -> &mut FrameHeader {
        // SAFETY: unique reference to a live slot.
        unsafe { &mut *self.raw.header }
    }

    /// Copies `src`'s frame number, timestamp and metadata into this frame (its dtype,
    /// shape, encoding and length stay).
    pub fn copy_header_from(&mut self, src: &Frame) {
        let s = src.header();
        let h = self.header_mut();
        h.frame_number = s.frame_number;
        h.timestamp_ns = s.timestamp_ns;
        h.meta_len = s.meta_len.min(abi::META_CAPACITY as u32);
        h.meta = s.meta;
    }

    frame_accessors!();

    /// The payload bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.header().data_len.min(self.raw.capacity);
        // SAFETY: unique reference; the slot holds `capacity` bytes.
        unsafe { std::slice::from_raw_parts_mut(self.raw.data, len) }
    }

    /// A writable 2-D view `[height, width]` of raw pixels of type `T`.
    pub fn view_mut<T: Pixel>(&mut self) -> Result<ArrayViewMut2<'_, T>, PluginError> {
        let (ptr, len) = self.check_view::<T>()?;
        let shape = self.shape();
        // SAFETY: check_view verified dtype, length and alignment; we are the only holder.
        let slice = unsafe { std::slice::from_raw_parts_mut(ptr as *mut T, len) };
        ArrayViewMut2::from_shape(shape, slice)
            .map_err(|e| PluginError::new(format!("frame {}: {e}", self.frame_number())))
    }

    /// Sets the frame number.
    pub fn set_frame_number(&mut self, n: u64) {
        self.header_mut().frame_number = n;
    }

    /// Sets the acquisition time (ns since the UNIX epoch).
    pub fn set_timestamp_ns(&mut self, t: u64) {
        self.header_mut().timestamp_ns = t;
    }

    /// Sets the valid payload length of an encoded (compressed) frame; clamped to capacity.
    pub fn set_data_len(&mut self, len: usize) {
        let cap = self.raw.capacity;
        self.header_mut().data_len = len.min(cap);
    }

    /// Payload capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.raw.capacity
    }

    /// Sets (or replaces) a metadata entry. Keys are at most 31 bytes, strings 47 bytes,
    /// and a frame holds at most 16 entries: beyond that this returns an error.
    pub fn set_meta(&mut self, key: &str, value: MetaValue) -> Result<(), PluginError> {
        if key.is_empty() || key.len() > abi::META_KEY_MAX {
            return Err(PluginError::new(format!(
                "metadata key {key:?} must be 1..={} bytes",
                abi::META_KEY_MAX
            )));
        }
        let mut e = MetaEntry::EMPTY;
        e.key_len = key.len() as u8;
        e.key[..key.len()].copy_from_slice(key.as_bytes());
        match &value {
            MetaValue::I64(v) => {
                e.kind = abi::META_I64;
                e.value[..8].copy_from_slice(&v.to_le_bytes());
            }
            MetaValue::F64(v) => {
                e.kind = abi::META_F64;
                e.value[..8].copy_from_slice(&v.to_le_bytes());
            }
            MetaValue::Bool(v) => {
                e.kind = abi::META_BOOL;
                e.value[0] = u8::from(*v);
            }
            MetaValue::Str(s) => {
                if s.len() > abi::META_STR_MAX {
                    return Err(PluginError::new(format!(
                        "metadata value of {key:?} is {} bytes; at most {} fit",
                        s.len(),
                        abi::META_STR_MAX
                    )));
                }
                e.kind = abi::META_STR;
                e.value_len = s.len() as u8;
                e.value[..s.len()].copy_from_slice(s.as_bytes());
            }
        }
        let h = self.header_mut();
        let n = (h.meta_len as usize).min(abi::META_CAPACITY);
        if let Some(slot) = h.meta[..n]
            .iter_mut()
            .find(|m| &m.key[..m.key_len as usize] == key.as_bytes())
        {
            *slot = e;
            return Ok(());
        }
        if n == abi::META_CAPACITY {
            return Err(PluginError::new(format!(
                "frame metadata is full ({} entries); cannot add {key:?}",
                abi::META_CAPACITY
            )));
        }
        h.meta[n] = e;
        h.meta_len = n as u32 + 1;
        Ok(())
    }

    /// Freezes the frame into a shared reference (no copy).
    pub fn into_frame(self) -> Frame {
        let raw = self.raw;
        let host = self.host;
        std::mem::forget(self);
        Frame { raw, host }
    }

    /// Gives the reference back as raw parts (it is not released).
    pub fn into_raw(self) -> RawFrame {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }
}

impl From<FrameMut> for Frame {
    fn from(f: FrameMut) -> Frame {
        f.into_frame()
    }
}

impl Drop for FrameMut {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { (self.host.frame_release)(self.raw.handle) };
    }
}

impl fmt::Debug for FrameMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameMut")
            .field("frame_number", &self.frame_number())
            .field("dtype", &self.dtype())
            .field("shape", &self.shape())
            .finish()
    }
}

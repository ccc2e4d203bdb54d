//! In-process registration of the LZ4 (32004) and bitshuffle (32008) HDF5 filters, backed
//! by this crate's codecs, so that the datasets we create name a filter HDF5 knows and the
//! process can read its own files back without `HDF5_PLUGIN_PATH` or hdf5plugin.
//!
//! The callbacks follow the reference plugins (`H5Zlz4.c`, `bshuf_h5filter.c`): the same
//! `cd_values` conventions (bitshuffle's `set_local` prepends version and element size to
//! the user's `[block_size, compression]`), `malloc`/`free` for the buffers HDF5 hands
//! over, and `0` returned on failure. Panics never cross the C boundary.

use std::ffi::{CStr, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{H5Pget_filter_by_id2, H5Pmodify_filter};
use hdf5_sys::h5t::H5Tget_size;
use hdf5_sys::h5z::{H5Z_CLASS_T_VERS, H5Z_FLAG_REVERSE, H5Z_class2_t, H5Z_filter_t, H5Zregister};

use daqflow_codec::{bitshuffle, lz4chunk};

use crate::errors::last_error;

/// A filter could not be registered with the HDF5 library.
#[derive(Debug, Clone, thiserror::Error)]
#[error("register HDF5 filter {id} ({name}) with H5Zregister: {detail}")]
pub struct FilterError {
    /// Filter id.
    pub id: i32,
    /// Filter name.
    pub name: String,
    /// HDF5's reason.
    pub detail: String,
}

/// Registers both filters once per process; later calls return the first outcome.
pub fn register() -> Result<(), FilterError> {
    static DONE: OnceLock<Result<(), FilterError>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_class(
            lz4chunk::FILTER_ID,
            c"lz4 (daqflow)",
            None,
            Some(lz4_filter),
        )?;
        register_class(
            bitshuffle::FILTER_ID,
            c"bitshuffle; see https://github.com/kiyo-masui/bitshuffle (daqflow)",
            Some(bshuf_set_local),
            Some(bshuf_filter),
        )
    })
    .clone()
}

type SetLocal = extern "C" fn(hid_t, hid_t, hid_t) -> i32;
type FilterFn = unsafe extern "C" fn(
    c_uint,
    usize,
    *const c_uint,
    usize,
    *mut usize,
    *mut *mut c_void,
) -> usize;

/// Registers one filter class. Separate from [`register`] so a failure can be tested.
pub fn register_class(
    id: H5Z_filter_t,
    name: &'static CStr,
    set_local: Option<SetLocal>,
    filter: Option<FilterFn>,
) -> Result<(), FilterError> {
    let class = H5Z_class2_t {
        version: H5Z_CLASS_T_VERS as i32,
        id,
        encoder_present: 1,
        decoder_present: 1,
        name: name.as_ptr(),
        can_apply: None,
        set_local,
        filter,
    };
    let status = hdf5::sync::sync(|| {
        // SAFETY: `class` is a valid H5Z_class2_t; HDF5 copies it, and `name` is 'static.
        unsafe { H5Zregister((&raw const class).cast()) }
    });
    if status < 0 {
        return Err(FilterError {
            id,
            name: name.to_string_lossy().into_owned(),
            detail: last_error(),
        });
    }
    Ok(())
}

/// Runs a filter body, mapping errors and panics to HDF5's failure value `0`.
fn guarded(what: &str, body: impl FnOnce() -> Result<usize, String>) -> usize {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            log::error!("HDF5 filter {what}: {e}");
            0
        }
        Err(_) => {
            log::error!("HDF5 filter {what}: panicked");
            0
        }
    }
}

/// Replaces HDF5's buffer `*buf` by a `malloc`ed one holding `len` bytes produced by `fill`.
///
/// # Safety
/// `buf`/`buf_size` are the pointers HDF5 passed to the filter.
unsafe fn replace_buffer(
    buf: *mut *mut c_void,
    buf_size: *mut usize,
    capacity: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<usize, String>,
) -> Result<usize, String> {
    // SAFETY: plain allocation; checked for null below.
    let out = unsafe { libc::malloc(capacity.max(1)) }.cast::<u8>();
    if out.is_null() {
        return Err(format!("cannot allocate {capacity} bytes"));
    }
    // SAFETY: `out` is a fresh allocation of `capacity` bytes.
    let slice = unsafe { std::slice::from_raw_parts_mut(out, capacity) };
    match fill(slice) {
        Ok(len) => {
            // SAFETY: HDF5 gave us ownership of `*buf` (allocated with malloc) to replace.
            unsafe {
                libc::free(*buf);
                *buf = out.cast();
                *buf_size = capacity;
            }
            Ok(len)
        }
        Err(e) => {
            // SAFETY: allocated above, not handed out.
            unsafe { libc::free(out.cast()) };
            Err(e)
        }
    }
}

/// # Safety
/// Called by HDF5 with the filter contract's pointers.
unsafe extern "C" fn lz4_filter(
    flags: c_uint,
    _cd_nelmts: usize,
    _cd_values: *const c_uint,
    nbytes: usize,
    buf_size: *mut usize,
    buf: *mut *mut c_void,
) -> usize {
    guarded("lz4", || {
        // SAFETY: HDF5 passes `nbytes` valid bytes at `*buf`.
        let input = unsafe { std::slice::from_raw_parts((*buf).cast::<u8>(), nbytes) };
        if flags & H5Z_FLAG_REVERSE != 0 {
            let len = lz4chunk::decoded_len(input).map_err(|e| e.to_string())?;
            // SAFETY: `buf`, `buf_size` come from HDF5.
            unsafe {
                replace_buffer(buf, buf_size, len, |out| {
                    lz4chunk::decompress(input, out)
                        .map(|()| len)
                        .map_err(|e| e.to_string())
                })
            }
        } else {
            let cap = lz4chunk::max_compressed_len(nbytes);
            let mut c = lz4chunk::Compressor::default();
            // SAFETY: as above.
            unsafe {
                replace_buffer(buf, buf_size, cap, |out| {
                    c.compress(input, out).map_err(|e| e.to_string())
                })
            }
        }
    })
}

/// The reference `set_local`: user values `[block_size, compression]` move to slots 3..,
/// slots 0..3 become `[major, minor, element size]`.
extern "C" fn bshuf_set_local(dcpl: hid_t, type_id: hid_t, _space: hid_t) -> i32 {
    let body = || -> Result<(), String> {
        let mut flags: c_uint = 0;
        let mut n: usize = 8;
        let mut user = [0 as c_uint; 8];
        // SAFETY: buffers sized as announced in `n`; HDF5 ids come from HDF5.
        let status = unsafe {
            H5Pget_filter_by_id2(
                dcpl,
                bitshuffle::FILTER_ID,
                &mut flags,
                &mut n,
                user.as_mut_ptr(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err("cannot read bitshuffle filter parameters".into());
        }
        // SAFETY: type id from HDF5.
        let elem_size = unsafe { H5Tget_size(type_id) };
        if elem_size == 0 {
            return Err("cannot get element size".into());
        }
        let n = n.min(8);
        let mut values = [0 as c_uint; 11];
        values[0] = bitshuffle::VERSION.0;
        values[1] = bitshuffle::VERSION.1;
        values[2] = elem_size as c_uint;
        values[3..3 + n].copy_from_slice(&user[..n]);
        if n > 0 && values[3] % 8 != 0 {
            return Err(format!("invalid bitshuffle block size {}", values[3]));
        }
        if n > 1 && values[4] != 0 && values[4] != bitshuffle::COMPRESS_LZ4 {
            return Err(format!("unsupported bitshuffle compression {}", values[4]));
        }
        // SAFETY: `values` holds 3 + n initialised entries.
        let status =
            unsafe { H5Pmodify_filter(dcpl, bitshuffle::FILTER_ID, flags, 3 + n, values.as_ptr()) };
        if status < 0 {
            return Err("cannot store bitshuffle filter parameters".into());
        }
        Ok(())
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            log::error!("HDF5 filter bitshuffle set_local: {e}");
            -1
        }
        Err(_) => -1,
    }
}

/// # Safety
/// Called by HDF5 with the filter contract's pointers.
unsafe extern "C" fn bshuf_filter(
    flags: c_uint,
    cd_nelmts: usize,
    cd_values: *const c_uint,
    nbytes: usize,
    buf_size: *mut usize,
    buf: *mut *mut c_void,
) -> usize {
    guarded("bitshuffle", || {
        // SAFETY: HDF5 passes `cd_nelmts` values.
        let cd = unsafe { std::slice::from_raw_parts(cd_values, cd_nelmts) };
        if cd.len() < 3 || cd[2] == 0 {
            return Err(format!(
                "bitshuffle needs an element size in cd_values, got {cd:?}"
            ));
        }
        let elem_size = cd[2] as usize;
        let block = cd.get(3).copied().unwrap_or(0) as usize;
        let lz4 = cd.get(4).copied().unwrap_or(0) == bitshuffle::COMPRESS_LZ4;
        // SAFETY: HDF5 passes `nbytes` valid bytes at `*buf`.
        let input = unsafe { std::slice::from_raw_parts((*buf).cast::<u8>(), nbytes) };
        let reverse = flags & H5Z_FLAG_REVERSE != 0;
        let err = |e: lz4chunk::CodecError| e.to_string();
        match (reverse, lz4) {
            (true, true) => {
                let len = bitshuffle::decoded_len(input).map_err(err)?;
                // SAFETY: `buf`, `buf_size` are the pointers HDF5 passed to this filter.
                unsafe {
                    replace_buffer(buf, buf_size, len, |out| {
                        bitshuffle::decompress(input, elem_size, out)
                            .map(|()| len)
                            .map_err(err)
                    })
                }
            }
            (false, true) => {
                let cap = bitshuffle::max_compressed_len(nbytes, elem_size);
                let mut c = bitshuffle::Compressor::default();
                // SAFETY: `buf`, `buf_size` are the pointers HDF5 passed to this filter.
                unsafe {
                    replace_buffer(buf, buf_size, cap, |out| {
                        c.compress(input, elem_size, out).map_err(err)
                    })
                }
            }
            // SAFETY: `buf`, `buf_size` are the pointers HDF5 passed to this filter.
            (reverse, false) => unsafe {
                replace_buffer(buf, buf_size, nbytes, |out| {
                    bitshuffle::transform_plain(input, out, elem_size, block, reverse)
                        .map(|()| nbytes)
                        .map_err(err)
                })
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_succeeds_and_is_idempotent() {
        register().unwrap();
        register().unwrap();
        // SAFETY: a query by filter id; no pointers involved.
        let avail = hdf5::sync::sync(|| unsafe { hdf5_sys::h5z::H5Zfilter_avail(32008) });
        assert!(avail > 0);
    }

    #[test]
    fn registration_failure_names_the_filter() {
        let err = register_class(70_000, c"bogus", None, Some(lz4_filter)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("70000") && msg.contains("bogus") && msg.contains("H5Zregister"));
    }
}

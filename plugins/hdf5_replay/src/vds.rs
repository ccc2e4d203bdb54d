//! Virtual datasets: a VDS whose mappings each place a whole source dataset as a block of
//! frames (what the `hdf5` sink's rotation writes, and DECTRIS-style masters) is read from
//! its sources, so their compressed chunks pass through too; any other VDS is read through
//! HDF5 (decoded). The mappings are read with the raw calls: plain blocks are all this
//! needs, and anything else makes [`segments`] give up.

use std::path::Path;

use daqflow_sdk::FrameFormat;
use hdf5::Dataset;

use crate::error::ReplayError;
use crate::open::{Segment, layout_of, open_dataset, open_file};

/// One mapping of a virtual dataset, read with the raw calls (the selections of a
/// rotated run are plain blocks; anything else makes [`segments`] give up).
struct Mapping {
    file: String,
    dataset: String,
    /// Bounds `[start, end]` (inclusive) and point count of the virtual selection.
    vds: Option<([u64; 3], [u64; 3], u64)>,
    /// The same for the source selection.
    src: Option<([u64; 3], [u64; 3], u64)>,
}

fn mappings(dcpl: hdf5_sys::h5i::hid_t) -> Option<Vec<Mapping>> {
    use hdf5_sys::h5p::{
        H5Pget_virtual_count, H5Pget_virtual_dsetname, H5Pget_virtual_filename,
        H5Pget_virtual_srcspace, H5Pget_virtual_vspace,
    };
    use hdf5_sys::h5s::{H5Sclose, H5Sget_select_bounds, H5Sget_select_npoints};
    let bounds = |space: hdf5_sys::h5i::hid_t| -> Option<([u64; 3], [u64; 3], u64)> {
        if space < 0 {
            return None;
        }
        let (mut start, mut end) = ([0u64; 3], [0u64; 3]);
        // SAFETY: a dataspace id HDF5 gave us; both buffers hold the rank 3 we require
        // (checked by the dataset's shape before this is called), closed once below.
        let (status, n) = unsafe {
            let rank = hdf5_sys::h5s::H5Sget_simple_extent_ndims(space);
            let r = if rank == 3 {
                (
                    H5Sget_select_bounds(space, start.as_mut_ptr(), end.as_mut_ptr()),
                    H5Sget_select_npoints(space),
                )
            } else {
                (-1, -1)
            };
            H5Sclose(space);
            r
        };
        (status >= 0 && n >= 0).then_some((start, end, n as u64))
    };
    let name = |get: &dyn Fn(*mut std::ffi::c_char, usize) -> isize| -> Option<String> {
        let len = get(std::ptr::null_mut(), 0);
        if len < 0 {
            return None;
        }
        let mut buf = vec![0 as std::ffi::c_char; len as usize + 1];
        if get(buf.as_mut_ptr(), buf.len()) < 0 {
            return None;
        }
        // SAFETY: HDF5 wrote a NUL-terminated string into `buf`.
        Some(
            unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        )
    };
    hdf5::sync::sync(|| {
        let mut count = 0usize;
        // SAFETY: a valid dataset creation property list.
        if unsafe { H5Pget_virtual_count(dcpl, &mut count) } < 0 {
            return None;
        }
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: `i` < the mapping count; `buf`/`size` describe a
            // writable buffer (or null and 0 to ask for the length).
            let file = name(&|buf, size| unsafe { H5Pget_virtual_filename(dcpl, i, buf, size) })?;
            // SAFETY: as above.
            let dataset =
                name(&|buf, size| unsafe { H5Pget_virtual_dsetname(dcpl, i, buf, size) })?;
            // SAFETY: `i` < the mapping count; the spaces are closed by `bounds`.
            let (vspace, sspace) = unsafe {
                (
                    H5Pget_virtual_vspace(dcpl, i),
                    H5Pget_virtual_srcspace(dcpl, i),
                )
            };
            out.push(Mapping {
                file,
                dataset,
                vds: bounds(vspace),
                src: bounds(sspace),
            });
        }
        Some(out)
    })
}

/// The sources of a virtual dataset as segments, when every mapping places a whole source
/// dataset `[k, h, w]` at frames `[offset, offset + k)` and together they tile the
/// dataset; `None` otherwise (then HDF5 reads the virtual dataset).
pub fn segments(
    ds: &Dataset,
    file: &Path,
    dataset: &str,
    format: &FrameFormat,
) -> Result<Option<Vec<Segment>>, ReplayError> {
    let Ok(dcpl) = ds.dcpl() else { return Ok(None) };
    let Some(maps) = mappings(dcpl.id()) else {
        return Ok(None);
    };
    let total = ds.shape()[0] as u64;
    let (h, w) = (u64::from(format.height), u64::from(format.width));
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut segments = Vec::new();
    for m in &maps {
        // A block of whole frames: bounds [s, 0, 0]..[e, h-1, w-1] holding every point.
        let block = |b: Option<([u64; 3], [u64; 3], u64)>| {
            let (start, end, n) = b?;
            let k = end[0].checked_sub(start[0])? + 1;
            (start[1..] == [0, 0] && end[1..] == [h - 1, w - 1] && n == k * h * w)
                .then_some((start[0], k))
        };
        let (Some((offset, k)), Some((0, sk))) = (block(m.vds), block(m.src)) else {
            return Ok(None);
        };
        if sk != k {
            return Ok(None);
        }
        let src = if m.file == "." {
            file.to_path_buf()
        } else {
            dir.join(&m.file)
        };
        if !src.exists() {
            // HDF5 reads a missing source as fill values; so does replay (through HDF5).
            log::warn!(
                "{}:{dataset}: VDS source {} is missing; its frames read as fill values",
                file.display(),
                src.display()
            );
            return Ok(None);
        }
        let (sf, _) = open_file(&src, &m.dataset)?;
        let sds = open_dataset(&sf, &src, &m.dataset)?;
        let layout = layout_of(&sds, &src, &m.dataset)?;
        if !layout.format.same_frames(format) || layout.frames < k {
            return Ok(None);
        }
        segments.push(Segment {
            file: src,
            dataset: m.dataset.clone(),
            first: offset,
            frames: k,
            access: layout.access,
        });
    }
    segments.sort_by_key(|s| s.first);
    let mut next = 0;
    for s in &segments {
        if s.first != next {
            return Ok(None);
        }
        next += s.frames;
    }
    Ok((next == total && !segments.is_empty()).then_some(segments))
}

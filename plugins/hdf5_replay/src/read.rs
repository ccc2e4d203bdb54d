//! Reading one frame of a [`Segment`] into a pool buffer, with the HDF5 lock held only
//! for the library calls (never while waiting for a buffer): a direct chunk read for
//! LZ4 / bitshuffle-LZ4 chunks (the bytes pass on as they are stored), an `H5Dread` of
//! one `[1, h, w]` hyperslab otherwise. A compressed dataset's chunk that was never
//! written, or stored with its filter skipped, is read through HDF5 and compressed here,
//! so the stream keeps one encoding.

use std::path::PathBuf;

use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::prelude::*;
use hdf5::{Dataset, Dataspace, Datatype, File};
use hdf5_sys::h5::HADDR_UNDEF;
use hdf5_sys::h5d::{H5Dget_chunk_info_by_coord, H5Dread, H5Dread_chunk1};
use hdf5_sys::h5p::H5P_DEFAULT;
use hdf5_sys::h5s::{H5S_seloper_t, H5Sselect_hyperslab};

use crate::error::ReplayError;
use crate::open::{Access, Segment, open_dataset, open_file};

/// Reusable buffers and compressors for the rare frames replay compresses itself.
#[derive(Default)]
pub struct Scratch {
    raw: Vec<u8>,
    lz4: Option<lz4chunk::Compressor>,
    bslz4: Option<bitshuffle::Compressor>,
}

/// An open segment.
pub struct SegmentReader {
    file: PathBuf,
    dataset: String,
    _handle: File,
    ds: Dataset,
    access: Access,
    format: FrameFormat,
    mem_type: Datatype,
    mem_space: Dataspace,
    file_space: Dataspace,
}

impl SegmentReader {
    /// Opens `segment`, whose frames have `format` (dtype and shape).
    pub fn open(segment: &Segment, format: &FrameFormat) -> Result<Self, ReplayError> {
        let (handle, _) = open_file(&segment.file, &segment.dataset)?;
        let ds = open_dataset(&handle, &segment.file, &segment.dataset)?;
        let err = |e: hdf5::Error| ReplayError::Read {
            file: segment.file.clone(),
            dataset: segment.dataset.clone(),
            what: "the dataspace".into(),
            detail: daqflow_hdf5_filters::describe(&e),
        };
        let mem_type = daqflow_sdk::dispatch_dtype!(format.dtype, T => Datatype::from_type::<T>())
            .map_err(err)?;
        let mem_space =
            Dataspace::try_new((1, format.height as usize, format.width as usize)).map_err(err)?;
        let file_space = ds.space().map_err(err)?;
        Ok(SegmentReader {
            file: segment.file.clone(),
            dataset: segment.dataset.clone(),
            _handle: handle,
            ds,
            access: segment.access,
            format: *format,
            mem_type,
            mem_space,
            file_space,
        })
    }

    fn read_err(&self, index: u64, detail: String) -> PluginError {
        ReplayError::Read {
            file: self.file.clone(),
            dataset: self.dataset.clone(),
            what: format!("frame {index}"),
            detail,
        }
        .into()
    }

    /// Reads frame `index` of the segment into a new pool frame.
    pub fn read(
        &mut self,
        index: u64,
        ctx: &Context,
        scratch: &mut Scratch,
    ) -> Result<FrameMut, PluginError> {
        match self.access {
            Access::Decoded => {
                let f = &self.format;
                let mut frame = ctx.alloc(f.dtype, f.width, f.height)?;
                self.read_decoded(index, frame.bytes_mut())?;
                Ok(frame)
            }
            Access::Direct(encoding) => self.read_direct(index, encoding, ctx, scratch),
        }
    }

    /// `H5Dread` of frame `index` into `out` (one decoded frame, native pixels).
    fn read_decoded(&self, index: u64, out: &mut [u8]) -> Result<(), PluginError> {
        let start = [index, 0, 0];
        let count = [
            1,
            u64::from(self.format.height),
            u64::from(self.format.width),
        ];
        debug_assert_eq!(out.len() as u64, self.format.frame_bytes());
        let (ds, mt, ms, fs) = (
            self.ds.id(),
            self.mem_type.id(),
            self.mem_space.id(),
            self.file_space.id(),
        );
        let failed = hdf5::sync::sync(|| {
            // SAFETY: valid ids; `start`/`count` have the dataset's rank 3; `out` holds
            // exactly one [1, h, w] frame of the memory type (checked above).
            let status = unsafe {
                let sel = H5Sselect_hyperslab(
                    fs,
                    H5S_seloper_t::H5S_SELECT_SET,
                    start.as_ptr(),
                    std::ptr::null(),
                    count.as_ptr(),
                    std::ptr::null(),
                );
                if sel < 0 {
                    sel
                } else {
                    H5Dread(ds, mt, ms, fs, H5P_DEFAULT, out.as_mut_ptr().cast())
                }
            };
            (status < 0).then(daqflow_hdf5_filters::last_error)
        });
        match failed {
            None => Ok(()),
            Some(detail) => Err(self.read_err(index, detail)),
        }
    }

    fn read_direct(
        &mut self,
        index: u64,
        encoding: Encoding,
        ctx: &Context,
        scratch: &mut Scratch,
    ) -> Result<FrameMut, PluginError> {
        let offset = [index, 0, 0];
        let id = self.ds.id();
        let (mut mask, mut addr, mut size) = (0u32, 0u64, 0u64);
        let info = hdf5::sync::sync(|| {
            // SAFETY: valid dataset id; `offset` has rank 3; the outputs are writable.
            let s = unsafe {
                H5Dget_chunk_info_by_coord(id, offset.as_ptr(), &mut mask, &mut addr, &mut size)
            };
            (s < 0).then(daqflow_hdf5_filters::last_error)
        });
        if let Some(detail) = info {
            return Err(self.read_err(index, detail));
        }
        if size == 0 || addr == HADDR_UNDEF || mask != 0 {
            return self.read_and_compress(index, encoding, ctx, scratch);
        }
        let f = &self.format;
        let mut frame = ctx.alloc_encoded(f.dtype, encoding, f.width, f.height, size as usize)?;
        let buf = frame.bytes_mut();
        if buf.len() as u64 != size {
            return Err(self.read_err(
                index,
                format!("chunk of {size} bytes, buffer of {}", buf.len()),
            ));
        }
        let failed = hdf5::sync::sync(|| {
            let mut filters = 0u32;
            // SAFETY: valid dataset id; `offset` has rank 3; `buf` holds the chunk's
            // stored size, which HDF5 reported above for this very chunk.
            let s = unsafe {
                H5Dread_chunk1(
                    id,
                    H5P_DEFAULT,
                    offset.as_ptr(),
                    &mut filters,
                    buf.as_mut_ptr().cast(),
                )
            };
            (s < 0).then(daqflow_hdf5_filters::last_error)
        });
        match failed {
            None => Ok(frame),
            Some(detail) => Err(self.read_err(index, detail)),
        }
    }

    /// A chunk that is missing (reads as the fill value) or was stored unfiltered.
    fn read_and_compress(
        &mut self,
        index: u64,
        encoding: Encoding,
        ctx: &Context,
        scratch: &mut Scratch,
    ) -> Result<FrameMut, PluginError> {
        let n = self.format.frame_bytes() as usize;
        scratch.raw.resize(n, 0);
        let mut raw = std::mem::take(&mut scratch.raw);
        let result = self.read_decoded(index, &mut raw);
        let frame = result.and_then(|()| {
            let elem = self.format.dtype.size_bytes();
            let f = &self.format;
            let max = match encoding {
                Encoding::Lz4 => lz4chunk::max_compressed_len(n),
                _ => bitshuffle::max_compressed_len(n, elem),
            };
            let mut frame = ctx.alloc_encoded(f.dtype, encoding, f.width, f.height, max)?;
            let len = match encoding {
                Encoding::Lz4 => scratch
                    .lz4
                    .get_or_insert_with(Default::default)
                    .compress(&raw, frame.bytes_mut()),
                _ => scratch.bslz4.get_or_insert_with(Default::default).compress(
                    &raw,
                    elem,
                    frame.bytes_mut(),
                ),
            }
            .map_err(|e| self.read_err(index, format!("compress: {e}")))?;
            frame.set_data_len(len);
            Ok(frame)
        });
        scratch.raw = raw;
        frame
    }
}

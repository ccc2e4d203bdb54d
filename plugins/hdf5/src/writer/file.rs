//! [`NexusFile`], the appender: one HDF5 file being written, a standalone file or one
//! part of a rotated run. It creates the file (no clobbering, readable reasons), creates
//! the frame datasets at the first frame, appends each frame's chunk with a direct chunk
//! write, batches the per-frame values, flushes on frame count or time, starts SWMR, and
//! after a failed write freezes the file at its last flush.
//!
//! Traps handled (see FINDINGS.md): every attribute is created before SWMR starts; groups
//! are closed before `H5Fstart_swmr_write`; SWMR files use the 1.10 format bounds so that
//! HDF5 1.10 readers open them; a non-SWMR file keeps the oldest format, whose superblock
//! has no "open for writing" flag, so a killed writer leaves a file readers open directly.

use std::path::{Path, PathBuf};

use daqflow_codec::{bitshuffle, lz4chunk};
use hdf5::{Dataset, Extent, File, SimpleExtents};
use hdf5_sys::h5d::{H5Dset_extent, H5Dwrite_chunk};
use hdf5_sys::h5p::H5P_DEFAULT;
use ndarray::s;

use super::descriptor::{close_on_exec, freeze};
use super::error::{WriteError, checked, describe, hdf5_err};
use super::filters;
use super::meta::{Columns, MetaCell, MetaKind};
use super::nexus::{
    DatasetPath, attr_str, create_run_fields, describe_per_frame, empty_of, time_string,
    write_skeleton,
};
use crate::config::Compression;
use crate::format::{FileOptions, FrameFormat};

/// Datasets of a file that frames are appended to.
struct Sets {
    data: Dataset,
    frame_number: Dataset,
    timestamp: Dataset,
    frame_count: Dataset,
    end_time: Dataset,
    height: u64,
    width: u64,
}

/// One HDF5 file being written: a standalone file, or one part of a rotated run.
pub struct NexusFile {
    path: PathBuf,
    file: Option<File>,
    sets: Option<Sets>,
    dataset: String,
    swmr: bool,
    /// SWMR writing has started (after the first frame's metadata columns exist).
    swmr_started: bool,
    flush_every: u64,
    frames: u64,
    meta_written: u64,
    pending_numbers: Vec<u64>,
    pending_times: Vec<u64>,
    since_flush: u64,
    flush_interval: Option<std::time::Duration>,
    last_flush: std::time::Instant,
    /// A write failed: the file is kept as of its last flush (see [`freeze`]).
    frozen: bool,
    /// Per-frame metadata columns.
    columns: Columns,
    /// A series' description (`series/…` metadata) was written as NeXus fields.
    series_written: bool,
}

/// Per-frame `frame_number`/`timestamp` values are written in batches of this many (and
/// at every flush), instead of one tiny HDF5 write per frame.
const META_BATCH: usize = 1024;

/// Creates `path` (no clobbering unless `overwrite`) with a readable reason on failure.
pub(super) fn create_file(path: &Path, swmr: bool, overwrite: bool) -> Result<File, WriteError> {
    if !overwrite && path.exists() {
        return Err(WriteError::Exists {
            path: path.to_owned(),
        });
    }
    let mut builder = File::with_options();
    if swmr {
        builder.with_fapl(|p| p.libver_v110());
    }
    let created = if overwrite {
        builder.create(path)
    } else {
        builder.create_excl(path)
    };
    let file = created.map_err(|e| {
        // HDF5's message is long and generic; the OS says it plainly.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let reason = if dir.exists() && !dir.is_dir() {
            format!("{} is not a directory", dir.display())
        } else if !dir.exists() {
            format!("directory {} does not exist", dir.display())
        } else if path.exists() && !overwrite {
            "the file exists; set `overwrite = true` to replace it".to_owned()
        } else {
            match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
            {
                Err(io) => io.to_string(),
                Ok(_) => describe(&e),
            }
        };
        WriteError::Create {
            path: path.to_owned(),
            reason,
        }
    })?;
    close_on_exec(&file);
    Ok(file)
}

impl NexusFile {
    /// Creates the file and writes the frame-independent layout.
    pub fn create(
        path: &Path,
        opts: &FileOptions,
        start_time: &str,
        preset: Vec<(String, MetaKind)>,
    ) -> Result<Self, WriteError> {
        filters::register()?;
        let file = create_file(path, opts.swmr, opts.overwrite)?;
        write_skeleton(&file, path, opts, start_time)?;
        Ok(NexusFile {
            path: path.to_owned(),
            file: Some(file),
            sets: None,
            dataset: opts.dataset.clone(),
            swmr: opts.swmr,
            swmr_started: false,
            flush_every: opts.flush_every,
            frames: 0,
            meta_written: 0,
            pending_numbers: Vec::new(),
            pending_times: Vec::new(),
            since_flush: 0,
            flush_interval: opts.flush_interval,
            last_flush: std::time::Instant::now(),
            frozen: false,
            columns: Columns::new(&DatasetPath::parse(&opts.dataset).parent(), preset),
            series_written: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames appended so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Keys and types of the per-frame metadata columns.
    pub fn meta_kinds(&self) -> Vec<(String, MetaKind)> {
        self.columns.kinds()
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("file open until close")
    }

    /// Creates the frame datasets for `format` before the first frame (the run's format is
    /// known from the pipeline): a run that ends without frames still leaves the dataset,
    /// shaped `(0, height, width)`. SWMR writing starts with the first frame, once its
    /// metadata columns exist.
    pub fn prepare(&mut self, format: &FrameFormat) -> Result<(), WriteError> {
        if self.sets.is_none() {
            self.begin(format, &[], false)?;
        }
        Ok(())
    }

    /// Starts SWMR writing (when asked for and not started yet) with the metadata columns
    /// of `cells` added first: columns cannot be added once SWMR writing has begun.
    fn start_swmr(&mut self, cells: &[(String, MetaCell)]) -> Result<(), WriteError> {
        if !self.swmr || self.swmr_started {
            return Ok(());
        }
        let file = self.file.as_ref().expect("file open until close");
        self.columns
            .add_keys(file, self.frames, cells)
            .map_err(hdf5_err(&self.path, "create frame_metadata datasets"))?;
        self.columns.close_for_new_keys();
        self.swmr_started = true;
        // Groups are closed (dropped above); only datasets stay open.
        self.file()
            .start_swmr()
            .map_err(hdf5_err(&self.path, "start SWMR writing"))
    }

    /// Creates the frame datasets for `format` and, with SWMR and `swmr_now`, starts SWMR
    /// writing.
    fn begin(
        &mut self,
        format: &FrameFormat,
        cells: &[(String, MetaCell)],
        swmr_now: bool,
    ) -> Result<(), WriteError> {
        let dp = DatasetPath::parse(&self.dataset);
        let (h, w) = (format.height as usize, format.width as usize);
        let file = self.file();
        let sets = (|| -> hdf5::Result<Sets> {
            let group = file.group(&dp.parent())?;
            let mut builder = group.new_dataset_builder().chunk((1, h, w));
            match format.compression {
                Compression::None => {}
                Compression::Lz4 => builder = builder.add_filter(lz4chunk::FILTER_ID, &[]),
                Compression::Bslz4 => {
                    builder =
                        builder.add_filter(bitshuffle::FILTER_ID, &[0, bitshuffle::COMPRESS_LZ4]);
                }
            }
            let extents = SimpleExtents::from_vec(vec![
                Extent::resizable(0),
                Extent::fixed(h),
                Extent::fixed(w),
            ]);
            let data = empty_of(builder, format.dtype)
                .shape(extents)
                .create(dp.name)?;
            attr_str(&data, "interpretation", "image")?;
            let per_frame = |name: &str| {
                group
                    .new_dataset_builder()
                    .chunk(4096)
                    .empty::<u64>()
                    .shape(SimpleExtents::from_vec(vec![Extent::resizable(0)]))
                    .create(name)
            };
            let frame_number = per_frame("frame_number")?;
            let timestamp = per_frame("timestamp")?;
            describe_per_frame(&frame_number, &timestamp)?;
            let (frame_count, end_time) = create_run_fields(file, &dp)?;
            file.group(&format!("/{}/data", dp.entry))?
                .link_hard(&self.dataset, "data")?;
            Ok(Sets {
                data,
                frame_number,
                timestamp,
                frame_count,
                end_time,
                height: h as u64,
                width: w as u64,
            })
        })()
        .map_err(hdf5_err(&self.path, format!("create {}", self.dataset)))?;
        self.sets = Some(sets);
        let file = self.file.as_ref().expect("file open until close");
        self.columns
            .add_keys(file, 0, cells)
            .and_then(|()| self.columns.add_preset(file))
            .map_err(hdf5_err(&self.path, "create frame_metadata datasets"))?;
        if swmr_now {
            self.start_swmr(&[])?;
        }
        Ok(())
    }

    /// Appends one chunk (one frame, already in the dataset's filter format). After a
    /// failure the file is frozen at its last flush and refuses further frames.
    pub fn append(
        &mut self,
        format: &FrameFormat,
        frame_number: u64,
        timestamp_ns: u64,
        chunk: &[u8],
        cells: &[(String, MetaCell)],
    ) -> Result<(), WriteError> {
        if self.frozen {
            return Err(WriteError::Hdf5 {
                path: self.path.clone(),
                op: format!("append frame {frame_number} to {}", self.dataset),
                reason: "an earlier write failed; the file is kept as of its last flush".into(),
            });
        }
        let result = self.append_inner(format, frame_number, timestamp_ns, chunk, cells);
        if matches!(result, Err(WriteError::Hdf5 { .. })) {
            self.frozen = true;
            freeze(self.file(), &self.path);
        }
        result
    }

    fn append_inner(
        &mut self,
        format: &FrameFormat,
        frame_number: u64,
        timestamp_ns: u64,
        chunk: &[u8],
        cells: &[(String, MetaCell)],
    ) -> Result<(), WriteError> {
        self.write_series(frame_number, cells)?;
        if self.sets.is_none() {
            self.begin(format, cells, true)?;
        } else {
            self.start_swmr(cells)?;
        }
        let sets = self.sets.as_ref().expect("begun");
        let n = self.frames;
        let dims = [n + 1, sets.height, sets.width];
        let offset = [n, 0, 0];
        let op = || format!("append frame {frame_number} to {}", self.dataset);
        let id = sets.data.id();
        let written = checked(&self.path, op, || {
            // SAFETY: valid dataset id; `dims`/`offset` have rank 3 like the dataset; `chunk`
            // is `chunk.len()` readable bytes.
            unsafe {
                if H5Dset_extent(id, dims.as_ptr()) < 0 {
                    return -1;
                }
                H5Dwrite_chunk(
                    id,
                    H5P_DEFAULT,
                    0,
                    offset.as_ptr(),
                    chunk.len(),
                    chunk.as_ptr().cast(),
                )
            }
        });
        if written.is_err() {
            // Keep the extent at the frames really written, so that the file never
            // announces a frame it does not hold (e.g. when the disk is full).
            let old = [n, sets.height, sets.width];
            // SAFETY: valid dataset id; `old` has the dataset's rank, 3.
            hdf5::sync::sync(|| unsafe { H5Dset_extent(id, old.as_ptr()) });
            return written;
        }
        if !cells.is_empty() {
            let file = self.file.as_ref().expect("file open until close");
            self.columns.add_keys(file, n, cells).map_err(hdf5_err(
                &self.path,
                format!("add frame_metadata of frame {frame_number}"),
            ))?;
        }
        self.columns.push(cells);
        self.frames += 1;
        self.pending_numbers.push(frame_number);
        self.pending_times.push(timestamp_ns);
        if self.pending_numbers.len() >= META_BATCH {
            self.write_meta()?;
        }
        self.since_flush += 1;
        if self.flush_every > 0 && self.since_flush >= self.flush_every || self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// The first frame carrying a series' description (`series/…` metadata) writes it as
    /// NeXus fields, before SWMR writing starts (no datasets can be created after).
    fn write_series(
        &mut self,
        frame_number: u64,
        cells: &[(String, MetaCell)],
    ) -> Result<(), WriteError> {
        if self.series_written
            || !cells
                .iter()
                .any(|(k, _)| daqflow_sdk::series::is_series_key(k))
        {
            return Ok(());
        }
        self.series_written = true;
        if self.swmr_started {
            log::warn!(
                "frame {frame_number} describes a series, but SWMR writing started already: \
                 its description is not recorded in {} (put `{{series}}` in `path` for a file per series)",
                self.path.display()
            );
            return Ok(());
        }
        super::series::write(self.file(), &self.dataset, cells).map_err(hdf5_err(
            &self.path,
            format!("write the series description of frame {frame_number}"),
        ))
    }

    fn write_meta(&mut self) -> Result<(), WriteError> {
        let Some(sets) = &self.sets else {
            return Ok(());
        };
        if self.pending_numbers.is_empty() {
            return Ok(());
        }
        let (a, b) = (self.meta_written as usize, self.frames as usize);
        (|| -> hdf5::Result<()> {
            for (ds, values) in [
                (&sets.frame_number, &self.pending_numbers),
                (&sets.timestamp, &self.pending_times),
            ] {
                ds.resize(b)?;
                ds.write_slice(values.as_slice(), s![a..b])?;
            }
            self.columns.write(self.frames)?;
            sets.frame_count.write_scalar(&self.frames)
        })()
        .map_err(hdf5_err(
            &self.path,
            format!("write frame_number/timestamp/frame_metadata of frames {a}..{b}"),
        ))?;
        self.meta_written = self.frames;
        self.pending_numbers.clear();
        self.pending_times.clear();
        Ok(())
    }

    /// Frames are pending and `flush_interval` has passed since the last flush.
    fn flush_due(&self) -> bool {
        self.since_flush > 0
            && self
                .flush_interval
                .is_some_and(|i| self.last_flush.elapsed() >= i)
    }

    /// Flushes when frames are pending and `flush_interval` has passed; a failure freezes
    /// the file like a failed append.
    pub fn flush_if_due(&mut self) -> Result<(), WriteError> {
        if self.frozen || !self.flush_due() {
            return Ok(());
        }
        let result = self.flush();
        if result.is_err() {
            self.frozen = true;
            freeze(self.file(), &self.path);
        }
        result
    }

    /// Writes pending per-frame values and flushes the file to disk, so that a crash
    /// leaves it readable with every frame so far.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.write_meta()?;
        self.since_flush = 0;
        self.last_flush = std::time::Instant::now();
        self.file().flush().map_err(hdf5_err(&self.path, "flush"))
    }

    /// Records the end time and frame count, flushes and closes. Returns frames written.
    pub fn close(mut self, end_time: &str) -> Result<u64, WriteError> {
        if self.frozen {
            // The error that froze the file was reported; closing only releases it.
            drop(self.sets.take());
            self.columns.close();
            let _ = self.file.take().map(File::close);
            return Ok(self.frames);
        }
        let result = self.finish_fields(end_time);
        drop(self.sets.take());
        self.columns.close();
        let file = self.file.take().expect("file open until close");
        let closed = file.close().map_err(hdf5_err(&self.path, "close"));
        result.and(closed).map(|()| self.frames)
    }

    fn finish_fields(&mut self, end_time: &str) -> Result<(), WriteError> {
        self.write_meta()?;
        let dp = DatasetPath::parse(&self.dataset);
        let path = self.path.clone();
        let (count, end) = match &self.sets {
            Some(s) => (s.frame_count.clone(), s.end_time.clone()),
            None => create_run_fields(self.file(), &dp)
                .map_err(hdf5_err(&path, "create frame_count"))?,
        };
        count
            .write_scalar(&self.frames)
            .map_err(hdf5_err(&path, "write frame_count"))?;
        end.write_scalar(&time_string(end_time))
            .map_err(hdf5_err(&path, "write end_time"))?;
        self.file().flush().map_err(hdf5_err(&path, "flush"))
    }
}

//! The HDF5 side: NeXus file layout, one-frame-per-chunk direct chunk writes, SWMR,
//! periodic flush, and rotation into numbered parts with a master file whose virtual
//! datasets present every part as one `data`.
//!
//! Everything here runs on the single writer thread of a sink and takes the process-wide
//! HDF5 lock (`hdf5::sync::sync`) around each library call; compression happens elsewhere.
//! Layout of a file (the dataset path is configurable, shown with its default):
//!
//! ```text
//! /                          NX_class=NXroot, default=entry, creator, file_name, file_time
//! /entry                     NXentry: start_time, end_time, frame_count, entry_identifier,
//!                            program_name, writer_settings (NXnote, JSON)
//! /entry/instrument          NXinstrument
//! /entry/instrument/detector NXdetector: data [frame, y, x] (chunk = one frame),
//!                            frame_number [frame], timestamp [frame] (ns since epoch),
//!                            frame_metadata/<key> [frame] (see `meta.rs`)
//! /entry/data                NXdata, signal=data: `data` hard-linked to the detector data
//! ```
//!
//! Traps handled (see FINDINGS.md): every attribute is created before SWMR starts; groups
//! are closed before `H5Fstart_swmr_write`; SWMR files use the 1.10 format bounds so that
//! HDF5 1.10 readers open them; a non-SWMR file keeps the oldest format, whose superblock
//! has no "open for writing" flag, so a killed writer leaves a file readers open directly.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdf5::types::{FixedAscii, VarLenUnicode};
use hdf5::{Dataset, Extent, File, Group, H5Type, Location, SimpleExtents};
use hdf5_sys::h5d::{H5Dset_extent, H5Dwrite_chunk};
use hdf5_sys::h5p::H5P_DEFAULT;
use ndarray::s;

use crate::config::Compression;
use crate::filters::{self, FilterError};
use crate::meta::{self, Columns, MetaCell, MetaKind};
use crate::{bitshuffle, lz4chunk};

/// Element type of a frame, as stored in the file (native little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `f32`
    F32,
}

impl ElemType {
    /// The name used in settings and messages (`"u16"`).
    pub fn name(self) -> &'static str {
        match self {
            ElemType::U8 => "u8",
            ElemType::U16 => "u16",
            ElemType::U32 => "u32",
            ElemType::F32 => "f32",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElemType::U8 => 1,
            ElemType::U16 => 2,
            ElemType::U32 => 4,
            ElemType::F32 => 4,
        }
    }
}

/// What every frame of a file has in common; fixed by the first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFormat {
    /// Element type.
    pub elem: ElemType,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Chunk filter of the dataset.
    pub compression: Compression,
}

impl FrameFormat {
    /// Uncompressed bytes of one frame.
    pub fn frame_bytes(&self) -> usize {
        self.height as usize * self.width as usize * self.elem.size()
    }

    /// Worst-case chunk size, for buffers.
    pub fn max_chunk_bytes(&self) -> usize {
        let n = self.frame_bytes();
        match self.compression {
            Compression::None => n,
            Compression::Lz4 => lz4chunk::max_compressed_len(n),
            Compression::Bslz4 => bitshuffle::max_compressed_len(n, self.elem.size()),
        }
    }
}

/// How files are written; shared by the parts and the master of a run.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// SWMR mode.
    pub swmr: bool,
    /// Flush every N frames; 0 = at close only.
    pub flush_every: u64,
    /// Also flush when this long has passed since the last flush and frames are pending.
    pub flush_interval: Option<std::time::Duration>,
    /// Replace existing files.
    pub overwrite: bool,
    /// Absolute HDF5 path of the frame dataset.
    pub dataset: String,
    /// Settings recorded in the file (JSON).
    pub settings_json: String,
    /// Run id recorded as `entry_identifier`.
    pub run_id: String,
}

/// A failed file operation; the message names the file and the operation.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file exists and `overwrite` is off.
    #[error("create {}: the file exists; set `overwrite = true` to replace it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be created (directory missing, permissions, …).
    #[error("create {}: {reason}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An HDF5 call failed.
    #[error("{op} in {}: {reason}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done (`append frame 812 to /entry/instrument/detector/data`).
        op: String,
        /// HDF5's reason, with the OS error when there is one.
        reason: String,
    },
    /// A frame that does not match the file's dataset.
    #[error("append frame {frame} to {}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Frame number.
        frame: u64,
        /// The mismatch.
        reason: String,
    },
    /// The compression filters could not be registered.
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// The current HDF5 error stack as one line: outermost operation, then the innermost
/// cause (which carries the OS error text, e.g. `No space left on device`).
pub(crate) fn last_hdf5_error() -> String {
    describe(&hdf5::Error::query().unwrap_or_else(|e| e))
}

fn describe(e: &hdf5::Error) -> String {
    let Some(stack) = e.stack() else {
        return e.to_string();
    };
    let descs: Vec<String> = stack
        .iter()
        .map(|f| os_error(f.desc()).unwrap_or_else(|| f.desc().to_owned()))
        .collect();
    match (descs.first(), descs.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {last}"),
        (Some(first), _) => first.clone(),
        _ => e.to_string(),
    }
}

/// `… errno = 28, error message = 'No space left on device', …` → the OS message.
fn os_error(desc: &str) -> Option<String> {
    let start = desc.find("error message = '")? + "error message = '".len();
    let len = desc[start..].find('\'')?;
    let errno = desc
        .find("errno = ")
        .and_then(|i| desc[i + 8..].split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("?");
    Some(format!("{} (errno {errno})", &desc[start..start + len]))
}

fn hdf5_err(path: &Path, op: impl Into<String>) -> impl FnOnce(hdf5::Error) -> WriteError {
    let path = path.to_owned();
    let op = op.into();
    move |e| WriteError::Hdf5 {
        path,
        op,
        reason: describe(&e),
    }
}

/// Runs a raw HDF5 call under the library lock; a negative status becomes an error with
/// the error stack captured before the lock is released.
fn checked(
    path: &Path,
    op: impl FnOnce() -> String,
    call: impl FnOnce() -> i32,
) -> Result<(), WriteError> {
    let failure = hdf5::sync::sync(|| {
        if call() < 0 {
            Some(last_hdf5_error())
        } else {
            None
        }
    });
    match failure {
        None => Ok(()),
        Some(reason) => Err(WriteError::Hdf5 {
            path: path.to_owned(),
            op: op(),
            reason,
        }),
    }
}

/// UTC time as ISO 8601 with microseconds: `2026-11-22T00:06:11.123456Z`.
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

type TimeString = FixedAscii<32>;

fn time_string(s: &str) -> TimeString {
    TimeString::from_ascii(s.as_bytes()).unwrap_or_default()
}

fn attr_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::Internal(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&v)
}

fn dataset_str(group: &Group, name: &str, value: &str) -> hdf5::Result<Dataset> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::Internal(format!("{e}")))?;
    let ds = group.new_dataset::<VarLenUnicode>().create(name)?;
    ds.write_scalar(&v)?;
    Ok(ds)
}

/// The pieces of the configured dataset path: `/entry/instrument/detector/data` →
/// entry `entry`, groups `[instrument, detector]`, name `data`.
struct DatasetPath<'a> {
    entry: &'a str,
    groups: Vec<&'a str>,
    name: &'a str,
}

impl<'a> DatasetPath<'a> {
    fn parse(path: &'a str) -> Self {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let name = parts.pop().unwrap_or("data");
        let entry = if parts.is_empty() {
            "entry"
        } else {
            parts.remove(0)
        };
        DatasetPath {
            entry,
            groups: parts,
            name,
        }
    }

    fn parent(&self) -> String {
        let mut p = format!("/{}", self.entry);
        for g in &self.groups {
            p.push('/');
            p.push_str(g);
        }
        p
    }
}

/// Writes the part of the layout that does not depend on frames.
fn write_skeleton(
    file: &File,
    path: &Path,
    opts: &FileOptions,
    start_time: &str,
) -> Result<(), WriteError> {
    let err = |op: &str| hdf5_err(path, op.to_owned());
    let dp = DatasetPath::parse(&opts.dataset);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (|| -> hdf5::Result<()> {
        attr_str(file, "NX_class", "NXroot")?;
        attr_str(file, "default", dp.entry)?;
        attr_str(
            file,
            "creator",
            concat!("daqflow-plugin-hdf5 ", env!("CARGO_PKG_VERSION")),
        )?;
        attr_str(file, "file_name", &file_name)?;
        attr_str(file, "file_time", start_time)?;
        let v = hdf5::library_version();
        attr_str(file, "HDF5_Version", &format!("{}.{}.{}", v.0, v.1, v.2))?;
        Ok(())
    })()
    .map_err(err("write root attributes"))?;

    (|| -> hdf5::Result<()> {
        let entry = file.create_group(dp.entry)?;
        attr_str(&entry, "NX_class", "NXentry")?;
        attr_str(&entry, "default", "data")?;
        entry
            .new_dataset::<TimeString>()
            .create("start_time")?
            .write_scalar(&time_string(start_time))?;
        dataset_str(&entry, "entry_identifier", &opts.run_id)?;
        let program = dataset_str(&entry, "program_name", "daqflow")?;
        attr_str(&program, "version", env!("CARGO_PKG_VERSION"))?;
        let note = entry.create_group("writer_settings")?;
        attr_str(&note, "NX_class", "NXnote")?;
        dataset_str(&note, "type", "application/json")?;
        dataset_str(
            &note,
            "description",
            "settings of the daqflow hdf5 sink that wrote this file",
        )?;
        dataset_str(&note, "data", &opts.settings_json)?;
        let mut group = entry.clone();
        for (i, name) in dp.groups.iter().enumerate() {
            group = group.create_group(name)?;
            let class = if i + 1 == dp.groups.len() {
                "NXdetector"
            } else if *name == "instrument" {
                "NXinstrument"
            } else {
                "NXcollection"
            };
            attr_str(&group, "NX_class", class)?;
        }
        let nxdata = entry.create_group("data")?;
        attr_str(&nxdata, "NX_class", "NXdata")?;
        attr_str(&nxdata, "signal", "data")?;
        Ok(())
    })()
    .map_err(err("write NeXus groups"))
}

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

fn empty_of(builder: hdf5::DatasetBuilder, elem: ElemType) -> hdf5::DatasetBuilderEmpty {
    match elem {
        ElemType::U8 => builder.empty::<u8>(),
        ElemType::U16 => builder.empty::<u16>(),
        ElemType::U32 => builder.empty::<u32>(),
        ElemType::F32 => builder.empty::<f32>(),
    }
}

fn create_scalar<T: H5Type>(group: &Group, name: &str, value: &T) -> hdf5::Result<Dataset> {
    let ds = group.new_dataset::<T>().create(name)?;
    ds.write_scalar(value)?;
    Ok(ds)
}

/// Creates `frame_count` and `end_time` in the entry (before SWMR: no creation after it).
fn create_run_fields(file: &File, dp: &DatasetPath<'_>) -> hdf5::Result<(Dataset, Dataset)> {
    let entry = file.group(dp.entry)?;
    let count = create_scalar(&entry, "frame_count", &0u64)?;
    let end = create_scalar(&entry, "end_time", &time_string(""))?;
    Ok((count, end))
}

fn describe_per_frame(frame_number: &Dataset, timestamp: &Dataset) -> hdf5::Result<()> {
    attr_str(
        frame_number,
        "long_name",
        "frame number given by the source",
    )?;
    attr_str(timestamp, "units", "ns")?;
    attr_str(
        timestamp,
        "long_name",
        "acquisition time, ns since 1970-01-01T00:00:00Z",
    )?;
    attr_str(timestamp, "start", "1970-01-01T00:00:00Z")
}

/// One HDF5 file being written: a standalone file, or one part of a rotated run.
pub struct NexusFile {
    path: PathBuf,
    file: Option<File>,
    sets: Option<Sets>,
    dataset: String,
    swmr: bool,
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
}

/// Per-frame `frame_number`/`timestamp` values are written in batches of this many (and
/// at every flush), instead of one tiny HDF5 write per frame.
const META_BATCH: usize = 1024;

/// Creates `path` (no clobbering unless `overwrite`) with a readable reason on failure.
fn create_file(path: &Path, swmr: bool, overwrite: bool) -> Result<File, WriteError> {
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

/// Marks the file's descriptor close-on-exec. HDF5 opens files without `O_CLOEXEC`, so a
/// child process started while a file is open would inherit the descriptor — and with it
/// the file lock, keeping readers out after we close the file.
fn close_on_exec(file: &File) {
    if let Some(fd) = descriptor(file) {
        // SAFETY: a descriptor HDF5 holds open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// The OS descriptor under an HDF5 file (sec2 driver).
fn descriptor(file: &File) -> Option<libc::c_int> {
    let mut handle: *mut std::ffi::c_void = std::ptr::null_mut();
    let status = hdf5::sync::sync(|| {
        // SAFETY: valid file id; HDF5 stores a pointer to its descriptor in `handle`.
        unsafe { hdf5_sys::h5f::H5Fget_vfd_handle(file.id(), H5P_DEFAULT, &mut handle) }
    });
    // SAFETY: with the default sec2 driver the handle points to the `int` descriptor.
    (status >= 0 && !handle.is_null()).then(|| unsafe { *handle.cast::<libc::c_int>() })
}

/// After a failed write (disk full, I/O error) the file on disk is consistent as of its
/// last flush, and closing it normally would write half of the newer metadata (the
/// superblock fits, the blocks it points to do not) and break it. Swapping HDF5's
/// descriptor for a read-only one makes every later write fail, so the file stays at its
/// last flush: with `flush_every_frames`, readable with every frame up to it.
fn freeze(file: &File, path: &Path) {
    let Some(fd) = descriptor(file) else { return };
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: plain descriptor calls; `fd` is HDF5's open descriptor, replaced in place.
    unsafe {
        let ro = libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if ro >= 0 {
            libc::dup2(ro, fd);
            libc::close(ro);
        }
    }
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

    /// Creates the frame datasets for `format` and, with SWMR, starts SWMR writing.
    fn begin(
        &mut self,
        format: &FrameFormat,
        cells: &[(String, MetaCell)],
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
            let data = empty_of(builder, format.elem)
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
        if self.swmr {
            self.columns.close_for_new_keys();
            // Groups are closed (dropped above); only datasets stay open.
            self.file()
                .start_swmr()
                .map_err(hdf5_err(&self.path, "start SWMR writing"))?;
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
        if self.sets.is_none() {
            self.begin(format, cells)?;
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
            // SAFETY: as above; `offset` is `[n, 0, 0]`, so its first entries are the old extent.
            let old = [n, sets.height, sets.width];
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

/// One finished part of a rotated run.
#[derive(Debug, Clone)]
pub struct PartRecord {
    /// File name, relative to the master's directory.
    pub file_name: String,
    /// Frames in it.
    pub frames: u64,
    /// Its per-frame metadata columns.
    pub meta: Vec<(String, MetaKind)>,
}

/// Writes (atomically: temporary file + rename) a master file whose `data`,
/// `frame_number` and `timestamp` are virtual datasets over `parts`.
pub fn write_master(
    path: &Path,
    opts: &FileOptions,
    format: Option<&FrameFormat>,
    parts: &[PartRecord],
    start_time: &str,
    end_time: &str,
) -> Result<(), WriteError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let file = create_file(&tmp, false, true)?;
    write_skeleton(&file, path, opts, start_time)?;
    let dp = DatasetPath::parse(&opts.dataset);
    let total: u64 = parts.iter().map(|p| p.frames).sum();
    (|| -> hdf5::Result<()> {
        let (count, end) = create_run_fields(&file, &dp)?;
        count.write_scalar(&total)?;
        end.write_scalar(&time_string(end_time))?;
        let Some(format) = format else { return Ok(()) };
        let group = file.group(&dp.parent())?;
        let (h, w, n) = (
            format.height as usize,
            format.width as usize,
            total as usize,
        );
        let mut data = group.new_dataset_builder();
        let mut frame_number = group.new_dataset_builder();
        let mut timestamp = group.new_dataset_builder();
        let mut offset = 0usize;
        for part in parts.iter().filter(|p| p.frames > 0) {
            let k = part.frames as usize;
            data = data.virtual_map(
                &part.file_name,
                &opts.dataset,
                (k, h, w),
                (.., .., ..),
                (n, h, w),
                (offset..offset + k, .., ..),
            );
            let parent = dp.parent();
            for (b, field) in [
                (&mut frame_number, "frame_number"),
                (&mut timestamp, "timestamp"),
            ] {
                *b = b.clone().virtual_map(
                    &part.file_name,
                    format!("{parent}/{field}"),
                    k,
                    ..,
                    n,
                    offset..offset + k,
                );
            }
            offset += k;
        }
        let data = empty_of(data, format.elem)
            .shape((n, h, w))
            .create(dp.name)?;
        attr_str(&data, "interpretation", "image")?;
        let frame_number = frame_number
            .empty::<u64>()
            .shape(n)
            .create("frame_number")?;
        let timestamp = timestamp.empty::<u64>().shape(n).create("timestamp")?;
        describe_per_frame(&frame_number, &timestamp)?;
        let mut keys: Vec<(String, MetaKind)> = Vec::new();
        for (key, kind) in parts.iter().flat_map(|p| p.meta.iter()) {
            if !keys.iter().any(|(k, _)| k == key) {
                keys.push((key.clone(), *kind));
            }
        }
        if !keys.is_empty() {
            let g = group.create_group(meta::GROUP)?;
            attr_str(&g, "NX_class", "NXcollection")?;
            let source = format!("{}/{}", dp.parent(), meta::GROUP);
            for (key, kind) in keys {
                let sources: Vec<(String, u64, bool)> = parts
                    .iter()
                    .map(|p| {
                        (
                            p.file_name.clone(),
                            p.frames,
                            p.meta.contains(&(key.clone(), kind)),
                        )
                    })
                    .collect();
                meta::create_virtual_column(&g, &key, kind, &source, &sources, n)?;
            }
        }
        file.group(&format!("/{}/data", dp.entry))?
            .link_hard(&opts.dataset, "data")?;
        Ok(())
    })()
    .map_err(hdf5_err(path, "write virtual datasets of the master file"))?;
    file.close().map_err(hdf5_err(path, "close master file"))?;
    std::fs::rename(&tmp, path).map_err(|e| WriteError::Create {
        path: path.to_owned(),
        reason: format!("rename {}: {e}", tmp.display()),
    })
}

/// A run's output: one file, or parts + master when `frames_per_file > 0`.
pub struct RunWriter {
    base: PathBuf,
    opts: FileOptions,
    frames_per_file: u64,
    current: Option<NexusFile>,
    parts: Vec<PartRecord>,
    format: Option<FrameFormat>,
    start_time: String,
    total: u64,
}

impl RunWriter {
    /// Creates the first file now, so that a bad path fails at start, not at frame 1.
    pub fn create(
        base: PathBuf,
        frames_per_file: u64,
        opts: FileOptions,
    ) -> Result<Self, WriteError> {
        filters::register()?;
        let start_time = iso8601(SystemTime::now());
        let mut w = RunWriter {
            base,
            opts,
            frames_per_file,
            current: None,
            parts: Vec::new(),
            format: None,
            start_time,
            total: 0,
        };
        let first = if frames_per_file == 0 {
            w.base.clone()
        } else {
            if !w.opts.overwrite && w.base.exists() {
                return Err(WriteError::Exists {
                    path: w.base.clone(),
                });
            }
            w.part_path(1)
        };
        w.current = Some(NexusFile::create(
            &first,
            &w.opts,
            &w.start_time,
            Vec::new(),
        )?);
        if frames_per_file > 0 {
            write_master(&w.base, &w.opts, None, &[], &w.start_time, "")?;
        }
        Ok(w)
    }

    /// Path of part `index` (1-based): `<stem>_data_000001.h5` beside the master.
    pub fn part_path(&self, index: usize) -> PathBuf {
        let stem = self
            .base
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .base
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "h5".into());
        self.base
            .with_file_name(format!("{stem}_data_{index:06}.{ext}"))
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.total
    }

    /// The file being written (a part with rotation).
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(NexusFile::path)
    }

    /// Appends one frame's chunk. The first frame fixes the format of the run.
    pub fn append(
        &mut self,
        format: &FrameFormat,
        frame_number: u64,
        timestamp_ns: u64,
        chunk: &[u8],
        cells: &[(String, MetaCell)],
    ) -> Result<(), WriteError> {
        match &self.format {
            None => self.format = Some(*format),
            Some(f) if f != format => {
                return Err(WriteError::Format {
                    path: self.current_path().unwrap_or(&self.base).to_owned(),
                    frame: frame_number,
                    reason: format!("frame is {format:?} but the dataset holds {f:?}"),
                });
            }
            Some(_) => {}
        }
        if self.frames_per_file > 0
            && self
                .current
                .as_ref()
                .is_some_and(|c| c.frames() >= self.frames_per_file)
        {
            self.rotate()?;
        }
        let current = self.current.as_mut().ok_or_else(|| WriteError::Format {
            path: self.base.clone(),
            frame: frame_number,
            reason: "the writer was closed after an earlier error".into(),
        })?;
        current.append(format, frame_number, timestamp_ns, chunk, cells)?;
        self.total += 1;
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), WriteError> {
        if let Some(cur) = self.current.take() {
            let file_name = cur
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta = cur.meta_kinds();
            let frames = cur.close(&iso8601(SystemTime::now()))?;
            self.parts.push(PartRecord {
                file_name,
                frames,
                meta,
            });
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), WriteError> {
        self.close_current()?;
        write_master(
            &self.base,
            &self.opts,
            self.format.as_ref(),
            &self.parts,
            &self.start_time,
            "",
        )?;
        let next = self.part_path(self.parts.len() + 1);
        let mut kinds: Vec<(String, MetaKind)> = Vec::new();
        for (key, kind) in self.parts.iter().flat_map(|p| p.meta.iter()) {
            if !kinds.iter().any(|(k, _)| k == key) {
                kinds.push((key.clone(), *kind));
            }
        }
        self.current = Some(NexusFile::create(
            &next,
            &self.opts,
            &self.start_time,
            kinds,
        )?);
        Ok(())
    }

    /// Flushes the current file.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.current.as_mut().map_or(Ok(()), NexusFile::flush)
    }

    /// Flushes the current file if its `flush_interval` has passed with frames pending.
    pub fn flush_if_due(&mut self) -> Result<(), WriteError> {
        self.current
            .as_mut()
            .map_or(Ok(()), NexusFile::flush_if_due)
    }

    /// Closes the current file and, with rotation, writes the final master. Returns the
    /// number of frames written.
    pub fn finish(mut self) -> Result<u64, WriteError> {
        self.close_current()?;
        if self.frames_per_file > 0 {
            let end = iso8601(SystemTime::now());
            write_master(
                &self.base,
                &self.opts,
                self.format.as_ref(),
                &self.parts,
                &self.start_time,
                &end,
            )?;
        }
        Ok(self.total)
    }
}

//! What the files hold, found before the first frame: [`Plan::open`] expands `path` (a
//! file, a glob, a VDS master), opens each file's dataset, checks its shape, pixel type
//! and filters, and decides how each frame is read ([`Access`]). The frame format of the
//! run comes from here, so `output_format` and `validate` know it without a frame.
//!
//! A virtual dataset's sources are resolved in `vds.rs`.

use std::path::{Path, PathBuf};

use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::{DType, Encoding, FrameFormat};
use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5::{Dataset, File, OpenMode};
use hdf5_sys::h5p::{H5Pget_filter2, H5Pget_nfilters};
use hdf5_sys::h5z::H5Zfilter_avail;

use crate::config::Settings;
use crate::error::{ReplayError, cwd_note};

/// How the frames of one dataset are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// One chunk per frame, LZ4 or bitshuffle-LZ4: direct chunk read, passed on encoded.
    Direct(Encoding),
    /// HDF5 reads each frame, decoding any filter and converting the byte order.
    Decoded,
}

/// A dataset holding consecutive frames of an input: the input's own dataset, or one
/// source of its virtual dataset.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The file.
    pub file: PathBuf,
    /// The dataset in it.
    pub dataset: String,
    /// Index, within the input, of the segment's first frame.
    pub first: u64,
    /// Frames in the segment.
    pub frames: u64,
    /// How its frames are read.
    pub access: Access,
}

/// One file of the replay (a glob gives several, in name order).
#[derive(Debug, Clone)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Frames of its dataset.
    pub frames: u64,
    /// Where its frames are read, in order, covering `[0, frames)`.
    pub segments: Vec<Segment>,
    /// The group holding `frame_number`, `timestamp` and `frame_metadata`, when any.
    pub meta_group: Option<String>,
    /// It has a `timestamp` dataset.
    pub has_timestamps: bool,
    /// It was open for SWMR writing: replay what it held when opened.
    pub swmr: bool,
}

/// Everything a replay reads, resolved from the settings.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The files, in replay order.
    pub inputs: Vec<Input>,
    /// The frames' format (the first file's; the others must match).
    pub format: FrameFormat,
    /// The dataset path.
    pub dataset: String,
}

/// The pixel type, shape and access of one dataset.
pub(crate) struct Layout {
    pub(crate) format: FrameFormat,
    pub(crate) frames: u64,
    pub(crate) access: Access,
}

impl Plan {
    /// Expands `path` and inspects every file.
    pub fn open(settings: &Settings) -> Result<Plan, ReplayError> {
        daqflow_hdf5_filters::register().map_err(|e| ReplayError::Open {
            file: PathBuf::from(&settings.path),
            detail: e.to_string(),
        })?;
        let files = expand(&settings.path)?;
        let mut inputs = Vec::with_capacity(files.len());
        let mut first: Option<(PathBuf, FrameFormat)> = None;
        for file in files {
            let (input, format) = inspect(&file, &settings.dataset)?;
            match &first {
                None => first = Some((file, format)),
                Some((first_file, f)) if !f.same_frames(&format) => {
                    return Err(ReplayError::Mismatch {
                        file,
                        dataset: settings.dataset.clone(),
                        found: format.to_string(),
                        first: first_file.clone(),
                        expected: f.to_string(),
                    });
                }
                Some(_) => {}
            }
            inputs.push(input);
        }
        let (_, format) = first.expect("expand returns at least one file");
        Ok(Plan {
            inputs,
            format,
            dataset: settings.dataset.clone(),
        })
    }

    /// Frames of all files.
    pub fn total_frames(&self) -> u64 {
        self.inputs.iter().map(|i| i.frames).sum()
    }

    /// Every file has a `timestamp` dataset.
    pub fn has_timestamps(&self) -> bool {
        self.inputs.iter().all(|i| i.has_timestamps)
    }
}

/// The files `path` names: itself, or the matches of a glob in its file name, sorted.
pub fn expand(path: &str) -> Result<Vec<PathBuf>, ReplayError> {
    let p = Path::new(path);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(vec![p.to_path_buf()]);
    }
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let no_match = || ReplayError::NoMatch {
        pattern: path.to_owned(),
        cwd_note: cwd_note(p),
    };
    let entries = std::fs::read_dir(dir).map_err(|_| no_match())?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
        .map(|e| {
            if p.parent().is_some_and(|d| !d.as_os_str().is_empty()) {
                dir.join(e.file_name())
            } else {
                PathBuf::from(e.file_name())
            }
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(no_match());
    }
    Ok(files)
}

/// `*` (any run of characters) and `?` (one character) against a file name.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Opens `file` for reading: normally, or — when a writer has it open in SWMR mode —
/// as a SWMR reader. The `bool` says which.
pub fn open_file(file: &Path, dataset: &str) -> Result<(File, bool), ReplayError> {
    if !file.exists() {
        return Err(ReplayError::NoFile {
            file: file.to_path_buf(),
            dataset: dataset.to_owned(),
            cwd_note: cwd_note(file),
        });
    }
    let plain = match File::open(file) {
        Ok(f) => return Ok((f, false)),
        Err(e) => daqflow_hdf5_filters::describe(&e),
    };
    if let Ok(f) = File::open_as(file, OpenMode::ReadSWMR) {
        return Ok((f, true));
    }
    let detail = if plain.contains("errno 11") || plain.contains("unable to lock") {
        format!(
            "{plain} — a writer holds the file (written without SWMR); replay it once it is \
             closed, or record with `swmr = true` to replay it while it is written"
        )
    } else if plain.contains("file signature not found") {
        "not an HDF5 file".to_owned()
    } else {
        plain
    };
    Err(ReplayError::Open {
        file: file.to_path_buf(),
        detail,
    })
}

/// Opens `dataset` in `f`; a missing one lists the 3-D datasets the file has.
pub fn open_dataset(f: &File, file: &Path, dataset: &str) -> Result<Dataset, ReplayError> {
    f.dataset(dataset).map_err(|_| {
        let mut names = Vec::new();
        list_datasets(f, "/", &mut names);
        let hint = if names.is_empty() {
            " (the file has no 3-D dataset)".to_owned()
        } else {
            format!(" (3-D datasets in the file: {})", names.join(", "))
        };
        ReplayError::NoDataset {
            file: file.to_path_buf(),
            dataset: dataset.to_owned(),
            hint,
        }
    })
}

/// Paths (as walked: a hard-linked dataset under each of its names) of up to 20 3-D
/// datasets below `group`, for hints.
fn list_datasets(group: &hdf5::Group, path: &str, out: &mut Vec<String>) {
    for name in group.member_names().unwrap_or_default() {
        if out.len() >= 20 {
            return;
        }
        let full = format!("{}/{name}", path.trim_end_matches('/'));
        if let Ok(d) = group.dataset(&name) {
            if d.ndim() == 3 {
                out.push(full);
            }
        } else if let Ok(g) = group.group(&name) {
            list_datasets(&g, &full, out);
        }
    }
}

/// Inspects one file: its layout, its VDS sources, its per-frame datasets.
fn inspect(file: &Path, dataset: &str) -> Result<(Input, FrameFormat), ReplayError> {
    let (f, swmr) = open_file(file, dataset)?;
    if swmr {
        log::warn!(
            "{} is being written (SWMR): replaying the frames it holds now",
            file.display()
        );
    }
    let ds = open_dataset(&f, file, dataset)?;
    let layout = layout_of(&ds, file, dataset)?;
    let mut segments = Vec::new();
    if ds.layout() == hdf5::dataset::Layout::Virtual {
        segments = crate::vds::segments(&ds, file, dataset, &layout.format)?.unwrap_or_default();
    }
    if segments.is_empty() {
        segments.push(Segment {
            file: file.to_path_buf(),
            dataset: dataset.to_owned(),
            first: 0,
            frames: layout.frames,
            access: layout.access,
        });
    }
    // Direct reads need every segment in the same encoding; otherwise HDF5 decodes.
    let encoding = match segments[0].access {
        Access::Direct(e) if segments.iter().all(|s| s.access == Access::Direct(e)) => e,
        _ => {
            for s in &mut segments {
                s.access = Access::Decoded;
            }
            Encoding::Raw
        }
    };
    let meta_group = crate::columns::find_group(&f, &ds, dataset);
    let has_timestamps = meta_group
        .as_ref()
        .is_some_and(|g| f.dataset(&format!("{g}/timestamp")).is_ok());
    let format = FrameFormat {
        encoding,
        ..layout.format
    };
    Ok((
        Input {
            path: file.to_path_buf(),
            frames: layout.frames,
            segments,
            meta_group,
            has_timestamps,
            swmr,
        },
        format,
    ))
}

/// Shape, pixel type, filters and the read access of a dataset.
pub(crate) fn layout_of(ds: &Dataset, file: &Path, dataset: &str) -> Result<Layout, ReplayError> {
    let shape = ds.shape();
    let hint = match shape.len() {
        2 => " (this is a single image; to replay it, store it as [1, y, x])",
        4 => " (a 4-D dataset holds several series or channels; write one series as [frame, y, x])",
        _ => "",
    };
    let [frames, h, w] = shape[..] else {
        return Err(ReplayError::Shape {
            file: file.to_path_buf(),
            dataset: dataset.to_owned(),
            shape,
            hint,
        });
    };
    if h == 0 || w == 0 || u32::try_from(h).is_err() || u32::try_from(w).is_err() {
        return Err(ReplayError::Shape {
            file: file.to_path_buf(),
            dataset: dataset.to_owned(),
            shape,
            hint: " (frames must be 1 to 4294967295 pixels wide and high)",
        });
    }
    let dtype_err = |found: String| ReplayError::DType {
        file: file.to_path_buf(),
        dataset: dataset.to_owned(),
        found,
    };
    let datatype = ds
        .dtype()
        .map_err(|e| dtype_err(daqflow_hdf5_filters::describe(&e)))?;
    let descriptor = datatype
        .to_descriptor()
        .map_err(|_| dtype_err("an element type replay does not know".into()))?;
    let dtype = match descriptor {
        TypeDescriptor::Unsigned(IntSize::U1) => DType::U8,
        TypeDescriptor::Unsigned(IntSize::U2) => DType::U16,
        TypeDescriptor::Unsigned(IntSize::U4) => DType::U32,
        TypeDescriptor::Float(FloatSize::U4) => DType::F32,
        other => return Err(dtype_err(describe_type(&other))),
    };
    let native = daqflow_sdk::dispatch_dtype!(dtype, T => datatype.is::<T>());
    let format = FrameFormat::raw(dtype, w as u32, h as u32);
    let filters = filters_of(ds, file, dataset)?;
    let one_frame_chunks = ds.chunk().is_some_and(|c| c[..] == [1, h, w]);
    let access = match filters[..] {
        [(id, ref cd)] if one_frame_chunks && native => {
            if id == lz4chunk::FILTER_ID {
                Access::Direct(Encoding::Lz4)
            } else if id == bitshuffle::FILTER_ID
                && cd.get(4) == Some(&bitshuffle::COMPRESS_LZ4)
                && cd.get(2).is_none_or(|&e| e as usize == dtype.size_bytes())
            {
                Access::Direct(Encoding::BsLz4)
            } else {
                Access::Decoded
            }
        }
        _ => Access::Decoded,
    };
    Ok(Layout {
        format,
        frames: frames as u64,
        access,
    })
}

/// `"i16"`, `"f64"`, `"a compound type"`.
fn describe_type(t: &TypeDescriptor) -> String {
    match t {
        TypeDescriptor::Integer(s) => format!("i{} (signed) pixels", *s as usize * 8),
        TypeDescriptor::Unsigned(s) => format!("u{} pixels", *s as usize * 8),
        TypeDescriptor::Float(s) => format!("f{} pixels", *s as usize * 8),
        TypeDescriptor::Boolean => "booleans".into(),
        TypeDescriptor::Compound(_) => "a compound type".into(),
        TypeDescriptor::Enum(_) => "an enumeration".into(),
        TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_)
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::VarLenUnicode => "strings".into(),
        other => format!("{other:?}"),
    }
}

/// The dataset's filter pipeline as `(id, cd_values)`; a filter this process cannot run
/// is an error naming it.
fn filters_of(
    ds: &Dataset,
    file: &Path,
    dataset: &str,
) -> Result<Vec<(i32, Vec<u32>)>, ReplayError> {
    let Ok(dcpl) = ds.dcpl() else {
        return Ok(Vec::new());
    };
    let id = dcpl.id();
    hdf5::sync::sync(|| {
        // SAFETY: a valid property list id.
        let n = unsafe { H5Pget_nfilters(id) };
        let mut out = Vec::new();
        for i in 0..n.max(0) as u32 {
            let mut flags = 0u32;
            let mut cd = [0u32; 16];
            let mut ncd = cd.len();
            let mut name = [0 as std::ffi::c_char; 256];
            let mut config = 0u32;
            // SAFETY: buffers sized as announced; `i` < the filter count.
            let fid = unsafe {
                H5Pget_filter2(
                    id,
                    i,
                    &mut flags,
                    &mut ncd,
                    cd.as_mut_ptr(),
                    name.len(),
                    name.as_mut_ptr(),
                    &mut config,
                )
            };
            if fid < 0 {
                break;
            }
            // SAFETY: a filter id; no pointers.
            if unsafe { H5Zfilter_avail(fid) } <= 0 {
                // SAFETY: HDF5 wrote a NUL-terminated name into `name` (zeroed, and one
                // byte longer than it may fill).
                let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                return Err(ReplayError::Filter {
                    file: file.to_path_buf(),
                    dataset: dataset.to_owned(),
                    id: fid,
                    name: if name.is_empty() {
                        "unnamed".into()
                    } else {
                        name
                    },
                });
            }
            out.push((fid, cd[..ncd.min(cd.len())].to_vec()));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_file_names() {
        assert!(wildcard_match("run_*.h5", "run_000001.h5"));
        assert!(wildcard_match("run_??.h5", "run_01.h5"));
        assert!(!wildcard_match("run_??.h5", "run_001.h5"));
        assert!(!wildcard_match("run_*.h5", "run_1.h5.tmp"));
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
    }
}

//! Reading references from HDF5: the shape of a dataset alone (cheap, for `validate`), the
//! mean of its frames (dark, flat), or its non-zero pixels (a mask). Frames are read one
//! at a time, so a long dark series never needs more memory than two frames.

use std::path::{Path, PathBuf};

use ndarray::{ArrayView2, s};

use crate::Image;
use crate::error::ReferenceError;

/// The shape of a reference dataset: `(frames, height, width)`; a 2-D dataset is one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetShape {
    /// Frames (1 for a 2-D dataset).
    pub frames: usize,
    /// Rows.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
}

/// Opens `file` and `dataset`, with errors naming both and the fix.
fn open(file: &Path, dataset: &str) -> Result<hdf5::Dataset, ReferenceError> {
    if !file.exists() {
        let cwd_note = if file.is_relative() {
            std::env::current_dir()
                .map(|d| {
                    format!(
                        " (relative paths start at the working directory, {})",
                        d.display()
                    )
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        return Err(ReferenceError::NoFile {
            file: file.to_path_buf(),
            dataset: dataset.to_string(),
            cwd_note,
        });
    }
    let f = hdf5::File::open(file).map_err(|e| ReferenceError::Open {
        file: file.to_path_buf(),
        detail: e.to_string(),
    })?;
    // `link_exists` fails (rather than answering false) when an intermediate group is
    // missing; both mean "no such dataset".
    let found = f.dataset(dataset).ok();
    found.ok_or_else(|| {
        let mut names = Vec::new();
        list_datasets(&f, &mut names);
        let hint = if names.is_empty() {
            " (the file has no datasets)".to_string()
        } else {
            format!(" (the file has: {})", names.join(", "))
        };
        ReferenceError::NoDataset {
            file: file.to_path_buf(),
            dataset: dataset.to_string(),
            hint,
        }
    })
}

/// Collects the paths of up to 20 datasets of 2 or 3 dimensions under `group`, for hints.
fn list_datasets(group: &hdf5::Group, out: &mut Vec<String>) {
    if let Ok(datasets) = group.datasets() {
        for d in datasets {
            if out.len() >= 20 {
                return;
            }
            if matches!(d.ndim(), 2 | 3) {
                out.push(d.name());
            }
        }
    }
    if let Ok(groups) = group.groups() {
        for g in groups {
            list_datasets(&g, out);
        }
    }
}

fn shape_of(
    ds: &hdf5::Dataset,
    file: &Path,
    dataset: &str,
) -> Result<DatasetShape, ReferenceError> {
    let shape = ds.shape();
    let s = match shape[..] {
        [h, w] => DatasetShape {
            frames: 1,
            height: h,
            width: w,
        },
        [n, h, w] => DatasetShape {
            frames: n,
            height: h,
            width: w,
        },
        _ => {
            return Err(ReferenceError::Rank {
                file: file.to_path_buf(),
                dataset: dataset.to_string(),
                shape,
                expected: "a reference must be 2-D (height, width) or 3-D (frames, height, width)",
            });
        }
    };
    if s.frames == 0 || s.height == 0 || s.width == 0 {
        return Err(ReferenceError::Rank {
            file: file.to_path_buf(),
            dataset: dataset.to_string(),
            shape,
            expected: "it holds no pixels",
        });
    }
    if u32::try_from(s.width).is_err() || u32::try_from(s.height).is_err() {
        return Err(ReferenceError::Rank {
            file: file.to_path_buf(),
            dataset: dataset.to_string(),
            shape,
            expected: "frames are at most 4294967295 pixels wide and high",
        });
    }
    Ok(s)
}

/// The shape of `file:dataset`, without reading its pixels.
pub fn dataset_shape(file: &Path, dataset: &str) -> Result<DatasetShape, ReferenceError> {
    let ds = open(file, dataset)?;
    shape_of(&ds, file, dataset)
}

/// Calls `f` with each frame of `file:dataset` (2-D: one frame), converted to f64 by HDF5.
fn for_each_frame(
    file: &Path,
    dataset: &str,
    mut f: impl FnMut(ArrayView2<'_, f64>),
) -> Result<DatasetShape, ReferenceError> {
    let ds = open(file, dataset)?;
    let shape = shape_of(&ds, file, dataset)?;
    let read_err = |e: hdf5::Error| ReferenceError::Read {
        file: PathBuf::from(file),
        dataset: dataset.to_string(),
        detail: e.to_string(),
    };
    if ds.ndim() == 2 {
        let frame = ds.read_2d::<f64>().map_err(read_err)?;
        f(frame.view());
    } else {
        for i in 0..shape.frames {
            let frame = ds
                .read_slice_2d::<f64, _>(s![i, .., ..])
                .map_err(read_err)?;
            f(frame.view());
        }
    }
    Ok(shape)
}

/// The per-pixel mean of the frames of `file:dataset` — a 2-D `(height, width)` image or a
/// 3-D `(frames, height, width)` series of any numeric HDF5 type — summed in f64.
pub fn read_mean(file: &Path, dataset: &str) -> Result<Image, ReferenceError> {
    let mut sum: Vec<f64> = Vec::new();
    let shape = for_each_frame(file, dataset, |frame| {
        if sum.is_empty() {
            sum = vec![0.0; frame.len()];
        }
        for (s, &v) in sum.iter_mut().zip(frame.iter()) {
            *s += v;
        }
    })?;
    let n = shape.frames as f64;
    Ok(Image {
        width: shape.width as u32,
        height: shape.height as u32,
        pixels: sum.into_iter().map(|s| (s / n) as f32).collect(),
    })
}

/// The pixel mask in `file:dataset`: `true` where the value is non-zero (NaN counts as
/// masked). A 2-D `(height, width)` dataset, or 3-D with one frame; any numeric type.
pub fn read_mask(file: &Path, dataset: &str) -> Result<(u32, u32, Vec<bool>), ReferenceError> {
    let shape = dataset_shape(file, dataset)?;
    if shape.frames != 1 {
        return Err(ReferenceError::Rank {
            file: file.to_path_buf(),
            dataset: dataset.to_string(),
            shape: vec![shape.frames, shape.height, shape.width],
            expected: "a mask must be one frame: 2-D (height, width) or 3-D (1, height, width)",
        });
    }
    let mut masked = Vec::new();
    for_each_frame(file, dataset, |frame| {
        masked = frame.iter().map(|&v| v != 0.0).collect();
    })?;
    Ok((shape.width as u32, shape.height as u32, masked))
}

//! Per-frame metadata: each key of the frames' typed key/values becomes a 1-D dataset,
//! one entry per frame, in an NXcollection `frame_metadata` beside the frame dataset
//! (`/entry/instrument/detector/frame_metadata/exposure_s`), like areaDetector's
//! per-frame NDAttributes.
//!
//! A frame without a key gets the column's fill value (`NaN`, `0`, `false`, `""`). A key
//! first seen mid-file gets a new column whose earlier entries read as the fill value —
//! except in SWMR mode, where HDF5 cannot create datasets any more: such keys are skipped
//! with one warning, so keys should be present from the first frame. A value of another
//! type than its column's is converted when that is lossless (integer into float, anything
//! into text), otherwise stored as the fill value, with one warning per key.

use std::collections::{BTreeMap, BTreeSet};

use hdf5::types::FixedUnicode;
use hdf5::{Dataset, Extent, File, Group, H5Type, SimpleExtents};
use ndarray::s;

/// Text values: the SDK's strings are at most 47 bytes.
pub type MetaString = FixedUnicode<48>;

/// Name of the group beside the frame dataset.
pub const GROUP: &str = "frame_metadata";

/// One metadata value of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaCell {
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Short text.
    Str(String),
}

/// The element type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    /// `i64`
    I64,
    /// `f64`
    F64,
    /// `bool` (HDF5 enum, read as numpy bool)
    Bool,
    /// Fixed-length UTF-8, 48 bytes
    Str,
}

impl MetaCell {
    /// The column type this value starts.
    pub fn kind(&self) -> MetaKind {
        match self {
            MetaCell::I64(_) => MetaKind::I64,
            MetaCell::F64(_) => MetaKind::F64,
            MetaCell::Bool(_) => MetaKind::Bool,
            MetaCell::Str(_) => MetaKind::Str,
        }
    }
}

fn text(s: &str) -> MetaString {
    let mut end = s.len().min(47);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].parse().unwrap_or_default()
}

/// Values of one column not yet written.
enum Pending {
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<MetaString>),
}

impl Pending {
    fn new(kind: MetaKind) -> Self {
        match kind {
            MetaKind::I64 => Pending::I64(Vec::new()),
            MetaKind::F64 => Pending::F64(Vec::new()),
            MetaKind::Bool => Pending::Bool(Vec::new()),
            MetaKind::Str => Pending::Str(Vec::new()),
        }
    }

    /// Appends `cell` converted to the column type; `false` when it had to be the fill value.
    fn push(&mut self, cell: Option<&MetaCell>) -> bool {
        use MetaCell as C;
        match (self, cell) {
            (Pending::I64(v), Some(C::I64(x))) => v.push(*x),
            (Pending::F64(v), Some(C::F64(x))) => v.push(*x),
            (Pending::F64(v), Some(C::I64(x))) => v.push(*x as f64),
            (Pending::Bool(v), Some(C::Bool(x))) => v.push(*x),
            (Pending::Str(v), Some(C::Str(x))) => v.push(text(x)),
            (Pending::Str(v), Some(C::I64(x))) => v.push(text(&x.to_string())),
            (Pending::Str(v), Some(C::F64(x))) => v.push(text(&x.to_string())),
            (Pending::Str(v), Some(C::Bool(x))) => v.push(text(&x.to_string())),
            (p, c) => {
                match p {
                    Pending::I64(v) => v.push(0),
                    Pending::F64(v) => v.push(f64::NAN),
                    Pending::Bool(v) => v.push(false),
                    Pending::Str(v) => v.push(MetaString::default()),
                }
                return c.is_none();
            }
        }
        true
    }

    fn write(&mut self, ds: &Dataset, from: usize, to: usize) -> hdf5::Result<()> {
        ds.resize(to)?;
        match self {
            Pending::I64(v) => write_clear(ds, v, from, to),
            Pending::F64(v) => write_clear(ds, v, from, to),
            Pending::Bool(v) => write_clear(ds, v, from, to),
            Pending::Str(v) => write_clear(ds, v, from, to),
        }
    }
}

fn write_clear<T: H5Type>(
    ds: &Dataset,
    v: &mut Vec<T>,
    from: usize,
    to: usize,
) -> hdf5::Result<()> {
    debug_assert_eq!(v.len(), to - from);
    if !v.is_empty() {
        ds.write_slice(v.as_slice(), s![from..to])?;
    }
    v.clear();
    Ok(())
}

struct Column {
    ds: Dataset,
    kind: MetaKind,
    pending: Pending,
    /// Entries `[0, written)` are in the file (or read as the fill value).
    written: u64,
}

/// Creates the column dataset `name` of `kind` in `group` (1-D, resizable, with fill value).
fn create_column(group: &Group, name: &str, kind: MetaKind) -> hdf5::Result<Dataset> {
    let b = group.new_dataset_builder().chunk(1024);
    let shape = SimpleExtents::from_vec(vec![Extent::resizable(0)]);
    match kind {
        MetaKind::I64 => b.fill_value(0i64).empty::<i64>().shape(shape).create(name),
        MetaKind::F64 => b
            .fill_value(f64::NAN)
            .empty::<f64>()
            .shape(shape)
            .create(name),
        MetaKind::Bool => b
            .fill_value(false)
            .empty::<bool>()
            .shape(shape)
            .create(name),
        MetaKind::Str => b
            .fill_value(MetaString::default())
            .empty::<MetaString>()
            .shape(shape)
            .create(name),
    }
}

/// The metadata columns of one file.
pub struct Columns {
    /// HDF5 path of the `frame_metadata` group.
    group_path: String,
    cols: BTreeMap<String, Column>,
    /// SWMR has started: no new datasets.
    closed_for_new_keys: bool,
    warned: BTreeSet<String>,
    /// Types fixed by earlier parts of the run: a key keeps its type across parts.
    preset: Vec<(String, MetaKind)>,
}

impl Columns {
    /// Columns under `<parent>/frame_metadata`; `preset` are the keys and types earlier
    /// parts of the run had.
    pub fn new(parent: &str, preset: Vec<(String, MetaKind)>) -> Self {
        Columns {
            group_path: format!("{parent}/{GROUP}"),
            cols: BTreeMap::new(),
            closed_for_new_keys: false,
            warned: BTreeSet::new(),
            preset,
        }
    }

    /// Creates the columns of the preset keys (before SWMR starts, so that they continue).
    pub fn add_preset(&mut self, file: &File) -> hdf5::Result<()> {
        for (key, kind) in std::mem::take(&mut self.preset) {
            if !self.cols.contains_key(&key) {
                self.create(file, &key, kind, 0)?;
            }
            self.preset.push((key, kind));
        }
        Ok(())
    }

    fn create(&mut self, file: &File, key: &str, kind: MetaKind, index: u64) -> hdf5::Result<()> {
        let group = match file.group(&self.group_path) {
            Ok(g) => g,
            Err(_) => {
                let g = file.create_group(&self.group_path)?;
                g.new_attr::<hdf5::types::VarLenUnicode>()
                    .create("NX_class")?
                    .write_scalar(
                        &"NXcollection"
                            .parse::<hdf5::types::VarLenUnicode>()
                            .expect("ascii"),
                    )?;
                g
            }
        };
        let ds = create_column(&group, key, kind)?;
        self.cols.insert(
            key.to_owned(),
            Column {
                ds,
                kind,
                pending: Pending::new(kind),
                written: index,
            },
        );
        Ok(())
    }

    /// Keys and types of the columns, for the master file.
    pub fn kinds(&self) -> Vec<(String, MetaKind)> {
        self.cols.iter().map(|(k, c)| (k.clone(), c.kind)).collect()
    }

    /// No more datasets can be created (SWMR writing started).
    pub fn close_for_new_keys(&mut self) {
        self.closed_for_new_keys = true;
    }

    /// Creates columns for the keys of `cells` not seen yet, the first `index` entries
    /// reading as fill values.
    pub fn add_keys(
        &mut self,
        file: &File,
        index: u64,
        cells: &[(String, MetaCell)],
    ) -> hdf5::Result<()> {
        for (key, cell) in cells {
            if self.cols.contains_key(key) || key.is_empty() || key.contains('/') || key == "." {
                continue;
            }
            if self.closed_for_new_keys {
                if self.warned.insert(key.clone()) {
                    log::warn!(
                        "frame metadata `{key}` first appears after SWMR writing started: not recorded \
                         (HDF5 cannot create datasets in SWMR mode; send every key from the first frame)"
                    );
                }
                continue;
            }
            let kind = self
                .preset
                .iter()
                .find(|(k, _)| k == key)
                .map_or(cell.kind(), |(_, kind)| *kind);
            self.create(file, key, kind, index)?;
        }
        Ok(())
    }

    /// Records one frame's values: every column gets one entry.
    pub fn push(&mut self, cells: &[(String, MetaCell)]) {
        for (key, col) in &mut self.cols {
            let cell = cells.iter().find(|(k, _)| k == key).map(|(_, c)| c);
            if !col.pending.push(cell) && self.warned.insert(key.clone()) {
                log::warn!(
                    "frame metadata `{key}` changed type ({:?} into a {:?} column): stored as the fill value",
                    cell.map(MetaCell::kind),
                    col.kind
                );
            }
        }
    }

    /// Writes pending entries so that every column covers frames `[0, frames)`.
    pub fn write(&mut self, frames: u64) -> hdf5::Result<()> {
        for col in self.cols.values_mut() {
            if col.written < frames {
                col.pending
                    .write(&col.ds, col.written as usize, frames as usize)?;
                col.written = frames;
            }
        }
        Ok(())
    }

    /// Closes the datasets.
    pub fn close(&mut self) {
        self.cols.clear();
    }
}

/// Creates, in a master file's detector group, a virtual column `key` over the parts
/// (`(file name, frames, has the key)`), `total` entries long.
pub fn create_virtual_column(
    group: &Group,
    key: &str,
    kind: MetaKind,
    source_group: &str,
    parts: &[(String, u64, bool)],
    total: usize,
) -> hdf5::Result<()> {
    let mut b = group.new_dataset_builder();
    let mut offset = 0usize;
    for (file, frames, has) in parts {
        let k = *frames as usize;
        if *has && k > 0 {
            b = b.virtual_map(
                file,
                format!("{source_group}/{key}"),
                k,
                ..,
                total,
                offset..offset + k,
            );
        }
        offset += k;
    }
    match kind {
        MetaKind::I64 => b.fill_value(0i64).empty::<i64>().shape(total).create(key),
        MetaKind::F64 => b
            .fill_value(f64::NAN)
            .empty::<f64>()
            .shape(total)
            .create(key),
        MetaKind::Bool => b.fill_value(false).empty::<bool>().shape(total).create(key),
        MetaKind::Str => b
            .fill_value(MetaString::default())
            .empty::<MetaString>()
            .shape(total)
            .create(key),
    }
    .map(|_| ())
}

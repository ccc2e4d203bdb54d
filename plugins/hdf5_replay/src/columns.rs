//! Per-frame values recorded beside the frames: `frame_number` and `timestamp` (the
//! `hdf5` sink's, in ns since the epoch) and the `frame_metadata/<key>` columns (the
//! frames' metadata, e.g. the `stats` filter's values), found in the dataset's group — or,
//! when `dataset` is a link like `/entry/data/data`, in the group of the dataset it links.
//!
//! Each file's columns are read whole when replay reaches the file (8 bytes per frame
//! and column; a text column 48), so frames need no HDF5 read besides their pixels.

use daqflow_sdk::MetaValue;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group};

/// The most metadata entries a frame carries (the SDK's frame header).
pub const MAX_KEYS: usize = daqflow_sdk::abi::META_CAPACITY;
/// The longest metadata key.
pub const MAX_KEY_LEN: usize = daqflow_sdk::abi::META_KEY_MAX;

/// Name of the metadata group beside the frames (as the `hdf5` sink writes it).
pub const GROUP: &str = "frame_metadata";

/// The group holding the per-frame datasets of `dataset`, if any.
pub fn find_group(f: &File, ds: &Dataset, dataset: &str) -> Option<String> {
    let parent = parent_of(dataset);
    if has_per_frame(f, &parent) {
        return Some(parent);
    }
    // A link (the NXdata `data` of the `hdf5` sink): find the same object elsewhere.
    let token = ds.loc_info().ok()?.token;
    let root = f.group("/").ok()?;
    let mut budget = 400;
    find_same(&root, "/", token, &mut budget)
}

fn parent_of(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_owned(),
        Some((p, _)) => p.to_owned(),
    }
}

fn has_per_frame(f: &File, group: &str) -> bool {
    let join = |name: &str| format!("{}/{name}", group.trim_end_matches('/'));
    f.link_exists(&join("frame_number"))
        || f.link_exists(&join("timestamp"))
        || f.link_exists(&join(GROUP))
}

/// The group, below `group` (searched depth first, at most `budget` objects), that holds
/// the object `token` beside per-frame datasets. Built from the names walked, not from
/// HDF5's name of the object: a hard-linked object has several, and HDF5 returns any one.
fn find_same(
    group: &Group,
    path: &str,
    token: hdf5::LocationToken,
    budget: &mut usize,
) -> Option<String> {
    let names = group.member_names().ok()?;
    if has_frame_sibling(group) {
        for name in &names {
            *budget = budget.checked_sub(1)?;
            if group
                .dataset(name)
                .and_then(|d| d.loc_info())
                .is_ok_and(|i| i.token == token)
            {
                return Some(path.to_owned());
            }
        }
    }
    for name in &names {
        *budget = budget.checked_sub(1)?;
        if let Ok(g) = group.group(name) {
            let sub = format!("{}/{name}", path.trim_end_matches('/'));
            if let Some(found) = find_same(&g, &sub, token, budget) {
                return Some(found);
            }
        }
    }
    None
}

fn has_frame_sibling(group: &Group) -> bool {
    group.link_exists("frame_number") || group.link_exists("timestamp") || group.link_exists(GROUP)
}

/// The values of one metadata column.
#[derive(Debug)]
enum Values {
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

/// The per-frame values of one file.
#[derive(Debug, Default)]
pub struct Columns {
    numbers: Vec<u64>,
    times: Vec<u64>,
    meta: Vec<(String, Values)>,
}

impl Columns {
    /// Reads the per-frame datasets of `group` in `f` (a file of `frames` frames). Columns
    /// that cannot be read are skipped with a warning naming them.
    pub fn read(f: &File, group: Option<&str>, frames: u64, file_name: &str) -> Columns {
        let mut c = Columns::default();
        let Some(group) = group else { return c };
        let base = group.trim_end_matches('/');
        let read_u64 = |name: &str| -> Vec<u64> {
            let path = format!("{base}/{name}");
            match f.dataset(&path) {
                Err(_) => Vec::new(),
                Ok(ds) if ds.ndim() != 1 => {
                    log::warn!("{file_name}:{path} is not 1-D: ignored");
                    Vec::new()
                }
                Ok(ds) => ds.read_raw::<u64>().unwrap_or_else(|e| {
                    log::warn!("{file_name}:{path}: cannot read ({e}): ignored");
                    Vec::new()
                }),
            }
        };
        c.numbers = read_u64("frame_number");
        c.times = read_u64("timestamp");
        for (what, v) in [("frame_number", &c.numbers), ("timestamp", &c.times)] {
            if !v.is_empty() && (v.len() as u64) < frames {
                log::warn!(
                    "{file_name}:{base}/{what} has {} entries for {frames} frames; later frames \
                     get {}",
                    v.len(),
                    if what == "timestamp" {
                        "the time they are emitted"
                    } else {
                        "their index"
                    }
                );
            }
        }
        let Ok(g) = f.group(&format!("{base}/{GROUP}")) else {
            return c;
        };
        let mut names = g.member_names().unwrap_or_default();
        names.sort();
        for name in names {
            if name.len() > MAX_KEY_LEN {
                log::warn!(
                    "{file_name}:{base}/{GROUP}/{name}: keys of frame metadata are at most \
                     {MAX_KEY_LEN} bytes: not replayed"
                );
                continue;
            }
            if c.meta.len() == MAX_KEYS {
                log::warn!(
                    "{file_name}:{base}/{GROUP}: frames carry at most {MAX_KEYS} metadata \
                     entries; `{name}` and later keys are not replayed"
                );
                break;
            }
            let Ok(ds) = g.dataset(&name) else { continue };
            match read_values(&ds) {
                Ok(v) => c.meta.push((name, v)),
                Err(why) => log::warn!(
                    "{file_name}:{base}/{GROUP}/{name}: {why}: not replayed as frame metadata"
                ),
            }
        }
        c
    }

    /// The recorded frame number of frame `i`.
    pub fn number(&self, i: u64) -> Option<u64> {
        self.numbers.get(i as usize).copied()
    }

    /// The recorded timestamp of frame `i` (ns since the epoch).
    pub fn time(&self, i: u64) -> Option<u64> {
        self.times.get(i as usize).copied()
    }

    /// The metadata of frame `i`.
    pub fn meta(&self, i: u64) -> impl Iterator<Item = (&str, MetaValue)> + '_ {
        let i = i as usize;
        self.meta.iter().filter_map(move |(k, v)| {
            let value = match v {
                Values::I64(v) => MetaValue::I64(*v.get(i)?),
                Values::F64(v) => MetaValue::F64(*v.get(i)?),
                Values::Bool(v) => MetaValue::Bool(*v.get(i)?),
                Values::Str(v) => MetaValue::Str(v.get(i)?.clone()),
            };
            Some((k.as_str(), value))
        })
    }
}

fn read_values(ds: &Dataset) -> Result<Values, String> {
    if ds.ndim() != 1 {
        return Err(format!("shape {:?} is not one value per frame", ds.shape()));
    }
    let t = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    let err = |e: hdf5::Error| e.to_string();
    let text = |s: &str| {
        let mut end = s.len().min(daqflow_sdk::abi::META_STR_MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    };
    Ok(match t {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            Values::I64(ds.read_raw::<i64>().map_err(err)?)
        }
        TypeDescriptor::Float(_) => Values::F64(ds.read_raw::<f64>().map_err(err)?),
        // h5py and hdf5-metno store bools as an enum {FALSE, TRUE}.
        TypeDescriptor::Boolean | TypeDescriptor::Enum(_) => {
            Values::Bool(ds.read_raw::<bool>().map_err(err)?)
        }
        TypeDescriptor::FixedUnicode(_) => Values::Str(
            ds.read_raw::<FixedUnicode<48>>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_str()))
                .collect(),
        ),
        TypeDescriptor::FixedAscii(_) => Values::Str(
            ds.read_raw::<FixedAscii<48>>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_str()))
                .collect(),
        ),
        TypeDescriptor::VarLenUnicode => Values::Str(
            ds.read_raw::<VarLenUnicode>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_str()))
                .collect(),
        ),
        TypeDescriptor::VarLenAscii => Values::Str(
            ds.read_raw::<VarLenAscii>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_str()))
                .collect(),
        ),
        other => {
            return Err(format!(
                "element type {other:?} is not a number, bool or text"
            ));
        }
    })
}

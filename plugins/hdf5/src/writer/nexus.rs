//! The NeXus layout of a file, apart from the frames: root attributes, `/entry` with its
//! run fields and `writer_settings`, the NXinstrument/NXdetector groups on the way to the
//! frame dataset, the NXdata group, and the attributes that describe the per-frame
//! datasets. Used by the part/standalone files ([`super::file`]) and the master
//! ([`super::master`]); everything here creates objects, nothing appends.

use std::path::Path;

use daqflow_sdk::DType;
use hdf5::types::{FixedAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, H5Type, Location};

use super::error::{WriteError, hdf5_err};
use crate::format::FileOptions;

pub(super) type TimeString = FixedAscii<32>;

pub(super) fn time_string(s: &str) -> TimeString {
    TimeString::from_ascii(s.as_bytes()).unwrap_or_default()
}

pub(super) fn attr_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::Internal(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&v)
}

/// Creates a scalar variable-length UTF-8 string dataset holding `value`.
pub(super) fn dataset_str(group: &Group, name: &str, value: &str) -> hdf5::Result<Dataset> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::Internal(format!("{e}")))?;
    let ds = group.new_dataset::<VarLenUnicode>().create(name)?;
    write_vlen_scalar(&ds, &v)?;
    Ok(ds)
}

/// Writes a scalar variable-length string into `ds`.
///
/// `Dataset::write_scalar` converts it through libhdf5's default 1 MiB type-conversion
/// buffer, which libhdf5 allocates and zeroes on every such write (`H5FL_blk_calloc`,
/// then page faults): perf put 80 % of creating a file (~12 ms, 5 strings) there — the
/// whole gap between the uncompressed writer and `File::write_all` on short runs. A
/// transfer property list with a 4 KiB buffer does the same write in microseconds.
pub(super) fn write_vlen_scalar(ds: &Dataset, value: &VarLenUnicode) -> hdf5::Result<()> {
    use hdf5_sys::h5d::H5Dwrite;
    use hdf5_sys::h5p::{H5Pclose, H5Pcreate, H5Pset_buffer};
    use hdf5_sys::h5s::H5S_ALL;

    let mem = hdf5::Datatype::from_type::<VarLenUnicode>()?;
    let xfer_class = *hdf5::globals::H5P_DATASET_XFER;
    hdf5::sync::sync(|| {
        // SAFETY: plain libhdf5 calls on ids that are valid for the duration; `value` is
        // one `VarLenUnicode` (a pointer to a NUL-terminated string), which is what `mem`
        // describes; the property list is closed on every path.
        unsafe {
            let dxpl = hdf5::h5check(H5Pcreate(xfer_class))?;
            let result = hdf5::h5check(H5Pset_buffer(
                dxpl,
                4096,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ))
            .and_then(|_| {
                hdf5::h5check(H5Dwrite(
                    ds.id(),
                    mem.id(),
                    H5S_ALL,
                    H5S_ALL,
                    dxpl,
                    std::ptr::from_ref(value).cast(),
                ))
            });
            H5Pclose(dxpl);
            result.map(drop)
        }
    })
}

/// The pieces of the configured dataset path: `/entry/instrument/detector/data` →
/// entry `entry`, groups `[instrument, detector]`, name `data`.
pub(super) struct DatasetPath<'a> {
    pub(super) entry: &'a str,
    groups: Vec<&'a str>,
    pub(super) name: &'a str,
}

impl<'a> DatasetPath<'a> {
    pub(super) fn parse(path: &'a str) -> Self {
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

    pub(super) fn parent(&self) -> String {
        let mut p = format!("/{}", self.entry);
        for g in &self.groups {
            p.push('/');
            p.push_str(g);
        }
        p
    }
}

/// Writes the part of the layout that does not depend on frames.
pub(super) fn write_skeleton(
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

/// A dataset builder for elements of `dtype`.
pub(super) fn empty_of(builder: hdf5::DatasetBuilder, dtype: DType) -> hdf5::DatasetBuilderEmpty {
    daqflow_sdk::dispatch_dtype!(dtype, T => builder.empty::<T>())
}

fn create_scalar<T: H5Type>(group: &Group, name: &str, value: &T) -> hdf5::Result<Dataset> {
    let ds = group.new_dataset::<T>().create(name)?;
    ds.write_scalar(value)?;
    Ok(ds)
}

/// Creates `frame_count` and `end_time` in the entry (before SWMR: no creation after it).
pub(super) fn create_run_fields(
    file: &File,
    dp: &DatasetPath<'_>,
) -> hdf5::Result<(Dataset, Dataset)> {
    let entry = file.group(dp.entry)?;
    let count = create_scalar(&entry, "frame_count", &0u64)?;
    let end = create_scalar(&entry, "end_time", &time_string(""))?;
    Ok((count, end))
}

pub(super) fn describe_per_frame(frame_number: &Dataset, timestamp: &Dataset) -> hdf5::Result<()> {
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

//! The master file of a rotated run: written atomically (temporary file + rename) each
//! time a part completes, with virtual datasets (`data`, `frame_number`, `timestamp`,
//! `frame_metadata/<key>`) that present every completed part as one series.

use std::path::Path;

use super::error::{WriteError, hdf5_err};
use super::file::create_file;
use super::meta::{self, MetaKind};
use super::nexus::{
    DatasetPath, attr_str, create_run_fields, describe_per_frame, empty_of, time_string,
    write_skeleton,
};
use crate::format::{FileOptions, FrameFormat};

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
        let data = empty_of(data, format.dtype)
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

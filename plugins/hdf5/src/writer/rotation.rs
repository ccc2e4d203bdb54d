//! [`RunWriter`], what the sink's writer thread drives: a run's output as one file, or with
//! `frames_per_file` as numbered parts (`<stem>_data_000001.h5`, …) plus a master file
//! rewritten as each part completes. It fixes the run's frame format at the first frame
//! and refuses frames of another format.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::WriteError;
use super::file::NexusFile;
use super::filters;
use super::master::{PartRecord, write_master};
use super::meta::{MetaCell, MetaKind};
use crate::format::{FileOptions, FrameFormat};
use crate::time::iso8601;

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

    /// Fixes the run's format before the first frame and creates its dataset in the
    /// current file.
    pub fn prepare(&mut self, format: &FrameFormat) -> Result<(), WriteError> {
        self.format = Some(*format);
        match self.current.as_mut() {
            Some(c) => c.prepare(format),
            None => Ok(()),
        }
    }

    /// Appends one frame's chunk. The first frame fixes the format of the run (unless
    /// [`prepare`](Self::prepare) did).
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

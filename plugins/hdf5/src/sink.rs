//! The `hdf5` sink node: its settings and the run state that exists between `start` and
//! `stop` — the threads that keep the node's own thread free, started at `start` and
//! joined at `stop`, and the check that every frame of a run has one format.
//!
//! ```text
//! consume ──Job──► ordered pool: encoder threads ──Done──┐
//!    │              (no HDF5 lock)                       ▼
//!    └──Done when the frame is stored as it is ──► writer thread ──► RunWriter
//!                                                  (in consumption order, one per run)
//! ```
//!
//! Every queue is bounded, and the pool's `max_frames_in_flight` slots bound the frames
//! held at once (queued, compressing, or waiting for an earlier frame), so a slow disk is
//! back-pressure on the input lane, never memory growth. Frames travel by reference: a raw
//! frame that is stored uncompressed, or a pre-compressed frame stored as it is, is
//! written straight from the pool buffer; compressed chunks go into recycled buffers and
//! the source frame is released as soon as it is compressed. Frames are written in the
//! order they were consumed. The stages themselves are in `stages.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crossbeam_channel::bounded;
use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::prelude::*;

use crate::config::{Compression, Settings, default_run_id};
use crate::format::{FileOptions, FrameFormat};
use crate::ordered::{self, Submitter};
use crate::stages::{self, Done, Job, Payload, Shared};
use crate::writer::{RunWriter, WriteError};

/// Run state: exists only between `start` and `stop`. Field order matters when it is
/// dropped without `stop`: the pool's input closes before the threads are joined.
struct Run {
    path: PathBuf,
    /// Frames into the encoder pool, or straight to the writer in their turn.
    submit: Option<Submitter<Job, Done>>,
    /// The encoder threads.
    workers: Vec<daqflow_sdk::Worker>,
    writer: Option<daqflow_sdk::Worker>,
    shared: Arc<Shared>,
    first: Option<(FrameFormat, u64)>,
    error_reported: bool,
    /// Frames written, bytes written and frames lost by the earlier files of the node's
    /// run (a file per series or per format): the counters are the node's totals.
    base: [u64; 3],
}

/// The `hdf5` sink.
pub struct Hdf5Sink {
    settings: Settings,
    run: Option<Run>,
    /// The format of the frames to come, when the core told it (before the start: from
    /// the pipeline file; later: a new series of another shape).
    expected: Option<FrameFormat>,
    /// Files started after a format change (0: the first file of the run).
    series: u32,
    /// With `{series}` in `path`: the detector series of the open file.
    series_id: Option<u64>,
    /// Totals of the files closed so far (see `Run::base`).
    totals: [u64; 3],
}

/// The file format for frames of `f` with these settings: compressed frames are stored
/// as they come (no recompression), raw ones compressed as the settings say.
fn file_format(f: &daqflow_sdk::FrameFormat, settings: &Settings) -> FrameFormat {
    FrameFormat {
        dtype: f.dtype,
        height: f.height,
        width: f.width,
        compression: match f.encoding {
            Encoding::Lz4 => Compression::Lz4,
            Encoding::BsLz4 => Compression::Bslz4,
            _ => settings.compression,
        },
    }
}

impl Sink for Hdf5Sink {
    type Settings = Settings;
    const INPUT: InputLane = InputLane::Lossless;

    fn accepts(
        _settings: &Settings,
        input: &daqflow_sdk::FrameFormat,
    ) -> Result<(), Vec<SettingsError>> {
        match input.encoding {
            Encoding::Raw | Encoding::Lz4 | Encoding::BsLz4 => Ok(()),
            other => Err(vec![SettingsError::new(
                "",
                format!(
                    "the HDF5 writer stores raw, lz4 or bslz4 frames, not {other}; decode them before this sink"
                ),
            )]),
        }
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Hdf5Sink {
            settings,
            run: None,
            expected: None,
            series: 0,
            series_id: None,
            totals: [0; 3],
        })
    }

    /// Before the start: the dataset is created with the file, before the first frame.
    /// Mid-run, frames of another shape or dtype (a detector's new series): the current
    /// file is finished and the next frames go to a new one, `<name>_s001.h5`, ….
    fn input_format(
        &mut self,
        format: &daqflow_sdk::FrameFormat,
        ctx: &Context,
    ) -> Result<(), PluginError> {
        let f = file_format(format, &self.settings);
        let changed = self.expected.is_some_and(|e| e != f);
        self.expected = Some(f);
        if self.settings.per_series() {
            // One file per series: the next file opens at the next frame, named by its series.
            if changed && let Some(run) = self.run.take() {
                self.finish(run, ctx)?;
            }
            return Ok(());
        }
        if let Some(run) = self.run.take() {
            if !changed && run.first.is_none_or(|(first, _)| first == f) {
                self.run = Some(run);
                return Ok(());
            }
            let old = run.path.clone();
            self.finish(run, ctx)?;
            self.series += 1;
            let mut next = Run::start(&self.settings, ctx, Some(f), self.series, None)?;
            next.base = self.totals;
            log::info!(
                "frames of {format} from now on: {} is complete, writing {}",
                old.display(),
                next.path.display()
            );
            self.run = Some(next);
        }
        Ok(())
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        if self.settings.per_series() {
            log::info!("one file per series: each is created at its series' first frame");
            return Ok(());
        }
        self.run = Some(Run::start(
            &self.settings,
            ctx,
            self.expected,
            self.series,
            None,
        )?);
        Ok(())
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if self.settings.per_series() {
            let id = match frame.meta(daqflow_sdk::series::SERIES_ID) {
                Some(MetaValue::I64(v)) => u64::try_from(v).ok(),
                _ => None,
            };
            if self.run.is_none() || id != self.series_id {
                if let Some(run) = self.run.take() {
                    self.finish(run, ctx)?;
                }
                self.series_id = id;
                let mut run = Run::start(&self.settings, ctx, self.expected, 0, id)?;
                run.base = self.totals;
                self.run = Some(run);
            }
        }
        let run = self.run.as_mut().ok_or("hdf5: consume before start")?;
        let result = run.consume(frame, &self.settings);
        ctx.set_counter(
            "frames_written",
            run.base[0] + run.shared.written.load(Ordering::Relaxed),
        );
        if result.is_err() {
            run.error_reported = true;
        }
        result
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        match self.run.take() {
            Some(run) => self.finish(run, ctx),
            None => Ok(()),
        }
    }
}

impl Hdf5Sink {
    /// Closes one file of the run and adds its counts to the node's totals.
    fn finish(&mut self, run: Run, ctx: &Context) -> Result<(), PluginError> {
        let shared = run.shared.clone();
        let result = run.stop(ctx);
        self.totals[0] += shared.written.load(Ordering::Relaxed);
        self.totals[1] += shared.bytes.load(Ordering::Relaxed);
        self.totals[2] += shared.lost.load(Ordering::Relaxed);
        result
    }
}

impl Run {
    /// Opens the run's file (with its dataset when `expected` is known); `series` > 0
    /// names a later file of the run, started by a format change; `series_id` is the
    /// `{series}` of the path.
    fn start(
        settings: &Settings,
        ctx: &Context,
        expected: Option<FrameFormat>,
        series: u32,
        series_id: Option<u64>,
    ) -> Result<Run, PluginError> {
        let now = SystemTime::now();
        let run_id = settings
            .run_id
            .clone()
            .unwrap_or_else(|| default_run_id(now));
        let mut path = settings.render_path(&run_id, ctx.node_name(), now, series_id);
        if series > 0 {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            path = path.with_file_name(format!("{stem}_s{series:03}{ext}"));
        }
        let opts = FileOptions {
            swmr: settings.swmr,
            flush_every: settings.flush_every(),
            flush_interval: settings.flush_interval_ms.map(Duration::from_millis),
            overwrite: settings.overwrite,
            dataset: settings.dataset.clone(),
            settings_json: serde_json::to_string_pretty(settings).unwrap_or_default(),
            run_id,
        };
        let in_flight = settings.in_flight();
        let shared = Arc::new(Shared::default());
        let (submit, worker, in_order) = ordered::ordered::<Job, Done>(in_flight);
        let (spare_tx, spare_rx) = bounded::<Vec<u8>>(in_flight);

        let (ready_tx, ready_rx) = bounded::<Result<(), WriteError>>(1);
        let tick = settings
            .flush_interval_ms
            .map(|ms| Duration::from_millis(ms.div_ceil(4)));
        let writer = {
            let (shared, path, fpf) = (shared.clone(), path.clone(), settings.frames_per_file);
            ctx.spawn_worker("hdf5-writer", move |ctx| {
                let created = RunWriter::create(path, fpf, opts).and_then(|mut w| {
                    if let Some(f) = &expected {
                        w.prepare(f)?;
                    }
                    Ok(w)
                });
                let writer = match created {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                stages::write_loop(writer, in_order, spare_tx, &shared, ctx, tick);
                Ok(())
            })?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = writer.join();
                return Err(PluginError::new(e.to_string()));
            }
            Err(_) => {
                let _ = writer.join();
                return Err(PluginError::new(format!(
                    "create {}: the writer thread died",
                    path.display()
                )));
            }
        }

        let threads = if settings.compression == Compression::None {
            1
        } else {
            settings.threads()
        };
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (worker, work) = (
                worker.clone(),
                stages::compressor(spare_rx.clone(), path.clone()),
            );
            let spawned = ctx.spawn_worker(&format!("hdf5-compress-{i}"), move |_| {
                worker.run(work);
                Ok(())
            });
            match spawned {
                Ok(w) => workers.push(w),
                Err(e) => log::warn!(
                    "start compression thread {i}: {e}; continuing with {}",
                    workers.len()
                ),
            }
        }
        drop(worker);
        if workers.is_empty() {
            // The writer thread ends (and is joined as it drops) once the pool's input closes.
            drop(submit);
            return Err(PluginError::new(
                "start hdf5 compression threads: none could be started",
            ));
        }
        log::info!(
            "writing {} (compression {}, {} compression threads, {} frames in flight)",
            path.display(),
            settings.compression,
            workers.len(),
            in_flight
        );
        Ok(Run {
            path,
            submit: Some(submit),
            workers,
            writer: Some(writer),
            shared,
            first: None,
            error_reported: false,
            base: [0; 3],
        })
    }

    fn consume(&mut self, frame: Frame, settings: &Settings) -> Result<(), PluginError> {
        if let Some(e) = self.shared.error() {
            return Err(PluginError::new(e));
        }
        let number = frame.frame_number();
        let dtype = frame.dtype();
        let format = match &self.first {
            None => {
                let compression = match frame.encoding() {
                    Encoding::Lz4 => Compression::Lz4,
                    Encoding::BsLz4 => Compression::Bslz4,
                    Encoding::Raw => settings.compression,
                    other => {
                        let msg = format!(
                            "append frame {number} to {}: the HDF5 writer stores raw, lz4 or bslz4 frames, not {other}",
                            self.path.display()
                        );
                        self.shared.fail(msg.clone());
                        return Err(PluginError::new(msg));
                    }
                };
                if compression != settings.compression {
                    log::info!(
                        "frames arrive {:?}-compressed: storing them as they are (compression {} instead of {})",
                        frame.encoding(),
                        compression,
                        settings.compression
                    );
                }
                let format = FrameFormat {
                    dtype,
                    height: frame.height(),
                    width: frame.width(),
                    compression,
                };
                self.first = Some((format, number));
                format
            }
            Some((f, first)) => {
                if (f.dtype, f.height, f.width) != (dtype, frame.height(), frame.width()) {
                    let msg = format!(
                        "append frame {number} to {}: frame is {}x{} {} but the file holds {}x{} {} frames (since frame {first}); \
                         one file holds one shape and dtype — start a new run, or put a filter that crops/casts before this sink",
                        self.path.display(),
                        frame.width(),
                        frame.height(),
                        frame.dtype(),
                        f.width,
                        f.height,
                        f.dtype,
                    );
                    self.shared.fail(msg.clone());
                    return Err(PluginError::new(msg));
                }
                *f
            }
        };
        let direct = matches!(
            (frame.encoding(), format.compression),
            (Encoding::Raw, Compression::None)
                | (Encoding::Lz4, Compression::Lz4)
                | (Encoding::BsLz4, Compression::Bslz4)
        );
        let meta = stages::meta_cells(&frame);
        // Both ways wait for a free slot first: this is where a slow disk becomes
        // back-pressure.
        let sent = if direct {
            let expected = format.frame_bytes();
            let header = match frame.encoding() {
                Encoding::Lz4 => lz4chunk::decoded_len(frame.bytes()),
                Encoding::BsLz4 => bitshuffle::decoded_len(frame.bytes()),
                _ => Ok(frame.bytes().len()),
            };
            let timestamp_ns = frame.timestamp_ns();
            let payload = match header {
                Ok(n) if n == expected => Payload::Frame(frame),
                Ok(n) => Payload::Failed(format!(
                    "append frame {number} to {}: its payload holds {n} bytes, a {}x{} {} frame has {expected}",
                    self.path.display(),
                    format.width,
                    format.height,
                    format.dtype
                )),
                Err(e) => Payload::Failed(format!(
                    "append frame {number} to {}: {e}",
                    self.path.display()
                )),
            };
            let done = Done {
                frame_number: number,
                timestamp_ns,
                format,
                payload,
                meta,
            };
            self.submit.as_mut().map(|s| s.submit_done(done))
        } else {
            let job = Job {
                frame,
                format,
                meta,
            };
            self.submit.as_mut().map(|s| s.submit(job))
        };
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.dead()),
        }
    }

    fn dead(&self) -> PluginError {
        PluginError::new(
            self.shared.error().unwrap_or_else(|| {
                format!("write {}: the writer thread stopped", self.path.display())
            }),
        )
    }

    fn stop(mut self, ctx: &Context) -> Result<(), PluginError> {
        // Closing the pool's input lets the workers drain it and exit; then the writer's
        // input ends and it finishes the file.
        self.submit.take();
        // A thread's error is a panic (their bodies return `Ok`), named by the SDK.
        for w in self.workers.drain(..) {
            if let Err(e) = w.join() {
                self.shared
                    .fail(format!("compress for {}: {e}", self.path.display()));
            }
        }
        if let Some(w) = self.writer.take()
            && let Err(e) = w.join()
        {
            self.shared
                .fail(format!("write {}: {e}", self.path.display()));
        }
        let written = self.shared.written.load(Ordering::Relaxed);
        let lost = self.shared.lost.load(Ordering::Relaxed);
        ctx.set_counter("frames_written", self.base[0] + written);
        ctx.set_counter(
            "bytes_written",
            self.base[1] + self.shared.bytes.load(Ordering::Relaxed),
        );
        ctx.set_counter("frames_lost", self.base[2] + lost);
        match self.shared.error() {
            Some(e) if !self.error_reported => Err(PluginError::new(format!(
                "{e} ({written} frames written to {}, {lost} accepted frames not written)",
                self.path.display()
            ))),
            Some(_) => {
                log::info!(
                    "{written} frames written to {}, {lost} not written",
                    self.path.display()
                );
                Ok(())
            }
            None => {
                log::info!("{written} frames written to {}", self.path.display());
                Ok(())
            }
        }
    }
}

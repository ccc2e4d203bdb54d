//! The `hdf5` sink: run state between `start` and `stop`, and the threads that keep the
//! node's own thread free.
//!
//! ```text
//! consume ──(seq, Frame)──► compression workers ──(seq, chunk)──┐
//!    │                       (no HDF5 lock)                     ▼
//!    └──(seq, Frame) when the frame is stored as it is ──► writer thread ──► RunWriter
//!                                                         (reorders by seq, one per run)
//! ```
//!
//! Every queue is bounded, and a pool of `max_frames_in_flight` slots bounds the frames
//! held at once (queued, compressing, or waiting for an earlier frame), so a slow disk is
//! back-pressure on the input lane, never memory growth. Frames travel by reference: a raw
//! frame that is stored uncompressed, or a pre-compressed frame stored as it is, is
//! written straight from the pool buffer; compressed chunks go into recycled buffers and
//! the source frame is released as soon as it is compressed. Frames are written in the
//! order they were consumed.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam_channel::{Receiver, Sender, bounded};
use daqflow_sdk::prelude::*;

use crate::config::{Compression, Settings, default_run_id};
use crate::lz4chunk::CodecError;
use crate::meta::MetaCell;
use crate::writer::{ElemType, FileOptions, FrameFormat, RunWriter, WriteError};
use crate::{bitshuffle, lz4chunk};

/// Result of [`Encoder::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded {
    /// The input bytes are the chunk: write them as they are.
    AsIs,
    /// The chunk is the first `n` bytes of the output buffer.
    Buffer(usize),
}

/// Turns a frame's payload into a chunk of the file's compression. One per worker thread.
#[derive(Default)]
pub struct Encoder {
    lz4: lz4chunk::Compressor,
    bslz4: bitshuffle::Compressor,
    decoded: Vec<u8>,
}

impl Encoder {
    /// Encodes `input` (a payload in `encoding`) for a dataset of `format`. `out` grows to
    /// the worst-case chunk size when needed (once; buffers are recycled).
    pub fn encode(
        &mut self,
        format: &FrameFormat,
        encoding: Encoding,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Encoded, CodecError> {
        let Encoder {
            lz4,
            bslz4,
            decoded,
        } = self;
        let n = format.frame_bytes();
        let es = format.elem.size();
        let raw: &[u8] = match (encoding, format.compression) {
            (Encoding::Raw, _) => {
                if input.len() != n {
                    return Err(CodecError::SizeMismatch {
                        header: input.len() as u64,
                        expected: n,
                    });
                }
                input
            }
            (Encoding::Lz4, file) => {
                check_header(lz4chunk::decoded_len(input)?, n)?;
                if file == Compression::Lz4 {
                    return Ok(Encoded::AsIs);
                }
                decoded.resize(n, 0);
                lz4chunk::decompress(input, decoded)?;
                decoded
            }
            (Encoding::BsLz4, file) => {
                check_header(bitshuffle::decoded_len(input)?, n)?;
                if file == Compression::Bslz4 {
                    return Ok(Encoded::AsIs);
                }
                decoded.resize(n, 0);
                bitshuffle::decompress(input, es, decoded)?;
                decoded
            }
            (other, _) => {
                return Err(CodecError::Lz4Compress(format!(
                    "unsupported frame encoding {other:?}"
                )));
            }
        };
        let need = format.max_chunk_bytes();
        match format.compression {
            Compression::None if encoding == Encoding::Raw => Ok(Encoded::AsIs),
            Compression::None => {
                out.clear();
                out.extend_from_slice(raw);
                Ok(Encoded::Buffer(n))
            }
            Compression::Lz4 => {
                grow(out, need);
                lz4.compress(raw, out).map(Encoded::Buffer)
            }
            Compression::Bslz4 => {
                grow(out, need);
                bslz4.compress(raw, es, out).map(Encoded::Buffer)
            }
        }
    }
}

fn check_header(header: usize, expected: usize) -> Result<(), CodecError> {
    if header == expected {
        Ok(())
    } else {
        Err(CodecError::SizeMismatch {
            header: header as u64,
            expected,
        })
    }
}

fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.capacity() < len {
        // A fresh zeroed allocation comes from the OS as untouched zero pages: only the
        // pages the compressor writes get faulted in, instead of memset over the worst case.
        *buf = vec![0u8; len];
    } else if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Element type of an SDK dtype.
pub fn elem_type(dtype: DType) -> Option<ElemType> {
    match dtype {
        DType::U8 => Some(ElemType::U8),
        DType::U16 => Some(ElemType::U16),
        DType::U32 => Some(ElemType::U32),
        DType::F32 => Some(ElemType::F32),
        _ => None,
    }
}

/// What reaches the writer thread for one frame.
enum Payload {
    /// Write `frame.bytes()` as the chunk.
    Frame(Frame),
    /// Write `buf[..len]`.
    Buffer(Vec<u8>, usize),
    /// Encoding failed; the writer records it as the run's error.
    Failed(String),
}

struct Done {
    seq: u64,
    frame_number: u64,
    timestamp_ns: u64,
    format: FrameFormat,
    payload: Payload,
    meta: Vec<(String, MetaCell)>,
}

struct Job {
    seq: u64,
    frame: Frame,
    format: FrameFormat,
    meta: Vec<(String, MetaCell)>,
}

/// The frame's metadata as cells (no allocation when it has none).
fn meta_cells(frame: &Frame) -> Vec<(String, MetaCell)> {
    frame
        .meta_iter()
        .filter_map(|(k, v)| {
            let cell = match v {
                MetaValue::I64(x) => MetaCell::I64(x),
                MetaValue::F64(x) => MetaCell::F64(x),
                MetaValue::Bool(x) => MetaCell::Bool(x),
                MetaValue::Str(x) => MetaCell::Str(x),
                _ => return None,
            };
            Some((k.to_owned(), cell))
        })
        .collect()
}

/// State shared by the node thread, the workers and the writer.
#[derive(Default)]
struct Shared {
    written: AtomicU64,
    bytes: AtomicU64,
    /// First error of the run and the frames not written because of it.
    error: Mutex<Option<String>>,
    lost: AtomicU64,
}

impl Shared {
    fn fail(&self, message: String) {
        let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            *e = Some(message);
        }
    }

    fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Run state: exists only between `start` and `stop`.
struct Run {
    path: PathBuf,
    jobs: Option<Sender<Job>>,
    to_writer: Option<Sender<Done>>,
    slots: Receiver<()>,
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    first: Option<(FrameFormat, u64)>,
    seq: u64,
    error_reported: bool,
}

/// The `hdf5` sink.
pub struct Hdf5Sink {
    settings: Settings,
    run: Option<Run>,
}

impl Sink for Hdf5Sink {
    type Settings = Settings;
    const INPUT: InputLane = InputLane::Lossless;

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Hdf5Sink {
            settings,
            run: None,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.run = Some(Run::start(&self.settings, ctx)?);
        Ok(())
    }

    fn consume(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        let run = self.run.as_mut().ok_or("hdf5: consume before start")?;
        let result = run.consume(frame, &self.settings);
        ctx.set_counter("frames_written", run.shared.written.load(Ordering::Relaxed));
        if result.is_err() {
            run.error_reported = true;
        }
        result
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        match self.run.take() {
            Some(run) => run.stop(ctx),
            None => Ok(()),
        }
    }
}

impl Run {
    fn start(settings: &Settings, ctx: &Context) -> Result<Run, PluginError> {
        let now = SystemTime::now();
        let run_id = settings
            .run_id
            .clone()
            .unwrap_or_else(|| default_run_id(now));
        let path = settings.render_path(&run_id, ctx.node_name(), now);
        let opts = FileOptions {
            swmr: settings.swmr,
            flush_every: settings.flush_every(),
            flush_interval: settings
                .flush_interval_ms
                .map(std::time::Duration::from_millis),
            overwrite: settings.overwrite,
            dataset: settings.dataset.clone(),
            settings_json: serde_json::to_string_pretty(settings).unwrap_or_default(),
            run_id,
        };
        let in_flight = settings.in_flight();
        let shared = Arc::new(Shared::default());
        let (slot_tx, slots) = bounded(in_flight);
        for _ in 0..in_flight {
            slot_tx.send(()).expect("capacity is in_flight");
        }
        let (to_writer, from_nodes) = bounded::<Done>(in_flight);
        let (spare_tx, spare_rx) = bounded::<Vec<u8>>(in_flight);
        let (jobs_tx, jobs_rx) = bounded::<Job>(in_flight);

        let (ready_tx, ready_rx) = bounded::<Result<(), WriteError>>(1);
        let tick = settings
            .flush_interval_ms
            .map(|ms| std::time::Duration::from_millis(ms.div_ceil(4)));
        let writer = {
            let (ctx, shared, path, fpf) = (
                ctx.clone(),
                shared.clone(),
                path.clone(),
                settings.frames_per_file,
            );
            std::thread::Builder::new()
                .name(format!("{}-hdf5-writer", ctx.node_name()))
                .spawn(move || {
                    ctx.bind_log_thread();
                    let writer = match RunWriter::create(path, fpf, opts) {
                        Ok(w) => {
                            let _ = ready_tx.send(Ok(()));
                            w
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    write_loop(writer, from_nodes, slot_tx, spare_tx, &shared, &ctx, tick);
                })
                .map_err(|e| PluginError::new(format!("start hdf5 writer thread: {e}")))?
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
            let (ctx, jobs, out, spare, file) = (
                ctx.clone(),
                jobs_rx.clone(),
                to_writer.clone(),
                spare_rx.clone(),
                path.clone(),
            );
            let worker = std::thread::Builder::new()
                .name(format!("{}-hdf5-compress-{i}", ctx.node_name()))
                .spawn(move || {
                    ctx.bind_log_thread();
                    compress_loop(jobs, out, spare, &file);
                });
            match worker {
                Ok(w) => workers.push(w),
                Err(e) => log::warn!(
                    "start compression thread {i}: {e}; continuing with {}",
                    workers.len()
                ),
            }
        }
        if workers.is_empty() {
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
            jobs: Some(jobs_tx),
            to_writer: Some(to_writer),
            slots,
            workers,
            writer: Some(writer),
            shared,
            first: None,
            seq: 0,
            error_reported: false,
        })
    }

    fn consume(&mut self, frame: Frame, settings: &Settings) -> Result<(), PluginError> {
        if let Some(e) = self.shared.error() {
            return Err(PluginError::new(e));
        }
        let number = frame.frame_number();
        let elem = elem_type(frame.dtype()).ok_or_else(|| {
            PluginError::new(format!(
                "frame {number}: dtype {} cannot be written to HDF5",
                frame.dtype()
            ))
        })?;
        let format = match &self.first {
            None => {
                let compression = match frame.encoding() {
                    Encoding::Lz4 => Compression::Lz4,
                    Encoding::BsLz4 => Compression::Bslz4,
                    _ => settings.compression,
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
                    elem,
                    height: frame.height(),
                    width: frame.width(),
                    compression,
                };
                self.first = Some((format, number));
                format
            }
            Some((f, first)) => {
                if (f.elem, f.height, f.width) != (elem, frame.height(), frame.width()) {
                    let msg = format!(
                        "append frame {number} to {}: frame is {}x{} {} but the file holds {}x{} {} frames (since frame {first}); \
                         one file holds one shape and dtype — start a new run, or put a filter that crops/casts before this sink",
                        self.path.display(),
                        frame.width(),
                        frame.height(),
                        frame.dtype(),
                        f.width,
                        f.height,
                        f.elem.name(),
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
        let meta = meta_cells(&frame);
        // A free slot first: this is where a slow disk becomes back-pressure.
        self.slots.recv().map_err(|_| self.dead())?;
        let seq = self.seq;
        self.seq += 1;
        if direct {
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
                    format.elem.name()
                )),
                Err(e) => Payload::Failed(format!(
                    "append frame {number} to {}: {e}",
                    self.path.display()
                )),
            };
            let done = Done {
                seq,
                frame_number: number,
                timestamp_ns,
                format,
                payload,
                meta,
            };
            let tx = self.to_writer.as_ref().ok_or_else(|| self.dead())?;
            tx.send(done).map_err(|_| self.dead())?;
        } else {
            let tx = self.jobs.as_ref().ok_or_else(|| self.dead())?;
            tx.send(Job {
                seq,
                frame,
                format,
                meta,
            })
            .map_err(|_| self.dead())?;
        }
        Ok(())
    }

    fn dead(&self) -> PluginError {
        PluginError::new(
            self.shared.error().unwrap_or_else(|| {
                format!("write {}: the writer thread stopped", self.path.display())
            }),
        )
    }

    fn stop(mut self, ctx: &Context) -> Result<(), PluginError> {
        // Closing the job queue lets the workers drain it and exit; then the writer's
        // inputs close and it finishes the file.
        self.jobs.take();
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                self.shared
                    .fail("an hdf5 compression thread panicked".into());
            }
        }
        self.to_writer.take();
        if let Some(w) = self.writer.take()
            && w.join().is_err()
        {
            self.shared.fail(format!(
                "write {}: the writer thread panicked",
                self.path.display()
            ));
        }
        let written = self.shared.written.load(Ordering::Relaxed);
        let lost = self.shared.lost.load(Ordering::Relaxed);
        ctx.set_counter("frames_written", written);
        ctx.set_counter("bytes_written", self.shared.bytes.load(Ordering::Relaxed));
        ctx.set_counter("frames_lost", lost);
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

fn compress_loop(jobs: Receiver<Job>, out: Sender<Done>, spare: Receiver<Vec<u8>>, file: &Path) {
    let mut encoder = Encoder::default();
    for job in jobs {
        let Job {
            seq,
            frame,
            format,
            meta,
        } = job;
        let (frame_number, timestamp_ns) = (frame.frame_number(), frame.timestamp_ns());
        let mut buf = spare.try_recv().unwrap_or_default();
        let encoded = catch_unwind(AssertUnwindSafe(|| {
            encoder.encode(&format, frame.encoding(), frame.bytes(), &mut buf)
        }));
        let payload = match encoded {
            Ok(Ok(Encoded::AsIs)) => Payload::Frame(frame),
            Ok(Ok(Encoded::Buffer(len))) => {
                drop(frame); // back to the pool as soon as it is compressed
                Payload::Buffer(buf, len)
            }
            Ok(Err(e)) => Payload::Failed(format!(
                "compress frame {frame_number} for {}: {e}",
                file.display()
            )),
            Err(_) => {
                encoder = Encoder::default();
                Payload::Failed(format!(
                    "compress frame {frame_number} for {}: the encoder panicked",
                    file.display()
                ))
            }
        };
        if out
            .send(Done {
                seq,
                frame_number,
                timestamp_ns,
                format,
                payload,
                meta,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The writer thread: writes chunks in consumption order, returns slots and buffers, and
/// flushes on `flush_interval_ms` while waiting. The first error stops writing (later
/// frames are counted lost) and asks the pipeline to stop.
fn write_loop(
    mut writer: RunWriter,
    input: Receiver<Done>,
    slots: Sender<()>,
    spare: Sender<Vec<u8>>,
    shared: &Shared,
    ctx: &Context,
    tick: Option<std::time::Duration>,
) {
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut failed = false;
    let fail = |e: String, failed: &mut bool| {
        if !*failed {
            log::debug!("writer stops: {e}");
            shared.fail(e);
            *failed = true;
            ctx.request_stop();
        }
    };
    loop {
        let done = match tick {
            None => match input.recv() {
                Ok(d) => d,
                Err(_) => break,
            },
            Some(t) => match input.recv_timeout(t) {
                Ok(d) => d,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if !failed && let Err(e) = writer.flush_if_due() {
                        fail(e.to_string(), &mut failed);
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            },
        };
        waiting.insert(done.seq, done);
        while let Some(done) = waiting.remove(&next) {
            next += 1;
            if !failed {
                let (chunk, len): (&[u8], usize) = match &done.payload {
                    Payload::Frame(f) => (f.bytes(), f.bytes().len()),
                    Payload::Buffer(b, len) => (&b[..*len], *len),
                    Payload::Failed(_) => (&[], 0),
                };
                let result = match &done.payload {
                    Payload::Failed(e) => Err(e.clone()),
                    _ => writer
                        .append(
                            &done.format,
                            done.frame_number,
                            done.timestamp_ns,
                            chunk,
                            &done.meta,
                        )
                        .map_err(|e| e.to_string()),
                };
                match result {
                    Ok(()) => {
                        shared.written.fetch_add(1, Ordering::Relaxed);
                        shared.bytes.fetch_add(len as u64, Ordering::Relaxed);
                    }
                    Err(e) => fail(e, &mut failed),
                }
            }
            if failed {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            }
            if let Payload::Buffer(buf, _) = done.payload {
                let _ = spare.try_send(buf);
            }
            let _ = slots.try_send(());
        }
    }
    if let Err(e) = writer.finish() {
        shared.fail(e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(compression: Compression) -> FrameFormat {
        FrameFormat {
            elem: ElemType::U16,
            height: 40,
            width: 30,
            compression,
        }
    }

    fn raw() -> Vec<u8> {
        (0..1200u32)
            .flat_map(|i| ((i * i / 7) as u16 % 9).to_le_bytes())
            .collect()
    }

    fn decode(f: &FrameFormat, chunk: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; f.frame_bytes()];
        match f.compression {
            Compression::None => out.copy_from_slice(chunk),
            Compression::Lz4 => lz4chunk::decompress(chunk, &mut out).unwrap(),
            Compression::Bslz4 => bitshuffle::decompress(chunk, 2, &mut out).unwrap(),
        }
        out
    }

    /// Every (frame encoding, file compression) pair: as-is when they match, else transcoded.
    #[test]
    fn encoder_stores_matching_chunks_as_is_and_transcodes_the_rest() {
        let raw = raw();
        let mut enc = Encoder::default();
        let mut chunks = Vec::new();
        for c in [Compression::Lz4, Compression::Bslz4] {
            let mut out = Vec::new();
            let Encoded::Buffer(n) = enc
                .encode(&format(c), Encoding::Raw, &raw, &mut out)
                .unwrap()
            else {
                panic!("raw frames are compressed")
            };
            out.truncate(n);
            assert_eq!(decode(&format(c), &out), raw);
            chunks.push((
                if c == Compression::Lz4 {
                    Encoding::Lz4
                } else {
                    Encoding::BsLz4
                },
                out,
            ));
        }
        chunks.push((Encoding::Raw, raw.clone()));
        for (encoding, payload) in &chunks {
            for c in [Compression::None, Compression::Lz4, Compression::Bslz4] {
                let f = format(c);
                let mut out = Vec::new();
                let chunk = match enc.encode(&f, *encoding, payload, &mut out).unwrap() {
                    Encoded::AsIs => payload.clone(),
                    Encoded::Buffer(n) => out[..n].to_vec(),
                };
                let same = matches!(
                    (encoding, c),
                    (Encoding::Raw, Compression::None)
                        | (Encoding::Lz4, Compression::Lz4)
                        | (Encoding::BsLz4, Compression::Bslz4)
                );
                assert_eq!(chunk == *payload, same, "{encoding:?} into {c:?}");
                assert_eq!(decode(&f, &chunk), raw, "{encoding:?} into {c:?}");
            }
        }
    }

    #[test]
    fn encoder_refuses_payloads_of_the_wrong_size() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        let f = format(Compression::Bslz4);
        assert!(
            enc.encode(&f, Encoding::Raw, &raw()[..100], &mut out)
                .is_err()
        );
        let mut chunk = vec![0u8; 64];
        chunk[..8].copy_from_slice(&999u64.to_be_bytes());
        let e = enc
            .encode(&f, Encoding::BsLz4, &chunk, &mut out)
            .unwrap_err();
        assert!(e.to_string().contains("999"), "{e}");
        assert!(
            enc.encode(&f, Encoding::Lz4, &chunk[..5], &mut out)
                .is_err()
        );
    }
}

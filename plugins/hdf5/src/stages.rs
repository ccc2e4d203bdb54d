//! The two stages behind the sink's node thread and what passes between them: the
//! compression work run by the encoder threads of an [`ordered`](crate::ordered) pool
//! (outside the HDF5 lock), and the writer thread's loop, which appends the chunks in
//! consumption order through [`RunWriter`], flushes on time while waiting, recycles the
//! chunk buffers, and keeps the run's counters and first error in [`Shared`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use daqflow_sdk::prelude::*;

use crate::encoder::{Encoded, Encoder};
use crate::format::FrameFormat;
use crate::ordered::{InOrder, Next};
use crate::writer::{MetaCell, RunWriter};

/// A frame on its way to the encoder threads.
pub(crate) struct Job {
    pub(crate) frame: Frame,
    pub(crate) format: FrameFormat,
    pub(crate) meta: Vec<(String, MetaCell)>,
}

/// A frame on its way to the writer thread.
pub(crate) struct Done {
    pub(crate) frame_number: u64,
    pub(crate) timestamp_ns: u64,
    pub(crate) format: FrameFormat,
    pub(crate) payload: Payload,
    pub(crate) meta: Vec<(String, MetaCell)>,
}

/// What reaches the writer thread for one frame.
pub(crate) enum Payload {
    /// Write `frame.bytes()` as the chunk.
    Frame(Frame),
    /// Write `buf[..len]`.
    Buffer(Vec<u8>, usize),
    /// Encoding failed; the writer records it as the run's error.
    Failed(String),
}

/// The frame's metadata as cells (no allocation when it has none).
pub(crate) fn meta_cells(frame: &Frame) -> Vec<(String, MetaCell)> {
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
pub(crate) struct Shared {
    pub(crate) written: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// First error of the run and the frames not written because of it.
    error: Mutex<Option<String>>,
    pub(crate) lost: AtomicU64,
}

impl Shared {
    /// Records `message` as the run's error unless there is one already.
    pub(crate) fn fail(&self, message: String) {
        let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            *e = Some(message);
        }
    }

    /// The run's first error.
    pub(crate) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The work of one encoder thread: compresses a job's frame into a recycled buffer from
/// `spare` (releasing the frame at once), or passes it on when it is stored as it is. An
/// encoder panic becomes a failed payload, so every job gets a result.
pub(crate) fn compressor(spare: Receiver<Vec<u8>>, file: PathBuf) -> impl FnMut(Job) -> Done {
    let mut encoder = Encoder::default();
    move |job| {
        let Job {
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
        Done {
            frame_number,
            timestamp_ns,
            format,
            payload,
            meta,
        }
    }
}

/// The writer thread: writes chunks in consumption order, returns buffers, and flushes
/// on `flush_interval_ms` while waiting (every `tick`). The first error stops writing
/// (later frames are counted lost) and asks the pipeline to stop.
pub(crate) fn write_loop(
    mut writer: RunWriter,
    mut input: InOrder<Done>,
    spare: Sender<Vec<u8>>,
    shared: &Shared,
    ctx: &Context,
    tick: Option<Duration>,
) {
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
        let done = match input.next(tick) {
            Next::Item(done) => done,
            Next::Timeout => {
                if !failed && let Err(e) = writer.flush_if_due() {
                    fail(e.to_string(), &mut failed);
                }
                continue;
            }
            Next::End => break,
        };
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
    }
    if let Err(e) = writer.finish() {
        shared.fail(e.to_string());
    }
}

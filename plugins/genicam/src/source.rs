//! The `genicam` source: open and configure at start, then pop filled pool frames from
//! the stream, stamp them with the camera's frame id and time, account for every buffer,
//! and emit. Stop stops the camera, then closes the stream (which releases the frames
//! still queued), then lets go of the camera.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use aravis::prelude::*;
use aravis::{BufferStatus, Camera};
use daqflow_sdk::prelude::*;

use crate::camera::{self, Readback};
use crate::config::{Incomplete, Settings, TriggerMode};
use crate::stream::Ring;

/// The source.
pub struct Genicam {
    settings: Settings,
    run: Option<Run>,
}

/// Everything that exists between start and stop. Field order is drop order: the stream
/// (`ring`) goes before the camera.
struct Run {
    ring: Ring,
    camera: Camera,
    label: String,
    rb: Readback,
    control_lost: Arc<AtomicBool>,
    ids: FrameIds,
    counts: Counts,
    /// Software trigger: when the next one is due, and whether one is outstanding.
    next_trigger: Instant,
    trigger_outstanding: bool,
    frame_timeout: Duration,
    /// (Aravis info id, counter name) of the stream statistics this stream has.
    stats: Vec<(u32, &'static str)>,
    last_frame: Instant,
    last_timeout: Instant,
}

/// What this source counts itself (Aravis's stream statistics are added at report time).
#[derive(Debug, Default)]
struct Counts {
    delivered: u64,
    incomplete: u64,
    incomplete_dropped: u64,
    /// Buffers whose frame id is not above the last delivered one (an incomplete buffer
    /// released after a newer frame, a duplicate): dropped, so numbers always increase.
    out_of_order: u64,
    last_delivered: Option<u64>,
    timeouts: u64,
    /// Status of a buffer that was neither complete nor incomplete data (aborted, ...).
    other_failures: u64,
    first_id: Option<u64>,
    last_id: u64,
}

/// Camera frame ids made monotonic: GigE Vision 1.x block ids are 16 bits and cycle
/// 1..=65535 (0 is invalid), so a wrap adds 65535.
#[derive(Debug, Default)]
struct FrameIds {
    last: Option<u64>,
    epoch: u64,
}

impl FrameIds {
    /// The monotonic number of camera id `id`; `None` for id 0 (invalid in GigE Vision:
    /// a buffer whose leader never arrived).
    fn extend(&mut self, id: u64) -> Option<u64> {
        if id == 0 {
            return None;
        }
        // A wrap goes from near the top of the 16-bit range to near its bottom; anything
        // else (a late frame, a reorder) is not one, and does not move `last` back.
        let near_top = |v: u64| v > 0xFFFF - 0x4000 && v <= 0xFFFF;
        if let Some(last) = self.last {
            if near_top(last) && id < 0x4000 {
                self.epoch += 0xFFFF;
            } else if last < 0x4000 && near_top(id) && self.epoch >= 0xFFFF {
                // A late buffer from before the last wrap.
                return Some(self.epoch - 0xFFFF + id);
            } else if id < last {
                return Some(self.epoch + id);
            }
        }
        self.last = Some(id);
        Some(self.epoch + id)
    }
}

/// Aravis stream statistics reported as counters: (Aravis name, counter name).
const STREAM_COUNTERS: [(&str, &str); 12] = [
    ("n_completed_buffers", "buffers_completed"),
    ("n_failures", "buffers_failed"),
    ("n_underruns", "buffer_underruns"),
    ("n_timeouts", "buffer_timeouts"),
    ("n_aborted", "buffers_aborted"),
    ("n_missing_frames", "frames_missing"),
    ("n_size_mismatch_errors", "size_mismatches"),
    ("n_received_packets", "packets_received"),
    ("n_missing_packets", "packets_missing"),
    ("n_resend_requests", "resend_requests"),
    ("n_resent_packets", "packets_resent"),
    ("n_error_packets", "packets_error"),
];

impl Source for Genicam {
    type Settings = Settings;

    fn output_format(settings: &Settings) -> Option<FrameFormat> {
        settings.format()
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Genicam {
            settings,
            run: None,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let s = &self.settings;
        // Aravis builds a device's feature tree with shared state: two sources opening
        // cameras at the same time corrupted it (seen with in-process fake cameras).
        let guard = camera::OPEN_LOCK
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let opened = camera::open(s, ctx)?;
        let label = opened.label;
        let camera = opened.camera;
        let rb =
            camera::configure(&camera, s).map_err(|e| e.context(format!("configure {label}")))?;
        if let Some(f) = s.format()
            && (f.width, f.height) != (rb.width, rb.height)
        {
            return Err(PluginError::new(format!(
                "configure {label}: `roi` asks for {}x{} but the camera set {}x{} \
                 (check the camera's Width/Height increments)",
                f.width, f.height, rb.width, rb.height
            )));
        }
        let control_lost = Arc::new(AtomicBool::new(false));
        if let Some(dev) = camera.device() {
            let flag = Arc::clone(&control_lost);
            dev.connect_control_lost(move |_| flag.store(true, Ordering::SeqCst));
        }
        let stream = camera.create_stream().map_err(|e| {
            PluginError::new(format!("create the stream of {label}: {}", e.message()))
        })?;
        let stats = (0..stream.n_infos())
            .filter_map(|i| {
                let name = stream.info_name(i)?;
                let counter = STREAM_COUNTERS.iter().find(|(a, _)| *a == name.as_str())?.1;
                Some((i, counter))
            })
            .collect();
        drop(guard);
        let mut ring = Ring::new(stream, rb.payload, rb.mono.dtype, rb.width, rb.height);
        for _ in 0..s.buffers {
            ring.push_one(ctx)?;
        }
        camera.start_acquisition().map_err(|e| {
            PluginError::new(format!("start acquisition on {label}: {}", e.message()))
        })?;
        let rate = match s.trigger_mode {
            TriggerMode::Internal => rb.frame_rate.or(s.rate_hz()),
            TriggerMode::Software => s.rate_hz(),
            TriggerMode::External => None,
        };
        let frame_timeout = if s.frame_timeout > 0.0 {
            Duration::from_secs_f64(s.frame_timeout)
        } else {
            Duration::from_secs_f64(rate.map_or(1.0, |r| (3.0 / r).max(1.0)))
        };
        log::info!(
            "{label}: {}x{} {} ({} bytes/frame), exposure {}, gain {}, {}, {} buffers",
            rb.width,
            rb.height,
            rb.mono.name,
            rb.payload,
            rb.exposure_time
                .map_or("n/a".into(), |t| format!("{:.6} s", t)),
            rb.gain.map_or("n/a".into(), |g| format!("{g}")),
            match s.trigger_mode {
                TriggerMode::Internal => format!(
                    "free run at {}",
                    rate.map_or("?".into(), |r| format!("{r} Hz"))
                ),
                TriggerMode::Software => format!(
                    "software trigger {}",
                    s.rate_hz()
                        .map_or("per frame".into(), |r| format!("at {r} Hz"))
                ),
                TriggerMode::External => format!(
                    "external trigger on {}",
                    s.trigger_source.as_deref().unwrap_or("Line0")
                ),
            },
            s.buffers
        );
        let now = Instant::now();
        self.run = Some(Run {
            ring,
            camera,
            label,
            rb,
            control_lost,
            ids: FrameIds::default(),
            counts: Counts::default(),
            next_trigger: now,
            trigger_outstanding: false,
            frame_timeout,
            stats,
            last_frame: now,
            last_timeout: now,
        });
        Ok(())
    }

    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError> {
        let s = &self.settings;
        let Some(run) = self.run.as_mut() else {
            return Err(PluginError::new("next called before start"));
        };
        if s.frames > 0 && run.counts.delivered >= s.frames {
            run.report(ctx);
            return Ok(Next::End);
        }
        if run.control_lost.load(Ordering::SeqCst) {
            run.report(ctx);
            return Err(PluginError::new(format!(
                "{} disappeared: it stopped answering its heartbeat (control lost) after {} frames",
                run.label, run.counts.delivered
            )));
        }
        while run.ring.queued() < s.buffers as usize {
            run.ring.push_one(ctx)?;
        }
        if s.trigger_mode == TriggerMode::Software && !run.trigger_outstanding {
            let now = Instant::now();
            if now < run.next_trigger {
                std::thread::sleep((run.next_trigger - now).min(Duration::from_millis(20)));
                return Ok(Next::Continue);
            }
            run.camera.software_trigger().map_err(|e| {
                PluginError::new(format!(
                    "software trigger on {}: {}",
                    run.label,
                    e.message()
                ))
            })?;
            run.trigger_outstanding = true;
            run.next_trigger = match s.rate_hz() {
                // On schedule, but never more than a second of catching up after a stall.
                Some(r) => {
                    let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
                    run.next_trigger.max(floor) + Duration::from_secs_f64(1.0 / r)
                }
                None => now,
            };
        }
        let Some(popped) = run.ring.pop(100_000)? else {
            run.on_idle(ctx)?;
            return Ok(Next::Continue);
        };
        run.last_frame = Instant::now();
        run.trigger_outstanding = false;
        let status = popped.buffer.status();
        let incomplete = match status {
            BufferStatus::Success => false,
            BufferStatus::MissingPackets
            | BufferStatus::Timeout
            | BufferStatus::WrongPacketId
            | BufferStatus::SizeMismatch => true,
            other => {
                // Aborted / cleared at stop, payload not supported: not a frame.
                run.counts.other_failures += 1;
                log::debug!("{}: buffer with status {other:?} ignored", run.label);
                return Ok(Next::Continue);
            }
        };
        let id = run.ids.extend(popped.buffer.frame_id());
        if let Some(n) = id
            && run.counts.last_delivered.is_some_and(|last| n <= last)
        {
            run.counts.out_of_order += 1;
            log::debug!(
                "{}: frame {n} ({status:?}) arrived after a newer one: dropped",
                run.label
            );
            return Ok(Next::Continue);
        }
        if let Some(id) = id {
            run.counts.first_id.get_or_insert(id);
            run.counts.last_id = run.counts.last_id.max(id);
        }
        if incomplete || id.is_none() {
            run.counts.incomplete += 1;
            // A frame without an id cannot be numbered: dropped whatever the policy.
            if s.incomplete == Incomplete::Drop || id.is_none() {
                run.counts.incomplete_dropped += 1;
                log::debug!(
                    "{}: frame {id:?} incomplete ({status:?}): dropped",
                    run.label
                );
                return Ok(Next::Continue);
            }
        }
        let id = id.unwrap_or_default();
        let mut frame = popped.frame;
        if !incomplete {
            run.check_buffer(&popped.buffer, id)?;
        }
        frame.set_frame_number(id);
        let t = popped.buffer.system_timestamp();
        if t > 0 {
            frame.set_timestamp_ns(t);
        }
        frame.set_meta(
            "camera_timestamp_ns",
            MetaValue::I64(popped.buffer.timestamp() as i64),
        )?;
        if let Some(e) = run.rb.exposure_time {
            frame.set_meta("exposure_time_s", MetaValue::F64(e))?;
        }
        if let Some(g) = run.rb.gain {
            frame.set_meta("gain", MetaValue::F64(g))?;
        }
        // With `incomplete = "pass"` every frame says whether it is whole (a file writer
        // then records the flag for every frame); with "drop" every frame passed is whole.
        if s.incomplete == Incomplete::Pass {
            frame.set_meta("incomplete", MetaValue::Bool(incomplete))?;
        }
        drop(popped.buffer);
        ctx.emit(frame)?;
        run.counts.delivered += 1;
        run.counts.last_delivered = Some(id);
        if run.counts.delivered.is_multiple_of(32) {
            run.report(ctx);
        }
        Ok(Next::Continue)
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let Some(mut run) = self.run.take() else {
            return Ok(());
        };
        let stopped = run.camera.stop_acquisition();
        run.report(ctx);
        // The stream goes first: its buffers' destroy callbacks release the pool frames.
        run.ring.close();
        let Run { ring, camera, .. } = run;
        drop(ring);
        drop(camera);
        if let Err(e) = stopped
            && !self.settings.camera.is_empty()
        {
            log::warn!(
                "stop acquisition on camera `{}`: {}",
                self.settings.camera,
                e.message()
            );
        }
        Ok(())
    }
}

impl Run {
    /// No frame within 100 ms: count a timeout once per `frame_timeout` without frames,
    /// and ask the camera whether it is still there.
    fn on_idle(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let now = Instant::now();
        if now.duration_since(self.last_frame) < self.frame_timeout
            || now.duration_since(self.last_timeout) < self.frame_timeout
        {
            return Ok(());
        }
        self.last_timeout = now;
        self.counts.timeouts += 1;
        ctx.set_counter("timeouts", self.counts.timeouts);
        let alive = self
            .camera
            .device()
            .is_some_and(|d| d.integer_feature_value("Width").is_ok());
        if !alive || self.control_lost.load(Ordering::SeqCst) {
            self.report(ctx);
            return Err(PluginError::new(format!(
                "{} disappeared: no frame for {:.1} s and it does not answer register reads \
                 (after {} frames)",
                self.label,
                now.duration_since(self.last_frame).as_secs_f64(),
                self.counts.delivered
            )));
        }
        log::warn!(
            "{}: no frame for {:.1} s (timeout {}; the camera still answers{})",
            self.label,
            now.duration_since(self.last_frame).as_secs_f64(),
            self.counts.timeouts,
            if self.trigger_outstanding {
                "; software trigger outstanding"
            } else {
                ""
            }
        );
        // A software trigger the camera missed would stall the run: send another.
        self.trigger_outstanding = false;
        Ok(())
    }

    /// A complete buffer must hold the image we configured.
    fn check_buffer(&self, b: &aravis::Buffer, id: u64) -> Result<(), PluginError> {
        let (w, h) = (b.image_width() as u32, b.image_height() as u32);
        if (w, h) != (self.rb.width, self.rb.height) {
            return Err(PluginError::new(format!(
                "{}: frame {id} is {w}x{h}, not the {}x{} configured (settings changed by another client?)",
                self.label, self.rb.width, self.rb.height
            )));
        }
        Ok(())
    }

    /// Publishes every counter.
    fn report(&self, ctx: &Context) {
        let c = &self.counts;
        if let Some(stream) = self.ring.stream() {
            for &(id, name) in &self.stats {
                ctx.set_counter(name, stream.info_uint64(id));
            }
        }
        let span = c.first_id.map_or(0, |f| c.last_id - f + 1);
        ctx.set_counter("frames_delivered", c.delivered);
        ctx.set_counter("frames_incomplete", c.incomplete);
        ctx.set_counter("frames_incomplete_dropped", c.incomplete_dropped);
        ctx.set_counter("frames_out_of_order", c.out_of_order);
        ctx.set_counter("timeouts", c.timeouts);
        ctx.set_counter("buffers_other_status", c.other_failures);
        // Frames the camera numbered between the first and the last we delivered but
        // that never left this source (dropped incomplete, underruns, lost on the wire).
        ctx.set_counter("frames_lost", span.saturating_sub(c.delivered));
        ctx.set_counter("arv_buffers_created", self.ring.buffers_created);
    }
}

#[cfg(test)]
mod tests {
    use super::FrameIds;

    #[test]
    fn frame_ids_unwrap_16_bit_block_ids() {
        let mut ids = FrameIds::default();
        let got: Vec<u64> = [65533u64, 65534, 65535, 1, 2]
            .iter()
            .map(|&i| ids.extend(i).unwrap())
            .collect();
        assert_eq!(got, [65533, 65534, 65535, 65536, 65537]);
        let mut ids = FrameIds::default();
        let got = [5u64, 7, 6, 8].map(|i| ids.extend(i).unwrap());
        assert_eq!(got, [5, 7, 6, 8], "reorders are not wraps");
        let mut ids = FrameIds::default();
        let got = [65534u64, 2, 65535, 3].map(|i| ids.extend(i).unwrap());
        assert_eq!(
            got,
            [65534, 65537, 65535, 65538],
            "a late buffer from before a wrap"
        );
        let mut ids = FrameIds::default();
        assert_eq!(ids.extend(65000), Some(65000));
        assert_eq!(ids.extend(0), None, "id 0 is invalid, not a wrap");
        assert_eq!(ids.extend(65001), Some(65001));
    }
}

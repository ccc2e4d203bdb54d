//! [`Hdf5Replay`], the node: walks the selected frames over the files of the plan, reads
//! each one (`read.rs`), gives it its recorded number, timestamp and metadata
//! (`columns.rs`), paces it (`rate_hz` or the recorded spacing) and emits it; then loops.
//!
//! Frame numbers and timestamps keep increasing from one pass to the next: pass `p` adds
//! `p × span`, the span being the selection's extent (last − first, plus one frame number,
//! or plus the mean spacing of the timestamps), so a looped replay looks like one long run.

use std::time::{Duration, Instant};

use daqflow_sdk::prelude::*;

use crate::columns::Columns;
use crate::config::{Settings, Timestamps, plural};
use crate::open::{Access, Plan, open_file};
use crate::read::{Scratch, SegmentReader};
use crate::select::{Indices, Selection};

/// The file being replayed: its columns and the open segment.
struct Current {
    input: usize,
    columns: Columns,
    segment: usize,
    reader: SegmentReader,
}

/// The `hdf5_replay` source.
pub struct Hdf5Replay {
    settings: Settings,
    plan: Plan,
    /// Global index where each input starts (prefix sums of the frame counts).
    starts: Vec<u64>,
    order: Indices,
    /// Position in `order`, and the pass.
    k: u64,
    pass: u64,
    current: Option<Current>,
    scratch: Scratch,
    started: Option<Instant>,
    /// Frames emitted (all passes).
    emitted: u64,
    bytes: u64,
    /// The first selected frame's recorded time, and per-pass shifts.
    first_time: Option<u64>,
    number_span: u64,
    time_span: u64,
}

impl Source for Hdf5Replay {
    type Settings = Settings;

    fn output_format(settings: &Settings) -> Option<FrameFormat> {
        let plan = Plan::open(settings).ok()?;
        let rate = (settings.rate_hz > 0.0).then_some(settings.rate_hz);
        Some(plan.format.with_rate(rate))
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        let plan = Plan::open(&settings)?;
        let selection = Selection::parse(&settings.frames).map_err(PluginError::new)?;
        let order = selection.indices(plan.total_frames());
        let mut starts = Vec::with_capacity(plan.inputs.len());
        let mut at = 0;
        for i in &plan.inputs {
            starts.push(at);
            at += i.frames;
        }
        Ok(Hdf5Replay {
            settings,
            plan,
            starts,
            order,
            k: 0,
            pass: 0,
            current: None,
            scratch: Scratch::default(),
            started: None,
            emitted: 0,
            bytes: 0,
            first_time: None,
            number_span: 0,
            time_span: 0,
        })
    }

    fn start(&mut self, _ctx: &Context) -> Result<(), PluginError> {
        self.measure_spans()?;
        let s = &self.settings;
        let passthrough = self.plan.inputs.iter().all(|i| {
            i.segments
                .iter()
                .all(|s| matches!(s.access, Access::Direct(_)))
        });
        log::info!(
            "replaying {} of {} ({}{}) from {} ({}){}, {}",
            plural(self.order.count, "frame"),
            self.plan.dataset,
            self.plan.format,
            if passthrough {
                ", chunks passed on as stored"
            } else {
                ""
            },
            s.path,
            plural(self.plan.inputs.len() as u64, "file"),
            match s.loop_count {
                0 => ", looping until stopped".to_owned(),
                1 => String::new(),
                n => format!(", {n} times"),
            },
            match (s.timestamps, s.rate_hz > 0.0) {
                (Timestamps::Original, _) => "at the recorded pace".to_owned(),
                (_, true) => format!("at {} Hz", s.rate_hz),
                _ => "as fast as the pipeline takes them".to_owned(),
            }
        );
        self.started = Some(Instant::now());
        Ok(())
    }

    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError> {
        if self.order.is_empty() || self.k == self.order.count {
            self.k = 0;
            self.pass += 1;
            let loops = self.settings.loop_count;
            if self.order.is_empty() || loops != 0 && self.pass >= loops {
                self.publish(ctx);
                return Ok(Next::End);
            }
        }
        let g = self.order.get(self.k);
        let (input, local) = self.locate(g);
        self.ensure_open(input, local)?;
        let cur = self.current.as_mut().expect("opened above");
        let recorded_time = cur.columns.time(local);
        let number = cur.columns.number(local).unwrap_or(g) + self.pass * self.number_span;
        let time = recorded_time.map(|t| t + self.pass * self.time_span);
        if !self.wait_until_due(time, ctx) {
            return Ok(Next::Continue); // stopping: the core ends the loop
        }
        let cur = self.current.as_mut().expect("opened above");
        let seg = &self.plan.inputs[input].segments[cur.segment];
        let mut frame = cur.reader.read(local - seg.first, ctx, &mut self.scratch)?;
        frame.set_frame_number(number);
        match (self.settings.timestamps, time) {
            (Timestamps::Now, _) | (_, None) => frame.set_timestamp_ns(daqflow_sdk::now_ns()),
            (_, Some(t)) => frame.set_timestamp_ns(t),
        }
        for (key, value) in cur.columns.meta(local) {
            frame.set_meta(key, value)?;
        }
        self.bytes += frame.bytes().len() as u64;
        ctx.emit(frame)?;
        self.k += 1;
        self.emitted += 1;
        if self.emitted.is_multiple_of(64) {
            self.publish(ctx);
        }
        Ok(Next::Continue)
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.publish(ctx);
        self.current = None;
        Ok(())
    }
}

impl Hdf5Replay {
    fn publish(&self, ctx: &Context) {
        ctx.set_counter("frames_replayed", self.emitted);
        ctx.set_counter("bytes_out", self.bytes);
        ctx.set_counter("passes", self.pass);
    }

    /// The input holding global frame `g`, and the frame's index in it.
    fn locate(&self, g: u64) -> (usize, u64) {
        let input = self.starts.partition_point(|&s| s <= g) - 1;
        (input, g - self.starts[input])
    }

    /// Makes `current` the input `input`, with the segment holding `local` open.
    fn ensure_open(&mut self, input: usize, local: u64) -> Result<(), PluginError> {
        let inp = &self.plan.inputs[input];
        let segment = inp
            .segments
            .iter()
            .position(|s| (s.first..s.first + s.frames).contains(&local))
            .ok_or_else(|| {
                PluginError::new(format!(
                    "{}: frame {local} is in no segment of its virtual dataset",
                    inp.path.display()
                ))
            })?;
        match &self.current {
            Some(c) if c.input == input && c.segment == segment => return Ok(()),
            Some(c) if c.input == input => {
                let reader = SegmentReader::open(&inp.segments[segment], &self.plan.format)?;
                let c = self.current.as_mut().expect("matched");
                c.segment = segment;
                c.reader = reader;
                return Ok(());
            }
            _ => {}
        }
        self.current = None; // close the previous file first
        let columns = read_columns(inp, &self.plan.dataset)?;
        let reader = SegmentReader::open(&inp.segments[segment], &self.plan.format)?;
        self.current = Some(Current {
            input,
            columns,
            segment,
            reader,
        });
        Ok(())
    }

    /// The recorded number and time of global frame `g` (opens its file's columns).
    fn recorded(&self, g: u64) -> Result<(u64, Option<u64>), PluginError> {
        let (input, local) = self.locate(g);
        let columns = read_columns(&self.plan.inputs[input], &self.plan.dataset)?;
        Ok((columns.number(local).unwrap_or(g), columns.time(local)))
    }

    /// The shifts of frame numbers and timestamps from one pass to the next.
    fn measure_spans(&mut self) -> Result<(), PluginError> {
        if self.order.is_empty() {
            return Ok(());
        }
        let n = self.order.count;
        let (first_n, first_t) = self.recorded(self.order.get(0))?;
        let (last_n, last_t) = self.recorded(self.order.get(n - 1))?;
        self.first_time = first_t;
        self.number_span = first_n.abs_diff(last_n) + 1;
        self.time_span = match (first_t, last_t) {
            (Some(a), Some(b)) if n > 1 => {
                let d = a.abs_diff(b);
                d + d / (n - 1)
            }
            _ if self.settings.rate_hz > 0.0 => (n as f64 * 1e9 / self.settings.rate_hz) as u64,
            _ => 0,
        };
        Ok(())
    }

    /// Waits until the frame recorded at `time` (or the next `rate_hz` slot) is due.
    /// `false` when the pipeline is stopping.
    fn wait_until_due(&self, time: Option<u64>, ctx: &Context) -> bool {
        let Some(t0) = self.started else { return true };
        let due = match self.settings.timestamps {
            Timestamps::Original => match (time, self.first_time) {
                (Some(t), Some(first)) => t0 + Duration::from_nanos(t.saturating_sub(first)),
                _ => return true,
            },
            _ if self.settings.rate_hz > 0.0 => {
                t0 + Duration::from_secs_f64(self.emitted as f64 / self.settings.rate_hz)
            }
            _ => return true,
        };
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            if ctx.should_stop() {
                return false;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
        }
    }
}

/// Reads the per-frame columns of `input`.
fn read_columns(input: &crate::open::Input, dataset: &str) -> Result<Columns, PluginError> {
    let (f, _) = open_file(&input.path, dataset)?;
    Ok(Columns::read(
        &f,
        input.meta_group.as_deref(),
        input.frames,
        &input.path.display().to_string(),
    ))
}

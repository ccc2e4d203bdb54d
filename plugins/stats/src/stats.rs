//! The `stats` filter: computes [`frame_stats`] on each frame, writes the results as
//! metadata and passes the frame on; logs the latest values every `print_every_secs`.

use std::time::{Duration, Instant};

use daqflow_sdk::abi::META_CAPACITY;
use daqflow_sdk::prelude::*;

use crate::config::{
    KEY_CENTROID_X, KEY_CENTROID_Y, KEY_COUNT_ABOVE, KEY_MAX, KEY_MEAN, KEY_MIN, KEY_STD, KEY_SUM,
    KEYS, Settings,
};
use crate::kernel::{FrameStats, frame_stats};

/// The filter.
pub struct Stats {
    above: Option<f64>,
    print: Pacer,
}

/// Says when a periodic log line is due: the first time, then at most once per `every`.
/// Time is passed in, so tests need no clock.
#[derive(Debug)]
pub(crate) struct Pacer {
    every: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// `secs <= 0`: never due.
    pub(crate) fn new(secs: f64) -> Pacer {
        Pacer {
            every: (secs > 0.0).then(|| Duration::from_secs_f64(secs)),
            next: None,
        }
    }

    pub(crate) fn due(&mut self, now: Instant) -> bool {
        let Some(every) = self.every else {
            return false;
        };
        if self.next.is_some_and(|next| now < next) {
            return false;
        }
        self.next = Some(now + every);
        true
    }
}

impl Stats {
    fn keys(&self) -> impl Iterator<Item = &'static str> {
        KEYS.into_iter().chain(self.above.map(|_| KEY_COUNT_ABOVE))
    }

    /// Refuses a frame whose metadata cannot take our keys, before anything is copied.
    fn check_room(&self, frame: &Frame) -> Result<(), PluginError> {
        let have = frame.meta_iter().count();
        let adding: Vec<&str> = self.keys().filter(|k| frame.meta(k).is_none()).collect();
        if have + adding.len() > META_CAPACITY {
            return Err(PluginError::new(format!(
                "frame {}: cannot add the {} stats metadata entries ({}): it has {have} \
                 already and a frame holds at most {META_CAPACITY}; drop metadata upstream{}",
                frame.frame_number(),
                adding.len(),
                adding.join(", "),
                if self.above.is_some() {
                    " or unset `above`"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }
}

fn write_meta(f: &mut FrameMut, s: &FrameStats) -> Result<(), PluginError> {
    for (key, v) in [
        (KEY_SUM, s.sum),
        (KEY_MEAN, s.mean),
        (KEY_MIN, s.min),
        (KEY_MAX, s.max),
        (KEY_STD, s.std),
        (KEY_CENTROID_X, s.centroid_x),
        (KEY_CENTROID_Y, s.centroid_y),
    ] {
        f.set_meta(key, MetaValue::F64(v))?;
    }
    if let Some(n) = s.count_above {
        f.set_meta(
            KEY_COUNT_ABOVE,
            MetaValue::I64(i64::try_from(n).unwrap_or(i64::MAX)),
        )?;
    }
    Ok(())
}

impl Filter for Stats {
    type Settings = Settings;

    /// Same frames out as in; compressed frames are refused.
    fn output_format(
        _settings: &Settings,
        input: &FrameFormat,
    ) -> Result<Option<FrameFormat>, Vec<SettingsError>> {
        if !input.encoding.is_raw() {
            return Err(vec![SettingsError::new(
                "",
                format!(
                    "stats needs raw pixels, not {} frames; place it before the compression or on an uncompressed lane",
                    input.encoding
                ),
            )]);
        }
        Ok(Some(*input))
    }

    fn parallel(_settings: &Settings) -> bool {
        true
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stats {
            above: settings.above,
            print: Pacer::new(settings.print_every_secs),
        })
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        if !frame.encoding().is_raw() {
            return Err(PluginError::new(format!(
                "frame {} is {}-encoded; stats needs raw pixels",
                frame.frame_number(),
                frame.encoding()
            )));
        }
        let above = self.above;
        let s = daqflow_sdk::dispatch_dtype!(frame.dtype(), T => frame
            .view::<T>()
            .map(|v| frame_stats(&v, above)))?;
        self.check_room(&frame)?;
        let mut f = frame.into_mut(ctx)?;
        write_meta(&mut f, &s)?;
        if self.print.due(Instant::now()) {
            log::info!("frame {}: {}", f.frame_number(), line(&s));
        }
        ctx.emit(f)
    }
}

/// `sum=… mean=… …`: the log line.
fn line(s: &FrameStats) -> String {
    let mut l = format!(
        "sum={} mean={:.4} min={} max={} std={:.4} centroid=({:.2}, {:.2})",
        s.sum, s.mean, s.min, s.max, s.std, s.centroid_x, s.centroid_y
    );
    if let Some(n) = s.count_above {
        l.push_str(&format!(" above={n}"));
    }
    l
}

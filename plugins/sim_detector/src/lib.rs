//! `sim_detector`: a simulated area detector. It produces frames of any size and dtype at
//! a set rate (or as fast as the pipeline takes them), with a test pattern: photon-like
//! noise plus moving bars (`bars`), a `ramp`, or a `constant`. The same `seed` gives the
//! same frames, so tests can compare what comes out bit-exactly.

mod config;
mod pattern;

use std::time::{Duration, Instant};

use daqflow_codec::{bitshuffle, lz4chunk};
use daqflow_sdk::prelude::*;

pub use config::{FrameEncoding, Pattern, Settings};
use pattern::Generator;

/// The running simulator.
pub struct SimDetector {
    settings: Settings,
    generator: Generator,
    next_number: u64,
    started: Option<Instant>,
    lz4: lz4chunk::Compressor,
    bslz4: bitshuffle::Compressor,
    /// Compressed chunk of the current frame (sized for the worst case once).
    chunk: Vec<u8>,
    /// Payload bytes emitted (the `bytes_out` counter: less than the pixels when
    /// compressed).
    bytes_out: u64,
}

impl Source for SimDetector {
    type Settings = Settings;

    fn output_format(settings: &Settings) -> Option<FrameFormat> {
        Some(settings.format())
    }

    fn create(settings: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        let generator = Generator::new(&settings);
        Ok(SimDetector {
            settings,
            generator,
            next_number: 0,
            started: None,
            lz4: lz4chunk::Compressor::default(),
            bslz4: bitshuffle::Compressor::default(),
            chunk: Vec::new(),
            bytes_out: 0,
        })
    }

    fn start(&mut self, ctx: &Context) -> Result<(), PluginError> {
        let s = &self.settings;
        log::info!(
            "{}x{} {} {:?} frames at {}{}",
            s.width,
            s.height,
            s.dtype,
            s.pattern,
            if s.rate_hz > 0.0 {
                format!("{} Hz", s.rate_hz)
            } else {
                "full speed".into()
            },
            if s.frames > 0 {
                format!(", {} frames", s.frames)
            } else {
                String::new()
            }
        );
        self.started = Some(Instant::now());
        let _ = ctx;
        Ok(())
    }

    fn next(&mut self, ctx: &Context) -> Result<Next, PluginError> {
        let s = &self.settings;
        if s.frames > 0 && self.next_number >= s.frames {
            ctx.set_counter("bytes_out", self.bytes_out);
            return Ok(Next::End);
        }
        if s.rate_hz > 0.0 && !self.wait_for_slot(ctx) {
            return Ok(Next::Continue); // stopping: the core ends the loop
        }
        let mut frame = ctx.alloc(s.dtype, s.width, s.height)?;
        frame.set_frame_number(self.next_number);
        self.generator.fill(&mut frame, self.next_number)?;
        self.next_number += 1;
        let frame = match s.encoding {
            FrameEncoding::Raw => frame,
            // The raw frame goes back to the pool before the encoded one is allocated.
            encoding => self.compress(frame, encoding, ctx)?,
        };
        self.bytes_out += frame.bytes().len() as u64;
        if self.next_number.is_multiple_of(64) {
            ctx.set_counter("bytes_out", self.bytes_out);
        }
        ctx.emit(frame)?;
        Ok(Next::Continue)
    }

    fn stop(&mut self, ctx: &Context) -> Result<(), PluginError> {
        ctx.set_counter("bytes_out", self.bytes_out);
        Ok(())
    }
}

impl SimDetector {
    /// `raw` compressed into a new frame of the same shape, number and timestamp. The
    /// chunk is made in a reused buffer, then copied into a pool frame of its exact size:
    /// a worst-case-sized pool frame would hold twice the pixels' memory per queued frame.
    fn compress(
        &mut self,
        raw: FrameMut,
        encoding: FrameEncoding,
        ctx: &Context,
    ) -> Result<FrameMut, PluginError> {
        let pixels = raw.bytes();
        let elem = raw.dtype().size_bytes();
        let (sdk_encoding, max) = match encoding {
            FrameEncoding::Lz4 => (Encoding::Lz4, lz4chunk::max_compressed_len(pixels.len())),
            _ => (
                Encoding::BsLz4,
                bitshuffle::max_compressed_len(pixels.len(), elem),
            ),
        };
        if self.chunk.len() < max {
            self.chunk.resize(max, 0);
        }
        let n = match sdk_encoding {
            Encoding::Lz4 => self.lz4.compress(pixels, &mut self.chunk),
            _ => self.bslz4.compress(pixels, elem, &mut self.chunk),
        }
        .map_err(|e| PluginError::new(format!("compress frame {}: {e}", raw.frame_number())))?;
        let (dtype, width, height) = (raw.dtype(), raw.width(), raw.height());
        let raw = raw.into_frame();
        let mut out = ctx.alloc_encoded(dtype, sdk_encoding, width, height, n)?;
        out.copy_header_from(&raw);
        drop(raw);
        out.bytes_mut().copy_from_slice(&self.chunk[..n]);
        Ok(out)
    }

    /// Sleeps until frame `next_number` is due; false if the pipeline started stopping.
    fn wait_for_slot(&self, ctx: &Context) -> bool {
        let Some(t0) = self.started else { return true };
        let due = t0 + Duration::from_secs_f64(self.next_number as f64 / self.settings.rate_hz);
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

daqflow_sdk::export_plugin!(
    source SimDetector,
    name = "sim_detector",
    description = "Simulated area detector: noise + moving bars, ramp or constant frames at a set rate"
);

#[cfg(test)]
mod tests {
    use daqflow_sdk::serde_json::json;
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    fn frames(settings: daqflow_sdk::serde_json::Value, n: usize) -> Vec<Frame> {
        let mut h = Harness::new(daqflow_plugin_entry, settings).unwrap();
        h.start().unwrap();
        for _ in 0..n {
            assert_eq!(h.produce().unwrap(), Next::Continue);
        }
        h.take_emitted()
    }

    #[test]
    fn compliance() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn same_seed_same_frames_other_seed_other_frames() {
        for dtype in ["u8", "u16", "u32", "f32"] {
            let s = |seed| json!({"width": 64, "height": 48, "dtype": dtype, "rate_hz": 0, "seed": seed});
            let a = frames(s(1), 3);
            let b = frames(s(1), 3);
            let c = frames(s(2), 3);
            for i in 0..3 {
                assert_eq!(a[i].bytes(), b[i].bytes(), "{dtype} frame {i}");
                assert_eq!(a[i].frame_number(), i as u64);
                assert_eq!(a[i].shape(), [48, 64]);
                assert_eq!(a[i].dtype().name(), dtype);
            }
            assert_ne!(a[0].bytes(), c[0].bytes(), "{dtype}");
            assert_ne!(a[0].bytes(), a[1].bytes(), "{dtype}: bars move");
        }
    }

    #[test]
    fn compressed_frames_decode_to_the_raw_ones() {
        let s =
            |enc| json!({"width": 70, "height": 30, "dtype": "u32", "rate_hz": 0, "encoding": enc});
        let raw = frames(s("raw"), 3);
        for (name, encoding) in [("lz4", Encoding::Lz4), ("bslz4", Encoding::BsLz4)] {
            let enc = frames(s(name), 3);
            for (r, e) in raw.iter().zip(&enc) {
                assert_eq!(e.encoding(), encoding);
                assert_eq!((e.frame_number(), e.shape()), (r.frame_number(), r.shape()));
                assert!(e.bytes().len() < r.bytes().len(), "{name} compresses");
                let mut out = vec![0u8; r.bytes().len()];
                daqflow_codec::Decoder::default()
                    .decode(encoding, 4, e.bytes(), &mut out)
                    .unwrap();
                assert_eq!(out, r.bytes(), "{name} frame {}", r.frame_number());
            }
        }
    }

    #[test]
    fn patterns() {
        let ramp = frames(
            json!({"width": 8, "height": 4, "dtype": "u16", "pattern": "ramp", "rate_hz": 0}),
            2,
        );
        let v = ramp[1].view::<u16>().unwrap();
        assert_eq!(v[[0, 0]], 1);
        assert_eq!(v[[2, 3]], 6);
        let c = frames(
            json!({"width": 8, "height": 4, "dtype": "f32", "pattern": "constant", "value": 7.5, "rate_hz": 0}),
            1,
        );
        assert!(c[0].view::<f32>().unwrap().iter().all(|&x| x == 7.5));
    }

    #[test]
    fn ends_after_frames() {
        let mut h = Harness::new(
            daqflow_plugin_entry,
            json!({"width": 4, "height": 4, "frames": 2, "rate_hz": 0}),
        )
        .unwrap();
        h.start().unwrap();
        assert_eq!(h.produce().unwrap(), Next::Continue);
        assert_eq!(h.produce().unwrap(), Next::Continue);
        assert_eq!(h.produce().unwrap(), Next::End);
        assert_eq!(h.take_emitted().len(), 2);
    }

    #[test]
    fn settings_errors_name_the_field() {
        let e = Harness::validate(daqflow_plugin_entry, json!({"width": 0})).unwrap_err();
        assert_eq!(e[0].field, "width");
        let e = Harness::validate(daqflow_plugin_entry, json!({"dtype": "u12"})).unwrap_err();
        assert_eq!(e[0].field, "dtype");
        assert!(e[0].message.contains("u16"), "{e:?}");
        let e = Harness::validate(daqflow_plugin_entry, json!({"widht": 3})).unwrap_err();
        assert_eq!(e[0].field, "widht");
        let e = Harness::validate(daqflow_plugin_entry, json!({"rate_hz": -1})).unwrap_err();
        assert_eq!(e[0].field, "rate_hz");
    }
}

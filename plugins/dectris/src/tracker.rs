//! Series accounting, apart from the network: which series is open, which image ids came,
//! and every image or message that could not be passed on, counted per kind (one report
//! counter each) and logged once with its first example.

use std::collections::{BTreeMap, BTreeSet};

use daqflow_sdk::prelude::*;

use crate::message::{Image, Kind, Problem, SeriesStart};

/// Counters this source always reports (zero or not), besides one per [`Kind`].
pub const COUNTERS: [&str; 10] = [
    "images_received",
    "series_started",
    "series_completed",
    "images_missing",
    "images_out_of_series",
    "images_out_of_order",
    "starts_missing",
    "ends_missing",
    "ends_unmatched",
    "channels_skipped",
];

/// The series being received.
#[derive(Debug)]
struct Open {
    id: Option<u64>,
    expected: Option<u64>,
    /// One past the highest image id seen.
    next_id: u64,
    received: u64,
    /// `series/…` entries not yet put on a frame.
    meta: Option<Vec<(&'static str, MetaValue)>>,
}

/// What to put on the frame of an image that is passed on.
#[derive(Debug, PartialEq)]
pub struct Pass {
    /// `series_id` of the frame.
    pub series_id: Option<u64>,
    /// The series' description (first frame of a series only).
    pub meta: Option<Vec<(&'static str, MetaValue)>>,
}

/// Series state and counters.
#[derive(Debug, Default)]
pub struct Tracker {
    open: Option<Open>,
    counts: BTreeMap<&'static str, u64>,
    logged: BTreeSet<&'static str>,
    /// Series closed so far (by an end, or by the next start).
    pub series_done: u64,
}

impl Tracker {
    /// A tracker with every counter at zero.
    pub fn new() -> Tracker {
        let mut t = Tracker::default();
        for c in COUNTERS {
            t.counts.insert(c, 0);
        }
        for k in Kind::ALL {
            t.counts.insert(k.counter(), 0);
        }
        t
    }

    /// Adds `n` to `counter`; the first time, logs `example()` as a warning.
    fn count(&mut self, counter: &'static str, n: u64, example: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        *self.counts.entry(counter).or_insert(0) += n;
        if self.logged.insert(counter) {
            log::warn!(
                "{counter}: {} (the first one; further ones are counted in the report)",
                example()
            );
        }
    }

    /// Adds to a counter that needs no warning.
    fn add(&mut self, counter: &'static str, n: u64) {
        *self.counts.entry(counter).or_insert(0) += n;
    }

    /// Every counter and its value.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().map(|(k, v)| (*k, *v))
    }

    /// A counter's value.
    pub fn get(&self, counter: &str) -> u64 {
        self.counts.get(counter).copied().unwrap_or(0)
    }

    /// A message that could not be used.
    pub fn problem(&mut self, p: &Problem) {
        self.count(p.kind.counter(), 1, || p.detail.clone());
    }

    /// True while a series is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// `(series id, images received, images announced)` of the open series.
    pub fn open_state(&self) -> Option<(Option<u64>, u64, Option<u64>)> {
        self.open.as_ref().map(|o| (o.id, o.received, o.expected))
    }

    /// Closes the open series; `ended`: by its end message (else it is counted as
    /// missing its end). Images announced but not received count as missing.
    fn close(&mut self, ended: bool) {
        let Some(o) = self.open.take() else { return };
        let short = o.expected.map_or(0, |e| e.saturating_sub(o.next_id));
        let id = o.id;
        self.count("images_missing", short, || {
            format!(
                "series {} ended after image {} of {}: {short} images never came",
                show(id),
                o.next_id,
                o.expected.unwrap_or(0)
            )
        });
        if !ended {
            self.count("ends_missing", 1, || {
                format!("series {} was not ended by an end message", show(id))
            });
        }
        self.series_done += 1;
        self.add("series_completed", 1);
        log::info!(
            "series {} done: {} images received{}",
            show(id),
            o.received,
            o.expected
                .map(|e| format!(" of {e} announced"))
                .unwrap_or_default()
        );
    }

    /// A start message. Returns the number of series closed so far (a start closes an
    /// open series that had no end).
    pub fn start(&mut self, s: SeriesStart) {
        self.close(false);
        log::info!(
            "series {} starts: {} images announced",
            show(s.series_id),
            s.number_of_images
                .map_or_else(|| "no number of".to_owned(), |n| n.to_string())
        );
        self.add("series_started", 1);
        self.open = Some(Open {
            id: s.series_id,
            expected: s.number_of_images,
            next_id: 0,
            received: 0,
            meta: Some(s.meta),
        });
    }

    /// A detector config sent apart from its header (v1): merged into the open series'
    /// description while its first frame is still to come.
    pub fn config(&mut self, s: SeriesStart) {
        if let Some(o) = self.open.as_mut() {
            if let Some(meta) = o.meta.as_mut() {
                let mut merged = SeriesStart {
                    meta: std::mem::take(meta),
                    ..SeriesStart::default()
                };
                for (k, v) in s.meta {
                    merged.put(k, v);
                }
                *meta = merged.meta;
            }
            if o.expected.is_none() {
                o.expected = s.number_of_images;
            }
        }
    }

    /// An end message. True when it closed the open series.
    pub fn end(&mut self, series_id: Option<u64>) -> bool {
        match &self.open {
            Some(o) if o.id.is_none() || series_id.is_none() || o.id == series_id => {
                self.close(true);
                true
            }
            open => {
                let open_id = open.as_ref().map(|o| o.id);
                self.count("ends_unmatched", 1, || match open_id {
                    Some(id) => format!(
                        "end of series {} while series {} is open",
                        show(series_id),
                        show(id)
                    ),
                    None => format!("end of series {} with no series open", show(series_id)),
                });
                false
            }
        }
    }

    /// An image: `Some` when it is to be passed on, `None` when it was counted and dropped.
    pub fn image(&mut self, img: &Image<'_>) -> Option<Pass> {
        self.add("channels_skipped", img.channels_skipped);
        if self.open.is_none() {
            self.count("starts_missing", 1, || {
                format!(
                    "image {} of series {} came without a start message; passed on as a series of its own",
                    img.image_id,
                    show(img.series_id)
                )
            });
            self.open = Some(Open {
                id: img.series_id,
                expected: None,
                next_id: img.image_id,
                received: 0,
                meta: None,
            });
            self.add("series_started", 1);
        }
        let o = self.open.as_mut().expect("opened above");
        if let (Some(open), Some(got)) = (o.id, img.series_id)
            && open != got
        {
            self.count("images_out_of_series", 1, || {
                format!(
                    "image {} of series {got} while series {open} is open",
                    img.image_id
                )
            });
            return None;
        }
        let o = self.open.as_mut().expect("opened above");
        let (next, id) = (o.next_id, img.image_id);
        o.received += 1;
        o.next_id = o.next_id.max(id + 1);
        let pass = Pass {
            series_id: o.id.or(img.series_id),
            meta: o.meta.take(),
        };
        if id > next {
            self.count("images_missing", id - next, || {
                format!(
                    "image {id} came after image {}: {} missing",
                    next.wrapping_sub(1),
                    id - next
                )
            });
        } else if id < next {
            self.count("images_out_of_order", 1, || {
                format!("image {id} came after image {}", next - 1)
            });
        }
        self.add("images_received", 1);
        Some(pass)
    }

    /// The run stops: an open series is closed (missing its end).
    pub fn finish(&mut self) {
        self.close(false);
    }
}

fn show(id: Option<u64>) -> String {
    id.map_or_else(|| "(no id)".to_owned(), |i| i.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(series: u64, id: u64) -> Image<'static> {
        Image {
            series_id: Some(series),
            image_id: id,
            dtype: DType::U8,
            encoding: Encoding::Raw,
            width: 1,
            height: 1,
            prefix: Vec::new(),
            payload: &[0],
            channels_skipped: 0,
        }
    }

    fn start(series: u64, n: u64) -> SeriesStart {
        let mut s = SeriesStart {
            series_id: Some(series),
            number_of_images: Some(n),
            meta: Vec::new(),
        };
        s.put("series/count_time", MetaValue::F64(0.5));
        s
    }

    #[test]
    fn a_clean_series_counts_nothing_wrong() {
        let mut t = Tracker::new();
        t.start(start(3, 2));
        let p = t.image(&img(3, 0)).unwrap();
        assert_eq!(p.series_id, Some(3));
        assert_eq!(p.meta.unwrap().len(), 1);
        assert!(t.image(&img(3, 1)).unwrap().meta.is_none());
        assert!(t.end(Some(3)));
        assert_eq!(t.get("images_received"), 2);
        assert_eq!(t.get("series_completed"), 1);
        for c in ["images_missing", "ends_missing", "starts_missing"] {
            assert_eq!(t.get(c), 0, "{c}");
        }
    }

    #[test]
    fn gaps_short_series_and_strays_are_counted() {
        let mut t = Tracker::new();
        t.start(start(1, 10));
        t.image(&img(1, 0)).unwrap();
        t.image(&img(1, 3)).unwrap(); // 1, 2 missing
        assert!(t.image(&img(2, 4)).is_none()); // another series
        t.image(&img(1, 2)).unwrap(); // late
        t.finish(); // 4..10 missing, no end
        assert_eq!(t.get("images_missing"), 2 + 6);
        assert_eq!(t.get("images_out_of_series"), 1);
        assert_eq!(t.get("images_out_of_order"), 1);
        assert_eq!(t.get("ends_missing"), 1);
        assert!(!t.end(Some(9)));
        assert_eq!(t.get("ends_unmatched"), 1);
    }

    #[test]
    fn an_image_without_start_opens_a_series() {
        let mut t = Tracker::new();
        let p = t.image(&img(7, 0)).unwrap();
        assert_eq!(p.series_id, Some(7));
        assert_eq!(t.get("starts_missing"), 1);
        assert!(t.end(Some(7)));
        assert_eq!(t.series_done, 1);
    }
}

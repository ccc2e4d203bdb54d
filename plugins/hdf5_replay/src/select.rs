//! The `frames` setting: a Python-style slice `"start:stop:step"` (or one index) over all
//! frames of all files, resolved like Python's `slice.indices`.

/// A parsed `frames` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
    /// `"7"`: one frame, an error-free empty selection when out of range.
    single: bool,
}

/// A resolved selection: `count` frames `start, start + step, …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indices {
    /// First index.
    pub start: u64,
    /// Signed distance between consecutive indices (never 0).
    pub step: i64,
    /// Number of indices.
    pub count: u64,
}

impl Indices {
    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `k`-th index (`k < count`).
    pub fn get(&self, k: u64) -> u64 {
        (self.start as i64 + self.step * k as i64) as u64
    }
}

fn parse_int(s: &str, text: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.replace('_', "").parse::<i64>().map(Some).map_err(|_| {
        format!("`{text}`: `{s}` is not an integer; write \"start:stop:step\" like \"100:200:2\"")
    })
}

impl Selection {
    /// Parses `"start:stop:step"`, any part optional, or one index `"7"`.
    pub fn parse(text: &str) -> Result<Selection, String> {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 {
            return Err(format!(
                "`{text}` has {} parts; write \"start:stop:step\" like \"100:200:2\"",
                parts.len()
            ));
        }
        if parts.len() == 1 {
            let Some(i) = parse_int(parts[0], text)? else {
                return Err("is empty; write \":\" for all frames".into());
            };
            let stop = if i == -1 { None } else { Some(i + 1) };
            return Ok(Selection {
                start: Some(i),
                stop,
                step: 1,
                single: true,
            });
        }
        let step = match parts.get(2) {
            Some(s) => parse_int(s, text)?.unwrap_or(1),
            None => 1,
        };
        if step == 0 {
            return Err(format!("`{text}`: the step must not be 0"));
        }
        Ok(Selection {
            start: parse_int(parts[0], text)?,
            stop: parse_int(parts[1], text)?,
            step,
            single: false,
        })
    }

    /// The indices selected among `len` frames (Python's `range(*slice.indices(len))`).
    pub fn indices(&self, len: u64) -> Indices {
        let len = len as i64;
        let empty = Indices {
            start: 0,
            step: 1,
            count: 0,
        };
        if self.single {
            let i = self.start.unwrap_or(0);
            let i = if i < 0 { i + len } else { i };
            return if (0..len).contains(&i) {
                Indices {
                    start: i as u64,
                    step: 1,
                    count: 1,
                }
            } else {
                empty
            };
        }
        let step = self.step;
        let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
        let clamp = |v: Option<i64>, default: i64| match v {
            None => default,
            Some(v) if v < 0 => (v + len).max(lower),
            Some(v) => v.min(upper),
        };
        let start = clamp(self.start, if step < 0 { upper } else { lower });
        let stop = clamp(self.stop, if step < 0 { lower } else { upper });
        let count = if step > 0 && stop > start {
            (stop - start + step - 1) / step
        } else if step < 0 && start > stop {
            (start - stop + (-step) - 1) / (-step)
        } else {
            0
        };
        if count == 0 {
            return empty;
        }
        Indices {
            start: start as u64,
            step,
            count: count as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str, len: u64) -> Vec<u64> {
        let ix = Selection::parse(text).unwrap().indices(len);
        (0..ix.count).map(|k| ix.get(k)).collect()
    }

    #[test]
    fn slices_like_python() {
        // Expected values from Python: list(range(10))[s]
        assert_eq!(list(":", 5), vec![0, 1, 2, 3, 4]);
        assert_eq!(list("2:", 5), vec![2, 3, 4]);
        assert_eq!(list(":3", 5), vec![0, 1, 2]);
        assert_eq!(list("::2", 5), vec![0, 2, 4]);
        assert_eq!(list("1:8:3", 10), vec![1, 4, 7]);
        assert_eq!(list("-3:", 10), vec![7, 8, 9]);
        assert_eq!(list("::-1", 4), vec![3, 2, 1, 0]);
        assert_eq!(list("8:2:-2", 10), vec![8, 6, 4]);
        assert_eq!(list("-1:-4:-1", 10), vec![9, 8, 7]);
        assert_eq!(list("5:100", 7), vec![5, 6]);
        assert_eq!(list("20:", 7), Vec::<u64>::new());
        assert_eq!(list("-100:2", 7), vec![0, 1]);
        assert_eq!(list("3:3", 7), Vec::<u64>::new());
        assert_eq!(list("7", 10), vec![7]);
        assert_eq!(list("-1", 10), vec![9]);
        assert_eq!(list("10", 10), Vec::<u64>::new());
        assert_eq!(list("1_000:1_002", 2000), vec![1000, 1001]);
    }

    #[test]
    fn bad_text_says_the_form() {
        for bad in ["", "a:b", "1:2:3:4", "::0", "1.5:"] {
            let e = Selection::parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(Selection::parse("::0").unwrap_err().contains("step"));
        assert!(
            Selection::parse("x:")
                .unwrap_err()
                .contains("start:stop:step")
        );
    }
}

//! Settings of the `hdf5` sink: the user reference shown by `daqflow plugins`, with named
//! defaults, plus the rendering of path placeholders. Run state lives in `sink.rs`.

use std::path::PathBuf;

use daqflow_sdk::prelude::*;

/// Compression of each chunk (= each frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "daqflow_sdk::schemars")]
pub enum Compression {
    /// Raw chunks: readable by any HDF5 reader, no plugin needed.
    None,
    /// LZ4, HDF5 filter 32004 (h5py: `import hdf5plugin`).
    Lz4,
    /// Bitshuffle + LZ4, HDF5 filter 32008, as written by Dectris detectors
    /// (h5py: `import hdf5plugin`).
    Bslz4,
}

/// Settings of the `hdf5` sink.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "daqflow_sdk::schemars")]
pub struct Settings {
    /// Output file. Placeholders: `{run}` (the run id, see `run_id`), `{node}` (this
    /// node's name), `{date}` (UTC `YYYYMMDD`), `{time}` (UTC `HHMMSS`), `{series}` (the
    /// detector series of the frames, from their `series_id`: one file per series, each
    /// created at its series' first frame). The directory must exist. With `frames_per_file`, this is the master file and the parts are named
    /// `<stem>_data_000001.h5`, `<stem>_data_000002.h5`, … beside it.
    pub path: String,
    /// Value of `{run}`. Default: the UTC start time, `YYYYMMDDTHHMMSSZ`.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Chunk compression (one chunk = one frame). `"bslz4"` is what Dectris detectors
    /// write and reads fastest; `"none"` needs no plugin to read. Frames that
    /// arrive already compressed (LZ4 / bitshuffle-LZ4 encoding) are stored as they are
    /// when they match the file's compression, and converted otherwise.
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// Compression worker threads (they run outside the HDF5 lock); `0` = one per CPU core.
    #[serde(default)]
    pub compression_threads: usize,
    /// Start a new part file after this many frames; `0` = one file. With rotation, the
    /// file at `path` is a master whose virtual dataset presents all parts as one `data`;
    /// it is rewritten as each part completes.
    #[serde(default)]
    pub frames_per_file: u64,
    /// Single-writer/multiple-reader mode: live readers (h5py `swmr=True`) see frames while
    /// the run goes on. The file needs HDF5 ≥ 1.10 to read. After a crash, open it with
    /// `swmr=True`, or run `h5clear -s FILE` once to open it normally. Metadata keys must
    /// be present from the first frame (no datasets can be added in SWMR mode).
    #[serde(default)]
    pub swmr: bool,
    /// Flush the file every this many frames, so that a crash, a SIGKILL or a full disk
    /// leaves a readable file holding every frame up to the last flush. Default: every frame
    /// with `swmr`, otherwise `0` = only when the file is closed.
    #[serde(default)]
    pub flush_every_frames: Option<u64>,
    /// Also flush when this many milliseconds have passed since the last flush and frames
    /// were written since; checked while waiting for frames too, so the last frames before
    /// a pause reach the disk (and SWMR readers) without waiting for the next frame.
    /// Default: none (frame counts only).
    #[serde(default)]
    pub flush_interval_ms: Option<u64>,
    /// Replace existing files. When `false`, an existing file is an error, never clobbered.
    #[serde(default)]
    pub overwrite: bool,
    /// HDF5 path of the frame dataset; `frame_number`, `timestamp` and `frame_metadata/<key>`
    /// (the frames' metadata) go beside it, and `/<entry>/data/data` (the NXdata group)
    /// links to it.
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Frames held by the writer at most (queued for compression, compressing, waiting to be
    /// written in order). Bounds the writer's memory; a full writer blocks its input lane.
    /// `0` = four per compression thread, at least 8.
    #[serde(default)]
    pub max_frames_in_flight: usize,
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Bslz4 => "bslz4",
        })
    }
}

fn default_compression() -> Compression {
    Compression::None
}

/// Default of `dataset`.
pub const DEFAULT_DATASET: &str = "/entry/instrument/detector/data";

fn default_dataset() -> String {
    DEFAULT_DATASET.to_owned()
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        if self.path.trim().is_empty() {
            errors.push(SettingsError::new("path", "must not be empty"));
        }
        if let Some(bad) = unknown_placeholder(&self.path) {
            errors.push(SettingsError::new(
                "path",
                format!(
                    "unknown placeholder `{{{bad}}}` (known: {{run}} {{node}} {{date}} {{time}} {{series}})"
                ),
            ));
        }
        let parts: Vec<&str> = self.dataset.split('/').collect();
        if !self.dataset.starts_with('/')
            || parts.len() < 3
            || parts[1..]
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            errors.push(SettingsError::new(
                "dataset",
                format!(
                    "`{}` must be an absolute HDF5 path below a top-level group, like `{DEFAULT_DATASET}`",
                    self.dataset
                ),
            ));
        }
        if parts.len() >= 3 && parts[2] == "data" {
            errors.push(SettingsError::new(
                "dataset",
                "`/<entry>/data` is the NXdata group that links the frames; put the dataset elsewhere",
            ));
        }
        if self.flush_every_frames == Some(0) && self.swmr {
            errors.push(SettingsError::new(
                "flush_every_frames",
                "0 never flushes, so SWMR readers would see nothing; leave it unset or set N ≥ 1",
            ));
        }
        if self.flush_interval_ms == Some(0) {
            errors.push(SettingsError::new(
                "flush_interval_ms",
                "must be at least 1; leave it unset to flush by frame count only",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Settings {
    /// Frames between flushes, `0` = only at close.
    pub fn flush_every(&self) -> u64 {
        self.flush_every_frames
            .unwrap_or(if self.swmr { 1 } else { 0 })
    }

    /// Compression worker threads to start.
    pub fn threads(&self) -> usize {
        if self.compression_threads > 0 {
            return self.compression_threads;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Bound on frames held by the writer.
    pub fn in_flight(&self) -> usize {
        if self.max_frames_in_flight > 0 {
            return self.max_frames_in_flight;
        }
        (4 * self.threads()).max(8)
    }

    /// True when `path` has `{series}`: one file per detector series.
    pub fn per_series(&self) -> bool {
        self.path.contains("{series}")
    }

    /// `path` with its placeholders replaced (`{series}` with `series_id`, or `0` when
    /// the frames carry none).
    pub fn render_path(
        &self,
        run_id: &str,
        node: &str,
        start: std::time::SystemTime,
        series_id: Option<u64>,
    ) -> PathBuf {
        let stamp = crate::time::iso8601(start);
        // "2026-11-22T00:06:11.123456Z" -> date "20261122", time "000611"
        let date: String = stamp[..10].chars().filter(char::is_ascii_digit).collect();
        let time: String = stamp[11..19].chars().filter(char::is_ascii_digit).collect();
        PathBuf::from(
            self.path
                .replace("{run}", run_id)
                .replace("{node}", node)
                .replace("{date}", &date)
                .replace("{time}", &time)
                .replace("{series}", &series_id.unwrap_or(0).to_string()),
        )
    }
}

/// The default run id: UTC start time as `YYYYMMDDTHHMMSSZ`.
pub fn default_run_id(start: std::time::SystemTime) -> String {
    let stamp = crate::time::iso8601(start);
    let date: String = stamp[..10].chars().filter(char::is_ascii_digit).collect();
    let time: String = stamp[11..19].chars().filter(char::is_ascii_digit).collect();
    format!("{date}T{time}Z")
}

fn unknown_placeholder(path: &str) -> Option<String> {
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !matches!(name, "run" | "node" | "date" | "time" | "series") {
            return Some(name.to_owned());
        }
        rest = &after[close + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Settings {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_and_placeholders() {
        let s = parse(r#"path = "/tmp/scan_{run}_{node}_{date}.h5""#);
        assert_eq!(s.compression, Compression::None);
        assert_eq!(s.dataset, DEFAULT_DATASET);
        assert_eq!(s.flush_every(), 0);
        assert!(s.validate().is_ok());
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let p = s.render_path("R1", "file", t, None);
        assert_eq!(p, PathBuf::from("/tmp/scan_R1_file_20261118.h5"));
        assert_eq!(default_run_id(t), "20261118T110640Z");
        let s = parse(r#"path = "/tmp/scan_{series}.h5""#);
        assert!(s.validate().is_ok() && s.per_series());
        assert_eq!(
            s.render_path("R1", "file", t, Some(7)),
            PathBuf::from("/tmp/scan_7.h5")
        );
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let s = parse(r#"path = "x_{nope}.h5""#);
        assert!(format!("{:?}", s.validate().unwrap_err()).contains("nope"));
        let s = parse("path = \"x.h5\"\ndataset = \"data\"");
        assert!(format!("{:?}", s.validate().unwrap_err()).contains("dataset"));
        let s = parse("path = \"x.h5\"\nswmr = true\nflush_every_frames = 0");
        assert!(format!("{:?}", s.validate().unwrap_err()).contains("flush_every_frames"));
        assert!(toml::from_str::<Settings>("path = \"x\"\nbogus = 1").is_err());
        assert!(toml::from_str::<Settings>("path = \"x\"\ncompression = \"zstd\"").is_err());
    }
}

//! The settings of `python` and `python_sink`, and what `daqflow validate` checks without
//! running the script: the file exists and compiles, the functions are defined at its top
//! level with a usable signature, and the virtualenv matches the linked Python.

use std::path::{Path, PathBuf};

use daqflow_sdk::prelude::*;
use daqflow_sdk::serde_json::{Map, Value};

use crate::{check, interp};

/// Settings of `python` (filter) and `python_sink` (sink).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Python file. A relative path starts at the pipeline file's directory. Its
    /// directory is put first on `sys.path`, so the script can import modules next to it.
    #[schemars(extend("x-daqflow-path" = "pipeline-relative"))]
    pub script: String,
    /// The function called on every frame: `def process(frame, meta)`. A filter's return
    /// value: `None` (or `True`) emits the frame (with in-place edits), a 2-D numpy array
    /// of uint8/uint16/uint32/float32 is emitted as a new frame, `False` drops the frame.
    #[serde(default = "default_function")]
    pub function: String,
    /// Optional function called once before the first frame, as `setup(args)`.
    #[serde(default)]
    pub setup: Option<String>,
    /// Optional function called once after the last frame, as `teardown()`.
    #[serde(default)]
    pub teardown: Option<String>,
    /// A table handed to `setup` as a dict.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// A virtualenv directory (made by `python3.11 -m venv`) whose packages the script
    /// uses; `~` is the home directory, a relative path starts at the pipeline file.
    /// Default: the activated virtualenv (`VIRTUAL_ENV`), else the Python the plugin was
    /// built against. One interpreter serves the whole process: every Python node must
    /// name the same one.
    #[serde(default)]
    #[schemars(extend("x-daqflow-path" = "pipeline-relative"))]
    pub venv: Option<String>,
    /// What an exception in `function` does: `fail` fails the frame and the run (the
    /// traceback is in the log and the report); `skip` counts the frame in
    /// `frames_skipped`, logs the first traceback, and goes on.
    #[serde(default)]
    pub on_error: OnError,
    /// True: the function only reads its frame. The array is read-only (a write raises),
    /// and a frame shared with another consumer is not copied first. A sink's frames are
    /// always read-only.
    #[serde(default)]
    pub readonly: bool,
    /// True: `function` depends on nothing but its frame (no state kept between calls),
    /// so the node may have `workers = N`. Python runs one thread at a time; workers help
    /// only where numpy releases the interpreter lock (large array operations).
    #[serde(default)]
    pub parallel: bool,
}

/// See [`Settings::on_error`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Fail the frame and the run.
    #[default]
    Fail,
    /// Count the frame and go on.
    Skip,
}

fn default_function() -> String {
    "process".into()
}

impl Settings {
    /// The script's path (`~` expanded).
    pub fn script_path(&self) -> PathBuf {
        expand_home(&self.script)
    }

    /// The virtualenv to use: the setting, else `VIRTUAL_ENV`, else none.
    pub fn venv_path(&self) -> Option<PathBuf> {
        match &self.venv {
            Some(v) => Some(expand_home(v)),
            None => std::env::var_os("VIRTUAL_ENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// `~/x` → `$HOME/x`.
fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ if p == "~" => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| p.into()),
        _ => PathBuf::from(p),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_alphabetic())
        && c.all(|x| x == '_' || x.is_alphanumeric())
}

impl PluginSettings for Settings {
    fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let names = [
            ("function", Some(&self.function)),
            ("setup", self.setup.as_ref()),
            ("teardown", self.teardown.as_ref()),
        ];
        for (field, name) in names {
            if let Some(n) = name
                && !is_identifier(n)
            {
                errors.push(SettingsError::new(
                    field,
                    format!("{n:?} is not a Python function name"),
                ));
            }
        }
        let venv = self.venv_path();
        if let Some(v) = &venv
            && let Err(msg) = interp::check_venv(v)
        {
            let field = if self.venv.is_some() { "venv" } else { "" };
            errors.push(SettingsError::new(field, msg));
        }
        let script = self.script_path();
        let source = match std::fs::read_to_string(&script) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(SettingsError::new(
                    "script",
                    format!(
                        "cannot read {}: {e} (a relative path starts at the pipeline file's directory)",
                        script.display()
                    ),
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Err(msg) = interp::ensure(venv.as_deref()) {
            return Err(vec![SettingsError::new(
                if self.venv.is_some() { "venv" } else { "" },
                msg,
            )]);
        }
        if let Some(source) = source {
            let wanted = check::Wanted {
                function: &self.function,
                setup: self.setup.as_deref(),
                teardown: self.teardown.as_deref(),
            };
            errors.extend(check::check_script(&script, &source, &wanted));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

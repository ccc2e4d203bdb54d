//! The errors a plugin returns and receives: [`PluginError`] (with an [`ErrorKind`] saying
//! why a host call failed, so a plugin never has to read error text) and
//! [`SettingsError`] (one settings problem, naming its field).

use std::any::Any;
use std::fmt;

/// Why an operation failed. Grows with the ABI: match it with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin's own failure (a file that cannot be written, a device error).
    Failed,
    /// The pipeline is aborting and the call could not complete; not a plugin failure.
    /// The frame involved is counted as lost by the core.
    Aborted,
    /// `emit` from a node without outputs (a sink).
    NoOutputs,
    /// `emit` after the node's outputs were closed (after `stop`, or from a worker
    /// thread that outlived it).
    OutputsClosed,
    /// The pool can never hold the frame asked for (bigger than `[pipeline] pool_mb`),
    /// or the frame description is invalid.
    Alloc,
}

/// An error a plugin returns from any of its methods. The core logs it once, naming the
/// node, stops that node and drains the pipeline in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    message: String,
    kind: ErrorKind,
}

impl PluginError {
    /// An error with a message saying the operation and the object
    /// (`"append frame 812 to /data/run.h5: No space left on device"`).
    pub fn new(message: impl Into<String>) -> Self {
        PluginError::with_kind(ErrorKind::Failed, message)
    }

    /// An error of a given kind.
    pub fn with_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            message: message.into(),
            kind,
        }
    }

    /// The pipeline is aborting and the call could not complete; not a plugin failure.
    /// Returned by [`Context::emit`](crate::Context::emit) and
    /// [`Context::alloc`](crate::Context::alloc): propagate it with `?`.
    pub fn aborted() -> Self {
        PluginError::with_kind(ErrorKind::Aborted, "pipeline aborted")
    }

    /// True for [`ErrorKind::Aborted`].
    pub fn is_aborted(&self) -> bool {
        self.kind == ErrorKind::Aborted
    }

    /// Why it failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` in front of its message (`"write frame 3"`).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(s: String) -> Self {
        PluginError::new(s)
    }
}

impl From<&str> for PluginError {
    fn from(s: &str) -> Self {
        PluginError::new(s)
    }
}

/// A settings problem, naming the field (empty for the table as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The settings key (`"width"`), or a path (`"roi.x"`), or empty.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SettingsError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

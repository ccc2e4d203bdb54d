//! Loading one plugin library: `dlopen` through libloading, the ABI handshake (magic and
//! ABI version read from the descriptor's fixed prefix before any plugin function is
//! called), the checked vtable, and the two calls a plugin answers without an instance
//! (its settings schema, a settings check). Finding plugins by name is [`registry`]'s job.
//!
//! Libraries are never unloaded: frames, threads and thread-locals of a plugin may outlive
//! any point where unloading would look safe.

mod registry;
mod schema;

use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};

use daqflow_sdk::abi::{self, AbiPrefix, PluginDescriptor, RStr};
use serde::Serialize;
use thiserror::Error;

pub use registry::{Registry, ResolveError, SearchPath, is_candidate};
pub use schema::{SettingDoc, describe_settings};

use crate::config::NodeKind;
use crate::runtime::error_sink::ErrorSink;
use crate::runtime::host_api::HOST_API;

/// Why a library could not be used as a plugin. Each names the file and the fix.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// dlopen failed.
    #[error("{path}: cannot load as a shared library: {detail}")]
    NotLoadable {
        /// The file.
        path: PathBuf,
        /// dlerror() text.
        detail: String,
    },
    /// A library without the entry symbol.
    #[error(
        "{path}: not a daqflow plugin: it does not export `{}` (a plugin exports it with \
         daqflow_sdk::export_plugin!)",
        abi::ENTRY_SYMBOL
    )]
    MissingSymbol {
        /// The file.
        path: PathBuf,
    },
    /// The descriptor does not start with the magic.
    #[error(
        "{path}: `{}` does not return a daqflow plugin descriptor (bad magic {magic:#018x}); \
         the library is not a daqflow plugin or is corrupt",
        abi::ENTRY_SYMBOL
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What was found.
        magic: u64,
    },
    /// ABI version mismatch.
    #[error(
        "{path}: plugin ABI {plugin_major}.{plugin_minor} is not supported by this daqflow \
         (ABI {core_major}.{core_minor}); rebuild the plugin against daqflow-sdk {sdk} \
         (ABI {core_major}.x), or use a daqflow release with ABI {plugin_major}"
    )]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// The plugin's ABI major.
        plugin_major: u32,
        /// The plugin's ABI minor.
        plugin_minor: u32,
        /// Ours.
        core_major: u32,
        /// Ours.
        core_minor: u32,
        /// SDK version to rebuild with.
        sdk: &'static str,
    },
    /// The descriptor has values this core cannot interpret.
    #[error("{path}: invalid plugin descriptor: {what}")]
    BadDescriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// Which plugin kind a descriptor declares.
pub fn kind_of(code: u32) -> Option<NodeKind> {
    match code {
        abi::KIND_SOURCE => Some(NodeKind::Source),
        abi::KIND_FILTER => Some(NodeKind::Filter),
        abi::KIND_SINK => Some(NodeKind::Sink),
        _ => None,
    }
}

/// What a plugin needs from its input lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputRequirement {
    /// Any lane.
    Any,
    /// Lossless only.
    Lossless,
    /// Defaults to `latest`.
    PrefersLatest,
}

/// A loaded plugin library.
#[derive(Clone)]
pub struct Plugin {
    /// The library file.
    pub path: PathBuf,
    /// Its name (`plugin = "..."`).
    pub name: String,
    /// Source, filter or sink.
    pub kind: NodeKind,
    /// The plugin's version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// SDK it was built with.
    pub sdk_version: String,
    /// (major, minor).
    pub abi: (u32, u32),
    /// Input lane requirement.
    pub input: InputRequirement,
    /// Built with `panic = "abort"`: its panics end the process.
    pub panic_abort: bool,
    /// The entry points, checked non-null at load.
    pub(crate) vt: VTable,
}

/// A plugin's entry points after the loader checked the required ones are present.
#[derive(Clone, Copy)]
pub(crate) struct VTable {
    pub settings_schema: abi::SettingsSchemaFn,
    pub validate_settings: abi::ValidateSettingsFn,
    pub create: abi::CreateFn,
    pub start: abi::InstanceFn,
    pub next: Option<abi::InstanceFn>,
    pub push: Option<abi::PushFn>,
    pub stop: abi::InstanceFn,
    pub destroy: abi::DestroyFn,
    pub output_format: Option<abi::OutputFormatFn>,
    pub input_format: Option<abi::InputFormatFn>,
    pub parallel: Option<abi::ParallelFn>,
}

/// Size of an ABI 1.0/1.1 descriptor: everything before the 1.2 vtable entries.
const DESCRIPTOR_SIZE_1_1: usize = std::mem::offset_of!(PluginDescriptor, vtable)
    + std::mem::offset_of!(abi::PluginVTable, output_format);

/// What a node's plugin says about frame formats, from its settings alone.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatAnswer {
    /// The format of the frames it emits (sources, filters), or "accepted" for a sink
    /// (then the input format, passed through for reporting).
    Known(daqflow_sdk::FrameFormat),
    /// Known only at run time (a network detector; a filter whose output depends on the
    /// frames), or the plugin predates formats (ABI < 1.2): accepts anything.
    Unknown,
    /// The input format is refused: `(field, message)` per problem.
    Refused(Vec<(String, String)>),
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .finish()
    }
}

/// An owned copy of a descriptor string.
///
/// # Safety
///
/// `s` must point to `len` readable bytes that live for the call (descriptor
/// strings are `'static` in a library that is never unloaded).
unsafe fn rstr(s: RStr) -> String {
    // SAFETY: descriptor strings are 'static in the (never unloaded) library.
    unsafe { s.as_str() }.into_owned()
}

impl Plugin {
    /// Loads the library at `path` and checks its descriptor.
    pub fn load(path: &Path) -> Result<Plugin, LoadError> {
        let path = path.to_path_buf();
        // SAFETY: loading a library runs its initialisers; that is what loading a plugin
        // means. Plugins are trusted code chosen by the user.
        let lib =
            unsafe { libloading::Library::new(&path) }.map_err(|e| LoadError::NotLoadable {
                path: path.clone(),
                detail: dl_detail(&e),
            })?;
        // Never unloaded (see module docs).
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the symbol type is the documented entry signature.
        let entry: abi::EntryFn =
            match unsafe { lib.get::<abi::EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) } {
                Ok(sym) => *sym,
                Err(_) => return Err(LoadError::MissingSymbol { path }),
            };
        // SAFETY: the entry returns a pointer to static data (checked below before use).
        let ptr = unsafe { entry() };
        if ptr.is_null() {
            return Err(LoadError::BadDescriptor {
                path,
                what: "the entry point returned a null descriptor".into(),
            });
        }
        // Only the fixed-size prefix is read before the versions are known to match.
        // SAFETY: every descriptor of every ABI starts with an AbiPrefix.
        let prefix: AbiPrefix = unsafe { std::ptr::read_unaligned(ptr as *const AbiPrefix) };
        if prefix.magic != abi::MAGIC {
            return Err(LoadError::BadMagic {
                path,
                magic: prefix.magic,
            });
        }
        if prefix.abi_major != abi::ABI_MAJOR || prefix.abi_minor > abi::ABI_MINOR {
            return Err(LoadError::AbiMismatch {
                path,
                plugin_major: prefix.abi_major,
                plugin_minor: prefix.abi_minor,
                core_major: abi::ABI_MAJOR,
                core_minor: abi::ABI_MINOR,
                sdk: daqflow_sdk::export::SDK_VERSION,
            });
        }
        // Later minors append vtable entries; an older plugin's descriptor ends before them.
        let needed = if prefix.abi_minor >= 2 {
            std::mem::size_of::<PluginDescriptor>()
        } else {
            DESCRIPTOR_SIZE_1_1
        };
        if (prefix.struct_size as usize) < needed {
            return Err(LoadError::BadDescriptor {
                path,
                what: format!(
                    "descriptor is {} bytes, ABI {}.{} needs {needed}",
                    prefix.struct_size, prefix.abi_major, prefix.abi_minor,
                ),
            });
        }
        if !(ptr as usize).is_multiple_of(std::mem::align_of::<PluginDescriptor>()) {
            return Err(LoadError::BadDescriptor {
                path,
                what: "descriptor is misaligned".into(),
            });
        }
        // SAFETY: magic and version match and the descriptor holds at least `needed` bytes:
        // a PluginDescriptor whose fields past `struct_size` must not be read.
        let desc: &'static PluginDescriptor = unsafe { &*ptr };
        let has_1_2 = prefix.abi_minor >= 2;
        let kind = kind_of(desc.kind).ok_or_else(|| LoadError::BadDescriptor {
            path: path.clone(),
            what: format!("unknown plugin kind code {}", desc.kind),
        })?;
        let input = match desc.input_lane {
            abi::INPUT_ANY => InputRequirement::Any,
            abi::INPUT_LOSSLESS => InputRequirement::Lossless,
            abi::INPUT_PREFERS_LATEST => InputRequirement::PrefersLatest,
            other => {
                return Err(LoadError::BadDescriptor {
                    path,
                    what: format!("unknown input lane code {other}"),
                });
            }
        };
        let v = &desc.vtable;
        let missing = |what: &str| LoadError::BadDescriptor {
            path: path.clone(),
            what: format!("the vtable entry `{what}` is NULL"),
        };
        let vt = VTable {
            settings_schema: v
                .settings_schema
                .ok_or_else(|| missing("settings_schema"))?,
            validate_settings: v
                .validate_settings
                .ok_or_else(|| missing("validate_settings"))?,
            create: v.create.ok_or_else(|| missing("create"))?,
            start: v.start.ok_or_else(|| missing("start"))?,
            next: v.next,
            push: v.push,
            stop: v.stop.ok_or_else(|| missing("stop"))?,
            destroy: v.destroy.ok_or_else(|| missing("destroy"))?,
            // ABI 1.2 entries: only inside a descriptor that has them (checked above).
            output_format: if has_1_2 { v.output_format } else { None },
            input_format: if has_1_2 { v.input_format } else { None },
            parallel: if has_1_2 { v.parallel } else { None },
        };
        match kind {
            NodeKind::Source if vt.next.is_none() => return Err(missing("next")),
            NodeKind::Filter | NodeKind::Sink if vt.push.is_none() => return Err(missing("push")),
            _ => {}
        }
        // SAFETY: descriptor strings are 'static.
        let name = unsafe { rstr(desc.name) };
        if name.is_empty() {
            return Err(LoadError::BadDescriptor {
                path,
                what: "empty plugin name".into(),
            });
        }
        Ok(Plugin {
            path,
            name,
            kind,
            // SAFETY: as above.
            version: unsafe { rstr(desc.version) },
            // SAFETY: as above.
            description: unsafe { rstr(desc.description) },
            // SAFETY: as above.
            sdk_version: unsafe { rstr(desc.sdk_version) },
            abi: (prefix.abi_major, prefix.abi_minor),
            input,
            panic_abort: desc.flags & abi::FLAG_PANIC_ABORT != 0,
            vt,
        })
    }

    /// The settings JSON Schema the plugin exports.
    pub fn settings_schema(&self) -> Result<serde_json::Value, String> {
        let mut text = String::new();
        // SAFETY: the host text sink appends into `text`, which outlives the call.
        let status = unsafe {
            (self.vt.settings_schema)(&HOST_API, &mut text as *mut String as *mut c_void)
        };
        if status != abi::STATUS_OK {
            return Err(format!(
                "plugin `{}` failed to describe its settings",
                self.name
            ));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("plugin `{}` settings schema is not JSON: {e}", self.name))
    }

    /// What the plugin makes of `input` with `settings` (for a source, `input` is `None`):
    /// see [`FormatAnswer`]. Plugins without the entry (ABI < 1.2) answer `Unknown`.
    pub fn output_format(
        &self,
        settings: &serde_json::Map<String, serde_json::Value>,
        input: Option<&daqflow_sdk::FrameFormat>,
    ) -> FormatAnswer {
        let Some(f) = self.vt.output_format else {
            return FormatAnswer::Unknown;
        };
        let json = serde_json::Value::Object(settings.clone()).to_string();
        let input_raw = input.map(daqflow_sdk::FrameFormat::to_abi);
        let mut out = abi::RawFormat::default();
        let mut errors = ErrorSink::default();
        // SAFETY: json, input_raw, out and errors outlive the call.
        let status = unsafe {
            f(
                &HOST_API,
                RStr::new(&json),
                input_raw
                    .as_ref()
                    .map_or(std::ptr::null(), |r| r as *const _),
                &mut out,
                errors.as_ptr(),
            )
        };
        match status {
            abi::STATUS_OK if self.kind == NodeKind::Sink => {
                input.map_or(FormatAnswer::Unknown, |i| FormatAnswer::Known(*i))
            }
            abi::STATUS_OK => match daqflow_sdk::FrameFormat::from_abi(&out) {
                Some(f) => FormatAnswer::Known(f),
                None => FormatAnswer::Refused(vec![(
                    String::new(),
                    format!(
                        "plugin `{}` announced an output format with unknown dtype code {}",
                        self.name, out.dtype
                    ),
                )]),
            },
            abi::STATUS_FORMAT_AT_RUNTIME => FormatAnswer::Unknown,
            _ => {
                let mut list = errors.take();
                if list.is_empty() {
                    list.push((
                        String::new(),
                        format!("format check failed (status {status})"),
                    ));
                }
                FormatAnswer::Refused(list)
            }
        }
    }

    /// Whether `workers = N` may run N instances of this filter side by side: `None` when
    /// the plugin does not say (ABI < 1.2, or not a filter).
    pub fn parallel(&self, settings: &serde_json::Map<String, serde_json::Value>) -> Option<bool> {
        let f = self.vt.parallel?;
        let json = serde_json::Value::Object(settings.clone()).to_string();
        // SAFETY: json outlives the call.
        let status = unsafe { f(&HOST_API, RStr::new(&json)) };
        match status {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Checks `settings` without creating anything; each problem names its field.
    pub fn validate_settings(
        &self,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<(String, String)> {
        let json = serde_json::Value::Object(settings.clone()).to_string();
        let mut errors = ErrorSink::default();
        // SAFETY: json and errors outlive the call.
        let status =
            unsafe { (self.vt.validate_settings)(&HOST_API, RStr::new(&json), errors.as_ptr()) };
        let mut list = errors.take();
        if status != abi::STATUS_OK && list.is_empty() {
            list.push((String::new(), format!("settings refused (status {status})")));
        }
        list
    }
}

fn dl_detail(e: &libloading::Error) -> String {
    // libloading's Display is vague ("DlOpen { desc: ... }"); the source carries dlerror().
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

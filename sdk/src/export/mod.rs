//! The C-ABI trampolines behind [`export_plugin!`](crate::export_plugin): generic
//! `extern "C"` functions, one set per plugin type, that parse settings, box the instance,
//! run every call under `catch_unwind`, turn errors and panics into status codes plus text,
//! and scope the plugin's `log` records to the node (see `log_bridge`).
//!
//! Not for plugin authors to call; public only so the macro can name it.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod formats;

use self::formats::{
    filter_input_format, filter_output_format, filter_parallel, sink_input_format,
    sink_output_format, source_output_format,
};
use crate::abi::{self, HostApi, HostNode, PluginVTable, RStr, RawFrame};
use crate::context::Context;
use crate::error::{PluginError, SettingsError, panic_message};
use crate::frame::Frame;
use crate::log_bridge::{NodeScope, install_host};
use crate::plugin::{Filter, Next, PluginSettings, Sink, Source};

/// The SDK version compiled into every descriptor.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Descriptor flags for the crate that expands the macro (its own panic strategy).
#[doc(hidden)]
#[macro_export]
macro_rules! __panic_flags {
    () => {
        if cfg!(panic = "abort") {
            $crate::abi::FLAG_PANIC_ABORT
        } else {
            0
        }
    };
}

/// Generates the plugin's C-ABI entry point `daqflow_plugin_entry` and its descriptor.
///
/// ```ignore
/// daqflow_sdk::export_plugin!(source SimDetector, name = "sim_detector",
///     description = "Simulated area detector: test patterns at a set rate");
/// daqflow_sdk::export_plugin!(filter Threshold, name = "threshold", description = "...");
/// daqflow_sdk::export_plugin!(sink Discard, name = "discard", description = "...");
/// ```
/// A library exports exactly one plugin.
#[macro_export]
macro_rules! export_plugin {
    (source $ty:ty, name = $name:expr, description = $desc:expr $(,)?) => {
        $crate::__export_plugin!(
            $crate::abi::KIND_SOURCE,
            $crate::abi::INPUT_ANY,
            $crate::export::source_vtable::<$ty>(),
            $name,
            $desc
        );
    };
    (filter $ty:ty, name = $name:expr, description = $desc:expr $(,)?) => {
        $crate::__export_plugin!(
            $crate::abi::KIND_FILTER,
            <$ty as $crate::Filter>::INPUT as u32,
            $crate::export::filter_vtable::<$ty>(),
            $name,
            $desc
        );
    };
    (sink $ty:ty, name = $name:expr, description = $desc:expr $(,)?) => {
        $crate::__export_plugin!(
            $crate::abi::KIND_SINK,
            <$ty as $crate::Sink>::INPUT as u32,
            $crate::export::sink_vtable::<$ty>(),
            $name,
            $desc
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($kind:expr, $input:expr, $vtable:expr, $name:expr, $desc:expr) => {
        /// The daqflow plugin entry point (C ABI): returns this library's descriptor.
        #[unsafe(no_mangle)]
        pub extern "C" fn daqflow_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                prefix: $crate::abi::AbiPrefix {
                    magic: $crate::abi::MAGIC,
                    abi_major: $crate::abi::ABI_MAJOR,
                    abi_minor: $crate::abi::ABI_MINOR,
                    struct_size: ::core::mem::size_of::<$crate::abi::PluginDescriptor>() as u32,
                    reserved: 0,
                },
                kind: $kind,
                input_lane: $input,
                flags: $crate::__panic_flags!(),
                reserved: 0,
                name: $crate::abi::RStr::new($name),
                version: $crate::abi::RStr::new(env!("CARGO_PKG_VERSION")),
                description: $crate::abi::RStr::new($desc),
                sdk_version: $crate::abi::RStr::new($crate::export::SDK_VERSION),
                vtable: $vtable,
            };
            &DESCRIPTOR
        }
    };
}

// ---------------------------------------------------------------------------------------
// Settings.

/// Parses a settings JSON object into `S` and runs its checks; every problem names its field.
pub fn parse_settings<S: PluginSettings>(json: &str) -> Result<S, Vec<SettingsError>> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let settings: S = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let message = strip_position(&message);
        let field = if path == "." || path.is_empty() {
            field_from_message(&message).unwrap_or_default()
        } else {
            path
        };
        vec![SettingsError::new(field, message)]
    })?;
    settings.validate()?;
    Ok(settings)
}

/// serde_json appends " at line 1 column 57" — meaningless to a TOML user.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// "unknown field `foo`, expected ..." / "missing field `path`" name their field in backticks.
fn field_from_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The JSON Schema of `S` (docs, types, defaults), as `daqflow plugins` shows it.
pub fn settings_schema_json<S: PluginSettings>() -> String {
    let schema = schemars::schema_for!(S);
    serde_json::to_string(&schema).unwrap_or_else(|_| "{}".to_string())
}

// ---------------------------------------------------------------------------------------
// Trampolines.

pub(crate) struct Instance<T> {
    pub(crate) plugin: T,
    pub(crate) ctx: Context,
    /// The settings as given, re-read when a format announced at run time is checked.
    pub(crate) settings_json: String,
}

/// Runs `f` with panics caught; errors and panic text go to the host error sink.
///
/// # Safety
/// `host` is a live HostApi (or null: then no text is reported); `err` is the host's sink.
pub(crate) unsafe fn guarded(
    host: *const HostApi,
    err: *mut c_void,
    f: impl FnOnce() -> Result<i32, PluginError>,
) -> i32 {
    let push = |field: &str, message: &str| {
        if !host.is_null() && !err.is_null() {
            // SAFETY: live host and sink, strings borrowed for the call.
            unsafe { ((*host).error_push)(err, RStr::new(field), RStr::new(message)) };
        }
    };
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) if e.is_aborted() => abi::STATUS_ABORTED,
        Ok(Err(e)) => {
            push("", e.message());
            abi::STATUS_ERROR
        }
        Err(payload) => {
            push("", &panic_message(payload.as_ref()));
            abi::STATUS_PANIC
        }
    }
}

pub(crate) unsafe fn instance<'a, T>(ptr: *mut c_void) -> &'a mut Instance<T> {
    // SAFETY: the core passes back the pointer `create` produced, from one thread at a time.
    unsafe { &mut *(ptr as *mut Instance<T>) }
}

/// `settings_schema` for `S`.
pub unsafe extern "C" fn settings_schema<S: PluginSettings>(
    host: *const HostApi,
    out: *mut c_void,
) -> i32 {
    install_host(host);
    // SAFETY: live host; no error sink for this call.
    unsafe {
        guarded(host, std::ptr::null_mut(), || {
            let json = settings_schema_json::<S>();
            ((*host).text_append)(out, RStr::new(&json));
            Ok(abi::STATUS_OK)
        })
    }
}

/// `validate_settings` for `S`.
pub unsafe extern "C" fn validate_settings<S: PluginSettings>(
    host: *const HostApi,
    json: RStr,
    err: *mut c_void,
) -> i32 {
    install_host(host);
    // SAFETY: live host, json borrowed for the call.
    unsafe {
        guarded(host, err, || {
            let text = json.as_str();
            match parse_settings::<S>(&text) {
                Ok(_) => Ok(abi::STATUS_OK),
                Err(errors) => {
                    for e in errors {
                        ((*host).error_push)(err, RStr::new(&e.field), RStr::new(&e.message));
                    }
                    Ok(abi::STATUS_SETTINGS)
                }
            }
        })
    }
}

unsafe fn create_with<T: Send + 'static, S: PluginSettings>(
    host: *const HostApi,
    node: *mut HostNode,
    json: RStr,
    out: *mut *mut c_void,
    err: *mut c_void,
    make: impl FnOnce(S, &Context) -> Result<T, PluginError>,
) -> i32 {
    install_host(host);
    let _scope = NodeScope::enter(node);
    // SAFETY: live host and node; json borrowed for the call; out is writable.
    unsafe {
        guarded(host, err, || {
            let host: &'static HostApi = &*host;
            let name = (host.node_name)(node).as_str().into_owned();
            let ctx = Context::from_raw(host, node, name);
            let settings = match parse_settings::<S>(&json.as_str()) {
                Ok(s) => s,
                Err(errors) => {
                    for e in errors {
                        (host.error_push)(err, RStr::new(&e.field), RStr::new(&e.message));
                    }
                    return Ok(abi::STATUS_SETTINGS);
                }
            };
            let plugin = make(settings, &ctx)?;
            let settings_json = json.as_str().into_owned();
            *out = Box::into_raw(Box::new(Instance {
                plugin,
                ctx,
                settings_json,
            })) as *mut c_void;
            Ok(abi::STATUS_OK)
        })
    }
}

macro_rules! lifecycle_trampolines {
    ($trait:ident, $create:ident, $start:ident, $stop:ident, $destroy:ident) => {
        unsafe extern "C" fn $create<T: $trait>(
            host: *const HostApi,
            node: *mut HostNode,
            json: RStr,
            out: *mut *mut c_void,
            err: *mut c_void,
        ) -> i32 {
            // SAFETY: forwarded from the core's call.
            unsafe {
                create_with::<T, <T as $trait>::Settings>(host, node, json, out, err, |s, c| {
                    <T as $trait>::create(s, c)
                })
            }
        }

        unsafe extern "C" fn $start<T: $trait>(inst: *mut c_void, err: *mut c_void) -> i32 {
            // SAFETY: inst is ours; its ctx holds the live host.
            unsafe {
                let i = instance::<T>(inst);
                let _scope = NodeScope::enter(i.ctx.node_ptr());
                let host = i.ctx.host() as *const HostApi;
                guarded(host, err, || {
                    <T as $trait>::start(&mut i.plugin, &i.ctx).map(|()| abi::STATUS_OK)
                })
            }
        }

        unsafe extern "C" fn $stop<T: $trait>(inst: *mut c_void, err: *mut c_void) -> i32 {
            // SAFETY: as for start.
            unsafe {
                let i = instance::<T>(inst);
                let _scope = NodeScope::enter(i.ctx.node_ptr());
                let host = i.ctx.host() as *const HostApi;
                guarded(host, err, || {
                    <T as $trait>::stop(&mut i.plugin, &i.ctx).map(|()| abi::STATUS_OK)
                })
            }
        }

        unsafe extern "C" fn $destroy<T: $trait>(inst: *mut c_void) {
            // A panic in Drop must not cross the boundary either.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: inst came from Box::into_raw in create; the core destroys it once.
                drop(unsafe { Box::from_raw(inst as *mut Instance<T>) });
            }));
        }
    };
}

lifecycle_trampolines!(
    Source,
    source_create,
    source_start,
    source_stop,
    source_destroy
);
lifecycle_trampolines!(
    Filter,
    filter_create,
    filter_start,
    filter_stop,
    filter_destroy
);
lifecycle_trampolines!(Sink, sink_create, sink_start, sink_stop, sink_destroy);

unsafe extern "C" fn source_next<T: Source>(inst: *mut c_void, err: *mut c_void) -> i32 {
    // SAFETY: inst is ours.
    unsafe {
        let i = instance::<T>(inst);
        let _scope = NodeScope::enter(i.ctx.node_ptr());
        let host = i.ctx.host() as *const HostApi;
        guarded(host, err, || {
            Ok(match T::next(&mut i.plugin, &i.ctx)? {
                Next::Continue => abi::STATUS_OK,
                Next::End => abi::STATUS_END,
            })
        })
    }
}

unsafe extern "C" fn filter_push<T: Filter>(
    inst: *mut c_void,
    frame: RawFrame,
    err: *mut c_void,
) -> i32 {
    // SAFETY: inst is ours; the frame reference is handed to us by the core.
    unsafe {
        let i = instance::<T>(inst);
        let _scope = NodeScope::enter(i.ctx.node_ptr());
        let host = i.ctx.host();
        let frame = Frame::from_raw(frame, host);
        guarded(host, err, || {
            T::process(&mut i.plugin, frame, &i.ctx).map(|()| abi::STATUS_OK)
        })
    }
}

unsafe extern "C" fn sink_push<T: Sink>(
    inst: *mut c_void,
    frame: RawFrame,
    err: *mut c_void,
) -> i32 {
    // SAFETY: inst is ours; the frame reference is handed to us by the core.
    unsafe {
        let i = instance::<T>(inst);
        let _scope = NodeScope::enter(i.ctx.node_ptr());
        let host = i.ctx.host();
        let frame = Frame::from_raw(frame, host);
        guarded(host, err, || {
            T::consume(&mut i.plugin, frame, &i.ctx).map(|()| abi::STATUS_OK)
        })
    }
}

/// The vtable of a source plugin `T`.
pub const fn source_vtable<T: Source>() -> PluginVTable {
    PluginVTable {
        settings_schema: Some(settings_schema::<T::Settings>),
        validate_settings: Some(validate_settings::<T::Settings>),
        create: Some(source_create::<T>),
        start: Some(source_start::<T>),
        next: Some(source_next::<T>),
        push: None,
        stop: Some(source_stop::<T>),
        destroy: Some(source_destroy::<T>),
        output_format: Some(source_output_format::<T>),
        input_format: None,
        parallel: None,
    }
}

/// The vtable of a filter plugin `T`.
pub const fn filter_vtable<T: Filter>() -> PluginVTable {
    PluginVTable {
        settings_schema: Some(settings_schema::<T::Settings>),
        validate_settings: Some(validate_settings::<T::Settings>),
        create: Some(filter_create::<T>),
        start: Some(filter_start::<T>),
        next: None,
        push: Some(filter_push::<T>),
        stop: Some(filter_stop::<T>),
        destroy: Some(filter_destroy::<T>),
        output_format: Some(filter_output_format::<T>),
        input_format: Some(filter_input_format::<T>),
        parallel: Some(filter_parallel::<T>),
    }
}

/// The vtable of a sink plugin `T`.
pub const fn sink_vtable<T: Sink>() -> PluginVTable {
    PluginVTable {
        settings_schema: Some(settings_schema::<T::Settings>),
        validate_settings: Some(validate_settings::<T::Settings>),
        create: Some(sink_create::<T>),
        start: Some(sink_start::<T>),
        next: None,
        push: Some(sink_push::<T>),
        stop: Some(sink_stop::<T>),
        destroy: Some(sink_destroy::<T>),
        output_format: Some(sink_output_format::<T>),
        input_format: Some(sink_input_format::<T>),
        parallel: None,
    }
}

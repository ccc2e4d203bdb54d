//! The frame-format trampolines of ABI 1.2: `output_format` (a source's format from its
//! settings, a filter's mapping, a sink's acceptance — no instance, for `validate`),
//! `parallel`, and `input_format` (an instance told the format of the frames to come).

use std::ffi::c_void;

use super::{guarded, instance, parse_settings};
use crate::abi::{self, HostApi, RStr, RawFormat};
use crate::context::Context;
use crate::error::{PluginError, SettingsError};
use crate::format::FrameFormat;
use crate::log_bridge::{NodeScope, install_host};
use crate::plugin::{Filter, PluginSettings, Sink, Source};

fn join_errors(errors: &[SettingsError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses the settings for a static (instance-free) call; pushes the problems to `err`.
///
/// # Safety
/// `host` is a live HostApi, `err` its error sink for this call.
unsafe fn settings_for<S: PluginSettings>(
    host: *const HostApi,
    json: &str,
    err: *mut c_void,
) -> Option<S> {
    match parse_settings::<S>(json) {
        Ok(s) => Some(s),
        Err(errors) => {
            // SAFETY: guaranteed by the caller.
            unsafe { push_errors(host, err, &errors) };
            None
        }
    }
}

/// # Safety
/// `host` is a live HostApi (or null), `err` its error sink for this call (or null).
unsafe fn push_errors(host: *const HostApi, err: *mut c_void, errors: &[SettingsError]) {
    if host.is_null() || err.is_null() {
        return;
    }
    for e in errors {
        // SAFETY: live host and sink; strings borrowed for the call.
        unsafe { ((*host).error_push)(err, RStr::new(&e.field), RStr::new(&e.message)) };
    }
}

/// The input format handed over the ABI, or an error naming the unknown dtype.
///
/// # Safety
/// `input` is null or points to a RawFormat valid for the call.
unsafe fn input_of(input: *const RawFormat) -> Result<Option<FrameFormat>, PluginError> {
    if input.is_null() {
        return Ok(None);
    }
    // SAFETY: guaranteed by the caller.
    let raw = unsafe { &*input };
    FrameFormat::from_abi(raw)
        .map(Some)
        .ok_or_else(|| PluginError::new(format!("unknown dtype code {}", raw.dtype)))
}

/// `output_format` of a source `T`.
pub(super) unsafe extern "C" fn source_output_format<T: Source>(
    host: *const HostApi,
    json: RStr,
    _input: *const RawFormat,
    out: *mut RawFormat,
    err: *mut c_void,
) -> i32 {
    install_host(host);
    // SAFETY: live host; json borrowed for the call; out writable.
    unsafe {
        guarded(host, err, || {
            let Some(s) = settings_for::<T::Settings>(host, &json.as_str(), err) else {
                return Ok(abi::STATUS_SETTINGS);
            };
            Ok(match T::output_format(&s) {
                Some(f) => {
                    *out = f.to_abi();
                    abi::STATUS_OK
                }
                None => abi::STATUS_FORMAT_AT_RUNTIME,
            })
        })
    }
}

/// `output_format` of a filter `T`.
pub(super) unsafe extern "C" fn filter_output_format<T: Filter>(
    host: *const HostApi,
    json: RStr,
    input: *const RawFormat,
    out: *mut RawFormat,
    err: *mut c_void,
) -> i32 {
    install_host(host);
    // SAFETY: live host; json and input borrowed for the call; out writable.
    unsafe {
        guarded(host, err, || {
            let Some(input) = input_of(input)? else {
                return Ok(abi::STATUS_FORMAT_AT_RUNTIME);
            };
            let Some(s) = settings_for::<T::Settings>(host, &json.as_str(), err) else {
                return Ok(abi::STATUS_SETTINGS);
            };
            match T::output_format(&s, &input) {
                Ok(Some(f)) => {
                    *out = f.to_abi();
                    Ok(abi::STATUS_OK)
                }
                Ok(None) => Ok(abi::STATUS_FORMAT_AT_RUNTIME),
                Err(errors) => {
                    push_errors(host, err, &errors);
                    Ok(abi::STATUS_SETTINGS)
                }
            }
        })
    }
}

/// `output_format` of a sink `T`: whether it accepts `input`.
pub(super) unsafe extern "C" fn sink_output_format<T: Sink>(
    host: *const HostApi,
    json: RStr,
    input: *const RawFormat,
    _out: *mut RawFormat,
    err: *mut c_void,
) -> i32 {
    install_host(host);
    // SAFETY: live host; json and input borrowed for the call.
    unsafe {
        guarded(host, err, || {
            let Some(input) = input_of(input)? else {
                return Ok(abi::STATUS_OK);
            };
            let Some(s) = settings_for::<T::Settings>(host, &json.as_str(), err) else {
                return Ok(abi::STATUS_SETTINGS);
            };
            match T::accepts(&s, &input) {
                Ok(()) => Ok(abi::STATUS_OK),
                Err(errors) => {
                    push_errors(host, err, &errors);
                    Ok(abi::STATUS_SETTINGS)
                }
            }
        })
    }
}

/// `parallel` of a filter `T`.
pub(super) unsafe extern "C" fn filter_parallel<T: Filter>(
    host: *const HostApi,
    json: RStr,
) -> i32 {
    install_host(host);
    // SAFETY: live host; json borrowed for the call; no error sink for this call.
    unsafe {
        guarded(host, std::ptr::null_mut(), || {
            Ok(match parse_settings::<T::Settings>(&json.as_str()) {
                Ok(s) => i32::from(T::parallel(&s)),
                Err(_) => abi::STATUS_SETTINGS,
            })
        })
    }
}

/// Tells an instance its input format: the format is re-checked against the settings
/// (`check`: it may have been announced at run time), then handed to the plugin (`tell`).
///
/// # Safety
/// `inst` is an `Instance<T>` of this library; `format` points to a RawFormat (or is null)
/// and `err` is the host's error sink, both valid for the call.
unsafe fn tell_input_format<T, S: PluginSettings>(
    inst: *mut c_void,
    format: *const RawFormat,
    err: *mut c_void,
    check: impl FnOnce(&S, &FrameFormat) -> Result<(), Vec<SettingsError>>,
    tell: impl FnOnce(&mut T, &FrameFormat, &Context) -> Result<(), PluginError>,
) -> i32 {
    // SAFETY: inst is ours; its ctx holds the live host; format valid for the call.
    unsafe {
        let i = instance::<T>(inst);
        let _scope = NodeScope::enter(i.ctx.node_ptr());
        let host = i.ctx.host() as *const HostApi;
        guarded(host, err, || {
            let Some(f) = input_of(format)? else {
                return Ok(abi::STATUS_OK);
            };
            let s = parse_settings::<S>(&i.settings_json)
                .map_err(|e| PluginError::new(join_errors(&e)))?;
            check(&s, &f).map_err(|e| {
                PluginError::new(format!("cannot take {f} frames: {}", join_errors(&e)))
            })?;
            tell(&mut i.plugin, &f, &i.ctx).map(|()| abi::STATUS_OK)
        })
    }
}

/// `input_format` of a filter `T`.
pub(super) unsafe extern "C" fn filter_input_format<T: Filter>(
    inst: *mut c_void,
    format: *const RawFormat,
    err: *mut c_void,
) -> i32 {
    // SAFETY: forwarded from the core's call.
    unsafe {
        tell_input_format::<T, T::Settings>(
            inst,
            format,
            err,
            |s, f| T::output_format(s, f).map(|_| ()),
            T::input_format,
        )
    }
}

/// `input_format` of a sink `T`.
pub(super) unsafe extern "C" fn sink_input_format<T: Sink>(
    inst: *mut c_void,
    format: *const RawFormat,
    err: *mut c_void,
) -> i32 {
    // SAFETY: forwarded from the core's call.
    unsafe { tell_input_format::<T, T::Settings>(inst, format, err, T::accepts, T::input_format) }
}

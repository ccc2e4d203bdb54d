//! A library with a well-formed descriptor of ABI major 99: the core must refuse it
//! before calling any of its functions, naming both versions.

use daqflow_sdk::abi::{self, AbiPrefix, PluginDescriptor, PluginVTable, RStr};

unsafe extern "C" fn never_schema(_: *const abi::HostApi, _: *mut std::ffi::c_void) -> i32 {
    std::process::abort() // the core must not call into a mismatched plugin
}
unsafe extern "C" fn never_validate(
    _: *const abi::HostApi,
    _: RStr,
    _: *mut std::ffi::c_void,
) -> i32 {
    std::process::abort()
}
unsafe extern "C" fn never_create(
    _: *const abi::HostApi,
    _: *mut abi::HostNode,
    _: RStr,
    _: *mut *mut std::ffi::c_void,
    _: *mut std::ffi::c_void,
) -> i32 {
    std::process::abort()
}
unsafe extern "C" fn never_call(_: *mut std::ffi::c_void, _: *mut std::ffi::c_void) -> i32 {
    std::process::abort()
}
unsafe extern "C" fn never_destroy(_: *mut std::ffi::c_void) {
    std::process::abort()
}

static DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    prefix: AbiPrefix {
        magic: abi::MAGIC,
        abi_major: 99,
        abi_minor: 3,
        struct_size: std::mem::size_of::<PluginDescriptor>() as u32,
        reserved: 0,
    },
    kind: abi::KIND_SOURCE,
    input_lane: 0,
    flags: 0,
    reserved: 0,
    name: RStr::new("future_source"),
    version: RStr::new("9.0.0"),
    description: RStr::new("a plugin from the future"),
    sdk_version: RStr::new("99.0.0"),
    vtable: PluginVTable {
        settings_schema: Some(never_schema),
        validate_settings: Some(never_validate),
        create: Some(never_create),
        start: Some(never_call),
        next: Some(never_call),
        push: None,
        stop: Some(never_call),
        destroy: Some(never_destroy),
        output_format: None,
        input_format: None,
        parallel: None,
    },
};

/// The entry point, with a descriptor of the wrong ABI.
#[unsafe(no_mangle)]
pub extern "C" fn daqflow_plugin_entry() -> *const PluginDescriptor {
    &DESCRIPTOR
}

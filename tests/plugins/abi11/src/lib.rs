//! `old_passthrough`: a filter whose descriptor has the ABI 1.1 layout — the vtable ends
//! before the 1.2 format entries — as a plugin built against an SDK from before frame
//! formats would export it. The core must load it, read nothing past its descriptor, and
//! treat its output format as unknown (accepts anything), as before.

use daqflow_sdk::abi::{self, AbiPrefix, PluginVTable, RStr};
use daqflow_sdk::prelude::*;

/// Settings of `old_passthrough` (none).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl PluginSettings for Settings {}

/// Passes every frame on unchanged.
pub struct OldPassthrough;

impl Filter for OldPassthrough {
    type Settings = Settings;

    fn create(_s: Settings, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(OldPassthrough)
    }

    fn process(&mut self, frame: Frame, ctx: &Context) -> Result<(), PluginError> {
        ctx.emit(frame)
    }
}

/// The ABI 1.1 vtable: the 1.2 entries do not exist.
#[repr(C)]
pub struct VTable11 {
    settings_schema: Option<abi::SettingsSchemaFn>,
    validate_settings: Option<abi::ValidateSettingsFn>,
    create: Option<abi::CreateFn>,
    start: Option<abi::InstanceFn>,
    next: Option<abi::InstanceFn>,
    push: Option<abi::PushFn>,
    stop: Option<abi::InstanceFn>,
    destroy: Option<abi::DestroyFn>,
}

/// The ABI 1.1 descriptor layout.
#[repr(C)]
pub struct Descriptor11 {
    prefix: AbiPrefix,
    kind: u32,
    input_lane: u32,
    flags: u32,
    reserved: u32,
    name: RStr,
    version: RStr,
    description: RStr,
    sdk_version: RStr,
    vtable: VTable11,
}

// SAFETY: immutable static data: 'static strings and function pointers.
unsafe impl Sync for Descriptor11 {}

const FULL: PluginVTable = daqflow_sdk::export::filter_vtable::<OldPassthrough>();

static DESCRIPTOR: Descriptor11 = Descriptor11 {
    prefix: AbiPrefix {
        magic: abi::MAGIC,
        abi_major: 1,
        abi_minor: 1,
        struct_size: std::mem::size_of::<Descriptor11>() as u32,
        reserved: 0,
    },
    kind: abi::KIND_FILTER,
    input_lane: abi::INPUT_ANY,
    flags: 0,
    reserved: 0,
    name: RStr::new("old_passthrough"),
    version: RStr::new("0.9.0"),
    description: RStr::new("a filter built before frame formats (ABI 1.1)"),
    sdk_version: RStr::new("0.1.0"),
    vtable: VTable11 {
        settings_schema: FULL.settings_schema,
        validate_settings: FULL.validate_settings,
        create: FULL.create,
        start: FULL.start,
        next: FULL.next,
        push: FULL.push,
        stop: FULL.stop,
        destroy: FULL.destroy,
    },
};

/// The entry point, with an ABI 1.1 descriptor.
#[unsafe(no_mangle)]
pub extern "C" fn daqflow_plugin_entry() -> *const abi::PluginDescriptor {
    &DESCRIPTOR as *const Descriptor11 as *const abi::PluginDescriptor
}

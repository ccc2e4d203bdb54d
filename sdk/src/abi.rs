//! The C ABI between the core and a plugin library: `#[repr(C)]` data only.
//!
//! Everything that crosses the boundary is defined here: the descriptor a plugin exports
//! through [`ENTRY_SYMBOL`], the vtable the core calls, the [`HostApi`] the plugin calls
//! back, and the frame header both sides read. Only integers, raw pointers, borrowed
//! `(ptr, len)` strings and `extern "C"` function pointers appear — never `String`, `Vec`,
//! `Box`, trait objects or Rust enums — so a plugin built by another rustc loads.
//!
//! Rules both sides follow:
//! - status, kind and dtype are plain integers, validated on receipt;
//! - memory is freed by the side that allocated it (frames go back through
//!   [`HostApi::frame_release`], instances through [`PluginVTable::destroy`], text is copied
//!   into host-owned sinks through [`HostApi::text_append`]);
//! - the fixed-size [`AbiPrefix`] at the start of the descriptor is checked before any other
//!   plugin code runs; later ABI minors may only append fields (see `struct_size`).
//!
//! Plugin authors never touch this module: [`export_plugin!`](crate::export_plugin) does.

use std::ffi::c_void;

/// `b"DAQFLOW1"` read as a little-endian u64: the first 8 bytes of every descriptor.
pub const MAGIC: u64 = u64::from_le_bytes(*b"DAQFLOW1");
/// Bumped on any incompatible change; the core refuses a plugin with another major.
pub const ABI_MAJOR: u32 = 1;
/// Bumped when fields are appended; the core accepts minors up to its own.
pub const ABI_MINOR: u32 = 2;
/// The one symbol a plugin library exports: `extern "C" fn() -> *const PluginDescriptor`.
pub const ENTRY_SYMBOL: &str = "daqflow_plugin_entry";

/// Type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

// Status codes returned by vtable functions and host callbacks.
/// Success.
pub const STATUS_OK: i32 = 0;
/// A source has no more frames (end of stream).
pub const STATUS_END: i32 = 1;
/// The call failed; the error text was written to the error sink.
pub const STATUS_ERROR: i32 = -1;
/// The plugin panicked; the panic message was written to the error sink.
pub const STATUS_PANIC: i32 = -2;
/// The settings were refused; one entry per problem was written to the error sink.
pub const STATUS_SETTINGS: i32 = -3;
/// Host → plugin: the pipeline is aborting; the call could not complete (frame not taken).
pub const STATUS_ABORTED: i32 = -4;
/// Host → plugin (`emit`, ABI 1.2): the node has no output lanes (a sink).
pub const STATUS_NO_OUTPUTS: i32 = -5;
/// Host → plugin (`emit`, ABI 1.2): the node's outputs are closed (it has stopped).
pub const STATUS_OUTPUTS_CLOSED: i32 = -6;
/// `output_format` of a source (ABI 1.2): the format is known only at run time (a network
/// detector learns its geometry from its stream); frames announce it.
pub const STATUS_FORMAT_AT_RUNTIME: i32 = 2;

// Plugin kinds.
/// Produces frames.
pub const KIND_SOURCE: u32 = 1;
/// Takes frames in and emits frames.
pub const KIND_FILTER: u32 = 2;
/// Takes frames in.
pub const KIND_SINK: u32 = 3;

// Input lane requirements a plugin declares.
/// Any lane policy is acceptable.
pub const INPUT_ANY: u32 = 0;
/// The plugin needs every frame: `validate` refuses a lossy lane into it.
pub const INPUT_LOSSLESS: u32 = 1;
/// The plugin wants only the newest frame: its lanes default to `latest`.
pub const INPUT_PREFERS_LATEST: u32 = 2;

/// Descriptor flag: the plugin was built with `panic = "abort"`; its panics kill the process.
pub const FLAG_PANIC_ABORT: u32 = 1;

// Element types.
/// Unsigned 8-bit pixels.
pub const DTYPE_U8: u32 = 1;
/// Unsigned 16-bit pixels.
pub const DTYPE_U16: u32 = 2;
/// Unsigned 32-bit pixels.
pub const DTYPE_U32: u32 = 3;
/// 32-bit float pixels.
pub const DTYPE_F32: u32 = 4;

// Payload encodings.
/// Plain row-major pixels.
pub const ENCODING_RAW: u32 = 0;
/// One HDF5 LZ4-filter (32004) chunk.
pub const ENCODING_LZ4: u32 = 1;
/// One HDF5 bitshuffle-LZ4 (32008) chunk.
pub const ENCODING_BSLZ4: u32 = 2;
/// One bare LZ4 block of the raw pixels, no header (ABI 1.2).
pub const ENCODING_LZ4_BLOCK: u32 = 3;

// Log levels (the `log` crate's numbering).
/// `log::Level::Error`.
pub const LOG_ERROR: u32 = 1;
/// `log::Level::Trace`.
pub const LOG_TRACE: u32 = 5;

/// A borrowed UTF-8 string: valid only for the duration of the call it is passed to,
/// unless documented otherwise (descriptor strings are `'static`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RStr {
    /// First byte; may dangle when `len == 0`.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl RStr {
    /// Borrows a Rust string.
    pub const fn new(s: &str) -> Self {
        RStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Reads the string back, replacing invalid UTF-8.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes for the lifetime `'a`.
    pub unsafe fn as_str<'a>(self) -> std::borrow::Cow<'a, str> {
        if self.len == 0 || self.ptr.is_null() {
            return std::borrow::Cow::Borrowed("");
        }
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        String::from_utf8_lossy(bytes)
    }
}

/// The fixed-size start of every descriptor, read before anything else.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AbiPrefix {
    /// Must equal [`MAGIC`].
    pub magic: u64,
    /// Must equal the core's [`ABI_MAJOR`].
    pub abi_major: u32,
    /// Must be ≤ the core's [`ABI_MINOR`].
    pub abi_minor: u32,
    /// `size_of::<PluginDescriptor>()` as the plugin was built.
    pub struct_size: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// What a plugin library exports: identity, requirements and the vtable.
#[repr(C)]
pub struct PluginDescriptor {
    /// Checked first.
    pub prefix: AbiPrefix,
    /// `KIND_*`.
    pub kind: u32,
    /// `INPUT_*`.
    pub input_lane: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The name pipelines use in `plugin = "..."`.
    pub name: RStr,
    /// The plugin's own version (its crate version).
    pub version: RStr,
    /// One line for `daqflow plugins`.
    pub description: RStr,
    /// Version of `daqflow-sdk` the plugin was built with.
    pub sdk_version: RStr,
    /// Entry points.
    pub vtable: PluginVTable,
}

// SAFETY: a descriptor is immutable static data: 'static strings and function pointers.
unsafe impl Sync for PluginDescriptor {}

/// Opaque core object for one node; passed back to every host callback.
pub type HostNode = c_void;

/// `settings_schema`: writes the JSON Schema of the settings into `out` through
/// `host.text_append`.
pub type SettingsSchemaFn = unsafe extern "C" fn(host: *const HostApi, out: *mut c_void) -> i32;
/// `validate_settings`: parses and checks settings (JSON object text) without creating
/// anything; problems go to `err` through `host.error_push`, one per field.
pub type ValidateSettingsFn =
    unsafe extern "C" fn(host: *const HostApi, settings_json: RStr, err: *mut c_void) -> i32;
/// `create`: makes an instance for `node` and writes it to `*instance`.
pub type CreateFn = unsafe extern "C" fn(
    host: *const HostApi,
    node: *mut HostNode,
    settings_json: RStr,
    instance: *mut *mut c_void,
    err: *mut c_void,
) -> i32;
/// `start`, `next`, `stop`: a call on an instance.
pub type InstanceFn = unsafe extern "C" fn(instance: *mut c_void, err: *mut c_void) -> i32;
/// `push`: hands one frame reference to a filter or sink instance.
pub type PushFn =
    unsafe extern "C" fn(instance: *mut c_void, frame: RawFrame, err: *mut c_void) -> i32;
/// `destroy`: frees an instance.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// `output_format` (ABI 1.2): what a node makes of its input, from its settings alone
/// (no instance; `validate` calls it). Sources: `input` is null; `*out` is the format
/// they will produce, or the call returns [`STATUS_FORMAT_AT_RUNTIME`]. Filters: `*out`
/// is the format they emit for frames of `*input`. Sinks: `*out` is left as is. A node
/// that cannot take `*input` returns [`STATUS_SETTINGS`] with one error per problem
/// (the field it concerns, or empty) pushed to `err`.
pub type OutputFormatFn = unsafe extern "C" fn(
    host: *const HostApi,
    settings_json: RStr,
    input: *const RawFormat,
    out: *mut RawFormat,
    err: *mut c_void,
) -> i32;
/// `parallel` (ABI 1.2, filters): 1 when `process` depends only on the frame it is given
/// (so `workers = N` may run N instances side by side), 0 when the filter carries state
/// from frame to frame, negative when the settings do not parse.
pub type ParallelFn = unsafe extern "C" fn(host: *const HostApi, settings_json: RStr) -> i32;
/// `input_format` (ABI 1.2): tells a filter or sink instance the format of the frames it
/// is about to receive: before `start` when the format is known from the pipeline file,
/// and before the first frame of every new format (a detector's new series). An error
/// refuses the format (the node fails, naming it).
pub type InputFormatFn =
    unsafe extern "C" fn(instance: *mut c_void, format: *const RawFormat, err: *mut c_void) -> i32;

/// Functions the core calls. Every function catches panics inside the plugin (each
/// library has its own std, so a panic must never unwind across this boundary).
/// All entries are nullable (`Option` of a function pointer has the layout of a C function
/// pointer), so the core can refuse a plugin — e.g. one written in C — that leaves a
/// required entry NULL, instead of calling through it.
#[repr(C)]
pub struct PluginVTable {
    /// Required.
    pub settings_schema: Option<SettingsSchemaFn>,
    /// Required.
    pub validate_settings: Option<ValidateSettingsFn>,
    /// Required.
    pub create: Option<CreateFn>,
    /// Required: acquires resources (open files, devices); sinks first, sources last.
    pub start: Option<InstanceFn>,
    /// Sources: produce zero or more frames through `host.emit`; `STATUS_END` ends the stream.
    pub next: Option<InstanceFn>,
    /// Filters and sinks: take ownership of one frame reference.
    pub push: Option<PushFn>,
    /// Required: input drained (or source stopped): finish, flush, close.
    pub stop: Option<InstanceFn>,
    /// Required: frees the instance (allocated by the plugin, so freed by the plugin).
    pub destroy: Option<DestroyFn>,
    // ---- ABI 1.2 (the descriptor's `struct_size` tells whether a plugin has these) ----
    /// Optional: format mapping, for `validate` (absent: format unknown, accepts any).
    pub output_format: Option<OutputFormatFn>,
    /// Optional: filters and sinks are told their input format.
    pub input_format: Option<InputFormatFn>,
    /// Optional (filters): may `workers = N` run N instances side by side?
    pub parallel: Option<ParallelFn>,
}

/// Functions the plugin calls back into the core.
#[repr(C)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the core was built; fields are append-only.
    pub struct_size: usize,
    /// A log record; `node` may be null (a record from a thread of the plugin's own).
    pub log: unsafe extern "C" fn(node: *mut HostNode, level: u32, target: RStr, message: RStr),
    /// Appends one error (field may be empty) to a host error sink.
    pub error_push: unsafe extern "C" fn(err: *mut c_void, field: RStr, message: RStr),
    /// Appends text to a host string sink.
    pub text_append: unsafe extern "C" fn(out: *mut c_void, text: RStr),
    /// Nonzero once the pipeline is stopping: sources should return soon.
    pub should_stop: unsafe extern "C" fn(node: *mut HostNode) -> u32,
    /// Asks the whole pipeline to stop in order.
    pub request_stop: unsafe extern "C" fn(node: *mut HostNode),
    /// Sets a named per-node counter shown in the run report.
    pub set_counter: unsafe extern "C" fn(node: *mut HostNode, name: RStr, value: u64),
    /// Takes a pool buffer for a frame of `spec`; blocks while the pool is exhausted
    /// (back-pressure). `STATUS_ABORTED` when the pipeline aborts, `STATUS_ERROR` when the
    /// frame can never fit; then `*err` borrows core-owned text, valid until the calling
    /// thread's next host call.
    pub frame_alloc: unsafe extern "C" fn(
        node: *mut HostNode,
        spec: *const FrameSpec,
        out: *mut RawFrame,
        err: *mut RStr,
    ) -> i32,
    /// Adds a reference to a frame.
    pub frame_retain: unsafe extern "C" fn(handle: *mut c_void),
    /// Drops a reference to a frame; the last one returns the buffer to the pool.
    pub frame_release: unsafe extern "C" fn(handle: *mut c_void),
    /// Makes `*frame` the only reference to its data: no-op when it already is, else copies
    /// it into a new pool buffer (counted as a copy) and releases the shared one.
    /// Errors as for `frame_alloc`.
    pub frame_make_unique:
        unsafe extern "C" fn(node: *mut HostNode, frame: *mut RawFrame, err: *mut RStr) -> i32,
    /// The node's name; the text lives as long as the node.
    pub node_name: unsafe extern "C" fn(node: *mut HostNode) -> RStr,
    /// The most verbose log level the core records (`LOG_ERROR`..=`LOG_TRACE`, 0 = off).
    pub max_log_level: unsafe extern "C" fn() -> u32,
    /// Nonzero when every input lane of the node is lossless (`block`).
    pub input_lossless: unsafe extern "C" fn(node: *mut HostNode) -> u32,
    /// Sends a frame downstream; takes ownership of the reference in every case.
    /// `STATUS_ABORTED` when the pipeline aborts (the frame is counted as lost).
    pub emit: unsafe extern "C" fn(node: *mut HostNode, frame: RawFrame) -> i32,
    // ---- ABI 1.1 ----
    /// Delivers frames from the node's lossy input lanes (`latest`, `drop_oldest`,
    /// `drop_newest`) at most `max_per_sec` times a second (≤ 0: no limit); frames that
    /// arrive in between are replaced or evicted by the lane's policy and counted as its
    /// drops. No effect on lossless (`block`) or `inline` inputs.
    pub input_rate_limit: unsafe extern "C" fn(node: *mut HostNode, max_per_sec: f64),
    /// Frames offered to the node's input lanes so far: delivered, dropped by a lane's
    /// policy, or lost at abort.
    pub input_offered: unsafe extern "C" fn(node: *mut HostNode) -> u64,
}

/// What the frames on a lane look like (ABI 1.2). Zero means "not known" for every field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RawFormat {
    /// `DTYPE_*`.
    pub dtype: u32,
    /// `ENCODING_*`.
    pub encoding: u32,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Nominal frames per second; 0: unknown.
    pub rate_hz: f64,
    /// Reserved, zero.
    pub reserved: [u32; 4],
}

/// What a frame needs from the pool.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FrameSpec {
    /// `DTYPE_*`.
    pub dtype: u32,
    /// `ENCODING_*`.
    pub encoding: u32,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Payload bytes (`width * height * size` for raw frames, the chunk size otherwise).
    pub data_len: usize,
}

/// One reference to a pool frame. `handle` is the core's; `header` and `data` may be
/// written only while the reference is unique.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawFrame {
    /// Core-owned handle, passed to `frame_retain` / `frame_release`.
    pub handle: *mut c_void,
    /// The frame's descriptor, inside the core's pool slot.
    pub header: *mut FrameHeader,
    /// Payload start (8-byte aligned).
    pub data: *mut u8,
    /// Payload capacity in bytes (≥ `header.data_len`).
    pub capacity: usize,
}

/// Maximum number of metadata entries per frame (fixed: no allocation per frame).
pub const META_CAPACITY: usize = 16;
/// Maximum key length in bytes.
pub const META_KEY_MAX: usize = 31;
/// Maximum string value length in bytes.
pub const META_STR_MAX: usize = 47;

// Metadata value kinds.
/// Signed integer in the first 8 value bytes (LE).
pub const META_I64: u8 = 1;
/// Float in the first 8 value bytes (LE).
pub const META_F64: u8 = 2;
/// Boolean in the first value byte.
pub const META_BOOL: u8 = 3;
/// UTF-8 string of `value_len` bytes.
pub const META_STR: u8 = 4;

/// One typed key/value of frame metadata.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MetaEntry {
    /// Key length in bytes.
    pub key_len: u8,
    /// `META_*`.
    pub kind: u8,
    /// String value length in bytes.
    pub value_len: u8,
    /// Reserved, zero.
    pub reserved: [u8; 5],
    /// Key bytes (UTF-8).
    pub key: [u8; 32],
    /// Value bytes.
    pub value: [u8; 48],
}

impl MetaEntry {
    /// An empty entry.
    pub const EMPTY: MetaEntry = MetaEntry {
        key_len: 0,
        kind: 0,
        value_len: 0,
        reserved: [0; 5],
        key: [0; 32],
        value: [0; 48],
    };
}

/// A frame's descriptor. Lives in the core's pool slot next to the buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FrameHeader {
    /// `DTYPE_*`.
    pub dtype: u32,
    /// `ENCODING_*`.
    pub encoding: u32,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Valid payload bytes.
    pub data_len: usize,
    /// Frame number given by the source (contiguous on a lossless path).
    pub frame_number: u64,
    /// Acquisition time, nanoseconds since the UNIX epoch.
    pub timestamp_ns: u64,
    /// Used entries in `meta`.
    pub meta_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Metadata entries.
    pub meta: [MetaEntry; META_CAPACITY],
}

impl FrameHeader {
    /// A header for `spec` with no number, time or metadata.
    pub fn new(spec: &FrameSpec) -> Self {
        FrameHeader {
            dtype: spec.dtype,
            encoding: spec.encoding,
            width: spec.width,
            height: spec.height,
            data_len: spec.data_len,
            frame_number: 0,
            timestamp_ns: 0,
            meta_len: 0,
            reserved: 0,
            meta: [MetaEntry::EMPTY; META_CAPACITY],
        }
    }
}

/// Bytes of a descriptor up to and including its `output_format` / `input_format` vtable
/// entries: a descriptor whose `struct_size` is smaller predates ABI 1.2.
pub const DESCRIPTOR_SIZE_1_2: usize = std::mem::size_of::<PluginDescriptor>();

/// Bytes per element of a `DTYPE_*`, or `None` for an unknown value.
pub const fn dtype_size(dtype: u32) -> Option<usize> {
    match dtype {
        DTYPE_U8 => Some(1),
        DTYPE_U16 => Some(2),
        DTYPE_U32 | DTYPE_F32 => Some(4),
        _ => None,
    }
}

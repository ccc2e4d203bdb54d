//! A library whose entry symbol returns something that is not a daqflow descriptor.

static NOT_A_DESCRIPTOR: [u64; 16] = [0x0123_4567_89ab_cdef; 16];

/// The entry point, returning garbage.
#[unsafe(no_mangle)]
pub extern "C" fn daqflow_plugin_entry() -> *const u64 {
    NOT_A_DESCRIPTOR.as_ptr()
}

//! A valid shared library that is not a daqflow plugin: it exports another symbol only.

/// Some unrelated C function.
#[unsafe(no_mangle)]
pub extern "C" fn some_other_library_function(x: u32) -> u32 {
    x.wrapping_mul(3)
}

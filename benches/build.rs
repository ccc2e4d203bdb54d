//! The `filters` bench links several plugin crates as rlibs (for their kernels), and every
//! plugin crate defines the same `#[no_mangle]` C entry point, `daqflow_plugin_entry`.
//! The bench never calls it (it loads the plugins' `.so` files, each with its own), so the
//! duplicates are harmless: let the linker keep the first, for the bench binaries only.

fn main() {
    println!("cargo:rustc-link-arg-benches=-Wl,--allow-multiple-definition");
}

//! The log bridge: a plugin's `log` records (its `log` statics are its own) arrive through
//! the host table as a level code, a target and a message, and go to the core's logger
//! tagged with the node's name.

/// The `log` level of an ABI level code (1 error … 4 debug, anything else trace).
pub fn level_of(code: u32) -> log::Level {
    match code {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

/// Logs `message` from a plugin at ABI level `code`, under `target` (the node's name).
pub fn forward(code: u32, target: &str, message: &str) {
    log::logger().log(
        &log::Record::builder()
            .level(level_of(code))
            .target(target)
            .args(format_args!("{message}"))
            .build(),
    );
}

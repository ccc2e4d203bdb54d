//! HDF5's error stack as one line: the outermost operation, then the innermost cause
//! (which carries the OS error text, e.g. `No space left on device`).

/// The current HDF5 error stack as one line (call it under the library lock, right after
/// the failed call, before another call resets the stack).
pub fn last_error() -> String {
    describe(&hdf5::Error::query().unwrap_or_else(|e| e))
}

/// An HDF5 error as one line: its stack's outermost operation, then the innermost cause.
pub fn describe(e: &hdf5::Error) -> String {
    let Some(stack) = e.stack() else {
        return e.to_string();
    };
    let descs: Vec<String> = stack
        .iter()
        .map(|f| os_error(f.desc()).unwrap_or_else(|| f.desc().to_owned()))
        .collect();
    match (descs.first(), descs.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {last}"),
        (Some(first), _) => first.clone(),
        _ => e.to_string(),
    }
}

/// `… errno = 28, error message = 'No space left on device', …` → the OS message.
fn os_error(desc: &str) -> Option<String> {
    let start = desc.find("error message = '")? + "error message = '".len();
    let len = desc[start..].find('\'')?;
    let errno = desc
        .find("errno = ")
        .and_then(|i| desc[i + 8..].split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("?");
    Some(format!("{} (errno {errno})", &desc[start..start + len]))
}

//! Error text crossing the C ABI. Plugin → core: an [`ErrorSink`] collects the
//! `(field, message)` pairs a plugin pushes during one call. Core → plugin: [`set_error`]
//! keeps the text in a thread-local and lends it to the plugin (valid until the thread's
//! next failing host call), so nothing allocated by one side is freed by the other.

use std::cell::RefCell;
use std::ffi::c_void;

use daqflow_sdk::abi::RStr;

/// Collects `(field, message)` errors a plugin pushes during one call.
#[derive(Default)]
pub struct ErrorSink {
    entries: Vec<(String, String)>,
}

impl ErrorSink {
    /// The pointer passed as `err`.
    pub fn as_ptr(&mut self) -> *mut c_void {
        self as *mut ErrorSink as *mut c_void
    }

    /// Adds one entry (`field` empty when the error is about no field).
    pub fn push(&mut self, field: String, message: String) {
        self.entries.push((field, message));
    }

    /// The entries pushed.
    pub fn take(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.entries)
    }

    /// All messages joined.
    pub fn message(&mut self) -> String {
        let e = self.take();
        if e.is_empty() {
            "no error text given".into()
        } else {
            e.into_iter()
                .map(|(f, m)| {
                    if f.is_empty() {
                        m
                    } else {
                        format!("`{f}`: {m}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Lends `text` to the plugin through its out-parameter `err`.
///
/// # Safety
///
/// `err` is null or valid for a write of an `RStr` (a plugin's out-parameter).
pub unsafe fn set_error(err: *mut RStr, text: String) {
    LAST_ERROR.with(|l| {
        *l.borrow_mut() = text;
        if !err.is_null() {
            // SAFETY: `err` is writable (the caller's contract); the text stays in this
            // thread-local until the thread's next failing host call.
            unsafe { *err = RStr::new(l.borrow().as_str()) };
        }
    });
}

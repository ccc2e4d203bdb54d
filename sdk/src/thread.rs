//! Helpers for the threads a plugin runs beside acquisition (drawing, encoding for
//! browsers, …).

/// Lowers the calling thread's CPU priority to nice +10, so that its work takes the CPU
/// time acquisition leaves instead of competing with it for the same cores. Threads the
/// calling thread creates afterwards inherit it (so a software rasteriser's threads,
/// spawned when the GPU device is created, do too). On a 2-core VM, a viewer window on
/// lavapipe went from 70 % to 91 % of the baseline acquisition rate with it.
///
/// Linux (the nice value is per thread); elsewhere it does nothing. A failure is logged
/// at debug level, naming `what` (e.g. "web: a server thread"), and is otherwise harmless.
pub fn lower_thread_priority(what: &str) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority takes plain integers (no
        // pointers) and changes only the calling thread's nice value.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
        };
        if rc != 0 {
            log::debug!(
                "{what}: could not lower the thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = what;
}

#[cfg(test)]
mod tests {
    #[test]
    fn lowers_the_calling_threads_nice_value_only() {
        std::thread::spawn(|| {
            super::lower_thread_priority("test");
            // SAFETY: plain syscalls on the calling thread.
            let nice =
                unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            assert!(nice >= 10, "nice {nice}");
        })
        .join()
        .unwrap();
        // SAFETY: as above.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert!(
            here < 10,
            "the calling test thread kept its priority: {here}"
        );
    }
}

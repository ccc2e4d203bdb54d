//! The server threads' CPU priority: encoding frames for browsers competes with
//! acquisition for the same cores, so every thread of the server runs at nice +10.

/// Lowers the calling thread's CPU priority (nice +10): binning, compressing and
/// sending take the CPU time acquisition leaves instead of competing for it (the viewer
/// measured the same on a 2-core VM). Linux: the nice value is per thread.
pub(crate) fn lower_thread_priority() {
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
                "web: could not lower a server thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

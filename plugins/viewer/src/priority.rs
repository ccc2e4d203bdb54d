//! The render threads' CPU priority: on a software rasteriser drawing competes with
//! acquisition for the same cores, so every viewer thread that draws runs at nice +10.

/// Lowers the calling thread's CPU priority (nice +10). The window thread calls it before
/// it creates its GPU device, so the threads a software rasteriser spawns (lavapipe,
/// llvmpipe) inherit it: drawing then takes the CPU time acquisition leaves instead of
/// competing for it (on a 2-core VM a window on lavapipe went from 70 % to 91 % of the
/// baseline acquisition rate). Linux: the nice value is per thread, inherited by the
/// threads it creates.
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
                "viewer: could not lower the render thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

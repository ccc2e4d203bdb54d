//! Tricks on the OS file descriptor under an HDF5 file (sec2 driver), which HDF5 itself
//! does not offer: marking it close-on-exec, and "freezing" a file after a failed write by
//! swapping the descriptor for a read-only one, so that it stays as of its last flush.

use std::path::Path;

use hdf5::File;
use hdf5_sys::h5p::H5P_DEFAULT;

/// Marks the file's descriptor close-on-exec. HDF5 opens files without `O_CLOEXEC`, so a
/// child process started while a file is open would inherit the descriptor — and with it
/// the file lock, keeping readers out after we close the file.
pub(super) fn close_on_exec(file: &File) {
    if let Some(fd) = descriptor(file) {
        // SAFETY: a descriptor HDF5 holds open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// The OS descriptor under an HDF5 file (sec2 driver).
fn descriptor(file: &File) -> Option<libc::c_int> {
    let mut handle: *mut std::ffi::c_void = std::ptr::null_mut();
    let status = hdf5::sync::sync(|| {
        // SAFETY: valid file id; HDF5 stores a pointer to its descriptor in `handle`.
        unsafe { hdf5_sys::h5f::H5Fget_vfd_handle(file.id(), H5P_DEFAULT, &mut handle) }
    });
    // SAFETY: with the default sec2 driver the handle points to the `int` descriptor.
    (status >= 0 && !handle.is_null()).then(|| unsafe { *handle.cast::<libc::c_int>() })
}

/// After a failed write (disk full, I/O error) the file on disk is consistent as of its
/// last flush, and closing it normally would write half of the newer metadata (the
/// superblock fits, the blocks it points to do not) and break it. Swapping HDF5's
/// descriptor for a read-only one makes every later write fail, so the file stays at its
/// last flush: with `flush_every_frames`, readable with every frame up to it.
pub(super) fn freeze(file: &File, path: &Path) {
    let Some(fd) = descriptor(file) else { return };
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: plain descriptor calls; `fd` is HDF5's open descriptor, replaced in place.
    unsafe {
        let ro = libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if ro >= 0 {
            libc::dup2(ro, fd);
            libc::close(ro);
        }
    }
}

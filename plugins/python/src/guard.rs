//! Zero copy: the numpy array handed to Python is a view of the pool buffer, and its
//! `base` is a [`FrameGuard`] that owns the frame reference. While Python holds the array
//! (or any view of it) the guard lives, so the buffer is never reused under it; when the
//! last view goes, Python frees the guard and the frame goes back to the pool.

use std::sync::Mutex;

use daqflow_sdk::ndarray::ArrayView2;
use daqflow_sdk::prelude::*;
use numpy::npyffi::flags::NPY_ARRAY_WRITEABLE;
use numpy::{Element, PyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The frame reference a guard owns.
pub enum Held {
    /// Unique: Python may write to it (a filter's frame after copy-on-write).
    Unique(FrameMut),
    /// Shared with other consumers, or only read: the array is read-only.
    Shared(Frame),
}

impl Held {
    /// The frame's pixels.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Held::Unique(f) => f.bytes(),
            Held::Shared(f) => f.bytes(),
        }
    }
}

/// The `base` of a frame's numpy array: keeps the frame alive as long as Python holds a
/// view of it.
#[pyclass(frozen, name = "Frame", module = "daqflow")]
pub struct FrameGuard {
    held: Mutex<Option<Held>>,
}

impl FrameGuard {
    /// Takes the frame back (when Python kept nothing).
    pub fn take(&self) -> Option<Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Runs `f` on the held frame.
    pub fn with<R>(&self, f: impl FnOnce(Option<&Held>) -> R) -> R {
        f(self.held.lock().unwrap_or_else(|p| p.into_inner()).as_ref())
    }
}

/// A guard owning `held`, and the 2-D numpy array over its pixels (writable only for a
/// unique frame and when `writable`).
pub fn wrap<'py>(
    py: Python<'py>,
    mut held: Held,
    writable: bool,
) -> PyResult<(Bound<'py, FrameGuard>, Bound<'py, PyAny>)> {
    let (ptr, dtype, shape) = match &mut held {
        Held::Unique(f) => (f.bytes_mut().as_mut_ptr(), f.dtype(), f.shape()),
        Held::Shared(f) => (f.data_ptr().cast_mut(), f.dtype(), f.shape()),
    };
    let writable = writable && matches!(held, Held::Unique(_));
    let guard = Bound::new(
        py,
        FrameGuard {
            held: Mutex::new(Some(held)),
        },
    )?;
    let array = match dtype {
        DType::U8 => array_of::<u8>(&guard, ptr, shape, writable),
        DType::U16 => array_of::<u16>(&guard, ptr, shape, writable),
        DType::U32 => array_of::<u32>(&guard, ptr, shape, writable),
        DType::F32 => array_of::<f32>(&guard, ptr, shape, writable),
        other => {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "frames of dtype {other} have no numpy type here"
            )));
        }
    };
    Ok((guard, array))
}

fn array_of<'py, T: Element + Pixel>(
    guard: &Bound<'py, FrameGuard>,
    ptr: *mut u8,
    shape: [usize; 2],
    writable: bool,
) -> Bound<'py, PyAny> {
    // SAFETY: `ptr` is the pool buffer of the frame the guard owns: `shape[0] * shape[1]`
    // elements of T (the frame is dense, row-major, of this dtype), aligned by the pool.
    // The buffer is neither moved nor released while the guard lives, and the guard is the
    // array's base, so it lives as long as the array and every view of it.
    let array = unsafe {
        let view = ArrayView2::<T>::from_shape_ptr(shape, ptr.cast::<T>().cast_const());
        PyArray2::borrow_from_array(&view, guard.clone().into_any())
    };
    if !writable {
        // SAFETY: the array was just created and is not shared yet. With WRITEABLE cleared
        // on an array whose base is not a buffer, numpy refuses to set it back.
        unsafe { (*array.as_array_ptr()).fields.flags &= !NPY_ARRAY_WRITEABLE };
    }
    array.into_any()
}

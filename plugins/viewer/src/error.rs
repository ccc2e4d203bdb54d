//! The viewer's error type: one enum for rendering, snapshots and settings problems.

/// Everything that can go wrong in the viewer.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// No GPU adapter could be created (no Vulkan/GL driver, or none that works).
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("create GPU device on {adapter}: {source}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// The wgpu error.
        source: wgpu::RequestDeviceError,
    },
    /// A frame that the viewer cannot show.
    #[error("bad image: {0}")]
    BadImage(String),
    /// Reading the rendered image back from the GPU failed.
    #[error("read back the rendered image: {0}")]
    Readback(String),
    /// Writing a PNG file failed.
    #[error("write PNG {path}: {message}")]
    Png {
        /// Target file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// The window could not be opened or its event loop failed.
    #[error("viewer window: {0}")]
    Window(String),
}

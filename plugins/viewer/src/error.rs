//! The viewer's error type: one enum for GPU, window and snapshot problems; a frame that
//! cannot be shown and PNG files come from `daqflow-display` ([`DisplayError`]).

use daqflow_display::DisplayError;

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
    /// A frame that cannot be shown, or a PNG file that cannot be read or written.
    #[error(transparent)]
    Display(#[from] DisplayError),
    /// Reading the rendered image back from the GPU failed.
    #[error("read back the rendered image: {0}")]
    Readback(String),
    /// The window could not be opened or its event loop failed.
    #[error("viewer window: {0}")]
    Window(String),
}

//! The display crate's error type: a frame that cannot be shown (bad shape, unknown dtype,
//! corrupt compressed chunk) and PNG files that cannot be read or written. Messages name
//! the object ("BsLz4-compressed 160x96 u16: …", "write PNG /tmp/x.png: …").

/// Everything that can go wrong while preparing a frame for display.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DisplayError {
    /// A frame that cannot be shown: wrong byte length for its shape, an unknown dtype,
    /// a compressed chunk that does not decode.
    #[error("bad image: {0}")]
    BadImage(String),
    /// Reading or writing a PNG file failed.
    #[error("write PNG {path}: {message}")]
    Png {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
}

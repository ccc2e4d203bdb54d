//! `dectris`: receives a DECTRIS SIMPLON detector stream (EIGER, EIGER2, PILATUS4,
//! Jungfraujoch) over ZeroMQ — stream v2 (CBOR) or v1 (legacy multipart JSON). A series
//! (arm … disarm) is the unit: its frames carry `series_id`, its first frame the start
//! message's description (`daqflow_sdk::series`), and compressed images pass through in
//! their encoding. See `README.md`.

pub mod config;
pub mod legacy;
pub mod message;
mod source;
pub mod stream2;
pub mod tracker;

pub use config::Settings;
pub use source::DectrisSource;

daqflow_sdk::export_plugin!(
    source DectrisSource,
    name = "dectris",
    description = "Receives a DECTRIS detector stream (v2 CBOR or v1 legacy) over ZeroMQ PULL"
);

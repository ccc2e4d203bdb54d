//! `stream`: publishes frames as a DECTRIS stream v2 (CBOR over ZeroMQ PUSH), so that
//! another daqflow's `dectris` source, DECTRIS's example client, or any stream-v2 reader
//! receives them; several endpoints spread a run over several receivers in blocks of
//! frame numbers. See `README.md`.

pub mod config;
pub mod encode;
mod sink;

pub use config::Settings;
pub use sink::StreamSink;

daqflow_sdk::export_plugin!(
    sink StreamSink,
    name = "stream",
    description = "Publishes frames as a DECTRIS stream v2 (CBOR) on ZeroMQ PUSH endpoints"
);

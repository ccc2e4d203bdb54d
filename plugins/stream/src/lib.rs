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

#[cfg(test)]
mod tests {
    use daqflow_sdk::serde_json::json;
    use daqflow_sdk::testing::{Harness, check_compliance};

    use super::*;

    #[test]
    fn complies() {
        check_compliance(daqflow_plugin_entry);
    }

    #[test]
    fn settings_are_checked() {
        assert!(Harness::validate(daqflow_plugin_entry, json!({"bind": "tcp://*:31001"})).is_ok());
        let errs = Harness::validate(daqflow_plugin_entry, json!({})).unwrap_err();
        assert_eq!(errs[0].field, "bind");
        let errs = Harness::validate(
            daqflow_plugin_entry,
            json!({"endpoints": ["tcp://*:1", "tcp://*:1", "udp://x"], "block_frames": 0}),
        )
        .unwrap_err();
        let text = format!("{errs:?}");
        assert!(
            text.contains("listed twice") && text.contains("udp://x"),
            "{text}"
        );
        assert!(errs.iter().any(|e| e.field == "block_frames"));
    }
}

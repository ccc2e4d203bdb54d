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
        let ok = Harness::validate(
            daqflow_plugin_entry,
            json!({"endpoint": "tcp://eiger:31001", "series": 2}),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let errs = Harness::validate(
            daqflow_plugin_entry,
            json!({"endpoint": "tcp://*:31001", "series": 0, "protocol": "legacy", "channel": "t"}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["endpoint", "series", "channel"], "{errs:?}");
    }

    #[test]
    fn stops_cleanly_while_no_sender_is_there() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut h = Harness::new(
            daqflow_plugin_entry,
            json!({"endpoint": format!("tcp://127.0.0.1:{port}"), "poll_ms": 10}),
        )
        .unwrap();
        h.start().unwrap();
        for _ in 0..3 {
            assert_eq!(h.produce().unwrap(), daqflow_sdk::Next::Continue);
        }
        h.stop().unwrap();
        assert_eq!(h.counter("images_received"), Some(0));
        assert!(h.take_emitted().is_empty());
    }
}

//! What the collector does with an agent's bytes before storing them:
//! prost decodes an `AgentMessage`, every evidence of a batch goes through
//! `ingest::validate`, and what passes is stored (protobuf body plus the
//! observed time) and later served as proto3 canonical JSON (API, export,
//! rule input). None of it may panic, whatever an agent sends.

#![no_main]

use gamsa_collector::grpc::ingest;
use gamsa_collector::rules::input::payload_value;
use gamsa_collector::store::rows::observed_ms;
use gamsa_proto::v1::{agent_message::Msg, AgentMessage, Evidence};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = AgentMessage::decode(data) else {
        return;
    };
    match msg.msg {
        Some(Msg::Batch(batch)) => {
            for ev in &batch.evidence {
                let _ = ingest::validate(ev, "agent-1");
                if ingest::validate(ev, &ev.agent_id).is_ok() {
                    stored(ev);
                }
            }
        }
        Some(Msg::Hello(hello)) => {
            let _ = serde_json::to_string(&hello);
        }
        None => {}
    }
});

/// The store's and readers' side of one accepted evidence.
fn stored(ev: &Evidence) {
    let _ = observed_ms(ev);
    let body = ev.encode_to_vec();
    let back = Evidence::decode(body.as_slice()).expect("re-decoding our own encoding");
    let _ = serde_json::to_string(&back);
    if let Ok(v) = serde_json::to_value(&back) {
        let _ = serde_json::from_value::<Evidence>(v);
    }
    let _ = payload_value(&back, None);
}

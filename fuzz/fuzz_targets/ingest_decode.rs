//! What the collector does with an agent's bytes before storing them:
//! prost decodes an `AgentMessage`, every evidence of a batch goes through
//! `validate::identity` and `validate::content`, and what passes is stored
//! (protobuf body plus the observed time) and later served as proto3
//! canonical JSON (API, export, rule input) and signed into snapshots in its
//! RFC 8785 canonical form. None of it may panic, whatever an agent sends,
//! and whatever is accepted must serialise both ways: evidence that is
//! stored but cannot be shown would break every reader.

#![no_main]

use gamsa_collector::config::IngestConfig;
use gamsa_collector::grpc::validate;
use gamsa_collector::rules::input::payload_value;
use gamsa_collector::snapshot::canonical;
use gamsa_collector::store::rows::observed_ms;
use gamsa_proto::v1::{agent_message::Msg, AgentMessage, Evidence};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The collector's clock for the skew check: the end of year 9999, so that
/// every observedAt the range check accepts is reached.
const NOW_MS: i64 = 253_402_300_799_999;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = AgentMessage::decode(data) else {
        return;
    };
    match msg.msg {
        Some(Msg::Batch(batch)) => {
            let limits = IngestConfig::default();
            for ev in &batch.evidence {
                let _ = validate::identity(ev, "agent-1", &["host-1".into()]);
                if validate::content(ev, NOW_MS, &limits).is_ok() {
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
    let json = serde_json::to_value(&back).expect("accepted evidence serialises to JSON");
    let again: Evidence =
        serde_json::from_value(json.clone()).expect("accepted evidence reads back from its JSON");
    // Compared as JSON: a NaN's payload bits are not kept, its meaning is.
    assert_eq!(
        serde_json::to_value(&again).expect("read-back evidence serialises"),
        json,
        "accepted evidence survives its JSON round trip"
    );
    canonical::to_vec(&back).expect("accepted evidence has a canonical snapshot form");
    let _ = payload_value(&back, None);
}

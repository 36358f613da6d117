//! Fuzz targets: every parser that reads bytes someone else chose. Each target takes any bytes
//! and must return without panicking (errors are fine: they are the point).
//!
//! | target | hostile input it reads |
//! |---|---|
//! | [`envelope`] | a peer's message text: v1 envelopes, each payload type, OKR plans and updates |
//! | [`invite`] | an invite code or `coworker://` link a user pastes or scans |
//! | [`schema`] | a peer's skill card schemas, compiled and used to validate a value |
//! | [`control`] | a local client's lines on the control socket, and a host's answers |
//! | [`node_request`] | a client's request to the node: its protobuf and the MLS payloads inside |
//! | [`identity_update`] | an identity update from the network, verified and applied |
//!
//! `libfuzzer/` runs them coverage-guided (`cargo +nightly fuzz run --fuzz-dir
//! tests/fuzz/libfuzzer TARGET tests/fuzz/corpus/TARGET`); `tests/smoke.rs` runs them briefly in
//! the test command. `corpus/` holds the seeds, taken from real traffic.

use coworker_protocol::envelope::{self, Envelope};
use coworker_protocol::{Invite, Okr, Schema};
use serde_json::Value;
use xmtp_proto::Message;

/// A fuzz target: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: [(&str, Target); 6] = [
    ("envelope", envelope),
    ("invite", invite),
    ("schema", schema),
    ("control", control),
    ("node_request", node_request),
    ("identity_update", identity_update),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A peer's message: the envelope, then its payload as each type that reads it.
pub fn envelope(data: &[u8]) {
    let text = text(data);
    let _ = envelope::Dialect::parse(&text);
    let Ok(Some(envelope)) = Envelope::parse(&text) else { return };
    let _ = envelope.to_text();
    let _ = envelope.payload::<envelope::Ping>();
    let _ = envelope.payload::<envelope::Discover>();
    let _ = envelope.payload::<envelope::Capabilities>();
    let _ = envelope.payload::<envelope::TrustRequest>();
    let _ = envelope.payload::<envelope::TrustAnswer>();
    if let Ok(request) = envelope.payload::<envelope::TaskRequest>() {
        let _ = serde_json::to_string(&request);
    }
    if let Ok(result) = envelope.payload::<envelope::TaskResult>() {
        let _ = result.failure_code();
    }
    let _ = envelope.payload::<envelope::TaskProgress>();
    let _ = envelope.payload::<envelope::TaskCancel>();
    let _ = envelope.payload::<envelope::ErrorPayload>();
    let _ = envelope.payload::<envelope::GroupMessage>();
    if let Ok(mut okr) = envelope.payload::<Okr>()
        && okr.validate().is_ok()
    {
        let update = okr.clone();
        let _ = okr.apply_update(&update);
    }
}

/// An invite as a user pastes or scans it (code, link or anything else), at a fixed time.
pub fn invite(data: &[u8]) {
    let text = text(data);
    if let Ok(invite) = Invite::parse(&text, 1_800_000_000) {
        let _ = (invite.is_verified(), invite.short_id());
    }
    let _ = Invite::uri(&text);
}

/// Schemas from a peer: `[schema, value]` compiles the schema and validates the value; any
/// other JSON is compiled as a schema.
pub fn schema(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Value>(data) else { return };
    let (schema, value) = match &json {
        Value::Array(pair) if pair.len() == 2 => (&pair[0], Some(&pair[1])),
        other => (other, None),
    };
    let _ = coworker_protocol::schema::normalize(schema);
    let _ = coworker_protocol::schema::to_shorthand(schema);
    if let (Ok(compiled), Some(value)) = (Schema::compile(schema), value) {
        let _ = compiled.validate(value);
    }
}

/// A line on the control socket, read as the host reads a client's and a client a host's.
pub fn control(data: &[u8]) {
    use coworker_host::control::proto::{FromClient, Hello, ToClient, Welcome};
    let _ = serde_json::from_slice::<Hello>(data);
    let _ = serde_json::from_slice::<FromClient>(data);
    let _ = serde_json::from_slice::<Welcome>(data);
    let _ = serde_json::from_slice::<ToClient>(data);
}

/// A request to the node: the first byte picks the RPC, the rest is its protobuf; the MLS
/// payloads inside get the node's checks.
pub fn node_request(data: &[u8]) {
    use xmtp_proto::{identity_api, mls_api};
    let Some((&kind, body)) = data.split_first() else { return };
    match kind % 6 {
        0 => {
            if let Ok(request) = mls_api::SendGroupMessagesRequest::decode(body) {
                for message in request.messages {
                    if let Some(mls_api::group_message_input::Version::V1(v1)) = message.version {
                        xmtp_node::fuzzing::group_message(&v1.data);
                    }
                }
            }
        }
        1 => {
            if let Ok(request) = mls_api::UploadKeyPackageRequest::decode(body)
                && let Some(package) = request.key_package
            {
                xmtp_node::fuzzing::key_package(&package.key_package_tls_serialized);
            }
        }
        2 => {
            let _ = mls_api::SendWelcomeMessagesRequest::decode(body);
        }
        3 => {
            let _ = mls_api::QueryGroupMessagesRequest::decode(body);
        }
        4 => {
            if let Ok(request) = identity_api::PublishIdentityUpdateRequest::decode(body)
                && let Some(update) = request.identity_update
            {
                let _ = xmtp_identity::AssociationState::apply(None, &update);
            }
        }
        _ => {
            xmtp_node::fuzzing::group_message(body);
            xmtp_node::fuzzing::key_package(body);
        }
    }
}

/// An identity update as it comes from the network: decoded, then applied to an empty log
/// and, when that works, applied again on top of itself.
pub fn identity_update(data: &[u8]) {
    let Ok(update) = xmtp_proto::associations::IdentityUpdate::decode(data) else { return };
    if let Ok(state) = xmtp_identity::AssociationState::apply(None, &update) {
        let _ = xmtp_identity::AssociationState::apply(Some(&state), &update);
    }
}

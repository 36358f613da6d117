//! Fuzz targets: every parser that reads bytes someone else chose. Each target takes any bytes
//! and must return without panicking (errors are fine: they are the point).
//!
//! | target | hostile input it reads |
//! |---|---|
//! | [`envelope`] | a peer's message text: v1 envelopes, each payload type, OKR plans and updates |
//! | [`invite`] | an invite code or `coworker://` link a user pastes or scans |
//! | [`schema`] | a peer's skill card schemas, compiled and used to validate a value |
//! | [`control`] | a local client's lines on the control socket, and a host's answers |
//! | [`node_request`] | a client's request to the node (V3 and d14n): its protobuf, topics and the MLS payloads inside |
//! | [`identity_update`] | an identity update from the network, verified and applied |
//! | [`agent_file`] | an agent file (TOML): skills, schemas, trust policy, limits |
//! | [`mls`] | the client's handling of group messages (commits, proposals, application messages) and welcomes, on a real conversation's state |
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
pub const TARGETS: [(&str, Target); 8] = [
    ("envelope", envelope),
    ("invite", invite),
    ("schema", schema),
    ("control", control),
    ("node_request", node_request),
    ("identity_update", identity_update),
    ("agent_file", agent_file),
    ("mls", mls),
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
    match kind % 8 {
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
        5 => {
            xmtp_node::fuzzing::group_message(body);
            xmtp_node::fuzzing::key_package(body);
        }
        6 => {
            // d14n publishing: each envelope's topic, then its payload as the node checks it.
            use xmtp_proto::d14n_envelopes::client_envelope::Payload;
            let Ok(request) = xmtp_proto::d14n_payer::PublishClientEnvelopesRequest::decode(body)
            else {
                return;
            };
            for envelope in request.envelopes {
                let topic = envelope.aad.as_ref().map(|a| a.target_topic.as_slice());
                let _ = topic.and_then(xmtp_proto::d14n::Topic::parse);
                match envelope.payload {
                    Some(Payload::GroupMessage(mls_api::GroupMessageInput {
                        version: Some(mls_api::group_message_input::Version::V1(v1)),
                    })) => {
                        xmtp_node::fuzzing::group_message(&v1.data);
                    }
                    Some(Payload::UploadKeyPackage(request)) => {
                        if let Some(package) = request.key_package {
                            xmtp_node::fuzzing::key_package(&package.key_package_tls_serialized);
                        }
                    }
                    Some(Payload::IdentityUpdate(update)) => {
                        let _ = xmtp_proto::d14n::Topic::identity_updates(&update.inbox_id);
                        let _ = xmtp_identity::AssociationState::apply(None, &update);
                    }
                    _ => {}
                }
            }
        }
        _ => {
            // d14n reads: a query's topics and vector cursor.
            if let Ok(request) = xmtp_proto::d14n_replication::QueryEnvelopesRequest::decode(body)
                && let Some(query) = request.query
            {
                for topic in &query.topics {
                    let _ = xmtp_proto::d14n::Topic::parse(topic);
                }
            }
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

/// An agent file as `coworker serve FILE` reads it (commands resolve against a directory that
/// does not exist; nothing is started).
pub fn agent_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = coworker_host::agent_file::AgentFile::parse(text, std::path::Path::new("/nonexistent"));
}

/// Two clients of an in-process node sharing a DM: `alice` receives what the target makes.
struct Mls {
    runtime: tokio::runtime::Runtime,
    alice: xmtp_client::Client,
    alice_dm: xmtp_client::ConversationId,
    bob: xmtp_client::Client,
    bob_dm: xmtp_client::ConversationId,
    _node: xmtp_node::Node,
    _dir: tempfile::TempDir,
}

fn mls_state() -> &'static Mls {
    static STATE: std::sync::OnceLock<Mls> = std::sync::OnceLock::new();
    STATE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (node, alice, alice_dm, bob, bob_dm) = runtime.block_on(async {
            use std::sync::Arc;
            use xmtp_client::{Client, ClientOptions, KeyStore, MemoryKeyStore, Network};
            let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
                .await
                .expect("the node starts");
            let open = |name: &str| {
                let options = ClientOptions::new(
                    Network::Url(node.url().to_owned()),
                    dir.path().join(format!("{name}.db")),
                    Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>,
                );
                Client::open(options)
            };
            let (alice, bob) =
                (open("alice").await.expect("alice"), open("bob").await.expect("bob"));
            let bob_dm = bob.dm(alice.inbox_id()).await.expect("a DM");
            bob.send_text(&bob_dm, "hello").await.expect("sent");
            alice.sync_welcomes().await.expect("alice joins");
            let alice_dm = alice.dm(bob.inbox_id()).await.expect("the DM");
            alice.sync(&alice_dm).await.expect("synced");
            (node, alice, alice_dm, bob, bob_dm)
        });
        Mls { runtime, alice, alice_dm, bob, bob_dm, _node: node, _dir: dir }
    })
}

/// MLS input for the client, by its first byte: 0 — a group message as the network delivers
/// it; 1 — an application message's plaintext, sealed by the other member of the DM (what a
/// peer can put inside a valid message); 2 — an MLS Welcome, wrapped for our key package (what
/// anyone can send us).
pub fn mls(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else { return };
    let state = mls_state();
    state.runtime.block_on(async {
        match mode % 3 {
            0 => state.alice.fuzz_group_message(&state.alice_dm, body).await,
            1 => {
                if let Some(sealed) = state.bob.fuzz_seal(&state.bob_dm, body).await {
                    state.alice.fuzz_group_message(&state.alice_dm, &sealed).await;
                }
            }
            _ => state.alice.fuzz_welcome(body).await,
        }
    });
}

/// Seeds for [`mls`] from real traffic on its state: the DM's and a group's messages as the node
/// holds them (a commit adding a member among them), application plaintexts, and the group's
/// welcome, unwrapped.
///
/// # Panics
/// When the traffic cannot be made (the node or a client fails).
pub fn mls_seeds() -> Vec<Vec<u8>> {
    use xmtp_client::{Client, GroupOptions, content};
    let state = mls_state();
    state.runtime.block_on(async {
        let (alice, bob) = (&state.alice, &state.bob);
        alice.send_text(&state.alice_dm, "a reply").await.expect("sent");
        let group = bob
            .create_group(&[alice.inbox_id().to_owned()], &GroupOptions::default())
            .await
            .expect("a group");
        bob.send_text(&group, "to the group").await.expect("sent");
        let joined = alice.sync_welcomes().await.expect("alice joins");
        let mut seeds = Vec::new();
        let (dm_messages, welcomes) = alice.fuzz_seeds(&state.alice_dm).await;
        let (group_messages, _) = alice.fuzz_seeds(&joined[0]).await;
        for message in dm_messages.into_iter().chain(group_messages) {
            seeds.push([&[0u8][..], &message].concat());
        }
        let custom = content::custom(
            &xmtp_client::ContentType::new("coworker.dev", "envelope", 1, 0),
            b"{}".to_vec(),
            None,
        );
        for plaintext in [content::text("hello"), custom].iter().map(Client::fuzz_plaintext) {
            seeds.push([&[1u8][..], &plaintext].concat());
        }
        for welcome in welcomes {
            seeds.push([&[2u8][..], &welcome].concat());
        }
        seeds
    })
}

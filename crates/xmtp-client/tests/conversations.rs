//! Two and three native clients through the project's node: DMs, groups with membership
//! changes, restart with nothing lost or repeated, custom content, forged identities.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use xmtp_client::{
    Client, ClientOptions, ContentType, ConversationKind, Event, GroupOptions, KeyStore,
    MemoryKeyStore, Network, SendOptions, content,
};

struct Net {
    node: Option<xmtp_node::Node>,
    config: xmtp_node::NodeConfig,
    dir: tempfile::TempDir,
}

impl Net {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
        let node = xmtp_node::start(config.clone()).await.unwrap();
        Self { node: Some(node), config, dir }
    }

    fn url(&self) -> String {
        self.node.as_ref().unwrap().url().to_owned()
    }

    async fn open(&self, name: &str, keys: &Arc<MemoryKeyStore>) -> Client {
        let options = ClientOptions::new(
            Network::Url(self.url()),
            self.dir.path().join(format!("{name}.db")),
            Arc::clone(keys) as Arc<dyn KeyStore>,
        );
        Client::open(options).await.unwrap()
    }

    async fn client(&self, name: &str) -> (Client, Arc<MemoryKeyStore>) {
        let keys = Arc::new(MemoryKeyStore::default());
        (self.open(name, &keys).await, keys)
    }
}

async fn texts(client: &Client, id: &xmtp_client::ConversationId) -> Vec<String> {
    client.messages(id, 0, 1000).await.unwrap().iter().filter_map(|m| m.text()).collect()
}

async fn eventually_texts(
    client: &Client,
    id: &xmtp_client::ConversationId,
    want: &[&str],
) -> Vec<String> {
    for _ in 0..100 {
        client.sync_all().await.unwrap();
        let got = texts(client, id).await;
        if want.iter().all(|w| got.iter().any(|g| g == w)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("missing {want:?}; have {:?}", texts(client, id).await);
}

#[tokio::test]
async fn dm_both_ways_with_libxmtp_compatible_ids() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    assert_eq!(alice.find_inbox_id(&bob.address()).await.unwrap().as_deref(), Some(bob.inbox_id()));

    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    assert_eq!(alice.dm(bob.inbox_id()).await.unwrap(), dm, "the DM is reused");
    let sent = alice.send_text(&dm, "hello bob").await.unwrap();

    let joined = bob.sync_welcomes().await.unwrap();
    assert_eq!(joined, vec![dm.clone()]);
    let conversation = bob.conversation(&dm).await.unwrap();
    assert_eq!(conversation.kind, ConversationKind::Dm { peer: alice.inbox_id().to_owned() });
    bob.sync(&dm).await.unwrap();
    let received = bob.messages(&dm, 0, 10).await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, sent, "both sides compute the same message id");
    assert_eq!(received[0].sender_inbox_id, alice.inbox_id());
    assert_eq!(received[0].sender_installation, alice.installation_id().to_vec());

    bob.send_text(&dm, "hi alice").await.unwrap();
    assert_eq!(eventually_texts(&alice, &dm, &["hi alice"]).await, ["hello bob", "hi alice"]);
    assert_eq!(bob.dm(alice.inbox_id()).await.unwrap(), dm, "bob reuses the DM alice made");

    let latest = |n| {
        let alice = &alice;
        let dm = &dm;
        async move {
            let page = alice.latest_messages(dm, n).await.unwrap();
            page.iter().filter_map(|m| m.text()).collect::<Vec<_>>()
        }
    };
    assert_eq!(latest(1).await, ["hi alice"], "the newest message only");
    assert_eq!(latest(10).await, ["hello bob", "hi alice"], "oldest first");
}

#[tokio::test]
async fn group_add_and_remove_members() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    let (carol, _) = net.client("carol").await;
    let options = GroupOptions { name: "launch".into(), description: "ship it".into() };
    let group = alice.create_group(&[bob.inbox_id().to_owned()], &options).await.unwrap();
    alice.send_text(&group, "one").await.unwrap();
    bob.sync_welcomes().await.unwrap();
    let seen = bob.conversation(&group).await.unwrap();
    assert_eq!(seen.name, "launch");
    assert_eq!(seen.description, "ship it");
    assert_eq!(seen.super_admins, vec![alice.inbox_id().to_owned()]);
    eventually_texts(&bob, &group, &["one"]).await;

    alice.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
    alice.send_text(&group, "two").await.unwrap();
    carol.sync_welcomes().await.unwrap();
    assert_eq!(eventually_texts(&carol, &group, &["two"]).await, ["two"], "no pre-join history");
    carol.send_text(&group, "from carol").await.unwrap();
    eventually_texts(&bob, &group, &["two", "from carol"]).await;
    eventually_texts(&alice, &group, &["from carol"]).await;
    let mut members = alice.conversation(&group).await.unwrap().members;
    members.sort();
    let mut expected = vec![alice.inbox_id(), bob.inbox_id(), carol.inbox_id()];
    expected.sort();
    assert_eq!(members, expected);

    // Bob is not an admin: the default policy refuses his removal of carol.
    let err = bob.remove_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap_err();
    assert_eq!(err.code(), "client.not_permitted", "{err}");

    alice.remove_members(&group, &[bob.inbox_id().to_owned()]).await.unwrap();
    alice.send_text(&group, "three").await.unwrap();
    eventually_texts(&carol, &group, &["three"]).await;
    bob.sync_all().await.unwrap();
    assert!(!bob.conversation(&group).await.unwrap().active, "bob knows he was removed");
    assert!(!texts(&bob, &group).await.contains(&"three".to_owned()));
    let err = bob.send_text(&group, "still here?").await.unwrap_err();
    assert_eq!(err.code(), "client.inactive", "{err}");
}

#[tokio::test]
async fn restart_resumes_without_loss_or_repeats() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, bob_keys) = net.client("bob").await;
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "before").await.unwrap();
    bob.sync_all().await.unwrap();
    bob.send_text(&dm, "bob before").await.unwrap();
    let installation = bob.installation_id();
    drop(bob);

    alice.send_text(&dm, "while away 1").await.unwrap();
    alice.send_text(&dm, "while away 2").await.unwrap();
    let bob = net.open("bob", &bob_keys).await;
    assert_eq!(bob.installation_id(), installation, "same installation after restart");
    assert_eq!(bob.installations().await.unwrap().len(), 1);
    let got = eventually_texts(&bob, &dm, &["while away 2"]).await;
    assert_eq!(got, ["before", "bob before", "while away 1", "while away 2"]);
    bob.send_text(&dm, "back").await.unwrap();
    eventually_texts(&alice, &dm, &["back"]).await;
    bob.sync_all().await.unwrap();
    assert_eq!(texts(&bob, &dm).await.len(), 5, "nothing repeated");
}

/// The next message event's text (conversation events are skipped).
async fn next_text(events: &mut tokio::sync::broadcast::Receiver<Event>) -> String {
    loop {
        let event =
            tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap().unwrap();
        if let Event::Message(m) = event {
            return m.text().unwrap();
        }
    }
}

#[tokio::test]
async fn streams_deliver_live_and_survive_a_node_restart() {
    let mut net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    let mut events = bob.subscribe();
    let stream = bob.stream();
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "live 1").await.unwrap();
    assert_eq!(next_text(&mut events).await, "live 1");

    // The node goes away and comes back on the same address and database.
    let node = net.node.take().unwrap();
    let url = node.url().to_owned();
    node.shutdown().await.unwrap();
    let mut config = net.config.clone();
    config.listen = url.trim_start_matches("http://").parse().unwrap();
    net.node = Some(xmtp_node::start(config).await.unwrap());
    alice.send_text(&dm, "after restart").await.unwrap();
    assert_eq!(next_text(&mut events).await, "after restart");
    stream.stop().await;
    assert_eq!(texts(&bob, &dm).await, ["live 1", "after restart"]);
}

#[tokio::test]
async fn custom_content_types_round_trip() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    let kind = ContentType::new("coworker.dev", "envelope", 1, 0);
    let payload = br#"{"kind":"ping"}"#.to_vec();
    let encoded = content::custom(&kind, payload.clone(), Some("[coworker ping]".into()));
    alice.send(&dm, &encoded, SendOptions { should_push: false }).await.unwrap();
    bob.sync_all().await.unwrap();
    let messages = bob.messages(&dm, 0, 10).await.unwrap();
    assert_eq!(messages[0].content_type, kind);
    assert_eq!(messages[0].content.content, payload);
    assert_eq!(messages[0].content.fallback.as_deref(), Some("[coworker ping]"));
    assert_eq!(messages[0].text(), None);
}

#[tokio::test]
async fn unregistered_inboxes_and_self_dms_are_refused() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let err = alice.dm(&"ab".repeat(32)).await.unwrap_err();
    assert_eq!(err.code(), "client.not_found", "{err}");
    let err = alice.dm(alice.inbox_id()).await.unwrap_err();
    assert_eq!(err.code(), "client.invalid_input", "{err}");
    assert!(alice.conversations().await.unwrap().iter().all(|c| !c.active));
}

/// A node (or anyone with write access to it) appends an update to Bob's identity log that
/// adds an attacker's installation, signed by a wallet that is not Bob's. The client replays
/// and verifies the log itself, so it refuses to talk to the forged installation set.
#[tokio::test]
async fn a_forged_identity_update_is_rejected() {
    use prost::Message as _;
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    let attacker_wallet = xmtp_identity::WalletKey::generate(&mut rand::rngs::OsRng);
    let attacker_installation = xmtp_identity::InstallationKey::generate(&mut rand::rngs::OsRng);
    let forged = xmtp_identity::update::add_installation(
        bob.inbox_id(),
        &attacker_wallet,
        &attacker_installation,
        1,
    )
    .unwrap();
    let db = sqlx::SqlitePool::connect(&format!("sqlite:{}", net.config.database.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO inbox_log (inbox_id, server_timestamp_ns, identity_update) VALUES (?, 1, ?)",
    )
    .bind(bob.inbox_id())
    .bind(forged.encode_to_vec())
    .execute(&db)
    .await
    .unwrap();

    let err = alice.dm(bob.inbox_id()).await.unwrap_err();
    assert_eq!(err.code(), "client.verification", "{err}");
    assert!(err.to_string().contains(bob.inbox_id()), "{err}");
    assert!(alice.conversations().await.unwrap().iter().all(|c| !c.active), "nothing was created");
}

/// A well-framed MLS private message whose ciphertext is garbage: the node accepts it (it
/// cannot read MLS ciphertext), the receiver must skip it and go on.
fn garbage_private_message(group_id: &[u8], epoch: u64) -> Vec<u8> {
    use tls_codec::Serialize as _;
    let vl = |b: &[u8]| tls_codec::VLBytes::new(b.to_vec()).tls_serialize_detached().unwrap();
    let mut out = vec![0, 1, 0, 2]; // mls10, private message
    out.extend(vl(group_id));
    out.extend(epoch.to_be_bytes());
    out.push(1); // application
    out.extend(vl(b""));
    out.extend(vl(&[7u8; 40]));
    out.extend(vl(&[9u8; 64]));
    out
}

#[tokio::test]
async fn malformed_network_input_is_skipped_and_loses_nothing() {
    use xmtp_proto::mls_api as api;
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, _) = net.client("bob").await;
    let mut events = bob.subscribe();
    let stream = bob.stream();
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "before garbage").await.unwrap();
    assert_eq!(next_text(&mut events).await, "before garbage");

    let mut raw = api::mls_api_client::MlsApiClient::connect(net.url()).await.unwrap();
    for epoch in [0, 1, 2, 99] {
        let input = api::GroupMessageInput {
            version: Some(api::group_message_input::Version::V1(api::group_message_input::V1 {
                data: garbage_private_message(&dm.0, epoch).into(),
                sender_hmac: Default::default(),
                should_push: false,
            })),
        };
        raw.send_group_messages(api::SendGroupMessagesRequest { messages: vec![input] })
            .await
            .unwrap();
    }
    alice.send_text(&dm, "after garbage").await.unwrap();
    assert_eq!(next_text(&mut events).await, "after garbage", "the stream survived");
    stream.stop().await;
    assert_eq!(texts(&bob, &dm).await, ["before garbage", "after garbage"]);
}

#[tokio::test]
async fn leaving_a_group_asks_an_admin_to_remove_us() {
    let net = Net::start().await;
    let (alice, _) = net.client("alice").await;
    let (bob, bob_keys) = net.client("bob").await;
    let (carol, _) = net.client("carol").await;
    let members = [bob.inbox_id().to_owned(), carol.inbox_id().to_owned()];
    let group = alice.create_group(&members, &GroupOptions::default()).await.unwrap();
    bob.sync_welcomes().await.unwrap();
    carol.sync_welcomes().await.unwrap();

    let dm = bob.dm(carol.inbox_id()).await.unwrap();
    assert_eq!(bob.leave(&dm).await.unwrap_err().code(), "client.not_permitted");
    let err = alice.leave(&group).await.unwrap_err();
    assert_eq!(err.code(), "client.not_permitted", "the only super admin stays: {err}");

    bob.leave(&group).await.unwrap();
    assert!(bob.conversation(&group).await.unwrap().leaving);
    // Carol may not remove members: she records the request and leaves it to the admin.
    carol.sync_all().await.unwrap();
    assert_eq!(carol.conversation(&group).await.unwrap().members.len(), 3);
    // Bob restarts while waiting; his flag survives.
    drop(bob);
    let bob = net.open("bob", &bob_keys).await;
    assert!(bob.conversation(&group).await.unwrap().leaving);

    alice.sync_all().await.unwrap(); // sees the request, commits the removal
    let mut members = alice.conversation(&group).await.unwrap().members;
    members.sort();
    let mut expected = vec![alice.inbox_id().to_owned(), carol.inbox_id().to_owned()];
    expected.sort();
    assert_eq!(members, expected);
    alice.send_text(&group, "after bob left").await.unwrap();
    eventually_texts(&carol, &group, &["after bob left"]).await;
    bob.sync_all().await.unwrap();
    let gone = bob.conversation(&group).await.unwrap();
    assert!(!gone.active, "bob was removed");
    assert!(!texts(&bob, &group).await.contains(&"after bob left".to_owned()));
    // Nothing left to act on: another sync commits nothing new.
    let before = alice.conversation(&group).await.unwrap().members;
    alice.sync_all().await.unwrap();
    assert_eq!(alice.conversation(&group).await.unwrap().members, before);
}

#[tokio::test]
async fn a_second_installation_joins_the_inbox_and_can_be_revoked() {
    let net = Net::start().await;
    let (alice, alice_keys) = net.client("alice").await;
    // The same wallet on another device: a new installation of the same inbox.
    let second_keys = Arc::new(MemoryKeyStore::default());
    let wallet = alice_keys.load("wallet").unwrap().unwrap();
    second_keys.save("wallet", &wallet).unwrap();
    let alice2 = net.open("alice-2", &second_keys).await;
    assert_eq!(alice2.inbox_id(), alice.inbox_id());
    assert_ne!(alice2.installation_id(), alice.installation_id());
    let mut installations = alice.installations().await.unwrap();
    installations.sort();
    let mut expected = vec![alice.installation_id(), alice2.installation_id()];
    expected.sort();
    assert_eq!(installations, expected);

    // Bob's group reaches both installations; each sees the other's messages.
    let (bob, _) = net.client("bob").await;
    let (carol, _) = net.client("carol").await;
    let group = bob.create_group(&[alice.inbox_id().to_owned()], &GroupOptions::default()).await;
    let group = group.unwrap();
    alice.sync_welcomes().await.unwrap();
    alice2.sync_welcomes().await.unwrap();
    alice2.send_text(&group, "from the laptop").await.unwrap();
    eventually_texts(&alice, &group, &["from the laptop"]).await;
    eventually_texts(&bob, &group, &["from the laptop"]).await;

    let err = alice.revoke_installations(&[alice.installation_id()]).await.unwrap_err();
    assert_eq!(err.code(), "client.invalid_input");
    alice.revoke_installations(&[alice2.installation_id()]).await.unwrap();
    assert_eq!(alice.installations().await.unwrap(), vec![alice.installation_id()]);
    // The next membership change drops the revoked installation's leaf.
    bob.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
    bob.send_text(&group, "after revocation").await.unwrap();
    eventually_texts(&alice, &group, &["after revocation"]).await;
    alice2.sync_all().await.unwrap();
    assert!(!alice2.conversation(&group).await.unwrap().active);
    assert!(!texts(&alice2, &group).await.contains(&"after revocation".to_owned()));
}

/// `https://` node URLs: TLS via rustls, verified against a trusted CA; an untrusted
/// certificate is refused instead of silently falling back to plaintext.
#[tokio::test]
async fn https_nodes_are_verified_with_a_trusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let node_key = rcgen::KeyPair::generate().unwrap();
    let node_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let node_cert = node_params.signed_by(&node_key, &issuer).unwrap();

    let mut config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
    config.tls = Some(xmtp_node::TlsConfig {
        cert_pem: node_cert.pem().into_bytes(),
        key_pem: node_key.serialize_pem().into_bytes(),
    });
    let node = xmtp_node::start(config).await.unwrap();
    assert!(node.url().starts_with("https://127.0.0.1:"), "{}", node.url());

    let open = |name: &str, ca: Option<&str>| {
        let mut options = ClientOptions::new(
            Network::parse(node.url()).unwrap(),
            dir.path().join(format!("{name}.db")),
            Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>,
        );
        options.trusted_ca_pem = ca.map(|pem| pem.as_bytes().to_vec());
        Client::open(options)
    };
    // Without the CA the node's certificate is not trusted: registration fails with a transport
    // error and nothing is sent in the clear.
    let refused = open("mallory", None).await.unwrap_err();
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");

    let alice = open("alice", Some(&ca.pem())).await.unwrap();
    let bob = open("bob", Some(&ca.pem())).await.unwrap();
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "over TLS").await.unwrap();
    assert_eq!(eventually_texts(&bob, &dm, &["over TLS"]).await, ["over TLS"]);
}

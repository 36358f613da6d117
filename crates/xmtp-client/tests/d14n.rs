//! The client on the decentralized network (d14n): through a gateway from the start, and
//! moving there when the node's announced cutover passes, with nothing lost or repeated.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use xmtp_client::{Client, ClientOptions, Event, GroupOptions, KeyStore, MemoryKeyStore, Network};

async fn open(network: Network, dir: &std::path::Path, name: &str) -> Client {
    open_with(network, dir, name, Arc::new(MemoryKeyStore::default())).await
}

async fn open_with(
    network: Network,
    dir: &std::path::Path,
    name: &str,
    keys: Arc<dyn KeyStore>,
) -> Client {
    let options = ClientOptions::new(network, dir.join(format!("{name}.db")), keys);
    Client::open(options).await.unwrap()
}

async fn texts(client: &Client, id: &xmtp_client::ConversationId) -> Vec<String> {
    client.messages(id, 0, 10_000).await.unwrap().iter().filter_map(|m| m.text()).collect()
}

/// Syncs until `want` are all there; returns every text.
async fn eventually(
    client: &Client,
    id: &xmtp_client::ConversationId,
    want: &[String],
) -> Vec<String> {
    for _ in 0..200 {
        client.sync_all().await.unwrap();
        let got = texts(client, id).await;
        if want.iter().all(|w| got.contains(w)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("missing {:?}; have {:?}", want, texts(client, id).await);
}

fn owned(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

#[tokio::test]
async fn a_gateway_client_and_a_v3_client_share_dms_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let node =
        xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db"))).await.unwrap();
    let gateway = Network::Gateway(node.url().to_owned());
    let alice = open(gateway.clone(), dir.path(), "alice").await;
    let bob = open(Network::Url(node.url().to_owned()), dir.path(), "bob").await;
    let carol = open(gateway, dir.path(), "carol").await;
    assert_eq!(
        bob.find_inbox_id(&alice.address()).await.unwrap().as_deref(),
        Some(alice.inbox_id())
    );
    assert_eq!(alice.find_inbox_id(&bob.address()).await.unwrap().as_deref(), Some(bob.inbox_id()));

    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "from d14n").await.unwrap();
    eventually(&bob, &dm, &owned(&["from d14n"])).await;
    bob.send_text(&dm, "from V3").await.unwrap();
    assert_eq!(eventually(&alice, &dm, &owned(&["from V3"])).await, ["from d14n", "from V3"]);

    let group =
        alice.create_group(&[bob.inbox_id().to_owned()], &GroupOptions::default()).await.unwrap();
    alice.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
    alice.send_text(&group, "all three").await.unwrap();
    eventually(&carol, &group, &owned(&["all three"])).await;
    alice.remove_members(&group, &[bob.inbox_id().to_owned()]).await.unwrap();
    alice.send_text(&group, "without bob").await.unwrap();
    eventually(&carol, &group, &owned(&["without bob"])).await;
    bob.sync_all().await.unwrap();
    assert!(!texts(&bob, &group).await.contains(&"without bob".to_owned()));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_gateway_clients_stream_delivers_live_messages() {
    let dir = tempfile::tempdir().unwrap();
    let node =
        xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db"))).await.unwrap();
    let gateway = Network::Gateway(node.url().to_owned());
    let alice = open(gateway.clone(), dir.path(), "alice").await;
    let bob = open(gateway, dir.path(), "bob").await;
    let mut events = bob.subscribe();
    let _stream = bob.stream();
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    alice.send_text(&dm, "live").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::Message(m)) = events.recv().await
                && m.text().as_deref() == Some("live")
            {
                return m;
            }
        }
    })
    .await
    .expect("the stream delivered the message");
    assert_eq!(got.sender_inbox_id, alice.inbox_id());
    node.shutdown().await.unwrap();
}

/// Two clients mid-conversation while the node's cutover passes: before it they speak V3,
/// after it the node refuses V3 writes and they speak d14n, on their own. Every message
/// arrives once, in order, on both sides, and a stream opened before the cutover goes on.
#[tokio::test]
async fn clients_move_to_d14n_at_the_cutover_and_lose_or_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    // Room for the set-up below on a loaded machine, so that messages go before it too.
    let cutover = Duration::from_secs(6);
    let mut config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
    config.d14n_cutover_ns = Some(u64::try_from((now + cutover).as_nanos()).unwrap());
    let node = xmtp_node::start(config).await.unwrap();
    let started = std::time::Instant::now();
    let url = Network::Url(node.url().to_owned());
    let alice = open(url.clone(), dir.path(), "alice").await;
    let bob = open(url, dir.path(), "bob").await;
    let mut events = bob.subscribe();
    let _stream = bob.stream();

    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    let mut sent = Vec::new();
    let (mut before, mut after) = (0, 0);
    let mut i = 0;
    // Messages both ways across the cutover, one every 100 ms, until several went after it
    // (however slow the machine).
    while after < 6 || started.elapsed() < cutover + Duration::from_secs(1) {
        let (from, text) =
            if i % 2 == 0 { (&alice, format!("a{i}")) } else { (&bob, format!("b{i}")) };
        let sending = started.elapsed();
        from.send_text(&dm, &text).await.unwrap();
        if started.elapsed() < cutover {
            before += 1;
        } else if sending >= cutover {
            after += 1;
        }
        sent.push(text);
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(before >= 3, "messages before the cutover: {before}");
    // After the cutover the node refuses V3 writes: these went over d14n.
    for client in [&alice, &bob] {
        assert_eq!(eventually(client, &dm, &sent).await, sent, "every message once, in order");
    }
    // Bob's stream saw the messages alice sent after the cutover too.
    let last = sent.iter().rev().find(|t| t.starts_with('a')).unwrap().clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::Message(m)) = events.recv().await
                && m.text().as_deref() == Some(last.as_str())
            {
                return;
            }
        }
    })
    .await
    .expect("the stream delivered a message sent after the cutover");
    node.shutdown().await.unwrap();
}

/// A group across the cutover on a node that numbers what it originates from then on as an
/// xmtpd node does (application messages under its own id, by its own sequence; commits keep
/// V3's series): each client keeps a place per originator, so a commit after the cutover (a
/// member added) is processed although its id is far below the application messages', and
/// nothing before the cutover comes again.
#[tokio::test]
async fn a_group_goes_on_across_the_cutover_when_originators_number_apart() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let cutover = Duration::from_secs(4);
    let mut config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
    config.d14n_cutover_ns = Some(u64::try_from((now + cutover).as_nanos()).unwrap());
    config.d14n_own_sequences = true;
    let node = xmtp_node::start(config).await.unwrap();
    let started = std::time::Instant::now();
    let url = Network::Url(node.url().to_owned());
    let alice = open(url.clone(), dir.path(), "alice").await;
    let bob_keys: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::default());
    let bob = open_with(url.clone(), dir.path(), "bob", Arc::clone(&bob_keys)).await;
    let carol = open(url, dir.path(), "carol").await;
    let mut events = bob.subscribe();
    let _stream = bob.stream();

    let group =
        alice.create_group(&[bob.inbox_id().to_owned()], &GroupOptions::default()).await.unwrap();
    let mut sent = Vec::new();
    for text in ["v3 from alice", "v3 from bob"] {
        let from = if text.ends_with("alice") { &alice } else { &bob };
        from.send_text(&group, text).await.unwrap();
        sent.push(text.to_owned());
    }
    assert!(started.elapsed() < cutover, "the set-up took longer than the cutover delay");
    tokio::time::sleep(cutover.saturating_sub(started.elapsed()) + Duration::from_millis(200))
        .await;

    for text in ["d14n from bob", "d14n from alice"] {
        let from = if text.ends_with("alice") { &alice } else { &bob };
        from.send_text(&group, text).await.unwrap();
        sent.push(text.to_owned());
    }
    // A commit after the cutover: its id is in V3's series, far below the node's own numbers.
    alice.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
    assert_eq!(carol.sync_welcomes().await.unwrap(), std::slice::from_ref(&group));
    carol.send_text(&group, "carol joined").await.unwrap();
    sent.push("carol joined".to_owned());
    eventually(&bob, &group, &sent).await;
    bob.send_text(&group, "bob saw the commit").await.unwrap();
    sent.push("bob saw the commit".to_owned());
    assert_eq!(eventually(&alice, &group, &sent).await, sent, "every message once, in order");
    assert_eq!(eventually(&bob, &group, &sent).await, sent, "every message once, in order");
    let since_carol_joined = &sent[4..];
    assert_eq!(eventually(&carol, &group, since_carol_joined).await, since_carol_joined);
    // Bob's stream, opened before the cutover, saw carol's message.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::Message(m)) = events.recv().await
                && m.text().as_deref() == Some("carol joined")
            {
                return;
            }
        }
    })
    .await
    .expect("the stream delivered a message sent after the commit");

    // Restarted, the clients read on from their stored places and nothing comes twice.
    drop(_stream);
    drop(bob);
    let bob = open_with(Network::Url(node.url().to_owned()), dir.path(), "bob", bob_keys).await;
    alice.send_text(&group, "after bob's restart").await.unwrap();
    sent.push("after bob's restart".to_owned());
    assert_eq!(eventually(&bob, &group, &sent).await, sent);
    node.shutdown().await.unwrap();
}

//! The decentralized network's API (d14n): publishing through the gateway role, topic checks,
//! vector-cursor queries, subscriptions, newest envelopes, originator signatures and the V3
//! cutover.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use prost::Message;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use xmtp_proto::d14n::{self, Topic, TopicKind};
use xmtp_proto::d14n_envelopes::{
    AuthenticatedData, ClientEnvelope, Cursor, OriginatorEnvelope, PayerEnvelope,
    UnsignedOriginatorEnvelope, client_envelope::Payload, originator_envelope::Proof,
};
use xmtp_proto::d14n_payer::{self as payer, payer_api_client::PayerApiClient};
use xmtp_proto::d14n_replication::{
    self as replication, replication_api_client::ReplicationApiClient,
};
use xmtp_proto::migration_api::d14n_migration_api_client::D14nMigrationApiClient;
use xmtp_proto::mls_api as api;

use crate::support::*;

async fn gateway(node: &TestNode) -> PayerApiClient<Channel> {
    PayerApiClient::connect(node.url()).await.unwrap()
}

async fn replica(node: &TestNode) -> ReplicationApiClient<Channel> {
    ReplicationApiClient::connect(node.url()).await.unwrap()
}

fn group_topic(group: &[u8]) -> Vec<u8> {
    Topic::new(TopicKind::GroupMessages, group.to_vec()).to_bytes()
}

fn envelope(topic: Vec<u8>, payload: Payload) -> ClientEnvelope {
    ClientEnvelope {
        aad: Some(AuthenticatedData { target_topic: topic, depends_on: None }),
        payload: Some(payload),
    }
}

fn group_envelope(group: &[u8], input: api::GroupMessageInput) -> ClientEnvelope {
    envelope(group_topic(group), Payload::GroupMessage(input))
}

fn commit(group: &[u8], n: u64) -> api::GroupMessageInput {
    group_input(private_message(group, n, COMMIT, format!("commit {n}").as_bytes()))
}

/// An originator envelope taken apart: (originator, sequence id, timestamp, client envelope,
/// signer address).
struct Opened {
    originator: u32,
    sequence_id: u64,
    ns: i64,
    client: ClientEnvelope,
    signer: String,
}

fn open(envelope: &OriginatorEnvelope) -> Opened {
    let unsigned =
        UnsignedOriginatorEnvelope::decode(envelope.unsigned_originator_envelope.as_slice())
            .unwrap();
    let payer = PayerEnvelope::decode(unsigned.payer_envelope_bytes.as_slice()).unwrap();
    let client = ClientEnvelope::decode(payer.unsigned_client_envelope.as_slice()).unwrap();
    let Some(Proof::OriginatorSignature(signature)) = &envelope.proof else {
        panic!("no originator signature")
    };
    let signed = d14n::originator_signing_input(&envelope.unsigned_originator_envelope);
    let signer = xmtp_identity::recover_keccak_signer(&signed, &signature.bytes).unwrap();
    Opened {
        originator: unsigned.originator_node_id,
        sequence_id: unsigned.originator_sequence_id,
        ns: unsigned.originator_ns,
        client,
        signer,
    }
}

async fn publish(node: &TestNode, envelopes: Vec<ClientEnvelope>) -> Vec<Opened> {
    let request = payer::PublishClientEnvelopesRequest { envelopes };
    let reply = gateway(node).await.publish_client_envelopes(request).await.unwrap();
    reply.into_inner().originator_envelopes.iter().map(open).collect()
}

async fn query(
    node: &TestNode,
    topics: Vec<Vec<u8>>,
    cursor: &HashMap<u32, u64>,
    limit: u32,
) -> Vec<Opened> {
    let request = replication::QueryEnvelopesRequest {
        query: Some(replication::EnvelopesQuery {
            topics,
            originator_node_ids: vec![],
            last_seen: Some(Cursor { node_id_to_sequence_id: cursor.clone() }),
        }),
        limit,
    };
    let reply = replica(node).await.query_envelopes(request).await.unwrap();
    reply.into_inner().envelopes.iter().map(open).collect()
}

/// A subscription to `group`'s topic from `cursor`.
async fn subscribe(
    node: &TestNode,
    group: &[u8],
    cursor: HashMap<u32, u64>,
) -> tonic::Streaming<replication::SubscribeEnvelopesResponse> {
    let request = replication::SubscribeEnvelopesRequest {
        query: Some(replication::EnvelopesQuery {
            topics: vec![group_topic(group)],
            originator_node_ids: vec![],
            last_seen: Some(Cursor { node_id_to_sequence_id: cursor }),
        }),
    };
    replica(node).await.subscribe_envelopes(request).await.unwrap().into_inner()
}

/// The next `count` envelopes from `stream` (waiting up to 10 s for each batch), then checks
/// that nothing more comes for 300 ms.
async fn receive_exactly(
    stream: &mut tonic::Streaming<replication::SubscribeEnvelopesResponse>,
    count: usize,
) -> Vec<Opened> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let batch = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.extend(batch.envelopes.iter().map(open));
    }
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(quiet.is_err(), "nothing repeated");
    seen
}

fn data(opened: &Opened) -> Vec<u8> {
    match &opened.client.payload {
        Some(Payload::GroupMessage(api::GroupMessageInput {
            version: Some(api::group_message_input::Version::V1(v1)),
        })) => v1.data.to_vec(),
        other => panic!("not a group message: {other:?}"),
    }
}

#[tokio::test]
async fn published_envelopes_are_sequenced_signed_and_seen_by_v3_clients() {
    let mut node = TestNode::start().await;
    let group = [1u8; 16];
    let sent = vec![
        group_envelope(&group, commit(&group, 1)),
        group_envelope(&group, app_message(&group, 1)),
        group_envelope(&group, app_message(&group, 2)),
    ];
    let stored = publish(&node, sent).await;
    let originators: Vec<u32> = stored.iter().map(|o| o.originator).collect();
    assert_eq!(
        originators,
        [d14n::COMMITS, d14n::APPLICATION_MESSAGES, d14n::APPLICATION_MESSAGES]
    );
    assert!(stored.windows(2).all(|w| w[0].sequence_id < w[1].sequence_id));
    assert!(stored.windows(2).all(|w| w[0].ns < w[1].ns), "timestamps strictly increase");
    let signer = stored[0].signer.clone();
    assert!(stored.iter().all(|o| o.signer == signer), "one node key signs everything");

    // A V3 client reads the same messages with the same sequence ids.
    let v3 = node
        .mls()
        .await
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: group.to_vec().into(),
            paging_info: ascending(0, 0),
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    let ids: Vec<u64> = v3.iter().map(|m| v1(m).id).collect();
    assert_eq!(ids, stored.iter().map(|o| o.sequence_id).collect::<Vec<_>>());

    // Publishing the same message again stores nothing new and answers with the stored one.
    let again = publish(&node, vec![group_envelope(&group, app_message(&group, 1))]).await;
    assert_eq!(again[0].sequence_id, stored[1].sequence_id);

    // The key is kept: the node signs with it after a restart.
    node.restart().await;
    let after = query(&node, vec![group_topic(&group)], &HashMap::new(), 0).await;
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|o| o.signer == signer), "the key survives a restart");
}

#[tokio::test]
async fn an_envelope_whose_topic_does_not_match_its_payload_is_refused_and_stores_nothing() {
    let node = TestNode::start().await;
    let (group, other) = ([2u8; 16], [3u8; 16]);
    let (kp, installation) = key_package(&"ab".repeat(32));
    let cases = vec![
        (
            "another group's topic",
            envelope(group_topic(&other), Payload::GroupMessage(app_message(&group, 1))),
        ),
        (
            "a welcome topic",
            envelope(
                Topic::new(TopicKind::Welcomes, vec![4; 32]).to_bytes(),
                Payload::GroupMessage(app_message(&group, 1)),
            ),
        ),
        ("not a topic", envelope(vec![9, 9, 9], Payload::GroupMessage(app_message(&group, 1)))),
        ("an empty topic", envelope(vec![], Payload::GroupMessage(app_message(&group, 1)))),
        (
            "another installation's key package",
            envelope(
                Topic::new(TopicKind::KeyPackages, vec![5; 32]).to_bytes(),
                Payload::UploadKeyPackage(upload(kp.clone())),
            ),
        ),
        (
            "a key package on a group topic",
            envelope(group_topic(&installation), Payload::UploadKeyPackage(upload(kp.clone()))),
        ),
        (
            "garbage as a group message",
            envelope(group_topic(&group), Payload::GroupMessage(group_input(vec![1, 2, 3]))),
        ),
        (
            "no payload",
            ClientEnvelope {
                aad: Some(AuthenticatedData {
                    target_topic: group_topic(&group),
                    depends_on: None,
                }),
                payload: None,
            },
        ),
    ];
    for (what, bad) in cases {
        let request = payer::PublishClientEnvelopesRequest { envelopes: vec![bad] };
        let refused = gateway(&node).await.publish_client_envelopes(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{what}: {refused:?}");
    }
    // A good envelope after a bad one in the same request: the bad one is named.
    let request = payer::PublishClientEnvelopesRequest {
        envelopes: vec![envelope(
            group_topic(&other),
            Payload::GroupMessage(app_message(&group, 1)),
        )],
    };
    let refused = gateway(&node).await.publish_client_envelopes(request).await.unwrap_err();
    assert!(refused.message().starts_with("envelope 0:"), "{refused:?}");
    for topic in [group_topic(&group), group_topic(&other)] {
        assert!(query(&node, vec![topic], &HashMap::new(), 0).await.is_empty(), "nothing stored");
    }
    let newest = replica(&node)
        .await
        .get_newest_envelope(replication::GetNewestEnvelopeRequest {
            topics: vec![Topic::new(TopicKind::KeyPackages, installation).to_bytes()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(newest.results[0].originator_envelope.is_none(), "no key package stored");
}

#[tokio::test]
async fn queries_with_vector_cursors_page_through_everything_once_and_in_order() {
    let node = TestNode::start().await;
    let (a, b) = ([6u8; 16], [7u8; 16]);
    let mut sent = Vec::new();
    for n in 0..40u64 {
        let group = if n % 3 == 0 { &b } else { &a };
        let input = if n % 5 == 0 { commit(group, n) } else { app_message(group, n) };
        sent.push(group_envelope(group, input));
    }
    let stored = publish(&node, sent).await;
    let expected: Vec<Vec<u8>> = stored.iter().map(data).collect();

    // Pages of 7 over both topics, moving the cursor to what each page returned.
    let mut cursor = HashMap::new();
    let mut got = Vec::new();
    loop {
        let page = query(&node, vec![group_topic(&a), group_topic(&b)], &cursor, 7).await;
        assert!(page.len() <= 7);
        if page.is_empty() {
            break;
        }
        for o in &page {
            let mark = cursor.entry(o.originator).or_insert(0);
            *mark = (*mark).max(o.sequence_id);
            got.push(data(o));
        }
    }
    assert_eq!(got, expected, "every envelope once, in the order stored");

    // A cursor past the commits but not the application messages.
    let last_commit = stored
        .iter()
        .filter(|o| o.originator == d14n::COMMITS)
        .map(|o| o.sequence_id)
        .max()
        .unwrap();
    let cursor = HashMap::from([(d14n::COMMITS, last_commit)]);
    let rest = query(&node, vec![group_topic(&a), group_topic(&b)], &cursor, 0).await;
    assert!(rest.iter().all(|o| o.originator == d14n::APPLICATION_MESSAGES));
    assert_eq!(
        rest.len(),
        stored.iter().filter(|o| o.originator == d14n::APPLICATION_MESSAGES).count()
    );
}

#[tokio::test]
async fn a_query_answers_at_most_a_thousand_envelopes() {
    let node = TestNode::start().await;
    let group = [8u8; 16];
    let mut mls = node.mls().await;
    for chunk in 0..11u64 {
        let messages = (0..100).map(|n| app_message(&group, chunk * 100 + n)).collect();
        mls.send_group_messages(api::SendGroupMessagesRequest { messages }).await.unwrap();
    }
    let first = query(&node, vec![group_topic(&group)], &HashMap::new(), 0).await;
    assert_eq!(first.len(), 1_000, "0 means the maximum, 1,000");
    let asked_more = query(&node, vec![group_topic(&group)], &HashMap::new(), 5_000).await;
    assert_eq!(asked_more.len(), 1_000);
    let last = first.last().unwrap().sequence_id;
    let cursor = HashMap::from([(d14n::APPLICATION_MESSAGES, last)]);
    assert_eq!(query(&node, vec![group_topic(&group)], &cursor, 0).await.len(), 100);
}

#[tokio::test]
async fn a_subscription_catches_up_from_its_cursor_then_delivers_live_without_repeats() {
    let node = TestNode::start().await;
    let group = [9u8; 16];
    let early =
        publish(&node, (0..3).map(|n| group_envelope(&group, app_message(&group, n))).collect())
            .await;
    let cursor = HashMap::from([(d14n::APPLICATION_MESSAGES, early[0].sequence_id)]);
    let mut stream = subscribe(&node, &group, cursor).await;
    // A V3 client publishes while the subscription is open.
    let mut mls = node.mls().await;
    mls.send_group_messages(api::SendGroupMessagesRequest {
        messages: vec![app_message(&group, 10)],
    })
    .await
    .unwrap();
    let seen: Vec<u64> =
        receive_exactly(&mut stream, 3).await.iter().map(|o| o.sequence_id).collect();
    let mut expected: Vec<u64> = early[1..].iter().map(|o| o.sequence_id).collect();
    expected.push(expected.last().unwrap() + 1);
    assert_eq!(seen, expected, "the backlog after the cursor, then the live message, once each");
}

#[tokio::test]
async fn newest_envelopes_answer_each_topic_in_order() {
    let node = TestNode::start().await;
    let group = [10u8; 16];
    let inbox = "cd".repeat(32);
    let (first, installation) = key_package(&inbox);
    let kp_topic = Topic::new(TopicKind::KeyPackages, installation.clone()).to_bytes();
    publish(&node, vec![envelope(kp_topic.clone(), Payload::UploadKeyPackage(upload(first)))])
        .await;
    publish(&node, (0..3).map(|n| group_envelope(&group, app_message(&group, n))).collect()).await;
    let topics = vec![
        group_topic(&group),
        group_topic(&[11u8; 16]),
        kp_topic,
        Topic::new(TopicKind::Welcomes, installation).to_bytes(),
    ];
    let newest = replica(&node)
        .await
        .get_newest_envelope(replication::GetNewestEnvelopeRequest { topics })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(newest.len(), 4);
    let group_newest = open(newest[0].originator_envelope.as_ref().unwrap());
    assert_eq!(data(&group_newest), private_message(&group, 1, APPLICATION, b"message 2"));
    assert!(newest[1].originator_envelope.is_none(), "an empty group");
    let kp = open(newest[2].originator_envelope.as_ref().unwrap());
    assert_eq!(kp.originator, d14n::KEY_PACKAGES);
    assert!(newest[3].originator_envelope.is_none(), "no welcomes");

    let refused = replica(&node)
        .await
        .get_newest_envelope(replication::GetNewestEnvelopeRequest { topics: vec![vec![42]] })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn the_gateway_lists_the_node_and_the_cutover_is_announced() {
    let node = TestNode::start().await;
    let nodes =
        gateway(&node).await.get_nodes(payer::GetNodesRequest {}).await.unwrap().into_inner();
    assert_eq!(nodes.nodes, HashMap::from([(100, node.url())]));
    let mut migration = D14nMigrationApiClient::connect(node.url()).await.unwrap();
    let never = migration.fetch_d14n_cutover(()).await.unwrap().into_inner().timestamp_ns;
    assert_eq!(never, i64::MAX as u64, "no cutover planned");
}

#[tokio::test]
async fn from_the_cutover_v3_writes_and_streams_are_refused_and_d14n_goes_on() {
    let node = TestNode::start_with(|c| c.d14n_cutover_ns = Some(1_000)).await;
    let group = [12u8; 16];
    let mut migration = D14nMigrationApiClient::connect(node.url()).await.unwrap();
    assert_eq!(migration.fetch_d14n_cutover(()).await.unwrap().into_inner().timestamp_ns, 1_000);
    let mut mls = node.mls().await;
    let refused = mls
        .send_group_messages(api::SendGroupMessagesRequest {
            messages: vec![app_message(&group, 1)],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("D14N"), "{refused:?}");
    let (kp, _) = key_package(&"ef".repeat(32));
    assert_eq!(
        mls.upload_key_package(upload(kp)).await.unwrap_err().code(),
        tonic::Code::Unavailable
    );
    let stream = mls
        .subscribe_group_messages(api::SubscribeGroupMessagesRequest {
            filters: vec![api::subscribe_group_messages_request::Filter {
                group_id: group.to_vec().into(),
                id_cursor: 0,
            }],
        })
        .await;
    assert_eq!(stream.unwrap_err().code(), tonic::Code::Unavailable);
    // Reads still work for V3 clients; d14n publishing goes on.
    let stored = publish(&node, vec![group_envelope(&group, app_message(&group, 1))]).await;
    let v3 = mls
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: group.to_vec().into(),
            paging_info: ascending(0, 0),
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(
        v3.iter().map(|m| v1(m).id).collect::<HashSet<_>>(),
        HashSet::from([stored[0].sequence_id])
    );
}

/// With its own numbering on, the node files what it originates from the cutover on as an
/// xmtpd node does: application messages under its id with a sequence of its own (by time),
/// commits under 0 with their ids, what came before under V3's originators. Vector cursors page
/// through it all once and in order, and a subscription catches up and goes on live.
#[tokio::test]
async fn after_the_cutover_the_node_numbers_what_it_originates_apart() {
    let cutover: u64 = 1_000_000_000_000;
    let now = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(cutover - 1_000_000));
    let clock = std::sync::Arc::clone(&now);
    let node = TestNode::start_with(move |c| {
        c.clock = std::sync::Arc::new(move || clock.load(std::sync::atomic::Ordering::SeqCst));
        c.d14n_cutover_ns = Some(cutover);
        c.d14n_own_sequences = true;
    })
    .await;
    let group = [13u8; 16];
    let mut mls = node.mls().await;
    let before = vec![commit(&group, 0), app_message(&group, 1), app_message(&group, 2)];
    mls.send_group_messages(api::SendGroupMessagesRequest { messages: before }).await.unwrap();
    now.store(cutover + 5_000, std::sync::atomic::Ordering::SeqCst);
    let after = publish(
        &node,
        vec![
            group_envelope(&group, app_message(&group, 3)),
            group_envelope(&group, commit(&group, 4)),
            group_envelope(&group, app_message(&group, 5)),
        ],
    )
    .await;
    let places: Vec<(u32, u64)> = after.iter().map(|o| (o.originator, o.sequence_id)).collect();
    let everything = query(&node, vec![group_topic(&group)], &HashMap::new(), 0).await;
    let all: Vec<(u32, u64)> = everything.iter().map(|o| (o.originator, o.sequence_id)).collect();
    assert_eq!(
        all,
        [(0, 1), (10, 2), (10, 3), places[0], (0, 5), places[2]],
        "V3's ids before the cutover; after it, commits keep theirs"
    );
    assert_eq!(places[0], (100, 5_001), "the node's own sequence starts after the cutover");
    assert_eq!(places[1], (0, 5));
    assert!(places[2].0 == 100 && places[2].1 > places[0].1);

    // Pages of one, moving a vector cursor: everything once, in order.
    let mut cursor = HashMap::new();
    let mut paged = Vec::new();
    loop {
        let page = query(&node, vec![group_topic(&group)], &cursor, 1).await;
        let Some(o) = page.first() else { break };
        cursor.insert(o.originator, o.sequence_id);
        paged.push((o.originator, o.sequence_id));
    }
    assert_eq!(paged, all);
    // A cursor past the node's first own envelope only: the rest of what it originated.
    let cursor = HashMap::from([(0, 5), (10, 3), (100, places[0].1)]);
    let rest = query(&node, vec![group_topic(&group)], &cursor, 0).await;
    assert_eq!(rest.iter().map(|o| (o.originator, o.sequence_id)).collect::<Vec<_>>(), [places[2]]);

    // A subscription from that cursor: the backlog, then a live envelope, once each.
    let mut stream = subscribe(&node, &group, cursor).await;
    let live = publish(&node, vec![group_envelope(&group, app_message(&group, 6))]).await;
    let seen = receive_exactly(&mut stream, 2).await;
    let seen: Vec<_> = seen.iter().map(|o| (o.originator, o.sequence_id)).collect();
    assert_eq!(seen, [places[2], (live[0].originator, live[0].sequence_id)]);
    assert_eq!(live[0].originator, 100);
}

//! Bad input: malformed protobufs and MLS payloads, oversize requests, too many items, rate
//! limits. Each gets InvalidArgument or ResourceExhausted with a reason, and stores nothing.

use prost::Message;
use xmtp_proto::mls_api as api;

use crate::support::*;

const SEND: &str = "/xmtp.mls.api.v1.MlsApi/SendGroupMessages";

async fn stored(node: &TestNode, group: &[u8]) -> usize {
    node.mls()
        .await
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: group.to_vec().into(),
            paging_info: ascending(0, 0),
        })
        .await
        .unwrap()
        .into_inner()
        .messages
        .len()
}

/// Bytes that are not a protobuf, or a protobuf cut short, are InvalidArgument.
#[tokio::test]
async fn malformed_and_truncated_protobufs_are_invalid_arguments() {
    let node = TestNode::start().await;
    let good =
        api::SendGroupMessagesRequest { messages: vec![app_message(b"g", 1)] }.encode_to_vec();
    for body in [vec![0xff, 0xff, 0xff, 0xff], good[..good.len() - 3].to_vec(), vec![0x0a, 0x80]] {
        let status = raw_unary(&node.url(), SEND, body).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("malformed protobuf"), "{}", status.message());
    }
    assert_eq!(stored(&node, b"g").await, 0);
    // The well-formed request works on the same path.
    raw_unary(&node.url(), SEND, good).await.unwrap();
    assert_eq!(stored(&node, b"g").await, 1);
}

/// A request with one bad group message is refused whole.
#[tokio::test]
async fn bad_group_messages_reject_the_whole_request() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let welcome_framing = {
        let mut m = private_message(b"g", 0, APPLICATION, b"x");
        m[3] = 3; // wire format: welcome
        m
    };
    let cases: Vec<(&str, Vec<api::GroupMessageInput>)> = vec![
        ("not MLS", vec![app_message(b"g", 1), group_input(b"hello".to_vec())]),
        (
            "truncated MLS",
            vec![group_input(private_message(b"g", 0, APPLICATION, b"x")[..12].to_vec())],
        ),
        ("welcome sent as a group message", vec![group_input(welcome_framing)]),
        ("empty group id", vec![group_input(private_message(b"", 0, APPLICATION, b"x"))]),
        ("empty data", vec![group_input(vec![])]),
        ("no version", vec![api::GroupMessageInput { version: None }]),
        ("nothing", vec![]),
        (
            "too large",
            vec![group_input(private_message(b"g", 0, APPLICATION, &vec![0; 5 * 1024 * 1024 + 1]))],
        ),
        ("too many", (0..1001).map(|n| app_message(b"g", n)).collect()),
    ];
    for (case, messages) in cases {
        let status = client
            .send_group_messages(api::SendGroupMessagesRequest { messages })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{case}: {status:?}");
    }
    assert_eq!(stored(&node, b"g").await, 0);
}

/// A request over the gRPC size limit is ResourceExhausted.
#[tokio::test]
async fn oversize_requests_are_resource_exhausted() {
    let node = TestNode::start_with(|c| c.limits.max_request_bytes = 64 * 1024).await;
    let big = (0..4)
        .map(|n| group_input(private_message(b"g", n, APPLICATION, &vec![n as u8; 30_000])))
        .collect();
    let status = node
        .mls()
        .await
        .send_group_messages(api::SendGroupMessagesRequest { messages: big })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(stored(&node, b"g").await, 0);
}

/// A connection over its request budget is told so, and recovers as tokens refill.
#[tokio::test]
async fn the_rate_limit_applies_per_connection() {
    let node = TestNode::start_with(|c| {
        c.limits.requests_per_second = 5;
        c.limits.burst = 5;
    })
    .await;
    let mut client = node.mls().await;
    let mut refused = None;
    for n in 0..20 {
        let request = api::SendGroupMessagesRequest { messages: vec![app_message(b"g", n)] };
        if let Err(status) = client.send_group_messages(request).await {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("the 5-request burst must run out");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("rate limit"), "{}", status.message());
    // Another connection has its own budget.
    assert!(stored(&node, b"g").await >= 5);
}

/// Commit log batches are bounded like the reference node's, and read ascending only.
#[tokio::test]
async fn commit_log_publish_and_query() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let entry = |group: &[u8], n: u8| api::PublishCommitLogRequest {
        group_id: group.to_vec().into(),
        serialized_commit_log_entry: vec![n; 8].into(),
        signature: Some(xmtp_proto::associations::RecoverableEd25519Signature {
            bytes: vec![n; 64],
            public_key: vec![1; 32],
        }),
    };
    client
        .batch_publish_commit_log(api::BatchPublishCommitLogRequest {
            requests: vec![entry(b"g", 1), entry(b"h", 2), entry(b"g", 3)],
        })
        .await
        .unwrap();
    let query = |direction| api::BatchQueryCommitLogRequest {
        requests: vec![api::QueryCommitLogRequest {
            group_id: b"g".to_vec().into(),
            paging_info: Some(api::PagingInfo { direction, limit: 0, id_cursor: 0 }),
        }],
    };
    let response = client.batch_query_commit_log(query(1)).await.unwrap().into_inner();
    let entries = &response.responses[0].commit_log_entries;
    assert_eq!(entries.iter().map(|e| e.sequence_id).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(entries[1].serialized_commit_log_entry, vec![3; 8]);
    assert_eq!(entries[1].signature.as_ref().unwrap().bytes, vec![3; 64]);

    assert_eq!(
        client.batch_query_commit_log(query(2)).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let eleven = (0..11).map(|n| entry(b"g", n)).collect();
    let status = client
        .batch_publish_commit_log(api::BatchPublishCommitLogRequest { requests: eleven })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut unsigned = entry(b"g", 9);
    unsigned.signature = None;
    let status = client
        .batch_publish_commit_log(api::BatchPublishCommitLogRequest { requests: vec![unsigned] })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

/// A page of large messages is cut to fit one response (at least one message, and a cursor
/// saying more follow); paging on from it misses nothing, in both directions and in a
/// subscription's backlog.
#[tokio::test]
async fn pages_are_cut_by_bytes_and_paging_on_misses_nothing() {
    // A 4 MiB response limit: pages carry at most 3 MiB of messages.
    let node = TestNode::start_with(|c| c.limits.max_request_bytes = 4 << 20).await;
    let mut client = node.mls().await;
    let big = |n: u8| group_input(private_message(b"g", 0, APPLICATION, &vec![n; 1 << 20]));
    for n in 0..7 {
        let request = api::SendGroupMessagesRequest { messages: vec![big(n)] };
        client.send_group_messages(request).await.unwrap();
    }
    client
        .send_group_messages(api::SendGroupMessagesRequest { messages: vec![app_message(b"g", 9)] })
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let request = api::QueryGroupMessagesRequest {
            group_id: b"g".to_vec().into(),
            paging_info: ascending(100, cursor),
        };
        let response = client.query_group_messages(request).await.unwrap().into_inner();
        let sizes: usize = response.messages.iter().map(|m| v1(m).data.len()).sum();
        assert!(
            !response.messages.is_empty() && (response.messages.len() == 1 || sizes <= 3 << 20)
        );
        seen.extend(response.messages.iter().map(|m| v1(m).id));
        cursor = response.paging_info.unwrap().id_cursor;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 8, "every message, once: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    // Newest first, as libxmtp asks for "the latest".
    let newest = api::QueryGroupMessagesRequest {
        group_id: b"g".to_vec().into(),
        paging_info: Some(api::PagingInfo {
            direction: api::SortDirection::Descending as i32,
            limit: 3,
            id_cursor: 0,
        }),
    };
    let page = client.query_group_messages(newest).await.unwrap().into_inner();
    let ids: Vec<u64> = page.messages.iter().map(|m| v1(m).id).collect();
    assert_eq!(ids, [seen[7], seen[6], seen[5]], "descending, cut to fit");
    assert_eq!(page.paging_info.unwrap().id_cursor, seen[5], "more follow");

    // A subscription replays the same backlog whole.
    let filter = api::subscribe_group_messages_request::Filter {
        group_id: b"g".to_vec().into(),
        id_cursor: 0,
    };
    let mut stream = client
        .subscribe_group_messages(api::SubscribeGroupMessagesRequest { filters: vec![filter] })
        .await
        .unwrap()
        .into_inner();
    let mut replayed = Vec::new();
    while replayed.len() < 8 {
        let message = tokio_stream::StreamExt::next(&mut stream).await.unwrap().unwrap();
        replayed.push(v1(&message).id);
    }
    assert_eq!(replayed, seen);
}

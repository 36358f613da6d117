//! SubscribeGroupMessages / SubscribeWelcomeMessages: headers at once, backlog after the
//! cursor, then live, with no gap and no duplicate across the switch.

use std::time::Duration;

use tokio_stream::StreamExt;
use xmtp_proto::mls_api as api;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

fn filter(group: &[u8], cursor: u64) -> api::subscribe_group_messages_request::Filter {
    api::subscribe_group_messages_request::Filter {
        group_id: group.to_vec().into(),
        id_cursor: cursor,
    }
}

async fn subscribe(
    node: &TestNode,
    filters: Vec<api::subscribe_group_messages_request::Filter>,
) -> tonic::Streaming<api::GroupMessage> {
    let mut client = node.mls().await;
    // The call returns once the response headers arrive: before any message exists.
    tokio::time::timeout(
        Duration::from_secs(5),
        client.subscribe_group_messages(api::SubscribeGroupMessagesRequest { filters }),
    )
    .await
    .expect("the node must send response headers at once")
    .unwrap()
    .into_inner()
}

async fn next(stream: &mut tonic::Streaming<api::GroupMessage>) -> api::GroupMessage {
    tokio::time::timeout(WAIT, stream.next()).await.expect("a message in time").unwrap().unwrap()
}

/// The backlog after the cursor, then live messages published while the backlog was being
/// sent, with every id exactly once and in order.
#[tokio::test]
async fn backlog_then_live_without_gap_or_duplicate() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let backlog: Vec<_> = (0..150).map(|n| app_message(b"g", n)).collect();
    client.send_group_messages(api::SendGroupMessagesRequest { messages: backlog }).await.unwrap();

    // Start from after the 20th message while a writer keeps publishing.
    let mut stream = subscribe(&node, vec![filter(b"g", 20)]).await;
    let writer = {
        let url = node.url();
        tokio::spawn(async move {
            let mut client =
                xmtp_proto::mls_api::mls_api_client::MlsApiClient::connect(url).await.unwrap();
            for n in 150..250 {
                let request =
                    api::SendGroupMessagesRequest { messages: vec![app_message(b"g", n)] };
                client.send_group_messages(request).await.unwrap();
            }
        })
    };
    let mut got = Vec::new();
    while got.len() < 230 {
        got.push(v1(&next(&mut stream).await).id);
    }
    writer.await.unwrap();
    assert_eq!(got, (21..=250).collect::<Vec<_>>());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err(),
        "nothing after the last message"
    );
}

/// Only the subscribed groups arrive; an empty filter list is a legal (idle) subscription.
#[tokio::test]
async fn only_subscribed_groups_are_delivered() {
    let node = TestNode::start().await;
    let mut idle = subscribe(&node, vec![]).await;
    let mut stream = subscribe(&node, vec![filter(b"mine", 0), filter(b"also", 0)]).await;
    let mut client = node.mls().await;
    for (group, n) in [(&b"other"[..], 1), (b"mine", 2), (b"other", 3), (b"also", 4)] {
        let request = api::SendGroupMessagesRequest { messages: vec![app_message(group, n)] };
        client.send_group_messages(request).await.unwrap();
    }
    assert_eq!(v1(&next(&mut stream).await).id, 2);
    assert_eq!(v1(&next(&mut stream).await).id, 4);
    assert!(tokio::time::timeout(Duration::from_millis(200), idle.next()).await.is_err());
}

/// A client that does not read while thousands of messages arrive overflows its live queue; it
/// still gets every message, in order, once it reads.
#[tokio::test]
async fn a_slow_subscriber_misses_nothing() {
    let node = TestNode::start().await;
    let mut stream = subscribe(&node, vec![filter(b"busy", 0)]).await;
    let mut client = node.mls().await;
    for chunk in 0..30u64 {
        let messages = (0..100).map(|i| app_message(b"busy", chunk * 100 + i)).collect();
        client.send_group_messages(api::SendGroupMessagesRequest { messages }).await.unwrap();
    }
    let mut got = Vec::with_capacity(3000);
    while got.len() < 3000 {
        got.push(v1(&next(&mut stream).await).id);
    }
    assert_eq!(got, (1..=3000).collect::<Vec<_>>());
}

/// Welcome subscriptions need at least one non-empty installation key.
#[tokio::test]
async fn welcome_subscriptions_reject_empty_filters() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let none = client
        .subscribe_welcome_messages(api::SubscribeWelcomeMessagesRequest { filters: vec![] })
        .await;
    assert_eq!(none.unwrap_err().code(), tonic::Code::InvalidArgument);
    let empty_key = client
        .subscribe_welcome_messages(api::SubscribeWelcomeMessagesRequest {
            filters: vec![api::subscribe_welcome_messages_request::Filter {
                installation_key: Default::default(),
                id_cursor: 0,
            }],
        })
        .await;
    assert_eq!(empty_key.unwrap_err().code(), tonic::Code::InvalidArgument);
}

/// Shutting the node down ends open subscriptions instead of hanging the shutdown.
#[tokio::test]
async fn shutdown_ends_subscriptions() {
    let mut node = TestNode::start().await;
    let mut stream = subscribe(&node, vec![filter(b"g", 0)]).await;
    tokio::time::timeout(Duration::from_secs(10), node.node.take().unwrap().shutdown())
        .await
        .expect("shutdown must not wait for idle subscriptions")
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap();
    match end {
        None => {}
        Some(Err(status)) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        Some(Ok(message)) => panic!("unexpected message {message:?}"),
    }
}

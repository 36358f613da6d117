//! SendWelcomeMessages / QueryWelcomeMessages / SubscribeWelcomeMessages.

use std::time::Duration;

use tokio_stream::StreamExt;
use xmtp_proto::mls_api as api;

use crate::support::*;

fn welcome(installation: &[u8], data: &[u8]) -> api::WelcomeMessageInput {
    api::WelcomeMessageInput {
        version: Some(api::welcome_message_input::Version::V1(api::welcome_message_input::V1 {
            installation_key: installation.to_vec().into(),
            data: data.to_vec().into(),
            hpke_public_key: vec![9; 32].into(),
            wrapper_algorithm: 1,
            welcome_metadata: vec![5, 5].into(),
        })),
    }
}

fn pointer(installation: &[u8], data: &[u8], algorithm: i32) -> api::WelcomeMessageInput {
    api::WelcomeMessageInput {
        version: Some(api::welcome_message_input::Version::WelcomePointer(
            api::welcome_message_input::WelcomePointer {
                installation_key: installation.to_vec().into(),
                welcome_pointer: data.to_vec().into(),
                hpke_public_key: vec![8; 1216].into(),
                wrapper_algorithm: algorithm,
            },
        )),
    }
}

async fn query(node: &TestNode, installation: &[u8]) -> Vec<api::WelcomeMessage> {
    node.mls()
        .await
        .query_welcome_messages(api::QueryWelcomeMessagesRequest {
            installation_key: installation.to_vec().into(),
            paging_info: ascending(0, 0),
        })
        .await
        .unwrap()
        .into_inner()
        .messages
}

/// Both welcome kinds are stored and returned as sent; duplicates are dropped silently.
#[tokio::test]
async fn welcomes_and_pointers_round_trip_and_deduplicate() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let messages = vec![
        welcome(b"install-1", b"sealed welcome"),
        welcome(b"install-1", b"sealed welcome"),
        welcome(b"install-2", b"sealed welcome"),
        pointer(b"install-1", b"sealed pointer", 2),
    ];
    client.send_welcome_messages(api::SendWelcomeMessagesRequest { messages }).await.unwrap();

    let stored = query(&node, b"install-1").await;
    assert_eq!(stored.len(), 2);
    let first = welcome_v1(&stored[0]);
    assert_eq!((first.id, first.data.as_ref()), (1, &b"sealed welcome"[..]));
    assert_eq!((first.wrapper_algorithm, first.welcome_metadata.as_ref()), (1, &[5u8, 5][..]));
    let Some(api::welcome_message::Version::WelcomePointer(p)) = &stored[1].version else {
        panic!("expected a pointer, got {:?}", stored[1])
    };
    assert_eq!(
        (p.id, p.welcome_pointer.as_ref(), p.wrapper_algorithm),
        (3, &b"sealed pointer"[..], 2)
    );
    assert_eq!(query(&node, b"install-2").await.len(), 1);
}

/// Malformed welcomes are refused and nothing of the request is stored.
#[tokio::test]
async fn malformed_welcomes_are_rejected_whole() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let mut no_key = welcome(b"install-1", b"w");
    if let Some(api::welcome_message_input::Version::V1(v1)) = &mut no_key.version {
        v1.hpke_public_key = Default::default();
    }
    for bad in [
        vec![welcome(b"install-1", b"ok"), welcome(b"", b"data")],
        vec![welcome(b"install-1", b"")],
        vec![welcome(b"install-1", b"ok"), no_key],
        vec![pointer(b"install-1", b"p", 1)],
        vec![api::WelcomeMessageInput { version: None }],
        vec![],
    ] {
        let status = client
            .send_welcome_messages(api::SendWelcomeMessagesRequest { messages: bad })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    assert!(query(&node, b"install-1").await.is_empty());
}

/// A welcome subscription delivers the backlog and then live welcomes for its installation only.
#[tokio::test]
async fn welcome_subscription_backlog_and_live() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let request = |messages| api::SendWelcomeMessagesRequest { messages };
    client.send_welcome_messages(request(vec![welcome(b"me", b"one")])).await.unwrap();
    let mut stream = client
        .subscribe_welcome_messages(api::SubscribeWelcomeMessagesRequest {
            filters: vec![api::subscribe_welcome_messages_request::Filter {
                installation_key: b"me".to_vec().into(),
                id_cursor: 0,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    client.send_welcome_messages(request(vec![welcome(b"you", b"x")])).await.unwrap();
    client.send_welcome_messages(request(vec![welcome(b"me", b"two")])).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap();
        got.push(welcome_v1(&message.unwrap().unwrap()).data.to_vec());
    }
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

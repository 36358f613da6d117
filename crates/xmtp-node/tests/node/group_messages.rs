//! SendGroupMessages, QueryGroupMessages, GetNewestGroupMessage: ids, paging, dedupe.

use xmtp_proto::mls_api as api;

use crate::support::*;

async fn send(node: &TestNode, messages: Vec<api::GroupMessageInput>) {
    node.mls().await.send_group_messages(api::SendGroupMessagesRequest { messages }).await.unwrap();
}

async fn query(
    node: &TestNode,
    group: &[u8],
    paging_info: Option<api::PagingInfo>,
) -> api::QueryGroupMessagesResponse {
    node.mls()
        .await
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: group.to_vec().into(),
            paging_info,
        })
        .await
        .unwrap()
        .into_inner()
}

fn ids(response: &api::QueryGroupMessagesResponse) -> Vec<u64> {
    response.messages.iter().map(|m| v1(m).id).collect()
}

/// Ids form one sequence across groups, and each message keeps what was sent.
#[tokio::test]
async fn ids_are_one_global_sequence_and_messages_round_trip() {
    let node = TestNode::start().await;
    send(&node, vec![app_message(b"group-a", 1), app_message(b"group-b", 2)]).await;
    send(&node, vec![app_message(b"group-a", 3)]).await;

    let a = query(&node, b"group-a", ascending(0, 0)).await;
    let b = query(&node, b"group-b", ascending(0, 0)).await;
    assert_eq!(ids(&a), vec![1, 3]);
    assert_eq!(ids(&b), vec![2]);
    let first = v1(&a.messages[0]);
    assert_eq!(first.group_id.as_ref(), b"group-a");
    assert_eq!(first.data.as_ref(), private_message(b"group-a", 1, APPLICATION, b"message 1"));
    assert_eq!(first.sender_hmac.as_ref(), [1, 2, 3]);
    assert!(first.should_push);
    assert!(!first.is_commit);
    assert!(first.created_ns > 0);
}

/// The commit flag comes from the MLS framing, not from the client.
#[tokio::test]
async fn commits_and_proposals_are_flagged() {
    let node = TestNode::start().await;
    send(
        &node,
        vec![
            group_input(private_message(b"g", 0, COMMIT, b"c")),
            group_input(private_message(b"g", 1, PROPOSAL, b"p")),
            group_input(private_message(b"g", 1, APPLICATION, b"a")),
        ],
    )
    .await;
    let flags: Vec<bool> = query(&node, b"g", ascending(0, 0))
        .await
        .messages
        .iter()
        .map(|m| v1(m).is_commit)
        .collect();
    assert_eq!(flags, vec![true, true, false]);
}

/// Paging as the reference node: unspecified = descending, limit 0 or > 100 = 100, the cursor
/// comes back only on a full page.
#[tokio::test]
async fn paging_follows_the_reference_node() {
    let node = TestNode::start().await;
    let batch: Vec<_> = (0..250).map(|n| app_message(b"paged", n)).collect();
    send(&node, batch).await;
    send(&node, vec![app_message(b"other", 0)]).await;

    // Ascending, default limit: 100, 100, 50; cursor set on full pages only.
    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut pages = Vec::new();
    loop {
        let page = query(&node, b"paged", ascending(0, cursor)).await;
        let info = page.paging_info.unwrap();
        pages.push((page.messages.len(), info.id_cursor));
        seen.extend(ids(&page));
        if info.id_cursor == 0 {
            break;
        }
        cursor = info.id_cursor;
    }
    assert_eq!(pages, vec![(100, 100), (100, 200), (50, 0)]);
    assert_eq!(seen, (1..=250).collect::<Vec<_>>());

    // No paging info at all: the newest 100, descending.
    let newest = query(&node, b"paged", None).await;
    assert_eq!(ids(&newest), (151..=250).rev().collect::<Vec<_>>());
    let info = newest.paging_info.unwrap();
    assert_eq!(info.direction, api::SortDirection::Descending as i32);
    assert_eq!((info.limit, info.id_cursor), (100, 151));

    // Descending from a cursor: ids below it.
    let before =
        query(&node, b"paged", Some(api::PagingInfo { direction: 0, limit: 5, id_cursor: 10 }))
            .await;
    assert_eq!(ids(&before), vec![9, 8, 7, 6, 5]);

    // A limit over 100 is 100; latest = descending limit 1.
    assert_eq!(query(&node, b"paged", ascending(1000, 0)).await.messages.len(), 100);
    let latest =
        query(&node, b"paged", Some(api::PagingInfo { direction: 2, limit: 1, id_cursor: 0 }))
            .await;
    assert_eq!(ids(&latest), vec![250]);

    // An unknown group is empty, not an error.
    assert!(query(&node, b"nobody", None).await.messages.is_empty());
}

/// The same (group, data) twice is stored once and not an error; the same data to another
/// group is a different message.
#[tokio::test]
async fn identical_messages_are_deduplicated_silently() {
    let node = TestNode::start().await;
    send(&node, vec![app_message(b"g", 1), app_message(b"g", 1)]).await;
    send(&node, vec![app_message(b"g", 1)]).await;
    let stored = query(&node, b"g", ascending(0, 0)).await;
    assert_eq!(stored.messages.len(), 1);

    let same_data = private_message(b"g", 1, APPLICATION, b"message 1");
    send(&node, vec![group_input(same_data)]).await;
    assert_eq!(query(&node, b"g", ascending(0, 0)).await.messages.len(), 1);
}

/// One response per requested group, in request order; empty groups get an empty entry; without
/// include_content the payload is left out.
#[tokio::test]
async fn newest_message_is_aligned_with_the_request() {
    let node = TestNode::start().await;
    send(&node, vec![app_message(b"a", 1), app_message(b"b", 2), app_message(b"a", 3)]).await;
    let mut client = node.mls().await;
    let ask = |include_content| api::GetNewestGroupMessageRequest {
        group_ids: vec![b"b".to_vec().into(), b"none".to_vec().into(), b"a".to_vec().into()],
        include_content,
    };
    let full = client.get_newest_group_message(ask(true)).await.unwrap().into_inner();
    let newest: Vec<Option<u64>> =
        full.responses.iter().map(|r| r.group_message.as_ref().map(|m| v1(m).id)).collect();
    assert_eq!(newest, vec![Some(2), None, Some(3)]);
    assert!(!v1(full.responses[2].group_message.as_ref().unwrap()).data.is_empty());

    let meta = client.get_newest_group_message(ask(false)).await.unwrap().into_inner();
    let a = v1(meta.responses[2].group_message.as_ref().unwrap());
    assert_eq!((a.id, a.group_id.as_ref()), (3, &b"a"[..]));
    assert!(a.data.is_empty(), "metadata only");
}

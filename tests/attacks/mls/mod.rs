//! Attacks that need a client's MLS state: a member forging a commit by hand (item 2) and
//! hostile bytes at the client's entry points (item 3). Compiled into `xmtp-client`'s tests
//! (see its `lib.rs`), where the attacker can drive openmls on its own group state.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod hostile_input;
mod leaf_swap;

use std::sync::Arc;

use xmtp_proto::mls_api as api;

use crate::{Client, ClientOptions, KeyStore, MemoryKeyStore, Network};

async fn client(url: &str, dir: &std::path::Path, name: &str) -> Client {
    let keys: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::default());
    let options =
        ClientOptions::new(Network::Url(url.to_owned()), dir.join(format!("{name}.db")), keys);
    Client::open(options).await.unwrap()
}

async fn node(dir: &std::path::Path) -> xmtp_node::Node {
    xmtp_node::start(xmtp_node::NodeConfig::local(dir.join("node.db"))).await.unwrap()
}

/// Publishes raw bytes as a group message, as any client of the node can.
async fn publish(client: &Client, data: Vec<u8>) -> Result<(), tonic::Status> {
    let input = api::GroupMessageInput {
        version: Some(api::group_message_input::Version::V1(api::group_message_input::V1 {
            data: data.into(),
            sender_hmac: Default::default(),
            should_push: false,
        })),
    };
    let request = api::SendGroupMessagesRequest { messages: vec![input] };
    client.inner.api.mls.clone().send_group_messages(request).await.map(|_| ())
}

/// Every stored envelope of a group on the node: (id, bytes).
async fn envelopes(client: &Client, group: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let request = api::QueryGroupMessagesRequest {
        group_id: group.to_vec().into(),
        paging_info: Some(api::PagingInfo {
            direction: api::SortDirection::Ascending as i32,
            limit: 100,
            id_cursor: 0,
        }),
    };
    let response = client.inner.api.mls.clone().query_group_messages(request).await.unwrap();
    response
        .into_inner()
        .messages
        .into_iter()
        .filter_map(|m| match m.version {
            Some(api::group_message::Version::V1(v1)) => Some((v1.id, v1.data.to_vec())),
            _ => None,
        })
        .collect()
}

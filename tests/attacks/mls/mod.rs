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

/// Every stored envelope of a group on the node: (sequence id, bytes).
async fn envelopes(client: &Client, group: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let from = crate::cursor::Cursor::default();
    let page = client.inner.api.mls.clone().group_messages(group, &from, 100).await.unwrap();
    page.items.into_iter().map(|(at, v1)| (at.sequence_id, v1.data.to_vec())).collect()
}

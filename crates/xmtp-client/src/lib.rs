//! A native XMTP v3 client: no FFI, no bridge. Map of the crate:
//!
//! - [`client`]: [`Client::open`] (keys, database, registration), identity queries, installation
//!   revocation; the shared state every operation locks.
//! - [`conversation`]: DMs and groups: create, add/remove members, send, list; the public
//!   [`Conversation`], [`Message`] and [`Event`] types.
//! - `sync`: receiving: group messages and commits from per-conversation cursors, welcomes, and
//!   the [`StreamHandle`] task that follows the node's subscriptions with reconnect and catch-up.
//! - `mls`: XMTP's MLS profile on stock openmls: group-context extensions, key packages, welcome
//!   wrapping (Curve25519 HPKE), receiver-side commit/welcome validation, the provider whose
//!   state is persisted.
//! - `identity`: this installation's keys and verified identity logs of other inboxes.
//! - [`keystore`]: where keys live: OS keychain, password-encrypted file, memory.
//! - [`content`]: `EncodedContent`, content types, the text codec, message ids.
//! - [`network`]: `dev`, `production`, any node URL (h2c or TLS) or a d14n gateway; calls go
//!   over V3 or, from the node's announced cutover on (or always for a gateway), over d14n.
//! - `d14n`: the V3 calls the client makes, as d14n envelopes, topic queries and subscriptions.
//! - `cursor`: where reading a topic stands: a sequence id per originator (vector clock).
//! - `store`: SQLite (sqlx): sealed MLS state, conversations, cursors, messages.
//!
//! Knows nothing about CoWorker; depends on `xmtp-proto` and `xmtp-identity`.

pub mod client;
pub mod content;
pub mod conversation;
mod cursor;
mod d14n;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
pub mod keystore;
mod mls;
pub mod network;
mod store;
mod sync;

pub use client::{Client, ClientOptions, Clock, SystemClock};
pub use content::{ContentType, EncodedContent};
pub use conversation::{
    Conversation, ConversationId, ConversationKind, Event, GroupOptions, Message, SendOptions,
};
pub use error::ClientError;
pub use keystore::{FileKeyStore, KeyStore, MemoryKeyStore, OsKeyStore};
pub use network::Network;
pub use sync::{FAILED_SEND_GRACE_NS, StreamHandle};

// The attacks that need this crate's MLS state live with the others in tests/attacks.
#[cfg(test)]
#[path = "../../../tests/attacks/mls/mod.rs"]
mod attacks;
pub use xmtp_identity::{AssociationState, MemberIdentifier};

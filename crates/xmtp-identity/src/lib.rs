//! XMTP inbox identity (XIP-46), without I/O.
//!
//! An inbox is an append-only log of signed [`IdentityUpdate`](xmtp_proto::associations::IdentityUpdate)s
//! that binds wallet addresses and installation keys to an inbox id. Both the node (before it
//! stores an update or changes its address index) and the client (before it trusts a peer's
//! installations) replay that log with this crate.
//!
//! Map of the crate:
//! - [`member`]: member identifiers (Ethereum address, installation key, passkey) and the inbox
//!   id derived from an identifier and a nonce.
//! - [`text`]: the exact text every signature in an update signs.
//! - [`signature`]: verification of ERC-191 wallet signatures and Ed25519ph installation-key
//!   signatures, and the keys that produce them.
//! - [`state`]: the association state and the rules for applying an update to it.
//! - [`update`]: building and signing updates (registration, revocation).
//!
//! Nothing here reads a clock or a random source: timestamps and keys are parameters.

pub mod error;
pub mod member;
pub mod signature;
pub mod state;
pub mod text;
pub mod update;

pub use error::IdentityError;
pub use member::{MemberIdentifier, MemberKind, inbox_id};
pub use signature::{
    InstallationKey, SignatureKind, VerifiedSignature, WalletKey, keccak256, recover_keccak_signer,
};
pub use state::{AssociationState, Member, StateDiff};

//! What the node checks in MLS payloads before storing them.
//!
//! The node cannot decrypt anything; it checks what is public:
//! - a key package is a raw TLS `KeyPackage` whose signatures, lifetime and extensions verify
//!   (openmls `KeyPackageIn::validate`), in ciphersuite 0x0003, with a `BasicCredential` whose
//!   identity is a protobuf `MlsCredential` naming an inbox id. Its installation key is the leaf's
//!   signature key.
//! - a group message is a TLS `MLSMessage` in public or private framing; its group id and whether
//!   it is a commit (or proposal) come from the framing.

use openmls::prelude::{
    BasicCredential, Ciphersuite, ContentType, CredentialType, KeyPackageIn, MlsMessageBodyIn,
    MlsMessageIn, ProtocolVersion,
};
use openmls_rust_crypto::RustCrypto;
use prost::Message;
use tls_codec::DeserializeBytes;
use xmtp_proto::MlsCredential;

/// The only ciphersuite XMTP groups use.
pub(crate) const XMTP_CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// A key package that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidKeyPackage {
    /// The installation's public signature key.
    pub(crate) installation_key: Vec<u8>,
    /// The inbox id in its credential.
    pub(crate) inbox_id: String,
}

/// Runs a parser over bytes from the network. Parsers of untrusted input must not panic, but a
/// panic in a dependency would otherwise kill the request's task; turn it into a rejection.
fn guarded<T>(what: &str, parse: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|_| {
        tracing::warn!("the {what} parser panicked on malformed input");
        Err(format!("malformed {what}"))
    })
}

/// Validates a raw TLS key package.
pub(crate) fn key_package(bytes: &[u8]) -> Result<ValidKeyPackage, String> {
    guarded("key package", || validate_key_package(bytes))
}

pub(crate) fn validate_key_package(bytes: &[u8]) -> Result<ValidKeyPackage, String> {
    let parsed = KeyPackageIn::tls_deserialize_exact_bytes(bytes)
        .map_err(|e| format!("not a TLS-serialized KeyPackage: {e}"))?;
    let key_package = parsed
        .validate(&RustCrypto::default(), ProtocolVersion::Mls10)
        .map_err(|e| format!("key package does not verify: {e}"))?;
    if key_package.ciphersuite() != XMTP_CIPHERSUITE {
        return Err(format!(
            "key package ciphersuite {:?} is not MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
            key_package.ciphersuite()
        ));
    }
    let leaf = key_package.leaf_node();
    let credential = leaf.credential();
    if credential.credential_type() != CredentialType::Basic {
        return Err("key package credential is not a BasicCredential".into());
    }
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|e| format!("key package credential: {e}"))?;
    let inbox_id = MlsCredential::decode(basic.identity())
        .map_err(|_| "credential identity is not an MlsCredential protobuf".to_string())?
        .inbox_id;
    if inbox_id.len() != 64 || !inbox_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("credential inbox id {inbox_id:?} is not 64 hex digits"));
    }
    Ok(ValidKeyPackage { installation_key: leaf.signature_key().as_slice().to_vec(), inbox_id })
}

/// The public facts of a group message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMessageInfo {
    /// The MLS group id.
    pub(crate) group_id: Vec<u8>,
    /// The content is a commit or a proposal.
    pub(crate) is_commit: bool,
}

/// Parses the framing of a TLS `MLSMessage` sent to a group.
pub(crate) fn group_message(bytes: &[u8]) -> Result<GroupMessageInfo, String> {
    guarded("group message", || parse_group_message(bytes))
}

pub(crate) fn parse_group_message(bytes: &[u8]) -> Result<GroupMessageInfo, String> {
    let message = MlsMessageIn::tls_deserialize_exact_bytes(bytes)
        .map_err(|e| format!("not a TLS-serialized MLSMessage: {e}"))?;
    let (group_id, content_type) = match message.extract() {
        MlsMessageBodyIn::PrivateMessage(m) => (m.group_id().to_vec(), m.content_type()),
        MlsMessageBodyIn::PublicMessage(m) => (m.group_id().to_vec(), m.content_type()),
        _ => return Err("a group message must be an MLS PublicMessage or PrivateMessage".into()),
    };
    if group_id.is_empty() {
        return Err("group message has an empty group id".into());
    }
    Ok(GroupMessageInfo {
        group_id,
        is_commit: matches!(content_type, ContentType::Commit | ContentType::Proposal),
    })
}

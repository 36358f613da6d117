//! XMTP's MLS profile on stock openmls: the provider and its persistence, group-context
//! extensions, key packages, welcome wrapping, and the receiver-side rules libxmtp enforces.

pub(crate) mod extensions;
pub(crate) mod key_package;
pub(crate) mod provider;
pub(crate) mod validate;
pub(crate) mod welcome;

use openmls::prelude::{
    Capabilities, Ciphersuite, Credential, CredentialType, ExtensionType, MlsGroupCreateConfig,
    MlsGroupJoinConfig, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, ProposalType,
    SenderRatchetConfiguration,
};
use prost::Message as _;

use crate::error::{ClientError, Result};

/// The only ciphersuite XMTP groups use.
pub(crate) const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// Past epochs whose secrets are kept, so late messages still decrypt (libxmtp: 3).
pub(crate) const MAX_PAST_EPOCHS: usize = 3;

/// Leaf capabilities: what XMTP groups require, nothing post-quantum.
pub(crate) fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        Some(&[CIPHERSUITE]),
        Some(&[
            ExtensionType::LastResort,
            ExtensionType::ApplicationId,
            ExtensionType::Unknown(extensions::PERMISSIONS),
            ExtensionType::Unknown(extensions::MUTABLE_METADATA),
            ExtensionType::Unknown(extensions::MEMBERSHIP),
            ExtensionType::Unknown(extensions::IMMUTABLE_METADATA),
        ]),
        Some(&[ProposalType::GroupContextExtensions]),
        Some(&[CredentialType::Basic]),
    )
}

fn ratchet() -> SenderRatchetConfiguration {
    // Tolerate reordering and gaps in long streams without losing messages.
    SenderRatchetConfiguration::new(100, 1000)
}

pub(crate) fn create_config(
    extensions: openmls::prelude::Extensions<openmls::prelude::GroupContext>,
) -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .sender_ratchet_configuration(ratchet())
        .capabilities(capabilities())
        .with_group_context_extensions(extensions)
        .build()
}

pub(crate) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .sender_ratchet_configuration(ratchet())
        .build()
}

/// The inbox id an XMTP credential names (`BasicCredential` holding `MlsCredential`).
pub(crate) fn credential_inbox_id(credential: &Credential) -> Result<String> {
    if credential.credential_type() != CredentialType::Basic {
        return Err(ClientError::Verification("credential is not a BasicCredential".into()));
    }
    let decoded =
        xmtp_proto::MlsCredential::decode(credential.serialized_content()).map_err(|e| {
            ClientError::Verification(format!("credential is not an MlsCredential: {e}"))
        })?;
    if decoded.inbox_id.len() != 64 || !decoded.inbox_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClientError::Verification(format!(
            "credential names an invalid inbox id {:?}",
            decoded.inbox_id
        )));
    }
    Ok(decoded.inbox_id)
}

/// The credential for `inbox_id`.
pub(crate) fn credential(inbox_id: &str) -> Credential {
    openmls::prelude::BasicCredential::new(
        xmtp_proto::MlsCredential { inbox_id: inbox_id.to_owned() }.encode_to_vec(),
    )
    .into()
}

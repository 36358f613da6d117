//! This installation's key package: XMTP credential, `ApplicationId(inbox id)` leaf extension,
//! last resort, no post-quantum extensions (so peers wrap welcomes with Curve25519).

use openmls::prelude::{
    ApplicationIdExtension, CredentialWithKey, Extension, Extensions, KeyPackage, KeyPackageIn,
    ProtocolVersion,
};
use openmls_traits::OpenMlsProvider as _;
use tls_codec::{Deserialize as _, Serialize as _};

use super::provider::Provider;
use super::{CIPHERSUITE, capabilities, credential, credential_inbox_id};
use crate::error::{ClientError, Result};
use crate::identity::MlsSigner;

/// A key package just created (its private parts are in the provider's storage).
pub(crate) struct NewKeyPackage {
    pub(crate) tls: Vec<u8>,
    pub(crate) init_key: Vec<u8>,
    /// TLS-serialized `KeyPackageRef` (how openmls keys the bundle in storage).
    pub(crate) hash_ref: Vec<u8>,
}

pub(crate) fn create(
    provider: &Provider,
    signer: &MlsSigner<'_>,
    inbox_id: &str,
) -> Result<NewKeyPackage> {
    let leaf_extensions = Extensions::single(Extension::ApplicationId(
        ApplicationIdExtension::new(inbox_id.as_bytes()),
    ))
    .map_err(ClientError::mls)?;
    let credential = CredentialWithKey {
        credential: credential(inbox_id),
        signature_key: signer.0.public_key().to_vec().into(),
    };
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(capabilities())
        .leaf_node_extensions(leaf_extensions)
        .mark_as_last_resort()
        .build(CIPHERSUITE, provider, signer, credential)
        .map_err(ClientError::mls)?;
    let key_package = bundle.key_package();
    Ok(NewKeyPackage {
        tls: key_package.tls_serialize_detached().map_err(ClientError::mls)?,
        init_key: key_package.hpke_init_key().as_slice().to_vec(),
        hash_ref: key_package
            .hash_ref(provider.crypto())
            .map_err(ClientError::mls)?
            .tls_serialize_detached()
            .map_err(ClientError::mls)?,
    })
}

/// Parses and verifies a peer's key package, and checks that it belongs to `inbox_id` and is
/// signed by `installation_key`.
pub(crate) fn verify(
    provider: &Provider,
    bytes: &[u8],
    inbox_id: &str,
    installation_key: &[u8],
) -> Result<KeyPackage> {
    let key_package = KeyPackageIn::tls_deserialize_exact(bytes)
        .map_err(|e| ClientError::malformed("key package", e))?
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| ClientError::Verification(format!("key package: {e}")))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(ClientError::Verification("key package has the wrong ciphersuite".into()));
    }
    let leaf = key_package.leaf_node();
    let named = credential_inbox_id(leaf.credential())?;
    if named != inbox_id {
        return Err(ClientError::Verification(format!(
            "key package of installation {} names inbox {named}, not {inbox_id}",
            hex::encode(installation_key)
        )));
    }
    if leaf.signature_key().as_slice() != installation_key {
        return Err(ClientError::Verification(
            "key package is not signed by the installation it was fetched for".into(),
        ));
    }
    Ok(key_package)
}

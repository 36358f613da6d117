//! Welcome wrapping: HPKE base mode (X25519, HKDF-SHA256, ChaCha20-Poly1305) to the recipient
//! key package's init key, with the welcome metadata sealed in the same context.

use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs::rustcrypto::HpkeRustCrypto;
use hpke_rs::{Hpke, HpkePrivateKey, HpkePublicKey, Mode};
use openmls_traits::types::HpkeCiphertext;
use prost::Message as _;
use tls_codec::{Deserialize as _, Serialize as _};
use xmtp_proto::mls_api as api;

use crate::error::{ClientError, Result};

/// `WelcomeWrapperAlgorithm::CURVE25519`.
pub(crate) const CURVE25519: i32 = 1;

fn hpke() -> Hpke<HpkeRustCrypto> {
    Hpke::new(
        Mode::Base,
        KemAlgorithm::DhKem25519,
        KdfAlgorithm::HkdfSha256,
        AeadAlgorithm::ChaCha20Poly1305,
    )
}

/// TLS `EncryptContext{label = "MLS 1.0 MLS_WELCOME", context = ""}`.
fn info() -> Result<Vec<u8>> {
    let mut info = tls_codec::VLBytes::new(b"MLS 1.0 MLS_WELCOME".to_vec())
        .tls_serialize_detached()
        .map_err(ClientError::mls)?;
    info.extend(
        tls_codec::VLBytes::new(Vec::new()).tls_serialize_detached().map_err(ClientError::mls)?,
    );
    Ok(info)
}

/// (`data`, `welcome_metadata`) for a `WelcomeMessageInput.v1` to `init_key`.
pub(crate) fn wrap(
    init_key: &[u8],
    welcome: &[u8],
    message_cursor: u64,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let (kem_output, mut context) = hpke()
        .setup_sender(&HpkePublicKey::new(init_key.to_vec()), &info()?, None, None, None)
        .map_err(|e| ClientError::Mls(format!("welcome wrap: {e:?}")))?;
    let ciphertext =
        context.seal(&[], welcome).map_err(|e| ClientError::Mls(format!("welcome wrap: {e:?}")))?;
    let data = HpkeCiphertext { kem_output: kem_output.into(), ciphertext: ciphertext.into() }
        .tls_serialize_detached()
        .map_err(ClientError::mls)?;
    let metadata = context
        .seal(&[], &api::WelcomeMetadata { message_cursor }.encode_to_vec())
        .map_err(|e| ClientError::Mls(format!("welcome wrap: {e:?}")))?;
    Ok((data, metadata))
}

/// The TLS `MLSMessage(Welcome)` and the message cursor (0 when absent) of a wrapped welcome.
pub(crate) fn unwrap(private_key: &[u8], data: &[u8], metadata: &[u8]) -> Result<(Vec<u8>, u64)> {
    let ciphertext = HpkeCiphertext::tls_deserialize_exact(data)
        .map_err(|e| ClientError::malformed("welcome", e))?;
    let mut context = hpke()
        .setup_receiver(
            ciphertext.kem_output.as_slice(),
            &HpkePrivateKey::new(private_key.to_vec()),
            &info()?,
            None,
            None,
            None,
        )
        .map_err(|e| ClientError::malformed("welcome", format!("{e:?}")))?;
    let welcome = context
        .open(&[], ciphertext.ciphertext.as_slice())
        .map_err(|e| ClientError::malformed("welcome", format!("cannot decrypt: {e:?}")))?;
    let cursor = if metadata.is_empty() {
        0
    } else {
        let plain = context
            .open(&[], metadata)
            .map_err(|e| ClientError::malformed("welcome metadata", format!("{e:?}")))?;
        api::WelcomeMetadata::decode(plain.as_slice())
            .map_err(|e| ClientError::malformed("welcome metadata", e))?
            .message_cursor
    };
    Ok((welcome, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap_round_trip_and_reject_tampering() {
        let (private, public) = hpke().generate_key_pair().unwrap().into_keys();
        let (data, meta) = wrap(public.as_slice(), b"welcome bytes", 42).unwrap();
        let (welcome, cursor) = unwrap(private.as_slice(), &data, &meta).unwrap();
        assert_eq!((welcome.as_slice(), cursor), (&b"welcome bytes"[..], 42));
        assert_eq!(unwrap(private.as_slice(), &data, &[]).unwrap().1, 0);

        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(unwrap(private.as_slice(), &bad, &meta).is_err());
        assert!(unwrap(private.as_slice(), &data[..10], &meta).is_err());
        let (other, _) = hpke().generate_key_pair().unwrap().into_keys();
        assert!(unwrap(other.as_slice(), &data, &meta).is_err());
    }
}

//! Verifying identity signatures, and the keys that make them.
//!
//! - **ERC-191** (`erc_191`): a wallet's recoverable secp256k1 signature over the EIP-191
//!   personal-message hash of the text; 65 bytes `r ‖ s ‖ v` with `v` ∈ {0, 1, 27, 28}. The signer
//!   is the address recovered from it. High-`s` forms are accepted and normalised, so every
//!   encoding of one signature has the same replay key.
//! - **Installation key** (`installation_key`): Ed25519ph (RFC 8032 prehash, SHA-512 of the text)
//!   with the context `IDENTITY UPDATE SIGNATURE`, carried with its public key.
//!
//! Smart contract wallet, passkey and legacy delegated signatures are reported as unsupported.

use ed25519_dalek::Signer as _;
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey as EcdsaKey, VerifyingKey};
use sha2::{Digest, Sha512};
use sha3::Keccak256;
use xmtp_proto::associations::{self as pb, signature::Signature as Sig};

use crate::{IdentityError, MemberIdentifier};

/// The Ed25519ph context of installation-key signatures on identity updates.
pub const INSTALLATION_SIGNATURE_CONTEXT: &[u8] = b"IDENTITY UPDATE SIGNATURE";

/// What kind of signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// A wallet's EIP-191 signature.
    Erc191,
    /// An installation's Ed25519ph signature.
    InstallationKey,
}

impl SignatureKind {
    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Erc191 => "erc191",
            Self::InstallationKey => "installation-key",
        }
    }
}

/// A signature that verified, and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The member that signed.
    pub signer: MemberIdentifier,
    /// How it signed.
    pub kind: SignatureKind,
    /// Bytes that identify this signature in an inbox's log, the same for every encoding of it.
    pub replay_key: Vec<u8>,
}

/// Verifies `signature` over `text` and returns its signer.
pub fn verify(signature: &pb::Signature, text: &str) -> Result<VerifiedSignature, IdentityError> {
    match signature.signature.as_ref().ok_or(IdentityError::Missing("signature"))? {
        Sig::Erc191(sig) => verify_erc191(text, &sig.bytes),
        Sig::InstallationKey(sig) => verify_installation(text, &sig.bytes, &sig.public_key),
        Sig::Erc6492(_) => Err(IdentityError::UnsupportedSignature("smart contract wallet")),
        Sig::Passkey(_) => Err(IdentityError::UnsupportedSignature("passkey")),
        Sig::DelegatedErc191(_) => Err(IdentityError::UnsupportedSignature("legacy delegated")),
    }
}

fn invalid(kind: &'static str, reason: &'static str) -> IdentityError {
    IdentityError::InvalidSignature { kind, reason }
}

/// Keccak-256 of the EIP-191 personal message `"\x19Ethereum Signed Message:\n" ‖ len ‖ text`.
pub fn eip191_hash(text: &str) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", text.len()).as_bytes());
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// The lower-case `0x` address of a secp256k1 public key.
pub fn ethereum_address(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

fn verify_erc191(text: &str, bytes: &[u8]) -> Result<VerifiedSignature, IdentityError> {
    let (key, signature, parity) = recover(&eip191_hash(text), bytes, "erc191")?;
    let mut replay_key = signature.to_bytes().to_vec();
    replay_key.push(u8::from(parity));
    Ok(VerifiedSignature {
        signer: MemberIdentifier::Ethereum(ethereum_address(&key)),
        kind: SignatureKind::Erc191,
        replay_key,
    })
}

/// The key that made a 65-byte `r ‖ s ‖ v` signature of `hash`, with the signature in low-`s`
/// form and its recovery parity.
fn recover(
    hash: &[u8; 32],
    bytes: &[u8],
    kind: &'static str,
) -> Result<(VerifyingKey, EcdsaSignature, bool), IdentityError> {
    let bytes: &[u8; 65] =
        bytes.try_into().map_err(|_| invalid(kind, "expected 65 bytes r || s || v"))?;
    let parity = match bytes[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(invalid(kind, "recovery byte must be 0, 1, 27 or 28")),
    };
    let signature = EcdsaSignature::from_slice(&bytes[..64])
        .map_err(|_| invalid(kind, "r or s out of range"))?;
    let (signature, parity) = match signature.normalize_s() {
        Some(low) => (low, !parity),
        None => (signature, parity),
    };
    let recovery = RecoveryId::new(parity, false);
    let key = VerifyingKey::recover_from_prehash(hash, &signature, recovery)
        .map_err(|_| invalid(kind, "no public key recovers from it"))?;
    Ok((key, signature, parity))
}

/// Keccak-256 of `message`.
pub fn keccak256(message: &[u8]) -> [u8; 32] {
    Keccak256::digest(message).into()
}

/// The lower-case `0x` address whose key made `signature` (65 bytes `r ‖ s ‖ v`) over
/// Keccak-256 of `message`: how the decentralized network's node and payer signatures are
/// checked.
pub fn recover_keccak_signer(message: &[u8], signature: &[u8]) -> Result<String, IdentityError> {
    let (key, _, _) = recover(&keccak256(message), signature, "keccak-ecdsa")?;
    Ok(ethereum_address(&key))
}

fn verify_installation(
    text: &str,
    bytes: &[u8],
    public_key: &[u8],
) -> Result<VerifiedSignature, IdentityError> {
    const KIND: &str = "installation-key";
    let public: &[u8; 32] =
        public_key.try_into().map_err(|_| invalid(KIND, "public key must be 32 bytes"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(public)
        .map_err(|_| invalid(KIND, "public key is not a curve point"))?;
    let signature = ed25519_dalek::Signature::from_slice(bytes)
        .map_err(|_| invalid(KIND, "signature must be 64 bytes"))?;
    key.verify_prehashed(prehash(text), Some(INSTALLATION_SIGNATURE_CONTEXT), &signature)
        .map_err(|_| invalid(KIND, "does not verify"))?;
    Ok(VerifiedSignature {
        signer: MemberIdentifier::Installation(public.to_vec()),
        kind: SignatureKind::InstallationKey,
        replay_key: bytes.to_vec(),
    })
}

fn prehash(text: &str) -> Sha512 {
    let mut hasher = Sha512::new();
    hasher.update(text.as_bytes());
    hasher
}

/// A wallet's secp256k1 key: signs identity texts with ERC-191.
#[derive(Clone)]
pub struct WalletKey(EcdsaKey);

impl std::fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WalletKey").field(&self.address()).finish()
    }
}

impl WalletKey {
    /// A new random key.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        Self(EcdsaKey::random(rng))
    }

    /// The key with these 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, IdentityError> {
        EcdsaKey::from_bytes(secret.into())
            .map(Self)
            .map_err(|_| invalid("erc191", "secret key out of range"))
    }

    /// The 32 secret bytes (handle with care: store only in a key store).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The wallet's lower-case `0x` address.
    pub fn address(&self) -> String {
        ethereum_address(self.0.verifying_key())
    }

    /// The wallet as an inbox member.
    pub fn member(&self) -> MemberIdentifier {
        MemberIdentifier::Ethereum(self.address())
    }

    /// An ERC-191 signature of `text`: 65 bytes `r ‖ s ‖ v` with `v` = 27 or 28, low `s`.
    pub fn sign(&self, text: &str) -> Result<[u8; 65], IdentityError> {
        let (signature, recovery) = self
            .0
            .sign_prehash_recoverable(&eip191_hash(text))
            .map_err(|_| invalid("erc191", "signing failed"))?;
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        Ok(out)
    }

    /// A recoverable signature of Keccak-256 of `message`: 65 bytes `r ‖ s ‖ v` with `v` = 0
    /// or 1, low `s` (the form of the decentralized network's node signatures).
    pub fn sign_keccak(&self, message: &[u8]) -> Result<[u8; 65], IdentityError> {
        self.sign_digest(&keccak256(message))
    }

    /// The signature [`sign_keccak`](Self::sign_keccak) makes, of a message whose Keccak-256
    /// is `digest`. Deterministic (RFC 6979): the same digest always gets the same signature.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65], IdentityError> {
        let (signature, recovery) = self
            .0
            .sign_prehash_recoverable(digest)
            .map_err(|_| invalid("keccak-ecdsa", "signing failed"))?;
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = recovery.to_byte();
        Ok(out)
    }
}

/// An installation's Ed25519 key: signs identity texts with Ed25519ph and is also the MLS
/// signature key of the installation's leaves.
#[derive(Clone)]
pub struct InstallationKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for InstallationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InstallationKey").field(&hex::encode(self.public_key())).finish()
    }
}

impl InstallationKey {
    /// A new random key.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    /// The key with this 32-byte seed.
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed (handle with care: store only in a key store).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key: the installation's id.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The installation as an inbox member.
    pub fn member(&self) -> MemberIdentifier {
        MemberIdentifier::Installation(self.public_key().to_vec())
    }

    /// An Ed25519ph signature of an identity text.
    pub fn sign_identity_text(&self, text: &str) -> Result<[u8; 64], IdentityError> {
        self.0
            .sign_prehashed(prehash(text), Some(INSTALLATION_SIGNATURE_CONTEXT))
            .map(|s| s.to_bytes())
            .map_err(|_| invalid("installation-key", "signing failed"))
    }

    /// A plain Ed25519 signature of `message` (what MLS signs with the leaf key).
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn erc191(bytes: &[u8]) -> pb::Signature {
        pb::Signature {
            signature: Some(Sig::Erc191(pb::RecoverableEcdsaSignature { bytes: bytes.to_vec() })),
        }
    }

    #[test]
    fn known_vector_from_a_private_key() {
        // Private key 1 is the generator point: its address is well known.
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let wallet = WalletKey::from_bytes(&secret).unwrap();
        assert_eq!(wallet.address(), "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf");
    }

    #[test]
    fn keccak_signatures_recover_their_signer_and_nothing_else() {
        let node = WalletKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
        let message = b"originator|envelope bytes";
        let sig = node.sign_keccak(message).unwrap();
        assert!(sig[64] <= 1, "v is 0 or 1");
        assert_eq!(recover_keccak_signer(message, &sig).unwrap(), node.address());
        let other = recover_keccak_signer(b"originator|other bytes", &sig);
        assert_ne!(other.ok(), Some(node.address()), "another message recovers another key");
        assert!(recover_keccak_signer(message, &sig[..64]).is_err(), "64 bytes");
        let mut bad_v = sig;
        bad_v[64] = 5;
        assert!(recover_keccak_signer(message, &bad_v).is_err());
    }

    #[test]
    fn keccak_signatures_are_deterministic_and_can_be_made_from_the_digest() {
        // The node remembers signatures by digest: signing again must give the same bytes.
        let node = WalletKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
        let message = b"originator|envelope bytes";
        let sig = node.sign_keccak(message).unwrap();
        assert_eq!(node.sign_keccak(message).unwrap(), sig);
        assert_eq!(node.sign_digest(&keccak256(message)).unwrap(), sig);
        assert_ne!(node.sign_keccak(b"originator|other bytes").unwrap(), sig);
    }

    #[test]
    fn erc191_signatures_recover_the_wallet_in_every_encoding() {
        let wallet = WalletKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let text = "XMTP : Authenticate to inbox";
        let sig = wallet.sign(text).unwrap();
        let verified = verify(&erc191(&sig), text).unwrap();
        assert_eq!(verified.signer, wallet.member());
        assert_eq!(verified.kind, SignatureKind::Erc191);

        // v as 0/1 instead of 27/28.
        let mut low_v = sig;
        low_v[64] -= 27;
        assert_eq!(verify(&erc191(&low_v), text).unwrap(), verified);

        // The high-s twin (n - s, flipped parity) is the same signature.
        let parsed = EcdsaSignature::from_slice(&sig[..64]).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = EcdsaSignature::from_scalars(r, -*s).unwrap();
        let mut twin = [0u8; 65];
        twin[..64].copy_from_slice(&high.to_bytes());
        twin[64] = if sig[64] == 27 { 28 } else { 27 };
        assert_eq!(verify(&erc191(&twin), text).unwrap().replay_key, verified.replay_key);
    }

    #[test]
    fn erc191_rejects_malformed_and_foreign_signatures() {
        let wallet = WalletKey::generate(&mut ChaCha20Rng::seed_from_u64(2));
        let sig = wallet.sign("one text").unwrap();
        // Another text recovers some other address, never the wallet.
        let other = verify(&erc191(&sig), "another text").map(|v| v.signer);
        assert_ne!(other, Ok(wallet.member()));
        assert!(verify(&erc191(&sig[..64]), "one text").is_err());
        let mut bad_v = sig;
        bad_v[64] = 29;
        assert!(verify(&erc191(&bad_v), "one text").is_err());
        assert!(verify(&erc191(&[0u8; 65]), "one text").is_err());
    }

    #[test]
    fn installation_signatures_need_the_context_and_the_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let key = InstallationKey::generate(&mut rng);
        let text = "identity text";
        let sig = key.sign_identity_text(text).unwrap();
        let proto = |bytes: &[u8], public: &[u8]| pb::Signature {
            signature: Some(Sig::InstallationKey(pb::RecoverableEd25519Signature {
                bytes: bytes.to_vec(),
                public_key: public.to_vec(),
            })),
        };
        let verified = verify(&proto(&sig, &key.public_key()), text).unwrap();
        assert_eq!(verified.signer, key.member());

        assert!(verify(&proto(&sig, &key.public_key()), "other text").is_err());
        let other = InstallationKey::generate(&mut rng);
        assert!(verify(&proto(&sig, &other.public_key()), text).is_err());
        // A plain (non-prehashed, context-free) signature of the text does not count.
        let raw = key.sign_raw(text.as_bytes());
        assert!(verify(&proto(&raw, &key.public_key()), text).is_err());
        assert!(verify(&proto(&sig[..10], &key.public_key()), text).is_err());
    }

    #[test]
    fn unsupported_kinds_say_so() {
        let scw = pb::Signature {
            signature: Some(Sig::Erc6492(pb::SmartContractWalletSignature::default())),
        };
        assert_eq!(
            verify(&scw, "t"),
            Err(IdentityError::UnsupportedSignature("smart contract wallet"))
        );
        assert_eq!(
            verify(&pb::Signature { signature: None }, "t"),
            Err(IdentityError::Missing("signature"))
        );
    }
}

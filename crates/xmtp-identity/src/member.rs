//! Member identifiers and inbox ids.

use std::fmt;

use sha2::{Digest, Sha256};
use xmtp_proto::associations as pb;

use crate::IdentityError;

/// What kind of thing a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A wallet (externally owned account).
    Ethereum,
    /// An app installation, identified by its Ed25519 key.
    Installation,
    /// A WebAuthn passkey.
    Passkey,
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ethereum => "ethereum",
            Self::Installation => "installation",
            Self::Passkey => "passkey",
        })
    }
}

/// A member of an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberIdentifier {
    /// A lower-case `0x`-prefixed Ethereum address.
    Ethereum(String),
    /// An installation's Ed25519 public key.
    Installation(Vec<u8>),
    /// A passkey's public key.
    Passkey(Vec<u8>),
}

impl MemberIdentifier {
    /// An Ethereum member from an address in any letter case.
    pub fn ethereum(address: &str) -> Result<Self, IdentityError> {
        let valid = address.len() == 42
            && address.starts_with("0x")
            && address[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(IdentityError::InvalidAddress(address.to_owned()));
        }
        Ok(Self::Ethereum(address.to_ascii_lowercase()))
    }

    /// The kind of member.
    pub fn kind(&self) -> MemberKind {
        match self {
            Self::Ethereum(_) => MemberKind::Ethereum,
            Self::Installation(_) => MemberKind::Installation,
            Self::Passkey(_) => MemberKind::Passkey,
        }
    }

    /// The installation key, if this is an installation.
    pub fn installation_key(&self) -> Option<&[u8]> {
        match self {
            Self::Installation(key) => Some(key),
            _ => None,
        }
    }

    /// The address, if this is an Ethereum member.
    pub fn ethereum_address(&self) -> Option<&str> {
        match self {
            Self::Ethereum(address) => Some(address),
            _ => None,
        }
    }

    /// An identifier as it appears in `CreateInbox`, `ChangeRecoveryAddress` and `GetInboxIds`.
    pub fn from_identifier(identifier: &str, kind: i32) -> Result<Self, IdentityError> {
        match pb::IdentifierKind::try_from(kind).unwrap_or(pb::IdentifierKind::Unspecified) {
            pb::IdentifierKind::Passkey => hex::decode(identifier)
                .map(Self::Passkey)
                .map_err(|_| IdentityError::InvalidPasskey),
            pb::IdentifierKind::Unspecified | pb::IdentifierKind::Ethereum => {
                Self::ethereum(identifier)
            }
        }
    }

    /// From the protobuf form.
    pub fn from_proto(proto: &pb::MemberIdentifier) -> Result<Self, IdentityError> {
        match &proto.kind {
            Some(pb::member_identifier::Kind::EthereumAddress(address)) => Self::ethereum(address),
            Some(pb::member_identifier::Kind::InstallationPublicKey(key)) => {
                Ok(Self::Installation(key.clone()))
            }
            Some(pb::member_identifier::Kind::Passkey(passkey)) => {
                Ok(Self::Passkey(passkey.key.clone()))
            }
            None => Err(IdentityError::Missing("member identifier")),
        }
    }

    /// To the protobuf form.
    pub fn to_proto(&self) -> pb::MemberIdentifier {
        use pb::member_identifier::Kind;
        let kind = match self {
            Self::Ethereum(address) => Kind::EthereumAddress(address.clone()),
            Self::Installation(key) => Kind::InstallationPublicKey(key.clone()),
            Self::Passkey(key) => {
                Kind::Passkey(pb::Passkey { key: key.clone(), relying_party: None })
            }
        };
        pb::MemberIdentifier { kind: Some(kind) }
    }
}

impl fmt::Display for MemberIdentifier {
    /// The form used in signature texts: the address, or the key in lower-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ethereum(address) => f.write_str(address),
            Self::Installation(key) | Self::Passkey(key) => f.write_str(&hex::encode(key)),
        }
    }
}

/// The inbox id an identifier creates with `nonce`: hex(sha256(identifier ‖ decimal(nonce))).
pub fn inbox_id(identifier: &MemberIdentifier, nonce: u64) -> String {
    hex::encode(Sha256::digest(format!("{identifier}{nonce}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_ids_match_libxmtp() {
        // Check values from libxmtp (nonce 0) and xmtp-wire.md §7.1 (nonce 1).
        let a = MemberIdentifier::ethereum("0x1234567890abcdef1234567890abcdef12345678").unwrap();
        assert_eq!(
            inbox_id(&a, 0),
            "fcd18d86276d7a99fe522dba9660c420f03c8648785ada7c5daae232a3df77a9"
        );
        let b = MemberIdentifier::ethereum(&format!("0x{}", "ab".repeat(20))).unwrap();
        assert!(inbox_id(&b, 1).starts_with("71d7b586"));
    }

    #[test]
    fn addresses_are_lower_cased_and_validated() {
        let upper =
            MemberIdentifier::ethereum("0xABCDEF1234567890ABCDEF1234567890ABCDEF12").unwrap();
        assert_eq!(upper.to_string(), "0xabcdef1234567890abcdef1234567890abcdef12");
        for bad in [
            "",
            "0x12",
            "1234567890abcdef1234567890abcdef1234567890",
            "0xZZ34567890abcdef1234567890abcdef12345678",
        ] {
            assert!(
                matches!(MemberIdentifier::ethereum(bad), Err(IdentityError::InvalidAddress(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn proto_round_trip() {
        let members = [
            MemberIdentifier::ethereum("0x1234567890abcdef1234567890abcdef12345678").unwrap(),
            MemberIdentifier::Installation(vec![1, 2, 3]),
        ];
        for member in members {
            assert_eq!(MemberIdentifier::from_proto(&member.to_proto()).unwrap(), member);
        }
        let empty = pb::MemberIdentifier { kind: None };
        assert!(MemberIdentifier::from_proto(&empty).is_err());
    }
}

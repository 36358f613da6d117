//! The decentralized network's addressing: topics (a kind byte and an identifier) and the
//! originator ids under which each kind of envelope is sequenced.
//!
//! Originator ids follow libxmtp 1.10 (`xmtp_configuration::d14n`), which also files V3 sequence
//! ids under them, so a cursor stays valid when a client moves from V3 to d14n.

/// Commits and proposals (on the real network: sequenced by the group-message contract).
pub const COMMITS: u32 = 0;
/// Identity updates (on the real network: sequenced by the identity-update contract).
pub const IDENTITY_UPDATES: u32 = 1;
/// Application messages.
pub const APPLICATION_MESSAGES: u32 = 10;
/// Welcomes.
pub const WELCOMES: u32 = 11;
/// Key packages.
pub const KEY_PACKAGES: u32 = 13;

/// Longest identifier a topic carries (XIP-49).
pub const MAX_IDENTIFIER_BYTES: usize = 32;

/// What a topic addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// A group's messages; the identifier is the group id.
    GroupMessages = 0,
    /// An installation's welcomes; the identifier is its installation key.
    Welcomes = 1,
    /// An inbox's identity updates; the identifier is the inbox id, hex-decoded.
    IdentityUpdates = 2,
    /// An installation's key package; the identifier is its installation key.
    KeyPackages = 3,
}

/// A parsed topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// What it addresses.
    pub kind: TopicKind,
    /// The group id, installation key or inbox id bytes.
    pub identifier: Vec<u8>,
}

impl Topic {
    /// A topic of `kind` for `identifier`.
    pub fn new(kind: TopicKind, identifier: impl Into<Vec<u8>>) -> Self {
        Self { kind, identifier: identifier.into() }
    }

    /// The topic of an inbox's identity updates (`inbox_id` is lower-case hex).
    pub fn identity_updates(inbox_id: &str) -> Option<Self> {
        hex::decode(inbox_id).ok().map(|id| Self::new(TopicKind::IdentityUpdates, id))
    }

    /// Parses topic bytes; `None` for an unknown kind, an empty identifier or one over
    /// [`MAX_IDENTIFIER_BYTES`].
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let (&kind, identifier) = bytes.split_first()?;
        let kind = match kind {
            0 => TopicKind::GroupMessages,
            1 => TopicKind::Welcomes,
            2 => TopicKind::IdentityUpdates,
            3 => TopicKind::KeyPackages,
            _ => return None,
        };
        if identifier.is_empty() || identifier.len() > MAX_IDENTIFIER_BYTES {
            return None;
        }
        Some(Self::new(kind, identifier))
    }

    /// The wire bytes: the kind byte, then the identifier.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.identifier.len());
        out.push(self.kind as u8);
        out.extend_from_slice(&self.identifier);
        out
    }

    /// The originators whose envelopes this topic carries.
    pub fn originators(&self) -> &'static [u32] {
        match self.kind {
            TopicKind::GroupMessages => &[COMMITS, APPLICATION_MESSAGES],
            TopicKind::Welcomes => &[WELCOMES],
            TopicKind::IdentityUpdates => &[IDENTITY_UPDATES],
            TopicKind::KeyPackages => &[KEY_PACKAGES],
        }
    }
}

/// The hash a node signs for an originator envelope: Keccak-256 of `"originator|"` followed by
/// the serialized `UnsignedOriginatorEnvelope` (xmtpd's `registrant`).
pub fn originator_signing_input(unsigned_originator_envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(11 + unsigned_originator_envelope.len());
    out.extend_from_slice(b"originator|");
    out.extend_from_slice(unsigned_originator_envelope);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_reject_what_is_not_a_topic() {
        let topic = Topic::new(TopicKind::Welcomes, [7u8; 32]);
        let bytes = topic.to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(Topic::parse(&bytes), Some(topic));
        assert_eq!(Topic::parse(&[]), None);
        assert_eq!(Topic::parse(&[0]), None, "no identifier");
        assert_eq!(Topic::parse(&[4, 1]), None, "unknown kind");
        assert_eq!(Topic::parse(&[0; 34]), None, "identifier over 32 bytes");
        let inbox = "ab".repeat(32);
        let identity = Topic::identity_updates(&inbox).expect("hex");
        assert_eq!(identity.identifier, vec![0xab; 32]);
        assert_eq!(Topic::identity_updates("not hex"), None);
    }
}

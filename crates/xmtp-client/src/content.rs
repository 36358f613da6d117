//! Message content: XMTP `EncodedContent` inside a `PlaintextEnvelope`, content type ids, the
//! text codec, and libxmtp-compatible message ids.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use prost::Message as _;
use sha2::{Digest, Sha256};
use xmtp_proto::mls_content as pb;

use crate::error::{ClientError, Result};

pub use pb::EncodedContent;

/// A content type id, written `authority/type:major.minor` (e.g. `xmtp.org/text:1.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType {
    /// The authority that defines the type (a domain).
    pub authority: String,
    /// The type's name within the authority.
    pub type_id: String,
    /// Incompatible revisions.
    pub major: u32,
    /// Compatible revisions.
    pub minor: u32,
}

impl ContentType {
    /// A content type.
    pub fn new(authority: &str, type_id: &str, major: u32, minor: u32) -> Self {
        Self { authority: authority.to_owned(), type_id: type_id.to_owned(), major, minor }
    }

    /// `xmtp.org/text:1.0`.
    pub fn text() -> Self {
        Self::new("xmtp.org", "text", 1, 0)
    }

    /// `xmtp.org/leave_request:1.0` (XIP-75 self-removal).
    pub fn leave_request() -> Self {
        Self::new("xmtp.org", "leave_request", 1, 0)
    }

    /// Whether `self` is `other` at any minor version.
    pub fn is(&self, other: &Self) -> bool {
        self.authority == other.authority
            && self.type_id == other.type_id
            && self.major == other.major
    }

    /// The protobuf id.
    pub fn to_proto(&self) -> pb::ContentTypeId {
        pb::ContentTypeId {
            authority_id: self.authority.clone(),
            type_id: self.type_id.clone(),
            version_major: self.major,
            version_minor: self.minor,
        }
    }

    /// From the protobuf id.
    pub fn from_proto(id: &pb::ContentTypeId) -> Self {
        Self::new(&id.authority_id, &id.type_id, id.version_major, id.version_minor)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}.{}", self.authority, self.type_id, self.major, self.minor)
    }
}

impl FromStr for ContentType {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            ClientError::InvalidInput(format!(
                "content type {s:?} is not authority/type:major.minor"
            ))
        };
        let (authority, rest) = s.split_once('/').ok_or_else(bad)?;
        let (type_id, version) = rest.split_once(':').ok_or_else(bad)?;
        let (major, minor) = version.split_once('.').ok_or_else(bad)?;
        if authority.is_empty() || type_id.is_empty() {
            return Err(bad());
        }
        Ok(Self::new(
            authority,
            type_id,
            major.parse().map_err(|_| bad())?,
            minor.parse().map_err(|_| bad())?,
        ))
    }
}

/// `EncodedContent` for UTF-8 `text` (`xmtp.org/text:1.0`).
pub fn text(text: &str) -> EncodedContent {
    EncodedContent {
        r#type: Some(ContentType::text().to_proto()),
        parameters: HashMap::from([("encoding".to_owned(), "UTF-8".to_owned())]),
        fallback: None,
        compression: None,
        content: text.as_bytes().to_vec(),
    }
}

/// A leave request (`xmtp.org/leave_request:1.0`, no note): the sender asks to be removed.
pub(crate) fn leave_request() -> EncodedContent {
    let request = xmtp_proto::xmtp::mls::message_contents::content_types::LeaveRequest {
        authenticated_note: None,
    };
    EncodedContent {
        r#type: Some(ContentType::leave_request().to_proto()),
        parameters: HashMap::new(),
        fallback: None,
        compression: None,
        content: request.encode_to_vec(),
    }
}

/// `EncodedContent` of a custom type. `fallback` is what clients without a codec show.
pub fn custom(
    content_type: &ContentType,
    content: Vec<u8>,
    fallback: Option<String>,
) -> EncodedContent {
    EncodedContent {
        r#type: Some(content_type.to_proto()),
        parameters: HashMap::new(),
        fallback,
        compression: None,
        content,
    }
}

/// The text of a `xmtp.org/text` message, or `None` for other types.
pub fn as_text(content: &EncodedContent) -> Option<String> {
    let is_text = content.r#type.as_ref().is_some_and(|t| {
        t.authority_id == "xmtp.org" && t.type_id == "text" && t.version_major == 1
    });
    if !is_text || content.compression.is_some() {
        return None;
    }
    String::from_utf8(content.content.clone()).ok()
}

/// The MLS application payload for `content`: `PlaintextEnvelope.v1{content, idempotency_key}`.
pub(crate) fn seal_envelope(content: &[u8], idempotency_key: &str) -> Vec<u8> {
    pb::PlaintextEnvelope {
        content: Some(pb::plaintext_envelope::Content::V1(pb::plaintext_envelope::V1 {
            content: content.to_vec(),
            idempotency_key: idempotency_key.to_owned(),
        })),
    }
    .encode_to_vec()
}

/// The (encoded content bytes, idempotency key) of an application payload. `Ok(None)` for
/// envelope versions this client does not handle (v2 device-sync messages).
pub(crate) fn open_envelope(payload: &[u8]) -> Result<Option<(Vec<u8>, String)>> {
    let envelope = pb::PlaintextEnvelope::decode(payload)
        .map_err(|e| ClientError::malformed("plaintext envelope", e))?;
    match envelope.content {
        Some(pb::plaintext_envelope::Content::V1(v1)) => Ok(Some((v1.content, v1.idempotency_key))),
        Some(pb::plaintext_envelope::Content::V2(_)) => Ok(None),
        None => Err(ClientError::malformed("plaintext envelope", "empty")),
    }
}

/// libxmtp's message id: `sha256(group_id ‖ "\t" ‖ idempotency_key ‖ "\t" ‖ content)`.
pub fn message_id(group_id: &[u8], idempotency_key: &str, content: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(group_id);
    hash.update(b"\t");
    hash.update(idempotency_key.as_bytes());
    hash.update(b"\t");
    hash.update(content);
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_print_and_parse() {
        let t: ContentType = "coworker.dev/envelope:1.2".parse().unwrap();
        assert_eq!(t, ContentType::new("coworker.dev", "envelope", 1, 2));
        assert_eq!(t.to_string(), "coworker.dev/envelope:1.2");
        assert_eq!(ContentType::text().to_string(), "xmtp.org/text:1.0");
        for bad in ["", "a/b", "a:1.0", "/b:1.0", "a/:1.0", "a/b:1", "a/b:x.0"] {
            assert!(bad.parse::<ContentType>().is_err(), "{bad}");
        }
    }

    #[test]
    fn envelopes_round_trip_and_reject_garbage() {
        let content = text("hi").encode_to_vec();
        let payload = seal_envelope(&content, "1700000000000000000");
        let (opened, key) = open_envelope(&payload).unwrap().unwrap();
        assert_eq!(opened, content);
        assert_eq!(key, "1700000000000000000");
        assert_eq!(as_text(&EncodedContent::decode(opened.as_slice()).unwrap()).unwrap(), "hi");
        assert!(open_envelope(&[0xff, 0xff, 0xff]).is_err());
        assert!(open_envelope(&[]).is_err());
    }

    #[test]
    fn message_id_matches_the_libxmtp_layout() {
        let id = message_id(b"g", "k", b"c");
        let expected: [u8; 32] = Sha256::digest(b"g\tk\tc").into();
        assert_eq!(id, expected);
    }
}

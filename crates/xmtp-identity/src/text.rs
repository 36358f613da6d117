//! The text that every signature in an identity update signs.
//!
//! One text per update: a header, the inbox id, the update's client timestamp (RFC 3339, whole
//! seconds, UTC), one line pair per action, and a footer. It must match libxmtp byte for byte or
//! no signature verifies.

use xmtp_proto::associations::{self as pb, identity_action::Kind};

use crate::{IdentityError, MemberIdentifier, MemberKind};

const HEADER: &str = "XMTP : Authenticate to inbox";
const FOOTER: &str = "For more info: https://xmtp.org/signatures";

/// One action as it appears in the text, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsignedAction {
    /// `CreateInbox` by `owner`.
    CreateInbox {
        /// The initial identifier (the inbox's first member and recovery identifier).
        owner: MemberIdentifier,
    },
    /// `AddAssociation` of `member`.
    Add {
        /// The new member.
        member: MemberIdentifier,
    },
    /// `RevokeAssociation` of `member`.
    Revoke {
        /// The revoked member.
        member: MemberIdentifier,
    },
    /// `ChangeRecoveryAddress` to `identifier`.
    ChangeRecovery {
        /// The new recovery identifier.
        identifier: MemberIdentifier,
    },
}

impl UnsignedAction {
    /// The action of a protobuf `IdentityAction`.
    pub fn from_proto(action: &pb::IdentityAction) -> Result<Self, IdentityError> {
        Ok(match action.kind.as_ref().ok_or(IdentityError::Missing("action"))? {
            Kind::CreateInbox(create) => Self::CreateInbox {
                owner: MemberIdentifier::from_identifier(
                    &create.initial_identifier,
                    create.initial_identifier_kind,
                )?,
            },
            Kind::Add(add) => Self::Add {
                member: MemberIdentifier::from_proto(
                    add.new_member_identifier
                        .as_ref()
                        .ok_or(IdentityError::Missing("new member"))?,
                )?,
            },
            Kind::Revoke(revoke) => Self::Revoke {
                member: MemberIdentifier::from_proto(
                    revoke
                        .member_to_revoke
                        .as_ref()
                        .ok_or(IdentityError::Missing("revoked member"))?,
                )?,
            },
            Kind::ChangeRecoveryAddress(change) => Self::ChangeRecovery {
                identifier: MemberIdentifier::from_identifier(
                    &change.new_recovery_identifier,
                    change.new_recovery_identifier_kind,
                )?,
            },
        })
    }

    fn line(&self) -> String {
        let label = |kind: MemberKind| match kind {
            MemberKind::Ethereum => "Address",
            MemberKind::Installation => "ID",
            MemberKind::Passkey => "Passkey",
        };
        match self {
            Self::CreateInbox { owner } => format!("- Create inbox\n  (Owner: {owner})"),
            Self::Add { member } => {
                let verb = match member.kind() {
                    MemberKind::Installation => "Grant messaging access to app",
                    MemberKind::Ethereum => "Link address to inbox",
                    MemberKind::Passkey => "Link passkey to inbox",
                };
                format!("- {verb}\n  ({}: {member})", label(member.kind()))
            }
            Self::Revoke { member } => {
                let verb = match member.kind() {
                    MemberKind::Installation => "Revoke messaging access from app",
                    MemberKind::Ethereum => "Unlink address from inbox",
                    MemberKind::Passkey => "Unlink passkey from inbox",
                };
                format!("- {verb}\n  ({}: {member})", label(member.kind()))
            }
            Self::ChangeRecovery { identifier } => {
                format!("- Change inbox recovery address\n  (Address: {identifier})")
            }
        }
    }
}

/// The signature text for `actions` on `inbox_id` at `client_timestamp_ns`.
pub fn signature_text(
    inbox_id: &str,
    client_timestamp_ns: u64,
    actions: &[UnsignedAction],
) -> String {
    let lines: Vec<String> = actions.iter().map(UnsignedAction::line).collect();
    format!(
        "{HEADER}\n\nInbox ID: {inbox_id}\nCurrent time: {}\n\n{}\n\n{FOOTER}",
        rfc3339_seconds(client_timestamp_ns),
        lines.join("\n")
    )
}

/// The signature text of a protobuf update.
pub fn update_text(update: &pb::IdentityUpdate) -> Result<String, IdentityError> {
    let actions =
        update.actions.iter().map(UnsignedAction::from_proto).collect::<Result<Vec<_>, _>>()?;
    Ok(signature_text(&update.inbox_id, update.client_timestamp_ns, &actions))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time in nanoseconds since the Unix epoch. Like libxmtp, the value
/// is read as a signed 64-bit count, so values past `i64::MAX` wrap to before 1970.
fn rfc3339_seconds(ns: u64) -> String {
    #[allow(clippy::cast_possible_wrap)]
    let ns = ns as i64;
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    // Every i64 nanosecond count is within `time`'s range (years 1677-2262).
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox_id;

    #[test]
    fn matches_libxmtp_reference_text() {
        let owner =
            MemberIdentifier::ethereum("0x1234567890abcdef1234567890abcdef12345678").unwrap();
        let address =
            MemberIdentifier::ethereum("0x4567890abcdef1234567890abcdef12345678123").unwrap();
        let recovery =
            MemberIdentifier::ethereum("0x7890abcdef1234567890abcdef12345678123456").unwrap();
        let installation = MemberIdentifier::Installation(vec![1, 2, 3]);
        let actions = [
            UnsignedAction::CreateInbox { owner: owner.clone() },
            UnsignedAction::Add { member: address.clone() },
            UnsignedAction::Add { member: installation.clone() },
            UnsignedAction::Revoke { member: address },
            UnsignedAction::Revoke { member: installation },
            UnsignedAction::ChangeRecovery { identifier: recovery },
        ];
        let text = signature_text(&inbox_id(&owner, 0), 12, &actions);
        let expected = "XMTP : Authenticate to inbox

Inbox ID: fcd18d86276d7a99fe522dba9660c420f03c8648785ada7c5daae232a3df77a9
Current time: 1970-01-01T00:00:00Z

- Create inbox
  (Owner: 0x1234567890abcdef1234567890abcdef12345678)
- Link address to inbox
  (Address: 0x4567890abcdef1234567890abcdef12345678123)
- Grant messaging access to app
  (ID: 010203)
- Unlink address from inbox
  (Address: 0x4567890abcdef1234567890abcdef12345678123)
- Revoke messaging access from app
  (ID: 010203)
- Change inbox recovery address
  (Address: 0x7890abcdef1234567890abcdef12345678123456)

For more info: https://xmtp.org/signatures";
        assert_eq!(text, expected);
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(1_764_000_000_999_999_999), "2025-11-24T16:00:00Z");
        assert_eq!(rfc3339_seconds(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_seconds(u64::MAX), "1969-12-31T23:59:59Z");
    }
}

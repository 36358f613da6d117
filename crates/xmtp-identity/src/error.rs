//! Why an identity update or signature was rejected.

use crate::member::MemberKind;

/// A rejected identity update, signature or identifier. Every variant has a stable [`code`].
///
/// [`code`]: IdentityError::code
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A required field of the protobuf is missing.
    #[error("identity update is missing {0}")]
    Missing(&'static str),
    /// An Ethereum address is not `0x` followed by 40 hex digits.
    #[error("invalid Ethereum address {0:?}: expected 0x followed by 40 hex digits")]
    InvalidAddress(String),
    /// A passkey identifier is not hex.
    #[error("invalid passkey identifier: not hex")]
    InvalidPasskey,
    /// A signature's bytes are malformed or do not verify.
    #[error("invalid {kind} signature: {reason}")]
    InvalidSignature {
        /// The signature kind.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A signature kind this implementation cannot verify (smart contract wallets, passkeys,
    /// legacy delegated keys).
    #[error("{0} signatures are not supported")]
    UnsupportedSignature(&'static str),
    /// The update has no actions.
    #[error("identity update has no actions")]
    NoActions,
    /// An inbox can only be created once.
    #[error("the inbox already exists")]
    MultipleCreate,
    /// The first action on a new inbox must create it.
    #[error("the inbox does not exist yet")]
    NotCreated,
    /// A signer is not the member (or recovery identifier) the action requires.
    #[error("the signer is not an existing member of the inbox")]
    MissingExistingMember,
    /// The new member's signature is by someone else.
    #[error("the new member's signature is not by the new member")]
    NewMemberSignatureMismatch,
    /// A member tried to add itself.
    #[error("a member cannot add itself")]
    AddSelf,
    /// A kind of member may not add another kind (an installation may not add an installation).
    #[error("a member of kind {0} may not add a member of kind {1}")]
    MemberNotAllowed(MemberKind, MemberKind),
    /// A signature kind cannot sign for this kind of member.
    #[error("a {1} signature cannot sign for a member of kind {0}")]
    SignatureNotAllowed(MemberKind, &'static str),
    /// The update's inbox id is not the inbox its actions produce.
    #[error("the update names inbox {claimed} but its actions apply to inbox {actual}")]
    WrongInboxId {
        /// The inbox id in the update.
        claimed: String,
        /// The inbox id the actions produce.
        actual: String,
    },
    /// A signature was already used in this inbox's log.
    #[error("replayed signature: already used in this inbox's log")]
    Replay,
}

impl IdentityError {
    /// A stable, machine-readable code, e.g. `identity.replay`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "identity.missing_field",
            Self::InvalidAddress(_) => "identity.invalid_address",
            Self::InvalidPasskey => "identity.invalid_passkey",
            Self::InvalidSignature { .. } => "identity.invalid_signature",
            Self::UnsupportedSignature(_) => "identity.unsupported_signature",
            Self::NoActions => "identity.no_actions",
            Self::MultipleCreate => "identity.multiple_create",
            Self::NotCreated => "identity.not_created",
            Self::MissingExistingMember => "identity.missing_existing_member",
            Self::NewMemberSignatureMismatch => "identity.new_member_signature_mismatch",
            Self::AddSelf => "identity.add_self",
            Self::MemberNotAllowed(..) => "identity.member_not_allowed",
            Self::SignatureNotAllowed(..) => "identity.signature_not_allowed",
            Self::WrongInboxId { .. } => "identity.wrong_inbox_id",
            Self::Replay => "identity.replay",
        }
    }
}

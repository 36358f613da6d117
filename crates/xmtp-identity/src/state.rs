//! The association state of an inbox, and the rules for applying an update to it.
//!
//! The rules (libxmtp's, restated):
//! - `CreateInbox` only on a new inbox, signed by the initial identifier; the inbox id is
//!   `inbox_id(identifier, nonce)` and the identifier becomes the first member and the recovery
//!   identifier.
//! - `AddAssociation` is signed by the new member and by an existing member (or the recovery
//!   identifier); nobody adds itself, and an installation may not add an installation.
//! - `RevokeAssociation` and `ChangeRecoveryAddress` are signed by the recovery identifier.
//!   Revoking a member also removes the installations it added.
//! - Each kind of member signs with its own kind of signature.
//! - Every signature in an update signs the same text; a signature used by an earlier update in
//!   the log is a replay. After all actions, the update's `inbox_id` must be the state's.

use std::collections::{BTreeMap, BTreeSet};

use xmtp_proto::associations::{self as pb, identity_action::Kind};

use crate::signature::{self, SignatureKind, VerifiedSignature};
use crate::{IdentityError, MemberIdentifier, MemberKind, inbox_id, text};

/// A member of an inbox and how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who the member is.
    pub identifier: MemberIdentifier,
    /// The member (or recovery identifier) that added it; `None` for the inbox's creator.
    pub added_by: Option<MemberIdentifier>,
    /// The client timestamp of the update that added it.
    pub client_timestamp_ns: Option<u64>,
}

/// What changed between two states of one inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Members present in the newer state only.
    pub added: Vec<MemberIdentifier>,
    /// Members present in the older state only.
    pub removed: Vec<MemberIdentifier>,
}

/// The state an inbox's identity log reduces to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationState {
    inbox_id: String,
    members: BTreeMap<MemberIdentifier, Member>,
    recovery: MemberIdentifier,
    seen: BTreeSet<Vec<u8>>,
}

impl AssociationState {
    /// The inbox id.
    pub fn inbox_id(&self) -> &str {
        &self.inbox_id
    }

    /// The identifier allowed to revoke members and change itself.
    pub fn recovery_identifier(&self) -> &MemberIdentifier {
        &self.recovery
    }

    /// Every member, in a stable order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The member with this identifier.
    pub fn get(&self, identifier: &MemberIdentifier) -> Option<&Member> {
        self.members.get(identifier)
    }

    /// The installation keys of the inbox.
    pub fn installation_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.members.keys().filter_map(MemberIdentifier::installation_key)
    }

    /// The members that are not installations (addresses and passkeys).
    pub fn identifiers(&self) -> impl Iterator<Item = &MemberIdentifier> {
        self.members.keys().filter(|m| m.kind() != MemberKind::Installation)
    }

    /// Replays a whole log from the start.
    pub fn from_log<'a>(
        updates: impl IntoIterator<Item = &'a pb::IdentityUpdate>,
    ) -> Result<Self, IdentityError> {
        let mut state = None;
        for update in updates {
            state = Some(Self::apply(state.as_ref(), update)?);
        }
        state.ok_or(IdentityError::NotCreated)
    }

    /// The state after `update`, or why the update is invalid. `state` is the inbox's state
    /// before it (`None` for an inbox without a log yet); it is not modified.
    pub fn apply(state: Option<&Self>, update: &pb::IdentityUpdate) -> Result<Self, IdentityError> {
        if update.actions.is_empty() {
            return Err(IdentityError::NoActions);
        }
        let text = text::update_text(update)?;
        let mut next: Option<Self> = state.cloned();
        let mut used = Vec::new();
        for action in &update.actions {
            let kind = action.kind.as_ref().ok_or(IdentityError::Missing("action"))?;
            next = Some(apply_action(next, kind, &text, update.client_timestamp_ns, &mut used)?);
        }
        let mut next = next.ok_or(IdentityError::NotCreated)?;
        if next.inbox_id != update.inbox_id {
            return Err(IdentityError::WrongInboxId {
                claimed: update.inbox_id.clone(),
                actual: next.inbox_id,
            });
        }
        next.seen.extend(used);
        Ok(next)
    }

    /// What changed from `self` to `newer`.
    pub fn diff(&self, newer: &Self) -> StateDiff {
        StateDiff {
            added: newer
                .members
                .keys()
                .filter(|m| !self.members.contains_key(m))
                .cloned()
                .collect(),
            removed: self
                .members
                .keys()
                .filter(|m| !newer.members.contains_key(m))
                .cloned()
                .collect(),
        }
    }

    /// The members of a new inbox, as a diff from nothing.
    pub fn as_diff(&self) -> StateDiff {
        StateDiff { added: self.members.keys().cloned().collect(), removed: Vec::new() }
    }

    fn check_replay(&self, signature: &VerifiedSignature) -> Result<(), IdentityError> {
        if self.seen.contains(&signature.replay_key) {
            return Err(IdentityError::Replay);
        }
        Ok(())
    }
}

fn verify(
    signature: Option<&pb::Signature>,
    text: &str,
    used: &mut Vec<Vec<u8>>,
) -> Result<VerifiedSignature, IdentityError> {
    let verified = signature::verify(signature.ok_or(IdentityError::Missing("signature"))?, text)?;
    used.push(verified.replay_key.clone());
    Ok(verified)
}

fn allowed_signature(role: MemberKind, kind: SignatureKind) -> Result<(), IdentityError> {
    let ok = matches!(
        (role, kind),
        (MemberKind::Ethereum, SignatureKind::Erc191)
            | (MemberKind::Installation, SignatureKind::InstallationKey)
    );
    if ok { Ok(()) } else { Err(IdentityError::SignatureNotAllowed(role, kind.name())) }
}

fn apply_action(
    state: Option<AssociationState>,
    action: &Kind,
    text: &str,
    client_timestamp_ns: u64,
    used: &mut Vec<Vec<u8>>,
) -> Result<AssociationState, IdentityError> {
    match action {
        Kind::CreateInbox(create) => {
            if state.is_some() {
                return Err(IdentityError::MultipleCreate);
            }
            let owner = MemberIdentifier::from_identifier(
                &create.initial_identifier,
                create.initial_identifier_kind,
            )?;
            let signature = verify(create.initial_identifier_signature.as_ref(), text, used)?;
            if signature.signer != owner {
                return Err(IdentityError::MissingExistingMember);
            }
            allowed_signature(owner.kind(), signature.kind)?;
            let member =
                Member { identifier: owner.clone(), added_by: None, client_timestamp_ns: None };
            Ok(AssociationState {
                inbox_id: inbox_id(&owner, create.nonce),
                members: BTreeMap::from([(owner.clone(), member)]),
                recovery: owner,
                seen: BTreeSet::new(),
            })
        }
        Kind::Add(add) => {
            let mut state = state.ok_or(IdentityError::NotCreated)?;
            let new_member = MemberIdentifier::from_proto(
                add.new_member_identifier.as_ref().ok_or(IdentityError::Missing("new member"))?,
            )?;
            let new_signature = verify(add.new_member_signature.as_ref(), text, used)?;
            let existing_signature = verify(add.existing_member_signature.as_ref(), text, used)?;
            state.check_replay(&new_signature)?;
            state.check_replay(&existing_signature)?;
            if new_signature.signer != new_member {
                return Err(IdentityError::NewMemberSignatureMismatch);
            }
            if new_signature.signer == existing_signature.signer {
                return Err(IdentityError::AddSelf);
            }
            allowed_signature(new_member.kind(), new_signature.kind)?;
            let adder = if state.members.contains_key(&existing_signature.signer)
                || existing_signature.signer == state.recovery
            {
                existing_signature.signer.clone()
            } else {
                return Err(IdentityError::MissingExistingMember);
            };
            allowed_signature(adder.kind(), existing_signature.kind)?;
            if adder.kind() == MemberKind::Installation
                && new_member.kind() == MemberKind::Installation
            {
                return Err(IdentityError::MemberNotAllowed(adder.kind(), new_member.kind()));
            }
            let member = Member {
                identifier: new_member.clone(),
                added_by: Some(adder),
                client_timestamp_ns: Some(client_timestamp_ns),
            };
            state.members.insert(new_member, member);
            Ok(state)
        }
        Kind::Revoke(revoke) => {
            let mut state = state.ok_or(IdentityError::NotCreated)?;
            let revoked = MemberIdentifier::from_proto(
                revoke.member_to_revoke.as_ref().ok_or(IdentityError::Missing("revoked member"))?,
            )?;
            let signature = verify(revoke.recovery_identifier_signature.as_ref(), text, used)?;
            state.check_replay(&signature)?;
            if signature.signer != state.recovery {
                return Err(IdentityError::MissingExistingMember);
            }
            let children: Vec<MemberIdentifier> = state
                .members
                .values()
                .filter(|m| {
                    m.added_by.as_ref() == Some(&revoked)
                        && m.identifier.kind() == MemberKind::Installation
                })
                .map(|m| m.identifier.clone())
                .collect();
            state.members.remove(&revoked);
            for child in children {
                state.members.remove(&child);
            }
            Ok(state)
        }
        Kind::ChangeRecoveryAddress(change) => {
            let mut state = state.ok_or(IdentityError::NotCreated)?;
            let signature =
                verify(change.existing_recovery_identifier_signature.as_ref(), text, used)?;
            state.check_replay(&signature)?;
            if signature.signer != state.recovery {
                return Err(IdentityError::MissingExistingMember);
            }
            state.recovery = MemberIdentifier::from_identifier(
                &change.new_recovery_identifier,
                change.new_recovery_identifier_kind,
            )?;
            Ok(state)
        }
    }
}

//! Building and signing identity updates.

use xmtp_proto::associations as pb;

use crate::signature::{InstallationKey, WalletKey};
use crate::text::{UnsignedAction, signature_text};
use crate::{IdentityError, MemberIdentifier, inbox_id};

fn erc191(bytes: [u8; 65]) -> pb::Signature {
    pb::Signature {
        signature: Some(pb::signature::Signature::Erc191(pb::RecoverableEcdsaSignature {
            bytes: bytes.to_vec(),
        })),
    }
}

fn installation(key: &InstallationKey, text: &str) -> Result<pb::Signature, IdentityError> {
    Ok(pb::Signature {
        signature: Some(pb::signature::Signature::InstallationKey(
            pb::RecoverableEd25519Signature {
                bytes: key.sign_identity_text(text)?.to_vec(),
                public_key: key.public_key().to_vec(),
            },
        )),
    })
}

fn action(kind: pb::identity_action::Kind) -> pb::IdentityAction {
    pb::IdentityAction { kind: Some(kind) }
}

/// The update that registers a new inbox for `wallet` (with `nonce`) and its first installation:
/// `CreateInbox` and `AddAssociation`, both authorised by one wallet signature.
pub fn registration(
    wallet: &WalletKey,
    installation_key: &InstallationKey,
    nonce: u64,
    client_timestamp_ns: u64,
) -> Result<pb::IdentityUpdate, IdentityError> {
    let owner = wallet.member();
    let inbox = inbox_id(&owner, nonce);
    let text = signature_text(
        &inbox,
        client_timestamp_ns,
        &[
            UnsignedAction::CreateInbox { owner },
            UnsignedAction::Add { member: installation_key.member() },
        ],
    );
    let wallet_signature = erc191(wallet.sign(&text)?);
    Ok(pb::IdentityUpdate {
        inbox_id: inbox,
        client_timestamp_ns,
        actions: vec![
            action(pb::identity_action::Kind::CreateInbox(pb::CreateInbox {
                initial_identifier: wallet.address(),
                nonce,
                initial_identifier_signature: Some(wallet_signature.clone()),
                initial_identifier_kind: pb::IdentifierKind::Ethereum as i32,
                relying_party: None,
            })),
            action(pb::identity_action::Kind::Add(pb::AddAssociation {
                new_member_identifier: Some(installation_key.member().to_proto()),
                existing_member_signature: Some(wallet_signature),
                new_member_signature: Some(installation(installation_key, &text)?),
                relying_party: None,
            })),
        ],
    })
}

/// The update that adds another installation to an existing inbox, authorised by a wallet that
/// is a member (or the recovery identifier) of it.
pub fn add_installation(
    inbox: &str,
    wallet: &WalletKey,
    installation_key: &InstallationKey,
    client_timestamp_ns: u64,
) -> Result<pb::IdentityUpdate, IdentityError> {
    let text = signature_text(
        inbox,
        client_timestamp_ns,
        &[UnsignedAction::Add { member: installation_key.member() }],
    );
    Ok(pb::IdentityUpdate {
        inbox_id: inbox.to_owned(),
        client_timestamp_ns,
        actions: vec![action(pb::identity_action::Kind::Add(pb::AddAssociation {
            new_member_identifier: Some(installation_key.member().to_proto()),
            existing_member_signature: Some(erc191(wallet.sign(&text)?)),
            new_member_signature: Some(installation(installation_key, &text)?),
            relying_party: None,
        }))],
    })
}

/// The update that revokes `member` (and the installations it added), signed by the inbox's
/// recovery wallet.
pub fn revoke(
    inbox: &str,
    recovery_wallet: &WalletKey,
    member: &MemberIdentifier,
    client_timestamp_ns: u64,
) -> Result<pb::IdentityUpdate, IdentityError> {
    let text = signature_text(
        inbox,
        client_timestamp_ns,
        &[UnsignedAction::Revoke { member: member.clone() }],
    );
    Ok(pb::IdentityUpdate {
        inbox_id: inbox.to_owned(),
        client_timestamp_ns,
        actions: vec![action(pb::identity_action::Kind::Revoke(pb::RevokeAssociation {
            member_to_revoke: Some(member.to_proto()),
            recovery_identifier_signature: Some(erc191(recovery_wallet.sign(&text)?)),
        }))],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AssociationState, MemberKind};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    struct Keys {
        rng: ChaCha20Rng,
    }

    impl Keys {
        fn new(seed: u64) -> Self {
            Self { rng: ChaCha20Rng::seed_from_u64(seed) }
        }
        fn wallet(&mut self) -> WalletKey {
            WalletKey::generate(&mut self.rng)
        }
        fn installation(&mut self) -> InstallationKey {
            InstallationKey::generate(&mut self.rng)
        }
    }

    const T0: u64 = 1_764_000_000_000_000_000;

    #[test]
    fn registration_creates_an_inbox_with_wallet_and_installation() {
        let mut keys = Keys::new(1);
        let (wallet, device) = (keys.wallet(), keys.installation());
        let update = registration(&wallet, &device, 1, T0).unwrap();
        let state = AssociationState::apply(None, &update).unwrap();
        assert_eq!(state.inbox_id(), inbox_id(&wallet.member(), 1));
        assert_eq!(state.recovery_identifier(), &wallet.member());
        assert_eq!(state.installation_keys().collect::<Vec<_>>(), vec![&device.public_key()[..]]);
        assert_eq!(state.identifiers().collect::<Vec<_>>(), vec![&wallet.member()]);
        let added = state.get(&device.member()).unwrap();
        assert_eq!(added.added_by, Some(wallet.member()));
    }

    #[test]
    fn a_second_installation_then_revocation() {
        let mut keys = Keys::new(2);
        let (wallet, first, second) = (keys.wallet(), keys.installation(), keys.installation());
        let log = vec![
            registration(&wallet, &first, 1, T0).unwrap(),
            add_installation(&inbox_id(&wallet.member(), 1), &wallet, &second, T0 + 1).unwrap(),
        ];
        let state = AssociationState::from_log(&log).unwrap();
        assert_eq!(state.installation_keys().count(), 2);

        let revocation = revoke(state.inbox_id(), &wallet, &first.member(), T0 + 2).unwrap();
        let after = AssociationState::apply(Some(&state), &revocation).unwrap();
        assert_eq!(after.installation_keys().collect::<Vec<_>>(), vec![&second.public_key()[..]]);
        let diff = state.diff(&after);
        assert_eq!(diff.removed, vec![first.member()]);
        assert!(diff.added.is_empty());
    }

    #[test]
    fn revoking_the_wallet_removes_the_installations_it_added() {
        let mut keys = Keys::new(3);
        let (wallet, device) = (keys.wallet(), keys.installation());
        let state =
            AssociationState::apply(None, &registration(&wallet, &device, 1, T0).unwrap()).unwrap();
        let update = revoke(state.inbox_id(), &wallet, &wallet.member(), T0 + 1).unwrap();
        let after = AssociationState::apply(Some(&state), &update).unwrap();
        assert_eq!(after.members().count(), 0);
    }

    #[test]
    fn replaying_an_update_is_rejected() {
        let mut keys = Keys::new(4);
        let (wallet, first, second) = (keys.wallet(), keys.installation(), keys.installation());
        let inbox = inbox_id(&wallet.member(), 1);
        let state =
            AssociationState::apply(None, &registration(&wallet, &first, 1, T0).unwrap()).unwrap();
        let add = add_installation(&inbox, &wallet, &second, T0 + 1).unwrap();
        let state = AssociationState::apply(Some(&state), &add).unwrap();
        assert_eq!(AssociationState::apply(Some(&state), &add), Err(IdentityError::Replay));
        // A second registration of the same inbox is a second create.
        let again = registration(&wallet, &first, 1, T0 + 5).unwrap();
        assert_eq!(
            AssociationState::apply(Some(&state), &again),
            Err(IdentityError::MultipleCreate)
        );
    }

    #[test]
    fn forged_updates_are_rejected() {
        let mut keys = Keys::new(5);
        let (alice, mallory, device, evil_device) =
            (keys.wallet(), keys.wallet(), keys.installation(), keys.installation());
        let inbox = inbox_id(&alice.member(), 1);
        let state =
            AssociationState::apply(None, &registration(&alice, &device, 1, T0).unwrap()).unwrap();

        // Mallory signs an installation into Alice's inbox with her own wallet.
        let forged = add_installation(&inbox, &mallory, &evil_device, T0 + 1).unwrap();
        assert_eq!(
            AssociationState::apply(Some(&state), &forged),
            Err(IdentityError::MissingExistingMember)
        );

        // A valid update whose text was altered after signing (timestamp changed).
        let mut tampered = add_installation(&inbox, &alice, &evil_device, T0 + 1).unwrap();
        tampered.client_timestamp_ns += 1_000_000_000;
        assert!(AssociationState::apply(Some(&state), &tampered).is_err());

        // Mallory tries to revoke Alice's installation.
        let revocation = revoke(&inbox, &mallory, &device.member(), T0 + 2).unwrap();
        assert_eq!(
            AssociationState::apply(Some(&state), &revocation),
            Err(IdentityError::MissingExistingMember)
        );

        // Registration claiming someone else's inbox id.
        let mut wrong = registration(&mallory, &evil_device, 1, T0).unwrap();
        wrong.inbox_id = inbox.clone();
        assert!(AssociationState::apply(None, &wrong).is_err());

        // An update for an inbox that does not exist yet.
        assert_eq!(
            AssociationState::apply(
                None,
                &add_installation(&inbox, &alice, &evil_device, T0).unwrap()
            ),
            Err(IdentityError::NotCreated)
        );
    }

    #[test]
    fn an_installation_cannot_add_an_installation() {
        let mut keys = Keys::new(6);
        let (wallet, first, second) = (keys.wallet(), keys.installation(), keys.installation());
        let inbox = inbox_id(&wallet.member(), 1);
        let state =
            AssociationState::apply(None, &registration(&wallet, &first, 1, T0).unwrap()).unwrap();
        let mut update = add_installation(&inbox, &wallet, &second, T0 + 1).unwrap();
        let text = crate::text::update_text(&update).unwrap();
        let Some(pb::identity_action::Kind::Add(add)) = &mut update.actions[0].kind else {
            panic!("expected an add")
        };
        add.existing_member_signature = Some(installation(&first, &text).unwrap());
        assert_eq!(
            AssociationState::apply(Some(&state), &update),
            Err(IdentityError::MemberNotAllowed(
                MemberKind::Installation,
                MemberKind::Installation
            ))
        );
    }

    #[test]
    fn empty_and_incomplete_updates_are_rejected() {
        let empty =
            pb::IdentityUpdate { actions: vec![], client_timestamp_ns: 0, inbox_id: String::new() };
        assert_eq!(AssociationState::apply(None, &empty), Err(IdentityError::NoActions));
        let hollow = pb::IdentityUpdate {
            actions: vec![pb::IdentityAction { kind: None }],
            client_timestamp_ns: 0,
            inbox_id: String::new(),
        };
        assert_eq!(AssociationState::apply(None, &hollow), Err(IdentityError::Missing("action")));
    }
}

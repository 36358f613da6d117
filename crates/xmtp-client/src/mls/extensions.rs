//! XMTP's group-context extensions: immutable metadata (`0xf000`), mutable metadata (`0xff00`),
//! membership (`0xff01`), permissions (`0xff02`) and the required capabilities that list them.

use std::collections::{BTreeMap, HashMap};

use openmls::prelude::{
    CredentialType, Extension, ExtensionType, Extensions, GroupContext, ProposalType,
    RequiredCapabilitiesExtension, UnknownExtension,
};
use prost::Message as _;
use tls_codec::{Deserialize as _, Serialize as _};
use xmtp_proto::mls_content as pb;

use crate::error::{ClientError, Result};

pub(crate) const IMMUTABLE_METADATA: u16 = 0xf000;
pub(crate) const MUTABLE_METADATA: u16 = 0xff00;
pub(crate) const MEMBERSHIP: u16 = 0xff01;
pub(crate) const PERMISSIONS: u16 = 0xff02;

/// Metadata attribute keys libxmtp's policies name.
const METADATA_FIELDS: [&str; 7] = [
    "group_name",
    "description",
    "group_image_url_square",
    "message_disappear_from_ns",
    "message_disappear_in_ns",
    "minimum_supported_protocol_version",
    "app_data",
];

/// Attribute holding a group's name.
pub(crate) const GROUP_NAME: &str = "group_name";
/// Attribute holding a group's description.
pub(crate) const DESCRIPTION: &str = "description";
const COMMIT_LOG_SIGNER: &str = "_commit_log_signer";

/// What kind of conversation the immutable metadata declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Group,
    /// A DM between these two inboxes (unordered).
    Dm(String, String),
}

/// The decoded XMTP extensions of a group context.
#[derive(Debug, Clone)]
pub(crate) struct GroupExtensions {
    pub(crate) kind: Kind,
    pub(crate) creator_inbox_id: String,
    pub(crate) attributes: HashMap<String, String>,
    pub(crate) admins: Vec<String>,
    pub(crate) super_admins: Vec<String>,
    /// Inbox id → identity-log sequence id.
    pub(crate) membership: BTreeMap<String, u64>,
    pub(crate) policies: Option<pb::PolicySet>,
}

impl GroupExtensions {
    pub(crate) fn decode(extensions: &Extensions<GroupContext>) -> Result<Self> {
        let raw = |id: u16, what: &'static str| {
            extensions.unknown(id).map(|e| e.0.as_slice()).ok_or_else(|| {
                ClientError::malformed("group context", format!("no {what} extension"))
            })
        };
        let immutable =
            tls_codec::VLBytes::tls_deserialize_exact(raw(IMMUTABLE_METADATA, "metadata")?)
                .map_err(|e| ClientError::malformed("group metadata", e))?;
        let metadata = pb::GroupMetadataV1::decode(immutable.as_slice())
            .map_err(|e| ClientError::malformed("group metadata", e))?;
        let kind = match pb::ConversationType::try_from(metadata.conversation_type) {
            Ok(pb::ConversationType::Group) => Kind::Group,
            Ok(pb::ConversationType::Dm) => {
                let members = metadata.dm_members.as_ref().ok_or_else(|| {
                    ClientError::malformed("group metadata", "a DM without dm_members")
                })?;
                let one = members.dm_member_one.as_ref().map(|i| i.inbox_id.clone());
                let two = members.dm_member_two.as_ref().map(|i| i.inbox_id.clone());
                match (one, two) {
                    (Some(one), Some(two)) => Kind::Dm(one, two),
                    _ => {
                        return Err(ClientError::malformed(
                            "group metadata",
                            "incomplete dm_members",
                        ));
                    }
                }
            }
            _ => {
                return Err(ClientError::malformed(
                    "group metadata",
                    format!("unsupported conversation type {}", metadata.conversation_type),
                ));
            }
        };
        let mutable =
            pb::GroupMutableMetadataV1::decode(raw(MUTABLE_METADATA, "mutable metadata")?)
                .map_err(|e| ClientError::malformed("group mutable metadata", e))?;
        let membership = pb::GroupMembership::decode(raw(MEMBERSHIP, "membership")?)
            .map_err(|e| ClientError::malformed("group membership", e))?;
        let policies = match extensions.unknown(PERMISSIONS) {
            Some(e) => {
                pb::GroupMutablePermissionsV1::decode(e.0.as_slice())
                    .map_err(|e| ClientError::malformed("group permissions", e))?
                    .policies
            }
            None => None,
        };
        Ok(Self {
            kind,
            creator_inbox_id: metadata.creator_inbox_id,
            attributes: mutable.attributes,
            admins: mutable.admin_list.map(|l| l.inbox_ids).unwrap_or_default(),
            super_admins: mutable.super_admin_list.map(|l| l.inbox_ids).unwrap_or_default(),
            membership: membership.members.into_iter().collect(),
            policies,
        })
    }

    pub(crate) fn is_admin(&self, inbox: &str) -> bool {
        self.admins.iter().any(|a| a == inbox) || self.is_super_admin(inbox)
    }

    pub(crate) fn is_super_admin(&self, inbox: &str) -> bool {
        self.super_admins.iter().any(|a| a == inbox)
    }
}

fn unknown(id: u16, data: Vec<u8>) -> Extension {
    Extension::Unknown(id, UnknownExtension(data))
}

fn tls_vl(bytes: Vec<u8>) -> Result<Vec<u8>> {
    tls_codec::VLBytes::new(bytes).tls_serialize_detached().map_err(ClientError::mls)
}

/// The membership extension for `members` (inbox → latest identity sequence id).
pub(crate) fn membership(members: &BTreeMap<String, u64>) -> Extension {
    let proto = pb::GroupMembership {
        members: members.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        failed_installations: Vec::new(),
    };
    unknown(MEMBERSHIP, proto.encode_to_vec())
}

fn inboxes(ids: &[&str]) -> Option<pb::Inboxes> {
    Some(pb::Inboxes { inbox_ids: ids.iter().map(|s| (*s).to_owned()).collect() })
}

/// All five extensions of a new group (`dm_peer` = `Some` for a DM).
pub(crate) fn new_group(
    creator: &str,
    dm_peer: Option<&str>,
    name: &str,
    description: &str,
    commit_log_signer: [u8; 32],
    members: &BTreeMap<String, u64>,
) -> Result<Extensions<GroupContext>> {
    let inbox = |id: &str| Some(pb::Inbox { inbox_id: id.to_owned() });
    let metadata = pb::GroupMetadataV1 {
        conversation_type: if dm_peer.is_some() {
            pb::ConversationType::Dm as i32
        } else {
            pb::ConversationType::Group as i32
        },
        creator_account_address: String::new(),
        creator_inbox_id: creator.to_owned(),
        dm_members: dm_peer.map(|peer| pb::DmMembers {
            dm_member_one: inbox(creator),
            dm_member_two: inbox(peer),
        }),
        oneshot_message: None,
    };
    let mut attributes = HashMap::from([
        (GROUP_NAME.to_owned(), name.to_owned()),
        (DESCRIPTION.to_owned(), description.to_owned()),
        ("group_image_url_square".to_owned(), String::new()),
        (COMMIT_LOG_SIGNER.to_owned(), hex::encode(commit_log_signer)),
    ]);
    if dm_peer.is_none() {
        attributes.insert("app_data".to_owned(), String::new());
    }
    let mutable = pb::GroupMutableMetadataV1 {
        attributes,
        admin_list: inboxes(&[]),
        // A DM has no admins; a group's creator is its super admin.
        super_admin_list: if dm_peer.is_some() { inboxes(&[]) } else { inboxes(&[creator]) },
    };
    let policies = if dm_peer.is_some() { dm_policies() } else { group_policies() };
    let permissions = pb::GroupMutablePermissionsV1 { policies: Some(policies) };
    Extensions::from_vec(vec![
        unknown(IMMUTABLE_METADATA, tls_vl(metadata.encode_to_vec())?),
        unknown(MUTABLE_METADATA, mutable.encode_to_vec()),
        membership(members),
        unknown(PERMISSIONS, permissions.encode_to_vec()),
        required_capabilities(),
    ])
    .map_err(ClientError::mls)
}

fn required_capabilities() -> Extension {
    Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
        &[
            ExtensionType::Unknown(MEMBERSHIP),
            ExtensionType::Unknown(MUTABLE_METADATA),
            ExtensionType::Unknown(PERMISSIONS),
            ExtensionType::Unknown(IMMUTABLE_METADATA),
            ExtensionType::LastResort,
            ExtensionType::ApplicationId,
        ],
        &[ProposalType::GroupContextExtensions],
        &[CredentialType::Basic],
    ))
}

fn membership_policy(base: pb::membership_policy::BasePolicy) -> Option<pb::MembershipPolicy> {
    Some(pb::MembershipPolicy { kind: Some(pb::membership_policy::Kind::Base(base as i32)) })
}

fn permissions_policy(
    base: pb::permissions_update_policy::PermissionsBasePolicy,
) -> Option<pb::PermissionsUpdatePolicy> {
    Some(pb::PermissionsUpdatePolicy {
        kind: Some(pb::permissions_update_policy::Kind::Base(base as i32)),
    })
}

fn metadata_policy(base: pb::metadata_policy::MetadataBasePolicy) -> pb::MetadataPolicy {
    pb::MetadataPolicy { kind: Some(pb::metadata_policy::Kind::Base(base as i32)) }
}

/// libxmtp's `PolicySet::new_dm()`: no membership or admin changes, metadata open.
pub(crate) fn dm_policies() -> pb::PolicySet {
    use pb::membership_policy::BasePolicy as M;
    use pb::metadata_policy::MetadataBasePolicy as Md;
    use pb::permissions_update_policy::PermissionsBasePolicy as P;
    pb::PolicySet {
        add_member_policy: membership_policy(M::Deny),
        remove_member_policy: membership_policy(M::Deny),
        update_metadata_policy: METADATA_FIELDS
            .iter()
            .map(|f| ((*f).to_owned(), metadata_policy(Md::Allow)))
            .collect(),
        add_admin_policy: permissions_policy(P::Deny),
        remove_admin_policy: permissions_policy(P::Deny),
        update_permissions_policy: permissions_policy(P::Deny),
    }
}

/// libxmtp's default ("all members") group policy set.
pub(crate) fn group_policies() -> pb::PolicySet {
    use pb::membership_policy::BasePolicy as M;
    use pb::metadata_policy::MetadataBasePolicy as Md;
    use pb::permissions_update_policy::PermissionsBasePolicy as P;
    let metadata = METADATA_FIELDS
        .iter()
        .map(|f| {
            let base = match *f {
                "message_disappear_from_ns" | "message_disappear_in_ns" => Md::AllowIfAdmin,
                "minimum_supported_protocol_version" => Md::AllowIfSuperAdmin,
                _ => Md::Allow,
            };
            ((*f).to_owned(), metadata_policy(base))
        })
        .collect();
    pb::PolicySet {
        add_member_policy: membership_policy(M::Allow),
        remove_member_policy: membership_policy(M::AllowIfAdminOrSuperAdmin),
        update_metadata_policy: metadata,
        add_admin_policy: permissions_policy(P::AllowIfSuperAdmin),
        remove_admin_policy: permissions_policy(P::AllowIfSuperAdmin),
        update_permissions_policy: permissions_policy(P::AllowIfSuperAdmin),
    }
}

/// Whether `actor` may add (`adding`) or remove members under `policy`.
pub(crate) fn membership_allowed(
    policy: Option<&pb::MembershipPolicy>,
    extensions: &GroupExtensions,
    actor: &str,
) -> bool {
    use pb::membership_policy::{BasePolicy as M, Kind};
    let Some(kind) = policy.and_then(|p| p.kind.as_ref()) else { return false };
    match kind {
        Kind::Base(base) => match M::try_from(*base) {
            Ok(M::Allow) => true,
            Ok(M::AllowIfAdminOrSuperAdmin) => extensions.is_admin(actor),
            Ok(M::AllowIfSuperAdmin) => extensions.is_super_admin(actor),
            _ => false,
        },
        Kind::AndCondition(and) => {
            !and.policies.is_empty()
                && and.policies.iter().all(|p| membership_allowed(Some(p), extensions, actor))
        }
        Kind::AnyCondition(any) => {
            any.policies.iter().any(|p| membership_allowed(Some(p), extensions, actor))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_extensions_decode_back() {
        let members = BTreeMap::from([("a".repeat(64), 1), ("b".repeat(64), 2)]);
        let exts =
            new_group(&"a".repeat(64), Some(&"b".repeat(64)), "", "", [1; 32], &members).unwrap();
        // The immutable metadata is a TLS VL vector (QUIC-style varint length, two bytes here)
        // around the protobuf.
        let raw = exts.unknown(IMMUTABLE_METADATA).unwrap().0.clone();
        assert_eq!(raw[0] >> 6, 1, "two-byte length prefix");
        assert_eq!(((raw[0] as usize & 0x3f) << 8) | raw[1] as usize, raw.len() - 2);
        let decoded = GroupExtensions::decode(&exts).unwrap();
        assert_eq!(decoded.kind, Kind::Dm("a".repeat(64), "b".repeat(64)));
        assert_eq!(decoded.membership, members);
        assert!(decoded.admins.is_empty() && decoded.super_admins.is_empty());
        assert_eq!(decoded.policies.unwrap(), dm_policies());
    }

    #[test]
    fn group_policies_gate_removal_on_admins() {
        let creator = "c".repeat(64);
        let members = BTreeMap::from([(creator.clone(), 1)]);
        let exts = new_group(&creator, None, "team", "", [2; 32], &members).unwrap();
        let decoded = GroupExtensions::decode(&exts).unwrap();
        assert_eq!(decoded.kind, Kind::Group);
        assert_eq!(decoded.attributes[GROUP_NAME], "team");
        let policies = decoded.policies.clone().unwrap();
        assert!(membership_allowed(policies.add_member_policy.as_ref(), &decoded, "x"));
        assert!(!membership_allowed(policies.remove_member_policy.as_ref(), &decoded, "x"));
        assert!(membership_allowed(policies.remove_member_policy.as_ref(), &decoded, &creator));
    }
}

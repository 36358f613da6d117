//! Receiver-side rules for commits and welcomes, equivalent to what libxmtp enforces
//! (`validated_commit.rs`, `xmtp_welcome.rs`), checked against verified identity logs.

use std::collections::BTreeSet;

use super::extensions::{GroupExtensions, Kind, dm_policies, membership_allowed};
use crate::identity::IdentityLogs;

/// A leaf named by a commit or a tree: its inbox (from the credential) and installation key.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) inbox_id: String,
    pub(crate) installation_key: Vec<u8>,
}

/// What a staged commit does, extracted from openmls.
#[derive(Debug)]
pub(crate) struct CommitSummary {
    pub(crate) committer: Leaf,
    pub(crate) adds: Vec<Leaf>,
    pub(crate) removes: Vec<Leaf>,
    /// Any PSK proposal.
    pub(crate) has_psk: bool,
    /// Any proposal not sent by the committer.
    pub(crate) foreign_proposals: bool,
    /// Update proposals (XMTP replaces leaves only through the committer's update path).
    pub(crate) update_proposals: usize,
    /// The committer's new leaf, when the commit has an update path.
    pub(crate) path_leaf: Option<Leaf>,
    /// The group's extensions after the commit.
    pub(crate) new: GroupExtensions,
}

/// Why a commit or welcome was rejected.
pub(crate) type Rejection = String;

/// The inboxes whose identity logs a check needs.
pub(crate) fn inboxes_to_verify(old: &GroupExtensions, summary: &CommitSummary) -> Vec<String> {
    let mut set: BTreeSet<String> = summary.new.membership.keys().cloned().collect();
    set.extend(old.membership.keys().cloned());
    set.insert(summary.committer.inbox_id.clone());
    set.into_iter().collect()
}

pub(crate) fn check_commit(
    old: &GroupExtensions,
    summary: &CommitSummary,
    logs: &IdentityLogs,
) -> Result<(), Rejection> {
    let new = &summary.new;
    let actor = summary.committer.inbox_id.as_str();
    if summary.has_psk {
        return Err("commit carries PSK proposals".into());
    }
    if summary.foreign_proposals {
        return Err("commit includes proposals from more than one actor".into());
    }
    let actor_seq =
        new.membership.get(actor).copied().or_else(|| old.membership.get(actor).copied());
    let actor_seq = actor_seq.ok_or_else(|| format!("committer inbox {actor} is not a member"))?;
    if !logs.has_installation(actor, u64::MAX, &summary.committer.installation_key)
        || logs.at(actor, actor_seq).is_none()
    {
        return Err(format!("committer is not an installation of inbox {actor}"));
    }
    if summary.update_proposals > 0 {
        return Err("commit carries update proposals".into());
    }
    // The committer's new leaf must still be the committer: the same inbox, and a key that is
    // an installation of it. Otherwise later messages from that leaf would be attributed to
    // whatever inbox the new credential names.
    if let Some(leaf) = &summary.path_leaf {
        if leaf.inbox_id != actor {
            return Err(format!(
                "the committer's new leaf names inbox {}, not its own inbox {actor}",
                leaf.inbox_id
            ));
        }
        if !logs.has_installation(actor, u64::MAX, &leaf.installation_key) {
            return Err(format!(
                "the committer's new leaf key {} is not an installation of inbox {actor}",
                hex::encode(&leaf.installation_key)
            ));
        }
    }
    if new.kind != old.kind || new.creator_inbox_id != old.creator_inbox_id {
        return Err("commit changes the immutable metadata".into());
    }
    for (inbox, seq) in &new.membership {
        if old.membership.get(inbox).is_some_and(|old_seq| seq < old_seq) {
            return Err(format!("membership sequence id of {inbox} goes backwards"));
        }
    }
    let added_inboxes: Vec<&String> =
        new.membership.keys().filter(|i| !old.membership.contains_key(*i)).collect();
    let removed_inboxes: Vec<&String> =
        old.membership.keys().filter(|i| !new.membership.contains_key(*i)).collect();
    let policies = old.policies.as_ref();
    if let Kind::Dm(a, b) = &new.kind {
        if !added_inboxes.is_empty() || !removed_inboxes.is_empty() {
            return Err("a DM's members cannot change".into());
        }
        if summary.adds.iter().any(|l| l.inbox_id != *a && l.inbox_id != *b) {
            return Err("only the two DM inboxes' installations can join a DM".into());
        }
    } else {
        if !added_inboxes.is_empty()
            && !membership_allowed(policies.and_then(|p| p.add_member_policy.as_ref()), old, actor)
        {
            return Err(format!("inbox {actor} may not add members"));
        }
        if !removed_inboxes.is_empty()
            && !membership_allowed(
                policies.and_then(|p| p.remove_member_policy.as_ref()),
                old,
                actor,
            )
        {
            return Err(format!("inbox {actor} may not remove members"));
        }
    }
    if (new.admins != old.admins || new.super_admins != old.super_admins)
        && !old.is_super_admin(actor)
    {
        return Err(format!("inbox {actor} may not change the admin lists"));
    }
    if new.policies != old.policies && !old.is_super_admin(actor) {
        return Err(format!("inbox {actor} may not change permissions"));
    }
    for leaf in &summary.adds {
        let seq = new.membership.get(&leaf.inbox_id).ok_or_else(|| {
            format!("added installation's inbox {} is not in the membership", leaf.inbox_id)
        })?;
        if !logs.has_installation(&leaf.inbox_id, *seq, &leaf.installation_key) {
            return Err(format!(
                "added installation {} is not in inbox {}'s identity log",
                hex::encode(&leaf.installation_key),
                leaf.inbox_id
            ));
        }
    }
    for leaf in &summary.removes {
        let still_valid = new
            .membership
            .get(&leaf.inbox_id)
            .is_some_and(|seq| logs.has_installation(&leaf.inbox_id, *seq, &leaf.installation_key));
        if still_valid {
            return Err(format!(
                "removed installation {} is still a valid member of inbox {}",
                hex::encode(&leaf.installation_key),
                leaf.inbox_id
            ));
        }
    }
    Ok(())
}

/// Checks a group we are about to join: every leaf is a verified installation of a member inbox,
/// and a DM is exactly between the welcome's sender and us with DM policies.
pub(crate) fn check_welcome(
    extensions: &GroupExtensions,
    leaves: &[Leaf],
    sender: &Leaf,
    own_inbox: &str,
    logs: &IdentityLogs,
) -> Result<(), Rejection> {
    if !extensions.membership.contains_key(own_inbox) {
        return Err("our inbox is not in the group's membership".into());
    }
    for leaf in leaves {
        let seq = extensions
            .membership
            .get(&leaf.inbox_id)
            .ok_or_else(|| format!("member inbox {} is not in the membership", leaf.inbox_id))?;
        if !logs.has_installation(&leaf.inbox_id, *seq, &leaf.installation_key) {
            return Err(format!(
                "member installation {} is not in inbox {}'s identity log",
                hex::encode(&leaf.installation_key),
                leaf.inbox_id
            ));
        }
    }
    if let Kind::Dm(a, b) = &extensions.kind {
        let pair = BTreeSet::from([a.as_str(), b.as_str()]);
        let expected = BTreeSet::from([sender.inbox_id.as_str(), own_inbox]);
        if pair != expected {
            return Err("DM members are not the welcome's sender and us".into());
        }
        if !extensions.admins.is_empty() || !extensions.super_admins.is_empty() {
            return Err("a DM must have no admins".into());
        }
        if extensions.policies.as_ref() != Some(&dm_policies()) {
            return Err("a DM must use the DM permission policies".into());
        }
        if extensions.membership.len() != 2 {
            return Err("a DM must have exactly two member inboxes".into());
        }
    }
    Ok(())
}

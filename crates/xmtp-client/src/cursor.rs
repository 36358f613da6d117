//! Where reading a topic stands: a vector clock with, per originator, the sequence id of the
//! last envelope processed.
//!
//! On the decentralized network (d14n) every node that originates envelopes numbers them itself
//! (commits and identity updates come from the chain as originators 0 and 1; application
//! messages and welcomes from the node that took them, 100, 200 …; V3 data migrated into d14n
//! keeps its V3 ids under originators 10 and 11). Sequence ids of different originators are
//! unrelated, so one number cannot say what was read. A V3 node numbers a topic in one series,
//! which this crate files under the originators libxmtp uses for it (commits 0, application
//! messages 10, welcomes 11), so one cursor store serves both and a client keeps its place when
//! its node moves to d14n.

use std::collections::BTreeMap;

use xmtp_proto::d14n;

/// An envelope's place in its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) originator: u32,
    pub(crate) sequence_id: u64,
}

/// Per originator, the last sequence id processed; an originator not named is unread (0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cursor(BTreeMap<u32, u64>);

impl Cursor {
    /// A cursor with these entries (zeros are left out).
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = (u32, u64)>) -> Self {
        let mut cursor = Self::default();
        for (originator, sequence_id) in entries {
            cursor.advance(Position { originator, sequence_id });
        }
        cursor
    }

    /// Where a group's history starts for a member that joined with the commit at V3 id
    /// `commit`: a V3 node (and V3 data migrated into d14n) numbers commits and application
    /// messages in one series, so nothing before that commit is for the new member.
    pub(crate) fn joined_at(commit: u64) -> Self {
        Self::from_entries([(d14n::COMMITS, commit), (d14n::APPLICATION_MESSAGES, commit)])
    }

    /// The last sequence id processed from `originator`.
    pub(crate) fn get(&self, originator: u32) -> u64 {
        self.0.get(&originator).copied().unwrap_or(0)
    }

    /// Whether the envelope at `position` was processed already.
    pub(crate) fn has_seen(&self, position: Position) -> bool {
        position.sequence_id <= self.get(position.originator)
    }

    /// Moves past `position`; false if it was seen already.
    pub(crate) fn advance(&mut self, position: Position) -> bool {
        if self.has_seen(position) {
            return false;
        }
        self.0.insert(position.originator, position.sequence_id);
        true
    }

    /// Moves each originator forward to where `other` stands; false if nothing moved.
    pub(crate) fn merge(&mut self, other: &Self) -> bool {
        let mut moved = false;
        for (originator, sequence_id) in other.entries() {
            moved |= self.advance(Position { originator, sequence_id });
        }
        moved
    }

    /// The V3 id cursor of a topic whose `originators` share one V3 series: the highest of them.
    pub(crate) fn v3(&self, originators: &[u32]) -> u64 {
        originators.iter().map(|o| self.get(*o)).max().unwrap_or(0)
    }

    /// The entries, lowest originator first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.0.iter().map(|(o, s)| (*o, *s))
    }

    /// Per originator, the lower of the two: a position no later than either.
    pub(crate) fn meet(&self, other: &Self) -> Self {
        let originators = self.0.keys().chain(other.0.keys());
        Self::from_entries(originators.map(|o| (*o, self.get(*o).min(other.get(*o)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(originator: u32, sequence_id: u64) -> Position {
        Position { originator, sequence_id }
    }

    #[test]
    fn each_originator_counts_on_its_own() {
        let mut cursor = Cursor::default();
        assert!(cursor.advance(at(0, 7)));
        assert!(cursor.advance(at(100, 2)), "a low id from another originator is new");
        assert!(!cursor.advance(at(0, 5)), "an earlier commit was seen");
        assert!(!cursor.advance(at(100, 2)), "the same envelope twice");
        assert!(cursor.advance(at(100, 3)));
        assert!(cursor.has_seen(at(100, 1)) && !cursor.has_seen(at(200, 1)));
        assert_eq!(cursor.entries().collect::<Vec<_>>(), [(0, 7), (100, 3)]);
    }

    #[test]
    fn a_v3_cursor_is_the_latest_of_its_series() {
        let cursor = Cursor::from_entries([(0, 40), (10, 52), (100, 9_000)]);
        assert_eq!(cursor.v3(&[d14n::COMMITS, d14n::APPLICATION_MESSAGES]), 52);
        assert_eq!(cursor.v3(&[d14n::WELCOMES]), 0);
        assert_eq!(Cursor::joined_at(12), Cursor::from_entries([(0, 12), (10, 12)]));
        assert_eq!(Cursor::joined_at(0), Cursor::default(), "zeros are not kept");
    }

    #[test]
    fn meeting_cursors_takes_the_earlier_of_each() {
        let a = Cursor::from_entries([(0, 5), (10, 9)]);
        let b = Cursor::from_entries([(0, 8), (100, 3)]);
        assert_eq!(a.meet(&b), Cursor::from_entries([(0, 5)]), "unread where either is unread");
    }
}

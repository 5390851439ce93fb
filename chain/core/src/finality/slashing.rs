//! Slashable pairs of votes (FINALITY.md §1.2 E): an honest authority never
//! signs two votes for one target slot, nor one vote whose slots strictly
//! surround another's.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::vote::Vote;

/// Why two votes by one authority are slashable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Offence {
    /// Two distinct votes with the same target slot.
    DoubleVote,
    /// One vote's source and target slots strictly enclose the other's.
    SurroundVote,
}

impl Offence {
    pub fn kind(&self) -> &'static str {
        match self {
            Offence::DoubleVote => "double_vote",
            Offence::SurroundVote => "surround_vote",
        }
    }
}

/// Whether two votes (by the same authority) are slashable, and why.
/// Identical votes are not.
pub fn is_slashable(first: &Vote, second: &Vote) -> Option<Offence> {
    if first == second {
        return None;
    }
    if first.target.slot == second.target.slot {
        return Some(Offence::DoubleVote);
    }
    let surrounds = |outer: &Vote, inner: &Vote| {
        outer.source.slot < inner.source.slot && inner.target.slot < outer.target.slot
    };
    if surrounds(first, second) || surrounds(second, first) {
        return Some(Offence::SurroundVote);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::vote::Checkpoint;
    use crate::primitives::Hash;

    fn vote(source_slot: u64, target_slot: u64, target_byte: u8, source_byte: u8) -> Vote {
        Vote {
            source: Checkpoint {
                slot: source_slot,
                height: source_slot,
                hash: Hash([source_byte; 32]),
            },
            target: Checkpoint {
                slot: target_slot,
                height: target_slot,
                hash: Hash([target_byte; 32]),
            },
        }
    }

    #[test]
    fn slashable_table() {
        use Offence::*;
        let rows: Vec<(&str, Vote, Vote, Option<Offence>)> = vec![
            ("identical", vote(1, 5, 1, 0), vote(1, 5, 1, 0), None),
            (
                "same target slot, other hash",
                vote(1, 5, 1, 0),
                vote(1, 5, 2, 0),
                Some(DoubleVote),
            ),
            (
                "same target slot, other source",
                vote(1, 5, 1, 0),
                vote(2, 5, 1, 0),
                Some(DoubleVote),
            ),
            (
                "same target, same source slot, other source hash",
                vote(1, 5, 1, 0),
                vote(1, 5, 1, 9),
                Some(DoubleVote),
            ),
            (
                "s1 < s2 < t2 < t1",
                vote(1, 9, 1, 0),
                vote(3, 6, 1, 0),
                Some(SurroundVote),
            ),
            (
                "s2 < s1 < t1 < t2",
                vote(3, 6, 1, 0),
                vote(1, 9, 1, 0),
                Some(SurroundVote),
            ),
            (
                "overlap s1 < s2 < t1 < t2",
                vote(1, 6, 1, 0),
                vote(3, 9, 1, 0),
                None,
            ),
            ("adjacent t1 = s2", vote(1, 3, 1, 0), vote(3, 6, 1, 0), None),
            ("equal sources", vote(1, 3, 1, 0), vote(1, 6, 1, 0), None),
            (
                "equal source slot, inner target",
                vote(1, 9, 1, 0),
                vote(1, 6, 1, 0),
                None,
            ),
            ("disjoint", vote(1, 2, 1, 0), vote(4, 6, 1, 0), None),
        ];
        for (name, first, second, expected) in rows {
            assert_eq!(is_slashable(&first, &second), expected, "{name}");
            assert_eq!(is_slashable(&second, &first), expected, "{name}, swapped");
        }
    }
}

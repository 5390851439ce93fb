//! Equivocation: an authority that signs two different headers for one
//! slot. Each node remembers the first header it saw per (slot, proposer);
//! a second, different one becomes [`Evidence`].

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use crate::primitives::{Account, Hash, Header, SealedHeader, Signature};

/// (slot, proposer) pairs remembered; the oldest slots are forgotten first.
pub const MAX_SEEN_SLOTS: usize = 16_384;

/// Two distinct headers signed by one authority for one slot.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Evidence {
    pub proposer: Account,
    pub slot: u64,
    pub first: (Header, Signature),
    pub second: (Header, Signature),
}

/// The first signed header seen for each recent (slot, proposer).
#[derive(Debug, Default)]
pub struct SeenSlots {
    first: BTreeMap<(u64, Account), (Hash, Header, Signature)>,
}

impl SeenSlots {
    /// Records a signed header; returns evidence if its proposer already
    /// signed a different header for the same slot.
    pub fn note(&mut self, header: &SealedHeader, signature: &Signature) -> Option<Evidence> {
        let key = (header.slot, header.proposer);
        match self.first.get(&key) {
            Some((hash, _, _)) if *hash == header.hash() => None,
            Some((_, first_header, first_signature)) => Some(Evidence {
                proposer: header.proposer,
                slot: header.slot,
                first: (first_header.clone(), *first_signature),
                second: (header.header().clone(), *signature),
            }),
            None => {
                if self.first.len() >= MAX_SEEN_SLOTS {
                    self.first.pop_first();
                }
                self.first
                    .insert(key, (header.hash(), header.header().clone(), *signature));
                None
            }
        }
    }

    /// Forgets slots before `slot` (they are final: a block there can no
    /// longer be imported).
    pub fn forget_before(&mut self, slot: u64) {
        self.first = self.first.split_off(&(slot, Account::ZERO));
    }

    pub fn len(&self) -> usize {
        self.first.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(slot: u64, proposer: u8, salt: u8) -> SealedHeader {
        SealedHeader::new(Header {
            height: slot,
            slot,
            timestamp_ms: 0,
            parent: Hash([salt; 32]),
            proposer: Account([proposer; 32]),
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        })
    }

    #[test]
    fn a_second_header_for_a_slot_is_evidence() {
        let mut seen = SeenSlots::default();
        let signature = Signature([1; 64]);
        assert_eq!(seen.note(&header(3, 7, 0), &signature), None);
        assert_eq!(seen.note(&header(3, 7, 0), &signature), None, "same header");
        assert_eq!(
            seen.note(&header(3, 8, 1), &signature),
            None,
            "other proposer"
        );
        let evidence = seen.note(&header(3, 7, 1), &Signature([2; 64])).unwrap();
        assert_eq!((evidence.slot, evidence.proposer), (3, Account([7; 32])));
        assert_eq!(evidence.first.0, header(3, 7, 0).header().clone());
        assert_eq!(
            evidence.second,
            (header(3, 7, 1).header().clone(), Signature([2; 64]))
        );
    }

    #[test]
    fn forgets_final_slots_and_stays_bounded() {
        let mut seen = SeenSlots::default();
        let signature = Signature([1; 64]);
        for slot in 0..10 {
            seen.note(&header(slot, 1, 0), &signature);
        }
        seen.forget_before(6);
        assert_eq!(seen.len(), 4);
        // A forgotten slot is seen afresh: no evidence.
        assert_eq!(seen.note(&header(2, 1, 9), &signature), None);
        for slot in 0..(MAX_SEEN_SLOTS as u64 + 10) {
            seen.note(&header(slot, 2, 0), &signature);
        }
        assert_eq!(seen.len(), MAX_SEEN_SLOTS);
    }
}

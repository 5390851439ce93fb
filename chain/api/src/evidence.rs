//! `GET /evidence`: equivocations, each with both signed items: two block
//! headers for one slot (`"kind": "block"`), or two slashable finality
//! votes (`"double_vote"`, `"surround_vote"`; FINALITY.md §1.2).

use bwchain_core::finality::SignedVote;
use bwchain_core::primitives::Account;
use serde::{Deserialize, Serialize};

use crate::blocks::SignedHeader;

pub const PATH: &str = "/evidence";

/// One equivocation: two distinct headers signed by `proposer` for `slot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    pub proposer: Account,
    pub slot: u64,
    pub first: SignedHeader,
    pub second: SignedHeader,
}

/// Two slashable votes by one authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteEquivocation {
    pub authority: Account,
    pub first: SignedVote,
    pub second: SignedVote,
}

/// One item of `GET /evidence`, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Two headers for one slot; `authority` is the proposer.
    Block {
        authority: Account,
        #[serde(flatten)]
        equivocation: Equivocation,
    },
    DoubleVote(VoteEquivocation),
    SurroundVote(VoteEquivocation),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    #[test]
    fn evidence_round_trips() {
        let items: Vec<Equivocation> = assert_round_trip(
            r#"[{"first":{"hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","height":1,"parent":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","signature":"6d27f9359978190bc514d2f8cf0e4f4382adba8b59ed9b78a6af8c8f729a9fa3e69ec1a196d2738d7802d0d3d782ac21b50d88353aa57b0ad72aca227b7dd30f","slot":1,"state_root":"7eca996c9652c484f29014d7135602972a1065c543eecd836cae20ba6e0abad3","timestamp_ms":1001010,"tx_root":"350b3131f549f5da281f100fbc369b3cda53b736447cf0c063ba75bd9e3f5cdd"},"proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","second":{"hash":"76b00959d025aa82c8435241e1fc807c2d7da0a511e5bed10eb16719f8eb395e","height":1,"parent":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","signature":"32434cd308310cbaca3739f9a009949b0c7636d98cf38a1a11b7f024c388a4e2f1700975a29f17ab24c09cf74242512cc11df9d854f21c0f353a3756b42aac02","slot":1,"state_root":"38b4dd14e3abfa819088540e9e881bc321eb1455540eb6df1c3198d2e70a41f8","timestamp_ms":1001500,"tx_root":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"slot":1}]"#,
        );
        let item = &items[0];
        assert_eq!(item.first.header.slot, item.slot);
        assert_ne!(item.first.header.hash, item.second.header.hash);
        let first = &item.first;
        assert_eq!(
            SignedHeader::new(&first.header.header(), first.signature),
            *first
        );
    }

    #[test]
    fn no_evidence_round_trips() {
        let items: Vec<Evidence> = assert_round_trip("[]");
        assert!(items.is_empty());
    }

    #[test]
    fn vote_evidence_round_trips() {
        let vote = r#"{"authority":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","signature":"6d27f9359978190bc514d2f8cf0e4f4382adba8b59ed9b78a6af8c8f729a9fa3e69ec1a196d2738d7802d0d3d782ac21b50d88353aa57b0ad72aca227b7dd30f","source":{"hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","height":1,"slot":1},"target":{"hash":"76b00959d025aa82c8435241e1fc807c2d7da0a511e5bed10eb16719f8eb395e","height":2,"slot":3}}"#;
        let text = format!(
            r#"[{{"authority":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","first":{vote},"kind":"double_vote","second":{vote}}}]"#
        );
        let items: Vec<Evidence> = assert_round_trip(&text);
        assert!(matches!(items[0], Evidence::DoubleVote(_)));
    }
}

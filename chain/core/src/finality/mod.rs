//! Finality by explicit votes (FINALITY.md; DESIGN.md v2 §4): Casper-FFG
//! votes `source -> target` between checkpoints, with the slot as the
//! epoch, led by the slot's proposer, and k-finality.
//!
//! Pure, like the rest of the core; the node feeds it votes, blocks and
//! time, and performs what it asks for (sign, persist, send).
//!
//! - [`vote`]: checkpoints, votes, their 143 signed bytes, vote ids,
//!   certificates of q votes;
//! - [`slashing`]: double and surround votes;
//! - [`blocks`]: what finality reads about blocks ([`BlockIndex`]);
//! - [`fork_choice`]: the chain to follow, given the highest justified
//!   checkpoint;
//! - [`tally`]: votes and certificates to justified and final checkpoints,
//!   evidence and safety faults;
//! - [`proof`]: finality proofs and the light-client check;
//! - [`voter`]: when an honest authority votes (lead, follow, fallback, the
//!   signing gate), as a state machine.

pub mod blocks;
pub mod fork_choice;
pub mod proof;
pub mod slashing;
pub mod tally;
#[cfg(test)]
mod test_tree;
pub mod vote;
pub mod voter;

pub use blocks::{BlockIndex, BlockInfo};
pub use fork_choice::prefers;
pub use proof::{check_proof, FinalityProof, ProofError};
pub use slashing::{is_slashable, Offence};
pub use tally::{Finality, SafetyFault, Tally, TallyUpdate, VoteEvidence};
pub use vote::{quorum, Certificate, Checkpoint, SignedVote, Vote, VoteError};
pub use voter::{Refusal, Voter, VoterInput, VoterOutput};

//! `GET /evidence`: every equivocation recorded, blocks then votes, with
//! both signed items each.

use axum::extract::State;
use bwchain_api::blocks::SignedHeader;
use bwchain_api::evidence::{Equivocation, Evidence, VoteEquivocation};
use bwchain_core::finality::Offence;

use super::{ApiResult, Backend, JsonAnswer};

pub(super) async fn evidence(
    State(backend): State<Backend>,
) -> ApiResult<JsonAnswer<Vec<Evidence>>> {
    let blocks = backend
        .evidence()?
        .into_iter()
        .map(|evidence| Evidence::Block {
            authority: evidence.proposer,
            equivocation: Equivocation {
                proposer: evidence.proposer,
                slot: evidence.slot,
                first: SignedHeader::new(&evidence.first.0, evidence.first.1),
                second: SignedHeader::new(&evidence.second.0, evidence.second.1),
            },
        });
    let votes = backend.vote_evidence()?.into_iter().map(|evidence| {
        let pair = VoteEquivocation {
            authority: evidence.authority,
            first: evidence.first,
            second: evidence.second,
        };
        match evidence.offence {
            Offence::DoubleVote => Evidence::DoubleVote(pair),
            Offence::SurroundVote => Evidence::SurroundVote(pair),
        }
    });
    Ok(JsonAnswer(blocks.chain(votes).collect()))
}

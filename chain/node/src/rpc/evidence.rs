//! `GET /evidence`: every equivocation recorded, with both signed headers.

use axum::extract::State;
use bwchain_api::blocks::SignedHeader;
use bwchain_api::evidence::Equivocation;

use super::{ApiResult, Backend, JsonAnswer};

pub(super) async fn evidence(
    State(backend): State<Backend>,
) -> ApiResult<JsonAnswer<Vec<Equivocation>>> {
    let items = backend
        .evidence()?
        .into_iter()
        .map(|evidence| Equivocation {
            proposer: evidence.proposer,
            slot: evidence.slot,
            first: SignedHeader::new(&evidence.first.0, evidence.first.1),
            second: SignedHeader::new(&evidence.second.0, evidence.second.1),
        })
        .collect();
    Ok(JsonAnswer(items))
}

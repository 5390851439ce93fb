//! The bench chain's keys and its load: claims signed before the clock
//! starts, so that the load generator only sends bytes.

use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{hash, Hash, Tx, TxBody};

/// Bytes each receipt reports; far below the bench chain's budgets.
const RECEIPT_BYTES: u64 = 1 << 20;
/// Spreads each provider's consumers apart (a prime), so that claims mix
/// many consumers.
const CONSUMER_STRIDE: usize = 7919;

/// The bench chain's authority: a fixed key, so runs are comparable.
pub fn authority() -> Keypair {
    Keypair::from_seed(hash::sha256(b"bench-authority").0)
}

/// The bench chain's `count` devices, fixed keys.
pub fn devices(count: usize) -> Vec<Keypair> {
    (0..count)
        .map(|i| Keypair::from_seed(hash::sha256(format!("bench-device-{i}").as_bytes()).0))
        .collect()
}

/// Pre-signed claims with their hashes, grouped by provider.
pub struct ClaimPlan {
    /// For each provider, its claims in nonce order.
    pub by_provider: Vec<Vec<(Hash, Tx)>>,
    pub claims: usize,
}

/// Signs `claims_total` claims of `per_claim` receipts on `threads`
/// threads. The first half of `devices` are providers, spread evenly over
/// the claims; the second half are consumers, who sign the receipts.
pub fn sign_claims(
    devices: &[Keypair],
    per_claim: usize,
    claims_total: usize,
    genesis_hash: &Hash,
    threads: usize,
) -> ClaimPlan {
    let half = devices.len() / 2;
    let (providers, consumers) = devices.split_at(half);
    let providers_used = providers.len().min(claims_total).max(1);
    let provider_claims = |p: usize| -> Vec<(Hash, Tx)> {
        let provider = &providers[p];
        // Claims are spread evenly over providers.
        let claims = claims_total / providers_used + usize::from(p < claims_total % providers_used);
        (0..claims)
            .map(|nonce| {
                let receipts = (0..per_claim)
                    .map(|r| {
                        let c = (p * CONSUMER_STRIDE + nonce * per_claim + r) % consumers.len();
                        consumers[c].sign_receipt(
                            genesis_hash,
                            provider.account(),
                            nonce as u64,
                            RECEIPT_BYTES,
                        )
                    })
                    .collect();
                let tx = provider.sign_tx(genesis_hash, nonce as u64, TxBody::Claim { receipts });
                (signing::tx_hash(genesis_hash, &tx), tx)
            })
            .collect()
    };
    let by_provider: Vec<Vec<(Hash, Tx)>> = std::thread::scope(|scope| {
        let chunk = providers_used.div_ceil(threads.max(1));
        let provider_claims = &provider_claims;
        let handles: Vec<_> = (0..providers_used)
            .collect::<Vec<_>>()
            .chunks(chunk)
            .map(|indices| {
                let indices = indices.to_vec();
                scope.spawn(move || indices.into_iter().map(provider_claims).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let claims = by_provider.iter().map(Vec::len).sum();
    ClaimPlan {
        by_provider,
        claims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_spread_over_providers_in_nonce_order() {
        let devices = devices(6);
        let genesis_hash = Hash([1; 32]);
        let plan = sign_claims(&devices, 2, 7, &genesis_hash, 2);
        assert_eq!(plan.claims, 7);
        let counts: Vec<usize> = plan.by_provider.iter().map(Vec::len).collect();
        assert_eq!(counts, [3, 2, 2]);
        for (p, claims) in plan.by_provider.iter().enumerate() {
            for (nonce, (hash, tx)) in claims.iter().enumerate() {
                assert_eq!(tx.from, devices[p].account());
                assert_eq!(tx.nonce, nonce as u64);
                assert_eq!(*hash, signing::tx_hash(&genesis_hash, tx));
                let TxBody::Claim { receipts } = &tx.body else {
                    panic!("not a claim")
                };
                assert_eq!(receipts.len(), 2);
                assert!(receipts.iter().all(|r| r.provider == devices[p].account()
                    && devices[3..].iter().any(|c| c.account() == r.consumer)));
            }
        }
    }
}

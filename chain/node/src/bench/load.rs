//! The load generator: sends pre-signed claims to a node's HTTP API from
//! several connections, each provider's claims in nonce order.

use std::time::{Duration, Instant};

use bwchain_core::primitives::{Hash, Tx};

use super::claims::ClaimPlan;
use super::observe::Times;
use super::BenchError;

/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read: a batch answer lists a result per claim.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// How the claims are sent.
#[derive(Debug, Clone, Copy)]
pub struct LoadShape {
    /// Concurrent HTTP connections (at least 1 is used).
    pub connections: usize,
    /// Claims per `POST /txs/batch`.
    pub per_batch: usize,
    /// One claim per `POST /txs` instead of batches.
    pub single: bool,
}

/// Sends every claim of `plan` to the node at `url` (`http://host:port`)
/// and returns when each was sent. Providers are dealt round-robin to the
/// connections, so each provider's nonces arrive in order.
pub fn submit_all(url: &str, plan: ClaimPlan, shape: LoadShape) -> Result<Times, BenchError> {
    let connections = shape.connections.max(1);
    let mut lanes: Vec<Vec<Vec<(Hash, Tx)>>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, claims) in plan.by_provider.into_iter().enumerate() {
        lanes[i % connections].push(claims);
    }
    let per_batch = if shape.single { 1 } else { shape.per_batch };
    let senders: Vec<_> = lanes
        .into_iter()
        .map(|providers| {
            let url = url.to_owned();
            std::thread::spawn(move || submit_lane(&url, providers, per_batch, shape.single))
        })
        .collect();
    let mut submitted = Times::new();
    for sender in senders {
        submitted.extend(sender.join().expect("sender thread")?);
    }
    Ok(submitted)
}

/// Sends one lane's claims in batches, every provider's claims in nonce
/// order, and returns when each was sent.
fn submit_lane(
    url: &str,
    providers: Vec<Vec<(Hash, Tx)>>,
    per_batch: usize,
    single: bool,
) -> Result<Vec<(Hash, Instant)>, BenchError> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .new_agent();
    let endpoint = if single {
        format!("{url}/txs")
    } else {
        format!("{url}/txs/batch")
    };
    let mut sent = Vec::new();
    for chunk in round_robin(&providers).chunks(per_batch) {
        let body = if single {
            serde_json::to_vec(&chunk[0].1)?
        } else {
            serde_json::to_vec(&chunk.iter().map(|(_, tx)| tx).collect::<Vec<_>>())?
        };
        let sent_at = Instant::now();
        let post_error = |error| BenchError::Post {
            endpoint: endpoint.clone(),
            error,
        };
        let mut response = agent
            .post(&endpoint)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(post_error)?;
        let status = response.status().as_u16();
        let answer: serde_json::Value = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_json()?;
        // The bench node's pool limits are far above the load, so any
        // refusal (even "pool full") means the measurement is off.
        let refused = if single {
            (status != 202).then(|| answer.clone())
        } else {
            let results =
                answer["results"]
                    .as_array()
                    .ok_or_else(|| BenchError::UnexpectedAnswer {
                        answer: answer.clone(),
                    })?;
            results.iter().find(|r| r["error"].is_string()).cloned()
        };
        if let Some(refused) = refused {
            return Err(BenchError::Refused { answer: refused });
        }
        sent.extend(chunk.iter().map(|(hash, _)| (*hash, sent_at)));
    }
    Ok(sent)
}

/// Claim k of every provider before claim k+1 of any.
fn round_robin(providers: &[Vec<(Hash, Tx)>]) -> Vec<(Hash, Tx)> {
    let longest = providers.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| providers.iter().filter_map(move |claims| claims.get(k)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::signing::Keypair;
    use bwchain_core::primitives::TxBody;

    #[test]
    fn round_robin_keeps_each_providers_nonce_order() {
        let key = Keypair::dev("p");
        let claim = |provider: u8, nonce: u64| {
            let tx = key.sign_tx(&Hash([0; 32]), nonce, TxBody::Claim { receipts: vec![] });
            (Hash([provider; 32]), tx)
        };
        let providers = vec![
            vec![claim(1, 0), claim(1, 1), claim(1, 2)],
            vec![claim(2, 0)],
            vec![claim(3, 0), claim(3, 1)],
        ];
        let order: Vec<(u8, u64)> = round_robin(&providers)
            .iter()
            .map(|(hash, tx)| (hash.0[0], tx.nonce))
            .collect();
        assert_eq!(order, [(1, 0), (2, 0), (3, 0), (1, 1), (3, 1), (1, 2)]);
    }
}

//! The load generator: sends pre-signed claims to a node's HTTP API from
//! several connections, each provider's claims in nonce order.

use std::time::{Duration, Instant};

use bwchain_api::txs;
use bwchain_core::primitives::{Hash, Tx};

use super::claims::ClaimPlan;
use super::observe::Times;
use super::BenchError;

/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read: a batch answer lists a result per claim.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// How often, about, each connection sends a batch under an offered rate.
const PACED_BATCH_INTERVAL: Duration = Duration::from_millis(10);

/// How the claims are sent.
#[derive(Debug, Clone, Copy)]
pub struct LoadShape {
    /// Concurrent HTTP connections (at least 1 is used).
    pub connections: usize,
    /// Most claims per `POST /txs/batch`.
    pub per_batch: usize,
    /// One claim per `POST /txs` instead of batches.
    pub single: bool,
    /// Batches as JSON arrays instead of the consensus encoding.
    pub json_bodies: bool,
    /// Receipts in each claim.
    pub receipts_per_claim: usize,
    /// Offered load in receipts per second over all connections (`None`:
    /// as fast as the node answers).
    pub rate: Option<f64>,
}

/// One request, its body encoded before the clock starts.
struct Request {
    hashes: Vec<Hash>,
    body: Vec<u8>,
    /// Receipts sent by this lane before this request.
    receipts_before: usize,
}

/// Sends every claim of `plan` to the node at `url` (`http://host:port`):
/// the bodies are encoded first, then the clock starts. Returns when the
/// clock started and when each claim was sent. Providers are dealt
/// round-robin to the connections, so each provider's nonces arrive in
/// order.
pub fn submit_all(
    url: &str,
    plan: ClaimPlan,
    shape: LoadShape,
) -> Result<(Instant, Times), BenchError> {
    let connections = shape.connections.max(1);
    let mut lanes: Vec<Vec<Vec<(Hash, Tx)>>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, claims) in plan.by_provider.into_iter().enumerate() {
        lanes[i % connections].push(claims);
    }
    let lane_rate = shape.rate.map(|rate| rate / connections as f64);
    let per_batch = if shape.single {
        1
    } else if let Some(lane_rate) = lane_rate {
        let per_interval = lane_rate * PACED_BATCH_INTERVAL.as_secs_f64();
        ((per_interval / shape.receipts_per_claim.max(1) as f64) as usize).clamp(1, shape.per_batch)
    } else {
        shape.per_batch
    };
    let mut requests = Vec::with_capacity(connections);
    for providers in lanes {
        requests.push(encode_lane(&providers, per_batch, shape)?);
    }
    let start = Instant::now();
    let senders: Vec<_> = requests
        .into_iter()
        .map(|requests| {
            let url = url.to_owned();
            std::thread::spawn(move || submit_lane(&url, requests, shape, start, lane_rate))
        })
        .collect();
    let mut submitted = Times::new();
    for sender in senders {
        submitted.extend(sender.join().expect("sender thread")?);
    }
    Ok((start, submitted))
}

/// A lane's requests, every provider's claims in nonce order.
fn encode_lane(
    providers: &[Vec<(Hash, Tx)>],
    per_batch: usize,
    shape: LoadShape,
) -> Result<Vec<Request>, BenchError> {
    let mut requests = Vec::new();
    let mut receipts_before = 0;
    for chunk in round_robin(providers).chunks(per_batch) {
        let txs: Vec<Tx> = chunk.iter().map(|(_, tx)| tx.clone()).collect();
        let body = if shape.single {
            serde_json::to_vec(&txs[0])?
        } else if shape.json_bodies {
            serde_json::to_vec(&txs)?
        } else {
            txs::encode_batch(&txs)
        };
        requests.push(Request {
            hashes: chunk.iter().map(|(hash, _)| *hash).collect(),
            body,
            receipts_before,
        });
        receipts_before += chunk.len() * shape.receipts_per_claim;
    }
    Ok(requests)
}

/// Sends one lane's requests in order, each no earlier than its place in
/// the offered rate (if any), and returns when each claim was sent.
fn submit_lane(
    url: &str,
    requests: Vec<Request>,
    shape: LoadShape,
    start: Instant,
    lane_rate: Option<f64>,
) -> Result<Vec<(Hash, Instant)>, BenchError> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .new_agent();
    let single = shape.single;
    let endpoint = if single {
        format!("{url}{}", txs::PATH)
    } else {
        format!("{url}{}", txs::BATCH_PATH)
    };
    let content_type = if single || shape.json_bodies {
        "application/json"
    } else {
        txs::BINARY_CONTENT_TYPE
    };
    let mut sent = Vec::new();
    for request in requests {
        if let Some(lane_rate) = lane_rate {
            let due = start + Duration::from_secs_f64(request.receipts_before as f64 / lane_rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let sent_at = Instant::now();
        let post_error = |error| BenchError::Post {
            endpoint: endpoint.clone(),
            error,
        };
        let mut response = agent
            .post(&endpoint)
            .header("content-type", content_type)
            .send(&request.body[..])
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
        sent.extend(request.hashes.iter().map(|hash| (*hash, sent_at)));
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

//! Receipt signature verification, per signature: strict one at a time (what
//! `execute::check_tx_signatures` does) against `bwchain_core::primitives::batch`, for
//! batches of 64 and 1024 receipts from 256 distinct consumers.
//!
//! `raw_verify_batch` is ed25519-dalek's batch verification with nothing
//! else: NOT consensus-safe (see `batch.rs`), measured as the ceiling of
//! what batching could give. Run with `cargo bench -p bwchain --bench
//! signatures`; results land in `target/criterion/receipt_signatures_*`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use bwchain_core::primitives::batch::{BatchVerifier, SignedItem, Strategy};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{Account, Hash, Signature};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::VerifyingKey;

/// Distinct consumers signing the receipts: a block's receipts come from
/// many devices, and the key cache only helps with repeats.
const CONSUMERS: usize = 256;

struct Receipts {
    accounts: Vec<Account>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

impl Receipts {
    fn new(count: usize) -> Self {
        let genesis_hash = Hash([1; 32]);
        let provider = Keypair::dev("bench-provider").account();
        let consumers: Vec<Keypair> = (0..CONSUMERS)
            .map(|i| Keypair::dev(&format!("bench-consumer-{i}")))
            .collect();
        let mut receipts = Receipts {
            accounts: Vec::with_capacity(count),
            messages: Vec::with_capacity(count),
            signatures: Vec::with_capacity(count),
        };
        for i in 0..count {
            let consumer = &consumers[i % CONSUMERS];
            let session = i as u64;
            let message = signing::receipt_signing_bytes(
                &genesis_hash,
                &provider,
                &consumer.account(),
                session,
                1_000 + session,
            );
            receipts.signatures.push(consumer.sign(&message));
            receipts.accounts.push(consumer.account());
            receipts.messages.push(message);
        }
        receipts
    }

    fn items(&self) -> Vec<SignedItem<'_>> {
        (0..self.messages.len())
            .map(|i| SignedItem::new(&self.accounts[i], &self.messages[i], &self.signatures[i]))
            .collect()
    }
}

fn receipt_signatures(c: &mut Criterion) {
    let all_threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let one_thread = NonZeroUsize::MIN;
    for count in [64, 1024] {
        let receipts = Receipts::new(count);
        let items = receipts.items();
        let mut group = c.benchmark_group(format!("receipt_signatures_{count}"));
        group.throughput(Throughput::Elements(count as u64));

        group.bench_function("single_strict", |b| {
            b.iter(|| {
                for item in &items {
                    assert!(black_box(signing::verify(
                        &Account(*item.public_key),
                        item.message,
                        &Signature(*item.signature),
                    )));
                }
            })
        });

        group.bench_function("raw_verify_batch_unsafe", |b| {
            let messages: Vec<&[u8]> = items.iter().map(|item| item.message).collect();
            let signatures: Vec<ed25519_dalek::Signature> = items
                .iter()
                .map(|item| ed25519_dalek::Signature::from_bytes(item.signature))
                .collect();
            b.iter(|| {
                let keys: Vec<VerifyingKey> = items
                    .iter()
                    .map(|item| VerifyingKey::from_bytes(item.public_key).unwrap())
                    .collect();
                assert!(ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok());
            })
        });

        let cases = [
            (
                "strict_1_thread_cold_cache",
                Strategy::Strict,
                one_thread,
                false,
            ),
            ("strict_1_thread", Strategy::Strict, one_thread, true),
            ("strict_all_threads", Strategy::Strict, all_threads, true),
            ("batch_1_thread", Strategy::Batch, one_thread, true),
            ("batch_all_threads", Strategy::Batch, all_threads, true),
        ];
        for (name, strategy, threads, warm) in cases {
            let warm_verifier = BatchVerifier::new(strategy).with_threads(threads);
            if warm {
                warm_verifier.verify_all(&items);
            }
            group.bench_with_input(BenchmarkId::new("verify_all", name), &items, |b, items| {
                b.iter(|| {
                    let fresh;
                    let verifier = if warm {
                        &warm_verifier
                    } else {
                        fresh = BatchVerifier::new(strategy).with_threads(threads);
                        &fresh
                    };
                    let valid = verifier.verify_all(black_box(items));
                    assert!(valid.iter().all(|valid| *valid));
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = receipt_signatures
}
criterion_main!(benches);

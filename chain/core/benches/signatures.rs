//! Receipt signature verification under the v2 rule (DESIGN.md §1), per
//! signature, for batches of 64 and 1024 receipts: single checks against
//! the cofactored batch equation of `primitives::verify`, and both against
//! ed25519-zebra 4's ZIP-215 batch (the oracle the tests hold the core to).
//!
//! Two key mixes: `distinct` (every receipt from its own consumer: the
//! key cache cannot help, each key is decompressed once per batch) and
//! `256_consumers` (a block's receipts from 256 devices; repeated keys are
//! coalesced in the batch equation and cached by `BatchVerifier`).
//!
//! Run with `cargo bench -p bwchain-core --bench signatures`; results land
//! in `target/criterion/signatures_*`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use bwchain_core::primitives::batch::{BatchVerifier, SignedItem, Strategy};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::verify::{self, AdmissibleKey, Prepared};
use bwchain_core::primitives::{Account, Hash, Signature};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

struct Receipts {
    accounts: Vec<Account>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

impl Receipts {
    fn new(count: usize, consumers: usize) -> Self {
        let genesis_hash = Hash([1; 32]);
        let provider = Keypair::dev("bench-provider").account();
        let consumers: Vec<Keypair> = (0..consumers)
            .map(|i| Keypair::dev(&format!("bench-consumer-{i}")))
            .collect();
        let mut receipts = Receipts {
            accounts: Vec::with_capacity(count),
            messages: Vec::with_capacity(count),
            signatures: Vec::with_capacity(count),
        };
        for i in 0..count {
            let consumer = &consumers[i % consumers.len()];
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

/// Our batch equation over all items at once, keys decompressed first
/// (`cold`: inside the measured loop, as ed25519-zebra must).
fn our_batch(items: &[SignedItem<'_>], keys: Option<&[AdmissibleKey]>) -> bool {
    let fresh: Vec<AdmissibleKey>;
    let keys = match keys {
        Some(keys) => keys,
        None => {
            fresh = items
                .iter()
                .map(|item| AdmissibleKey::new(item.public_key).unwrap())
                .collect();
            &fresh
        }
    };
    let prepared: Vec<Prepared<'_>> = items
        .iter()
        .zip(keys)
        .map(|(item, key)| Prepared::new(key, item.message, item.signature).unwrap())
        .collect();
    verify::verify_batch(&prepared)
}

fn zebra_batch(items: &[SignedItem<'_>]) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for item in items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(*item.public_key),
            ed25519_zebra::Signature::from_bytes(item.signature),
            item.message,
        ));
    }
    batch.verify(rand_core::OsRng).is_ok()
}

fn signatures(c: &mut Criterion) {
    let all_threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let one_thread = NonZeroUsize::MIN;
    for (mix, consumers) in [("distinct", None), ("256_consumers", Some(256))] {
        for count in [64, 1024] {
            let receipts = Receipts::new(count, consumers.unwrap_or(count));
            let items = receipts.items();
            let keys: Vec<AdmissibleKey> = items
                .iter()
                .map(|item| AdmissibleKey::new(item.public_key).unwrap())
                .collect();
            let mut group = c.benchmark_group(format!("signatures_{mix}_{count}"));
            group.throughput(Throughput::Elements(count as u64));

            group.bench_function("single_cold", |b| {
                b.iter(|| {
                    for item in &items {
                        assert!(black_box(item.verify_single()));
                    }
                })
            });
            group.bench_function("single_warm_keys", |b| {
                b.iter(|| {
                    for (item, key) in items.iter().zip(&keys) {
                        assert!(black_box(key.verify(item.message, item.signature)));
                    }
                })
            });
            group.bench_function("zebra_single", |b| {
                b.iter(|| {
                    for item in &items {
                        let key =
                            ed25519_zebra::VerificationKey::try_from(*item.public_key).unwrap();
                        let signature = ed25519_zebra::Signature::from_bytes(item.signature);
                        assert!(black_box(key.verify(&signature, item.message)).is_ok());
                    }
                })
            });
            group.bench_function("batch_one_equation_cold", |b| {
                b.iter(|| assert!(our_batch(black_box(&items), None)))
            });
            group.bench_function("batch_one_equation_warm_keys", |b| {
                b.iter(|| assert!(our_batch(black_box(&items), Some(&keys))))
            });
            group.bench_function("zebra_batch", |b| {
                b.iter(|| assert!(zebra_batch(black_box(&items))))
            });

            let cases = [
                ("single_1_thread", Strategy::Single, one_thread),
                ("batch_1_thread", Strategy::Batch, one_thread),
                ("batch_all_threads", Strategy::Batch, all_threads),
            ];
            for (name, strategy, threads) in cases {
                let verifier = BatchVerifier::new(strategy).with_threads(threads);
                verifier.verify_all(&items);
                group.bench_with_input(BenchmarkId::new("verify_all", name), &items, |b, items| {
                    b.iter(|| {
                        let valid = verifier.verify_all(black_box(items));
                        assert!(valid.iter().all(|valid| *valid));
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = signatures
}
criterion_main!(benches);

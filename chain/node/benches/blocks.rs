//! A block of about 1 000 receipts from distinct consumers, in two shapes:
//! 16 claims of 64 receipts and 1 000 claims of 1 receipt.
//!
//! - `execute_block_*`: the state transition on the genesis `MemState`,
//!   with signatures already verified, verified one by one
//!   (`Signatures::Verify`), and verified first with `batch::verify_txs`.
//! - `commit_block_*`: `Store::commit_block` of the executed block into a
//!   fresh sled directory (one atomic batch plus a flush to disk).
//!
//! Run with `cargo bench -p bwchain --bench blocks`.

use std::hint::black_box;
use std::time::Duration;

use bwchain_core::consensus::build_block;
use bwchain_core::execute::{execute_block, Signatures};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::batch::BatchVerifier;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Tx;
use bwchain_core::testkit;
use bwchain_node::store::Store;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const PROVIDERS: usize = 1_000;
const CONSUMERS: usize = 1_024;
const AUTHORITY: &str = "bench-authority";

fn provider_name(i: usize) -> String {
    format!("bench-provider-{i}")
}

fn consumer_name(i: usize) -> String {
    format!("bench-consumer-{i}")
}

/// The test genesis with every provider and consumer registered as a device
/// and limits that admit both block shapes.
fn spec() -> ChainSpec {
    let names: Vec<String> = (0..PROVIDERS)
        .map(provider_name)
        .chain((0..CONSUMERS).map(consumer_name))
        .collect();
    let devices: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut genesis = testkit::test_genesis(&[AUTHORITY], &devices);
    genesis.max_receipts_per_claim = 64;
    genesis.max_block_txs = PROVIDERS as u64;
    ChainSpec::new(genesis).expect("bench genesis is valid")
}

/// `claims` claims of `receipts_each` receipts, every receipt signed by a
/// different consumer.
fn block_txs(spec: &ChainSpec, claims: usize, receipts_each: usize) -> Vec<Tx> {
    assert!(claims <= PROVIDERS && claims * receipts_each <= CONSUMERS);
    (0..claims)
        .map(|claim| {
            let provider = Keypair::dev(&provider_name(claim));
            let receipts = (0..receipts_each)
                .map(|i| {
                    let consumer = Keypair::dev(&consumer_name(claim * receipts_each + i));
                    testkit::receipt(spec, &consumer, provider.account(), 1, 5_000)
                })
                .collect();
            testkit::claim(spec, &provider, 0, receipts)
        })
        .collect()
}

fn blocks(c: &mut Criterion) {
    let spec = spec();
    let ctx = testkit::block_context(&spec, 1);
    let authority = Keypair::dev(AUTHORITY);
    let verifier = BatchVerifier::default();
    for (claims, receipts_each) in [(16, 64), (1_000, 1)] {
        let shape = format!("{claims}x{receipts_each}");
        let txs = block_txs(&spec, claims, receipts_each);
        let receipts = (claims * receipts_each) as u64;

        let mut group = c.benchmark_group(format!("execute_block_{shape}"));
        group.throughput(Throughput::Elements(receipts));
        let execute = |signatures| {
            execute_block(&spec, &spec.genesis_state, ctx, black_box(&txs), signatures)
                .expect("the bench block is valid")
        };
        group.bench_function("already_verified", |b| {
            b.iter(|| execute(Signatures::AlreadyVerified))
        });
        group.bench_function("verify_one_by_one", |b| {
            b.iter(|| execute(Signatures::Verify))
        });
        verifier.verify_txs(&spec.genesis_hash(), &txs);
        group.bench_function("verify_txs_then_already_verified", |b| {
            b.iter(|| {
                let checked = verifier.verify_txs(&spec.genesis_hash(), black_box(&txs));
                assert!(checked.iter().all(Result::is_ok));
                execute(Signatures::AlreadyVerified)
            })
        });
        group.finish();

        let candidates = txs
            .iter()
            .map(|tx| (testkit::tx_hash(&spec, tx), tx.clone()));
        let built = build_block(
            &spec,
            &spec.genesis_header,
            &spec.genesis_state,
            authority.account(),
            ctx.timestamp_ms,
            candidates,
        )
        .expect("the bench block builds");
        assert!(built.rejected.is_empty(), "{:?}", built.rejected);
        let block = built.sign(&authority);
        let mut group = c.benchmark_group(format!("commit_block_{shape}"));
        group.throughput(Throughput::Elements(receipts));
        group.bench_function("sled_commit", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = Store::open(dir.path(), &spec).expect("store opens");
                    (dir, store)
                },
                |(dir, store)| {
                    store
                        .commit_block_for_tests(&built.header, &block, &built.executed)
                        .expect("commit");
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = blocks
}
criterion_main!(benches);

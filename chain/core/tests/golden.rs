//! Golden tests: the genesis hash of the repo's `genesis.json` and the exact
//! bincode bytes of sample transactions and a header, hard-coded, so that no
//! encoding can drift silently. If one of these fails, the change breaks
//! every signature, stored block and client: make it on purpose or not at
//! all (and then also regenerate `test-vectors.json`, see tests/vectors.rs).

use std::path::Path;

use bwchain_core::genesis::{ChainSpec, Genesis};
use bwchain_core::primitives::{codec, signing::Keypair};
use bwchain_core::primitives::{Account, Hash, Header, Receipt, Signature, Tx, TxBody};

/// The genesis hash of the repo's `genesis.json`. Every receipt and
/// transaction signature covers it, so changing anything it commits to
/// (any genesis field, the genesis state, its encoding or the state root
/// construction) changes every signature on the dev chain.
const DEV_GENESIS_HASH: &str = "3fbcf80933f97b8aefe4ed78f15183383537fd9b9ecce25b69109d9387698a55";

/// The dev key `alice`, the dev chain's only authority.
const ALICE: &str = "e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca";

fn repo_genesis() -> Genesis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../genesis.json");
    let text = std::fs::read_to_string(path).expect("the repo's genesis.json");
    Genesis::from_json(&text).expect("the repo's genesis.json is valid")
}

#[test]
fn dev_genesis_hash_is_pinned() {
    let spec = ChainSpec::new(repo_genesis()).unwrap();
    assert_eq!(spec.genesis_hash().to_hex(), DEV_GENESIS_HASH);
    assert_eq!(spec.genesis_hash(), spec.genesis_header.hash());
}

#[test]
fn repo_genesis_is_the_dev_genesis() {
    let genesis = repo_genesis();
    assert_eq!(genesis, bwchain_core::genesis::presets::dev());
    assert_eq!(genesis.authorities, vec![ALICE.parse::<Account>().unwrap()]);
    assert_eq!(Keypair::dev("alice").account().to_hex(), ALICE);
}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn claim_tx_bytes_are_pinned() {
    let tx = Tx {
        from: Account([0x11; 32]),
        nonce: 0x0102_0304_0506_0708,
        body: TxBody::Claim {
            receipts: vec![Receipt {
                provider: Account([0x11; 32]),
                consumer: Account([0x22; 32]),
                session: 3,
                bytes: 0x1000,
                signature: Signature([0x33; 64]),
            }],
        },
        signature: Signature([0x44; 64]),
    };
    let expected = concat!(
        // from
        "1111111111111111111111111111111111111111111111111111111111111111",
        // nonce, u64 LE
        "0807060504030201",
        // body variant 0 (claim), u32 LE
        "00000000",
        // one receipt, u64 LE length
        "0100000000000000",
        // receipt: provider, consumer, session, bytes, signature
        "1111111111111111111111111111111111111111111111111111111111111111",
        "2222222222222222222222222222222222222222222222222222222222222222",
        "0300000000000000",
        "0010000000000000",
        "33333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333",
        // signature
        "44444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444",
    );
    let bytes = codec::encode(&tx);
    assert_eq!(hex_of(&bytes), expected);
    assert_eq!(codec::decode::<Tx>(&bytes).unwrap(), tx);
}

#[test]
fn transfer_and_set_device_bodies_are_pinned() {
    let cases = [
        (
            TxBody::Transfer {
                to: Account([0x55; 32]),
                amount: 1_000_000,
            },
            concat!(
                "01000000",
                "5555555555555555555555555555555555555555555555555555555555555555",
                // 1 000 000 = 0xf4240
                "40420f0000000000",
            ),
        ),
        (
            TxBody::SetDevice {
                device: Account([0x66; 32]),
                active: true,
            },
            concat!(
                "02000000",
                "6666666666666666666666666666666666666666666666666666666666666666",
                "01",
            ),
        ),
        (
            TxBody::SetDevice {
                device: Account([0x66; 32]),
                active: false,
            },
            concat!(
                "02000000",
                "6666666666666666666666666666666666666666666666666666666666666666",
                "00",
            ),
        ),
    ];
    for (body, expected) in cases {
        let bytes = codec::encode(&body);
        assert_eq!(hex_of(&bytes), expected, "{body:?}");
        assert_eq!(codec::decode::<TxBody>(&bytes).unwrap(), body);
    }
}

#[test]
fn header_bytes_and_hash_are_pinned() {
    let header = Header {
        height: 1,
        slot: 2,
        timestamp_ms: 3,
        parent: Hash([0xaa; 32]),
        proposer: Account([0xbb; 32]),
        tx_root: Hash([0xcc; 32]),
        state_root: Hash([0xdd; 32]),
    };
    let expected = concat!(
        // height, slot, timestamp_ms: u64 LE
        "0100000000000000",
        "0200000000000000",
        "0300000000000000",
        // parent, proposer, tx_root, state_root
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
        "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    );
    let bytes = codec::encode(&header);
    assert_eq!(hex_of(&bytes), expected);
    assert_eq!(codec::decode::<Header>(&bytes).unwrap(), header);
    // SHA-256("bwchain/block/v1" || bytes)
    assert_eq!(
        header.hash().to_hex(),
        "a631f3d952ac850956b1055928efa8b94db456ce3f1b397b4c4524b262ba0fd4"
    );
}

//! Every decoder that sees outside bytes (peer frames, the store, HTTP JSON,
//! genesis files) is fed random and mutated input: it must return an error
//! or a value, never panic, and a decoded value must re-encode to exactly
//! the bytes it came from (one value, one encoding).

use bwchain_core::finality::{Certificate, Checkpoint, Finality, FinalityProof, SignedVote, Vote};
use bwchain_core::genesis::Genesis;
use bwchain_core::primitives::{
    codec,
    signing::{self, Keypair},
};
use bwchain_core::primitives::{Block, Hash, Header, Tx, TxBody};
use bwchain_core::protocol::{decode_message, encode_frame, Hello, Message};
use bwchain_node::store::StoredBlock;
use proptest::prelude::*;

fn sample_block() -> Block {
    let g = Hash([3; 32]);
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let receipts = (0..3)
        .map(|i| carol.sign_receipt(&g, bob.account(), i, 1000 + i))
        .collect();
    let claim = bob.sign_tx(&g, 0, TxBody::Claim { receipts });
    let transfer = bob.sign_tx(
        &g,
        1,
        TxBody::Transfer {
            to: carol.account(),
            amount: 5,
        },
    );
    let registration = Keypair::dev("alice").sign_tx(
        &g,
        0,
        TxBody::SetDevice {
            device: bob.account(),
            active: true,
        },
    );
    Block {
        header: Header {
            height: 1,
            slot: 2,
            timestamp_ms: 3,
            parent: Hash([4; 32]),
            proposer: Keypair::dev("alice").account(),
            tx_root: Hash([5; 32]),
            state_root: Hash([6; 32]),
        },
        signature: bwchain_core::primitives::Signature([7; 64]),
        txs: vec![claim, transfer, registration],
    }
}

fn sample_vote(index: usize) -> SignedVote {
    let vote = Vote {
        source: Checkpoint::genesis(Hash([1; 32])),
        target: Checkpoint {
            slot: 4,
            height: 3,
            hash: Hash([2; 32]),
        },
    };
    vote.sign(&Hash([3; 32]), &Keypair::dev(&format!("authority-{index}")))
}

fn sample_certificate() -> Certificate {
    let votes: Vec<SignedVote> = (0..3).map(sample_vote).collect();
    let genesis = Genesis {
        authorities: (0..4)
            .map(|i| Keypair::dev(&format!("authority-{i}")).account())
            .collect(),
        ..bwchain_core::genesis::presets::dev()
    };
    Certificate::from_votes(&genesis, votes[0].vote, &votes)
}

fn sample_proof() -> FinalityProof {
    FinalityProof {
        link: sample_certificate(),
        intermediates: vec![sample_certificate()],
        headers: vec![sample_block().header, sample_block().header],
    }
}

fn sample_messages() -> Vec<Message> {
    let block = sample_block();
    vec![
        Message::Hello(Hello {
            version: 1,
            genesis_hash: Hash([1; 32]),
            head_height: 9,
            head_hash: Hash([2; 32]),
            listen_port: 9700,
            nonce: 42,
        }),
        Message::Status {
            head_height: 3,
            head_hash: Hash([8; 32]),
            justified: Checkpoint::genesis(Hash([1; 32])),
            finalized: Checkpoint::genesis(Hash([1; 32])),
        },
        Message::Vote(sample_vote(0)),
        Message::GetFinality,
        Message::Finality {
            proof: Some(sample_proof()),
            justified: Some(sample_certificate()),
        },
        Message::Finality {
            proof: None,
            justified: None,
        },
        Message::GetCertificate {
            target: Checkpoint::genesis(Hash([5; 32])),
        },
        Message::Certificate(sample_certificate()),
        Message::NewTx(block.txs[0].clone()),
        Message::GetBlocks {
            from_height: 5,
            max: 128,
        },
        Message::GetAncestors {
            hash: Hash([9; 32]),
            max: 7,
        },
        Message::Blocks(vec![block.clone(), block.clone()]),
        Message::NewBlock(block),
    ]
}

/// Decodes, and if that succeeds, checks the value re-encodes to `bytes`.
fn check_canonical<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: bincode::Decode<()> + bincode::Encode,
{
    if let Ok(value) = codec::decode::<T>(bytes) {
        prop_assert_eq!(codec::encode(&value), bytes.to_vec());
    }
    Ok(())
}

fn check_all_decoders(bytes: &[u8]) -> Result<(), TestCaseError> {
    check_canonical::<Message>(bytes)?;
    check_canonical::<Block>(bytes)?;
    check_canonical::<Tx>(bytes)?;
    check_canonical::<Header>(bytes)?;
    check_canonical::<StoredBlock>(bytes)?;
    check_canonical::<SignedVote>(bytes)?;
    check_canonical::<Certificate>(bytes)?;
    check_canonical::<FinalityProof>(bytes)?;
    check_canonical::<Finality>(bytes)?;
    let _ = decode_message(bytes);
    Ok(())
}

/// A valid encoding with a few bytes overwritten, some removed or added.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    // Mostly in-place edits, so that many mutants still decode and their
    // re-encoding is checked; sometimes truncated or extended as well.
    (
        prop::collection::vec((0..len.max(1), any::<u8>()), 1..4),
        prop::option::weighted(0.2, 0..len + 1),
        prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 1..4)),
    )
        .prop_map(move |(edits, cut, tail)| {
            let mut bytes = base.clone();
            for (at, byte) in edits {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            bytes.extend(tail.unwrap_or_default());
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn mutated_messages_never_panic(
        (index, bytes) in (0..7usize).prop_flat_map(|i| {
            let body = codec::encode(&sample_messages()[i]);
            (Just(i), mutated(body))
        })
    ) {
        let _ = index;
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn random_json_never_panics(text in ".{0,300}") {
        let _ = serde_json::from_str::<Tx>(&text);
        let _ = serde_json::from_str::<Vec<Tx>>(&text);
        let _ = Genesis::from_json(&text);
        let _ = signing::KeyFile::parse(&text);
    }

    #[test]
    fn mutated_tx_json_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..4)
    ) {
        let mut chars: Vec<char> =
            serde_json::to_string(&sample_block().txs[0]).unwrap().chars().collect();
        for (index, replacement) in edits {
            let at = index.index(chars.len());
            chars[at] = replacement;
        }
        let text: String = chars.into_iter().collect();
        if let Ok(tx) = serde_json::from_str::<Tx>(&text) {
            // Whatever parses is a well-formed transaction that re-serializes.
            prop_assert!(serde_json::to_string(&tx).is_ok());
        }
    }
}

#[test]
fn every_message_kind_round_trips_through_a_frame() {
    for message in sample_messages() {
        let frame = encode_frame(&message).unwrap();
        let length = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(length, frame.len() - 4);
        assert_eq!(
            decode_message(&frame[4..]).unwrap(),
            message,
            "{}",
            message.kind()
        );
    }
}

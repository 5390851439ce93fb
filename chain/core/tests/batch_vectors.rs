//! Edge-case vectors for `bwchain_core::primitives::batch`: every case asserts that
//! `batch::verify_all` (both strategies, several thread counts) returns
//! exactly what `verify_strict` returns for each item alone, and that
//! `batch::verify_txs` returns exactly what `execute::check_tx_signatures`
//! returns for each transaction.
//!
//! Cases: the 8 small-order points under all 14 encodings (canonical and
//! not) as keys and as `R`; `s >= ℓ`; non-canonical `R`; keys and `R`s of
//! mixed order (a torsion point added), including signatures that
//! `ed25519_dalek::verify_batch` accepts although `verify_strict` rejects
//! them; the 12 vectors of "Taming the many EdDSAs" (Chalkias, Garillot,
//! Nikolaenko, 2020; the ed25519-speccheck repository); batches of 0, 1,
//! 1000 items with a bad one at various positions; and property tests over
//! random mixes of all of these.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

use bwchain_core::execute::check_tx_signatures;
use bwchain_core::primitives::batch::{self, BatchVerifier, SignedItem, Strategy as Verification};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{Account, Hash, Receipt, Signature, Tx, TxBody};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use ed25519_dalek::VerifyingKey;
use proptest::prelude::*;
use sha2::{Digest, Sha512};

// ---------------------------------------------------------------------------
// The oracle and the check every case goes through.

/// `verify_strict` straight from ed25519-dalek, cross-checked against the
/// chain's own `signing::verify`.
fn strict(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let direct = VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    });
    assert_eq!(
        direct,
        signing::verify(&Account(*key), message, &Signature(*signature)),
        "signing::verify is verify_strict"
    );
    direct
}

/// One signature to check, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Case {
    key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
}

impl Case {
    fn item(&self) -> SignedItem<'_> {
        SignedItem {
            public_key: &self.key,
            message: &self.message,
            signature: &self.signature,
        }
    }

    fn strict(&self) -> bool {
        strict(&self.key, &self.message, &self.signature)
    }
}

fn verifiers() -> Vec<(String, BatchVerifier)> {
    let mut out = Vec::new();
    for strategy in [Verification::Strict, Verification::Batch] {
        for threads in [1, 2, 5] {
            let verifier = BatchVerifier::new(strategy)
                .with_threads(NonZeroUsize::new(threads).expect("threads > 0"));
            out.push((format!("{strategy:?}/{threads} threads"), verifier));
        }
    }
    out
}

/// Asserts that every verifier agrees with `verify_strict` on every case,
/// and returns the per-case verdicts.
fn check(cases: &[Case]) -> Vec<bool> {
    let expected: Vec<bool> = cases.iter().map(Case::strict).collect();
    let items: Vec<SignedItem<'_>> = cases.iter().map(Case::item).collect();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(
            item.verify_strict(),
            expected[i],
            "SignedItem::verify_strict, case {i}"
        );
    }
    assert_eq!(batch::verify_all(&items), expected, "batch::verify_all");
    for (name, verifier) in verifiers() {
        assert_eq!(verifier.verify_all(&items), expected, "{name}");
        // A second run goes through the key cache.
        assert_eq!(verifier.verify_all(&items), expected, "{name}, cached keys");
    }
    expected
}

// ---------------------------------------------------------------------------
// Building signatures, honest and not.

fn hex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).expect("valid hex of the right length");
    out
}

fn sha512(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

/// ℓ, the order of the base point, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` on 256-bit little-endian integers (no reduction; must not overflow).
fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "overflow");
    out
}

/// A signer with an arbitrary secret scalar, whose public key may carry a
/// torsion component: `A = [a]B + torsion`.
#[derive(Debug, Clone)]
struct RawSigner {
    secret: Scalar,
    public: [u8; 32],
}

impl RawSigner {
    fn new(seed: &str, torsion: EdwardsPoint) -> Self {
        let secret = sha512(&[b"raw signer", seed.as_bytes()]);
        let public = (EdwardsPoint::mul_base(&secret) + torsion)
            .compress()
            .to_bytes();
        Self { secret, public }
    }

    /// Signs `message` the RFC 8032 way but with `R = [r]B + r_torsion`.
    fn sign(&self, message: &[u8], r_torsion: EdwardsPoint) -> [u8; 64] {
        let r = sha512(&[b"raw nonce", self.secret.as_bytes(), message]);
        let big_r = (EdwardsPoint::mul_base(&r) + r_torsion)
            .compress()
            .to_bytes();
        let k = sha512(&[&big_r, &self.public, message]);
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    fn case(&self, message: &[u8], r_torsion: EdwardsPoint) -> Case {
        Case {
            key: self.public,
            message: message.to_vec(),
            signature: self.sign(message, r_torsion),
        }
    }
}

fn identity() -> EdwardsPoint {
    EdwardsPoint::identity()
}

fn honest(seed: usize, message: &[u8]) -> Case {
    let keypair = Keypair::dev(&format!("batch-vectors-{}", seed % 7));
    Case {
        key: keypair.account().0,
        message: message.to_vec(),
        signature: keypair.sign(message).0,
    }
}

fn honest_cases(count: usize) -> Vec<Case> {
    (0..count)
        .map(|i| honest(i, format!("honest {i}").as_bytes()))
        .collect()
}

/// The order of a point of the 8-torsion subgroup.
fn torsion_order(point: &EdwardsPoint) -> u32 {
    let mut multiple = *point;
    for order in 1..=8 {
        if multiple == identity() {
            return order;
        }
        multiple += point;
    }
    panic!("not a torsion point")
}

/// The 8 small-order points: the 8 canonical encodings, then the 6
/// non-canonical ones (`y + p` where that fits, and "negative zero" `x`).
const SMALL_ORDER_ENCODINGS: [&str; 14] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

fn small_order_encodings() -> Vec<[u8; 32]> {
    SMALL_ORDER_ENCODINGS.iter().map(|text| hex(text)).collect()
}

/// Grinds messages `"{label} {i}"` until `accept(case)` holds; panics after
/// `tries` attempts (each case here succeeds with probability >= 1/8).
fn grind(
    tries: usize,
    label: &str,
    mut make: impl FnMut(&[u8]) -> Case,
    accept: impl Fn(&Case) -> bool,
) -> Case {
    for i in 0..tries {
        let case = make(format!("{label} {i}").as_bytes());
        if accept(&case) {
            return case;
        }
    }
    panic!("no {label} case in {tries} tries");
}

fn raw_batch_accepts(cases: &[Case]) -> bool {
    let messages: Vec<&[u8]> = cases.iter().map(|case| case.message.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> = cases
        .iter()
        .map(|case| ed25519_dalek::Signature::from_bytes(&case.signature))
        .collect();
    let Ok(keys) = cases
        .iter()
        .map(|case| VerifyingKey::from_bytes(&case.key))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

// ---------------------------------------------------------------------------
// Fixed vectors.

#[test]
fn small_order_encodings_cover_the_eight_torsion_points() {
    let canonical: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|point| point.compress().to_bytes())
        .collect();
    let encodings = small_order_encodings();
    for (i, bytes) in encodings.iter().enumerate() {
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .unwrap_or_else(|| panic!("encoding {i} decompresses"));
        assert!(point.is_small_order(), "encoding {i}");
        let reencoded = point.compress().to_bytes();
        assert!(canonical.contains(&reencoded), "encoding {i}");
        assert_eq!(
            reencoded == *bytes,
            i < 8,
            "encodings 0..8 are the canonical ones"
        );
        let key = VerifyingKey::from_bytes(bytes).expect("small-order keys decode");
        assert!(key.is_weak(), "encoding {i}");
    }
    for point in canonical {
        assert!(encodings[..8].contains(&point));
    }
}

#[test]
fn small_order_keys_are_rejected() {
    let encodings = small_order_encodings();
    let mut cases = Vec::new();
    for (i, key) in encodings.iter().enumerate() {
        // R small order and s = 0: passes the cofactored equation for any
        // message, and the cofactorless one when R = -[k]A.
        for r in &encodings {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(r);
            cases.push(Case {
                key: *key,
                message: format!("small key {i}").into_bytes(),
                signature,
            });
        }
        // Someone else's valid signature, transplanted.
        let donor = honest(i, b"donor");
        cases.push(Case {
            key: *key,
            message: donor.message,
            signature: donor.signature,
        });
    }
    let verdicts = check(&cases);
    assert!(verdicts.iter().all(|valid| !valid));
}

#[test]
fn small_order_r_is_rejected_even_where_the_cofactored_equation_holds() {
    let signer = RawSigner::new("small R", identity());
    let mut cases = Vec::new();
    for (i, r) in small_order_encodings().iter().enumerate() {
        // s = k·a makes [s]B - [k]A the identity, so [8]P = [8]R = 0.
        let message = format!("small R {i}").into_bytes();
        let k = sha512(&[r, &signer.public, &message]);
        let s = k * signer.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(r);
        signature[32..].copy_from_slice(s.as_bytes());
        cases.push(Case {
            key: signer.public,
            message,
            signature,
        });
    }
    cases.extend(honest_cases(5));
    let verdicts = check(&cases);
    assert_eq!(verdicts.iter().filter(|valid| **valid).count(), 5);
}

#[test]
fn non_canonical_s_is_rejected() {
    let mut cases = Vec::new();
    for (i, base) in honest_cases(4).into_iter().enumerate() {
        let s: [u8; 32] = base.signature[32..].try_into().unwrap();
        let mut plus = s;
        for _ in 1..=15 {
            plus = add_le(&plus, &ELL);
            let mut case = base.clone();
            case.signature[32..].copy_from_slice(&plus);
            cases.push(case);
        }
        // s = ℓ and s = 2^256 - 1.
        let mut case = base.clone();
        case.signature[32..].copy_from_slice(&ELL);
        cases.push(case);
        let mut case = base.clone();
        case.signature[32..].copy_from_slice(&[0xff; 32]);
        cases.push(case);
        assert!(base.strict(), "honest case {i} is valid");
        cases.push(base);
    }
    let verdicts = check(&cases);
    assert_eq!(verdicts.iter().filter(|valid| **valid).count(), 4);
}

#[test]
fn non_canonical_r_is_rejected() {
    // y + p for the points with y < 19 that exist, with either sign bit.
    let mut cases = Vec::new();
    let mut large_order_points = 0;
    for y in 0u8..19 {
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        let Some(point) = CompressedEdwardsY(canonical).decompress() else {
            continue;
        };
        large_order_points += usize::from(!point.is_small_order());
        for sign in [0u8, 0x80] {
            let mut non_canonical = [0xffu8; 32];
            non_canonical[0] = 0xed + y;
            non_canonical[31] = 0x7f | sign;
            let decoded = CompressedEdwardsY(non_canonical)
                .decompress()
                .expect("y + p decodes like y");
            assert_ne!(decoded.compress().to_bytes(), non_canonical);
            for (i, base) in honest_cases(3).into_iter().enumerate() {
                let mut case = base;
                case.signature[..32].copy_from_slice(&non_canonical);
                case.message = format!("non-canonical R {y} {sign} {i}").into_bytes();
                cases.push(case);
            }
        }
    }
    assert!(
        large_order_points > 0,
        "some y < 19 has a large-order point"
    );
    cases.extend(honest_cases(3));
    let verdicts = check(&cases);
    assert_eq!(verdicts.iter().filter(|valid| **valid).count(), 3);
}

#[test]
fn mixed_order_keys_agree_with_strict() {
    let mut cases = honest_cases(10);
    for (index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let signer = RawSigner::new(&format!("mixed key {index}"), *torsion);
        let key = VerifyingKey::from_bytes(&signer.public).unwrap();
        assert!(!key.is_weak());
        assert!(!key.to_edwards().is_torsion_free());
        // Strict accepts iff [k]T = 0, i.e. k ≡ 0 mod the order of T.
        let label = format!("mixed key {index}");
        let accepted = grind(200, &label, |m| signer.case(m, identity()), Case::strict);
        let rejected = grind(200, &label, |m| signer.case(m, identity()), |c| !c.strict());
        cases.push(accepted);
        cases.push(rejected);
        for i in 0..6 {
            cases.push(signer.case(format!("{label} extra {i}").as_bytes(), identity()));
        }
    }
    let verdicts = check(&cases);
    assert!(verdicts.iter().any(|valid| *valid));
    assert!(verdicts.iter().any(|valid| !valid));
}

#[test]
fn mixed_order_r_and_key_that_cancel_are_accepted() {
    // A = [a]B + T, R = [r]B + T': strict accepts iff T' + [k]T = 0.
    let mut cases = honest_cases(3);
    for index in [1, 2, 4] {
        let torsion = EIGHT_TORSION[index];
        let signer = RawSigner::new(&format!("cancel {index}"), torsion);
        for (r_index, r_torsion) in EIGHT_TORSION.iter().copied().enumerate().skip(1) {
            let label = format!("cancel {index} {r_index}");
            let found = (0..400).find_map(|i| {
                let case = signer.case(format!("{label} {i}").as_bytes(), r_torsion);
                case.strict().then_some(case)
            });
            // Only possible when T' is in the subgroup T generates.
            if let Some(case) = found {
                cases.push(case);
            }
            cases.push(signer.case(label.as_bytes(), r_torsion));
        }
    }
    let verdicts = check(&cases);
    assert!(verdicts.iter().filter(|valid| **valid).count() > 3 + 3);
}

#[test]
fn raw_batch_verification_accepts_what_strict_rejects_but_verify_all_does_not() {
    // R = [r]B + T with T of order 2: P = T, so strict always rejects, while
    // verify_batch accepts whenever the hashed coefficient z is even.
    let order_two = EIGHT_TORSION[4];
    assert_eq!(torsion_order(&order_two), 2);
    let signer = RawSigner::new("mixed R", identity());
    let context = honest_cases(3);
    let bad_r = grind(
        64,
        "mixed R",
        |m| signer.case(m, order_two),
        |case| {
            let mut batch = context.clone();
            batch.push(case.clone());
            raw_batch_accepts(&batch)
        },
    );
    assert!(!bad_r.strict());

    // A = [a]B + T and an honest R: P = [k]T; strict rejects when k is odd.
    let mixed_key = RawSigner::new("mixed A", order_two);
    let bad_a = grind(
        64,
        "mixed A",
        |m| mixed_key.case(m, identity()),
        |case| !case.strict() && raw_batch_accepts(std::slice::from_ref(case)),
    );

    // Exactly the batches verify_batch was seen to accept (each fits in one
    // chunk, so a verifier that batched these items would accept them too).
    let mut with_context = context.clone();
    with_context.push(bad_r.clone());
    assert_eq!(check(&with_context), vec![true, true, true, false]);
    assert_eq!(check(std::slice::from_ref(&bad_a)), vec![false]);

    let mut cases = context;
    cases.push(bad_r);
    cases.push(bad_a);
    cases.extend(honest_cases(300));
    let verdicts = check(&cases);
    assert_eq!(verdicts.iter().filter(|valid| !**valid).count(), 2);
}

#[test]
fn speccheck_vectors() {
    // "Taming the many EdDSAs", cases 0..=11 (message, public key, signature).
    const CASES: [(&str, &str, &str); 12] = [
        ("8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000"),
        ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
        ("aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e"),
        ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"),
        ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"),
        ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405"),
        ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514"),
        ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22"),
        ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f"),
        ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"),
        ("e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
        ("39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
    ];
    let cases: Vec<Case> = CASES
        .iter()
        .map(|(message, key, signature)| Case {
            key: hex(key),
            message: hex::decode(message).unwrap(),
            signature: hex(signature),
        })
        .collect();
    // ed25519-dalek's verify_strict accepts only case 3 (mixed-order A and R
    // whose torsion parts cancel); the speccheck results table agrees.
    let verdicts = check(&cases);
    let accepted: Vec<usize> = (0..12).filter(|i| verdicts[*i]).collect();
    assert_eq!(accepted, vec![3]);
    // Each vector alone, and each inside a batch of honest signatures.
    for (i, case) in cases.iter().enumerate() {
        check(std::slice::from_ref(case));
        let mut batch = honest_cases(70);
        batch.insert(i * 5, case.clone());
        check(&batch);
    }
}

#[test]
fn empty_single_and_large_batches() {
    assert_eq!(check(&[]), Vec::<bool>::new());
    assert_eq!(check(&honest_cases(1)), vec![true]);
    let mut bad = honest_cases(1);
    bad[0].message.push(0);
    assert_eq!(check(&bad), vec![false]);

    let all = honest_cases(1000);
    for size in [2, 63, 64, 65, 127, 128, 129, 1000] {
        let batch = &all[..size];
        assert!(check(batch).iter().all(|valid| *valid), "size {size}");
        let mut positions = vec![0, size / 2, size - 1];
        positions.dedup();
        for position in positions {
            let mut bad = batch.to_vec();
            bad[position].signature[40] ^= 0x10;
            let verdicts = check(&bad);
            let invalid: Vec<usize> = (0..size).filter(|i| !verdicts[*i]).collect();
            assert_eq!(invalid, vec![position], "size {size}");
        }
    }
    // Several bad signatures, two in one 128-item chunk.
    let mut bad = all.clone();
    for position in [3, 100, 500, 999] {
        bad[position].message[0] ^= 1;
    }
    let verdicts = check(&bad);
    let invalid: Vec<usize> = (0..1000).filter(|i| !verdicts[*i]).collect();
    assert_eq!(invalid, vec![3, 100, 500, 999]);
}

// ---------------------------------------------------------------------------
// Property tests over random mixes.

/// A pool of signatures of every kind above, built once.
fn pool() -> &'static [Case] {
    static POOL: OnceLock<Vec<Case>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = honest_cases(24);
        let encodings = small_order_encodings();
        for (i, key) in encodings.iter().enumerate().step_by(3) {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&encodings[(i + 5) % encodings.len()]);
            pool.push(Case {
                key: *key,
                message: b"pool small key".to_vec(),
                signature,
            });
        }
        for (index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            let mixed_key = RawSigner::new(&format!("pool key {index}"), *torsion);
            let honest_key = RawSigner::new(&format!("pool honest {index}"), identity());
            for i in 0..4 {
                let message = format!("pool {index} {i}").into_bytes();
                pool.push(mixed_key.case(&message, identity()));
                pool.push(mixed_key.case(&message, EIGHT_TORSION[(index * 3) % 8]));
                pool.push(honest_key.case(&message, *torsion));
            }
            let label = format!("pool key {index}");
            pool.push(grind(
                200,
                &label,
                |m| mixed_key.case(m, identity()),
                Case::strict,
            ));
        }
        let mut non_canonical_s = honest(1, b"pool s");
        let s: [u8; 32] = non_canonical_s.signature[32..].try_into().unwrap();
        non_canonical_s.signature[32..].copy_from_slice(&add_le(&s, &ELL));
        pool.push(non_canonical_s);
        pool
    })
}

#[derive(Debug, Clone)]
enum Pick {
    Pool(usize),
    /// A pool case with one bit of its signature, key or message flipped.
    Flipped(usize, usize),
}

fn picks() -> impl Strategy<Value = Vec<Pick>> {
    let n = pool().len();
    prop::collection::vec(
        prop_oneof![
            4 => (0..n).prop_map(Pick::Pool),
            1 => (0..n, 0usize..(96 * 8 + 8)).prop_map(|(i, bit)| Pick::Flipped(i, bit)),
        ],
        0..200,
    )
}

fn materialize(picks: &[Pick]) -> Vec<Case> {
    picks
        .iter()
        .map(|pick| match pick {
            Pick::Pool(i) => pool()[*i].clone(),
            Pick::Flipped(i, bit) => {
                let mut case = pool()[*i].clone();
                let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
                match byte {
                    0..=63 => case.signature[byte] ^= mask,
                    64..=95 => case.key[byte - 64] ^= mask,
                    _ => match case.message.first_mut() {
                        Some(first) => *first ^= mask,
                        None => case.message.push(mask),
                    },
                }
                case
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Transactions: verify_txs against check_tx_signatures.

/// Who signs: a dev key, or a raw signer whose key may be of mixed order.
#[derive(Debug, Clone)]
enum Signer {
    Dev(usize),
    Raw(usize),
}

/// What is done to a signature.
#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    FlipBit(usize),
    /// A raw signer signs with `R = [r]B + T` (valid but for T); a dev
    /// signature gets T added to its R.
    TorsionR(usize),
    NonCanonicalS,
    Zero,
}

fn raw_signers() -> &'static [RawSigner] {
    static SIGNERS: OnceLock<Vec<RawSigner>> = OnceLock::new();
    SIGNERS.get_or_init(|| {
        EIGHT_TORSION
            .iter()
            .enumerate()
            .map(|(i, torsion)| RawSigner::new(&format!("tx signer {i}"), *torsion))
            .collect()
    })
}

impl Signer {
    fn account(&self) -> Account {
        match self {
            Signer::Dev(i) => Keypair::dev(&format!("tx dev {i}")).account(),
            Signer::Raw(i) => Account(raw_signers()[*i].public),
        }
    }

    fn sign(&self, message: &[u8], damage: Damage) -> Signature {
        let mut signature = match (self, damage) {
            (Signer::Raw(i), Damage::TorsionR(t)) => {
                raw_signers()[*i].sign(message, EIGHT_TORSION[t])
            }
            (Signer::Raw(i), _) => raw_signers()[*i].sign(message, identity()),
            (Signer::Dev(i), _) => Keypair::dev(&format!("tx dev {i}")).sign(message).0,
        };
        match damage {
            Damage::FlipBit(bit) => signature[bit / 8] ^= 1 << (bit % 8),
            Damage::TorsionR(t) if matches!(self, Signer::Dev(_)) => {
                // Without the dev key's expanded secret, add T to R after
                // signing: invalid under every verification equation.
                let r = CompressedEdwardsY(signature[..32].try_into().unwrap())
                    .decompress()
                    .expect("a dev signature's R decodes");
                signature[..32].copy_from_slice((r + EIGHT_TORSION[t]).compress().as_bytes());
            }
            Damage::NonCanonicalS => {
                let s: [u8; 32] = signature[32..].try_into().unwrap();
                signature[32..].copy_from_slice(&add_le(&s, &ELL));
            }
            Damage::Zero => signature = [0; 64],
            Damage::None | Damage::TorsionR(_) => {}
        }
        Signature(signature)
    }
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![
        3 => (0usize..6).prop_map(Signer::Dev),
        2 => (0usize..8).prop_map(Signer::Raw),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => (0usize..512).prop_map(Damage::FlipBit),
        1 => (1usize..8).prop_map(Damage::TorsionR),
        1 => Just(Damage::NonCanonicalS),
        1 => Just(Damage::Zero),
    ]
}

#[derive(Debug, Clone)]
enum BodySpec {
    Transfer,
    SetDevice,
    Claim(Vec<(Signer, u64, Damage)>),
}

fn body() -> impl Strategy<Value = BodySpec> {
    prop_oneof![
        1 => Just(BodySpec::Transfer),
        1 => Just(BodySpec::SetDevice),
        4 => prop::collection::vec((signer(), 1u64..1_000, damage()), 0..10).prop_map(BodySpec::Claim),
    ]
}

fn build_tx(genesis_hash: &Hash, from: &Signer, nonce: u64, spec: &BodySpec, damage: Damage) -> Tx {
    let from_account = from.account();
    let body = match spec {
        BodySpec::Transfer => TxBody::Transfer {
            to: Keypair::dev("tx recipient").account(),
            amount: 5,
        },
        BodySpec::SetDevice => TxBody::SetDevice {
            device: Keypair::dev("tx device").account(),
            active: true,
        },
        BodySpec::Claim(receipts) => TxBody::Claim {
            receipts: receipts
                .iter()
                .enumerate()
                .map(|(session, (consumer, bytes, damage))| {
                    let consumer_account = consumer.account();
                    let session = session as u64;
                    let message = signing::receipt_signing_bytes(
                        genesis_hash,
                        &from_account,
                        &consumer_account,
                        session,
                        *bytes,
                    );
                    Receipt {
                        provider: from_account,
                        consumer: consumer_account,
                        session,
                        bytes: *bytes,
                        signature: consumer.sign(&message, *damage),
                    }
                })
                .collect(),
        },
    };
    let message = signing::tx_signing_bytes(genesis_hash, &from_account, nonce, &body);
    Tx {
        from: from_account,
        nonce,
        signature: from.sign(&message, damage),
        body,
    }
}

fn tx_specs() -> impl Strategy<Value = Vec<(Signer, u64, BodySpec, Damage)>> {
    prop::collection::vec((signer(), 0u64..3, body(), damage()), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn verify_all_matches_strict_on_random_mixes(picks in picks()) {
        check(&materialize(&picks));
    }

    #[test]
    fn verify_txs_matches_check_tx_signatures(specs in tx_specs(), wrong_chain in any::<bool>()) {
        let genesis_hash = Hash([7; 32]);
        let signing_hash = if wrong_chain { Hash([8; 32]) } else { genesis_hash };
        let mut txs: Vec<Tx> = specs
            .iter()
            .map(|(from, nonce, body, damage)| build_tx(&signing_hash, from, *nonce, body, *damage))
            .collect();
        // Sometimes one tx signed for this chain among others signed for another.
        if wrong_chain && !txs.is_empty() {
            let (from, nonce, body, damage) = &specs[0];
            txs[0] = build_tx(&genesis_hash, from, *nonce, body, *damage);
        }
        let expected: Vec<Result<(), _>> = txs
            .iter()
            .map(|tx| check_tx_signatures(&genesis_hash, tx))
            .collect();
        prop_assert_eq!(&as_tx_errors(batch::verify_txs(&genesis_hash, &txs)), &expected);
        for (name, verifier) in verifiers() {
            prop_assert_eq!(
                &as_tx_errors(verifier.verify_txs(&genesis_hash, &txs)),
                &expected,
                "{}",
                name
            );
        }
    }
}

/// Batch results in the state transition's terms, to compare them with
/// `check_tx_signatures`.
fn as_tx_errors(
    results: Vec<Result<(), bwchain_core::primitives::signing::SignatureError>>,
) -> Vec<Result<(), bwchain_core::execute::TxError>> {
    results
        .into_iter()
        .map(|result| result.map_err(Into::into))
        .collect()
}

#[test]
fn verify_txs_reports_the_first_bad_receipt_like_check_tx_signatures() {
    let genesis_hash = Hash([3; 32]);
    let provider = Signer::Dev(0);
    let receipts: Vec<(Signer, u64, Damage)> = (0..6)
        .map(|i| {
            let damage = if i == 2 || i == 4 {
                Damage::FlipBit(3)
            } else {
                Damage::None
            };
            (Signer::Dev(1 + i % 3), 10 + i as u64, damage)
        })
        .collect();
    let good = build_tx(
        &genesis_hash,
        &provider,
        0,
        &BodySpec::Claim(receipts.clone()),
        Damage::None,
    );
    let bad_sender = build_tx(
        &genesis_hash,
        &provider,
        1,
        &BodySpec::Claim(receipts),
        Damage::Zero,
    );
    let transfer = build_tx(
        &genesis_hash,
        &Signer::Dev(2),
        0,
        &BodySpec::Transfer,
        Damage::None,
    );
    let txs = vec![good.clone(), bad_sender.clone(), transfer];
    let results = as_tx_errors(batch::verify_txs(&genesis_hash, &txs));
    let TxBody::Claim { receipts } = &good.body else {
        unreachable!()
    };
    assert_eq!(
        results,
        vec![
            Err(bwchain_core::execute::TxError::BadReceiptSignature {
                index: 2,
                consumer: receipts[2].consumer,
            }),
            Err(bwchain_core::execute::TxError::BadSignature {
                from: bad_sender.from
            }),
            Ok(()),
        ]
    );
    for (tx, result) in txs.iter().zip(&results) {
        assert_eq!(&check_tx_signatures(&genesis_hash, tx), result);
    }
}

//! Building ed25519 edge cases, and the oracle of the v2 signature rule
//! (DESIGN.md §1), shared by `batch_vectors.rs` and `vectors.rs`.
//!
//! The oracle is independent of `bwchain_core::primitives::verify`: key
//! admissibility through curve25519-dalek's decompress-then-recompress and
//! `is_small_order`, and the signature through ed25519-zebra 4 (ZIP-215).

#![allow(dead_code)]

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use sha2::{Digest, Sha512};

/// Whether `key` is admissible: the canonical encoding of a point that is
/// not of small order.
pub fn oracle_admissible(key: &[u8; 32]) -> bool {
    CompressedEdwardsY(*key)
        .decompress()
        .is_some_and(|point| point.compress().to_bytes() == *key && !point.is_small_order())
}

/// What ed25519-zebra 4 says of a signature alone (ZIP-215, no
/// admissibility).
pub fn zip215(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    ed25519_zebra::VerificationKey::try_from(*key).is_ok_and(|key| {
        key.verify(&ed25519_zebra::Signature::from_bytes(signature), message)
            .is_ok()
    })
}

/// The v2 rule, from the oracle's pieces.
pub fn oracle(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    oracle_admissible(key) && zip215(key, message, signature)
}

/// ed25519-zebra's batch verification of all the items (OS randomness for
/// its coefficients, as its API wants; tests only).
pub fn zebra_batch<'a>(
    items: impl IntoIterator<Item = (&'a [u8; 32], &'a [u8], &'a [u8; 64])>,
) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for (key, message, signature) in items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(*key),
            ed25519_zebra::Signature::from_bytes(signature),
            message,
        ));
    }
    batch.verify(rand_core::OsRng).is_ok()
}

pub fn hex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).expect("valid hex of the right length");
    out
}

pub fn sha512(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

/// ℓ, the order of the base point, little-endian.
pub const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` on 256-bit little-endian integers (no reduction; must not overflow).
pub fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
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

pub fn identity() -> EdwardsPoint {
    EdwardsPoint::identity()
}

/// The 8 small-order points: the 8 canonical encodings, then the 6
/// non-canonical ones (`y + p` where that fits, and "negative zero" `x`).
pub const SMALL_ORDER_ENCODINGS: [&str; 14] = [
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

pub fn small_order_encodings() -> Vec<[u8; 32]> {
    SMALL_ORDER_ENCODINGS.iter().map(|text| hex(text)).collect()
}

/// A signer with an arbitrary secret scalar, whose public key may carry a
/// torsion component: `A = [a]B + torsion`.
#[derive(Debug, Clone)]
pub struct RawSigner {
    pub secret: Scalar,
    pub public: [u8; 32],
}

impl RawSigner {
    pub fn new(seed: &str, torsion: EdwardsPoint) -> Self {
        let secret = sha512(&[b"raw signer", seed.as_bytes()]);
        let public = (EdwardsPoint::mul_base(&secret) + torsion)
            .compress()
            .to_bytes();
        Self { secret, public }
    }

    /// Signs `message` the RFC 8032 way but with `R = [r]B + r_torsion`.
    pub fn sign(&self, message: &[u8], r_torsion: EdwardsPoint) -> [u8; 64] {
        let r = sha512(&[b"raw nonce", self.secret.as_bytes(), message]);
        let big_r = (EdwardsPoint::mul_base(&r) + r_torsion)
            .compress()
            .to_bytes();
        self.sign_with_r(message, &big_r, r)
    }

    /// `(R_bytes, S = r + k·a)` with `k` hashed over `R_bytes` as given.
    pub fn sign_with_r(&self, message: &[u8], r_bytes: &[u8; 32], r: Scalar) -> [u8; 64] {
        let k = sha512(&[r_bytes, &self.public, message]);
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    /// A signature whose `R` is the small-order point encoded by `r_bytes`
    /// (canonically or not) and `S = k·a`: `[S]B − R − [k]A = −R` (plus
    /// `A`'s torsion times k), which the cofactor kills. `k` is hashed over
    /// `k_bytes`: `r_bytes` itself (ZIP-215) or another encoding.
    pub fn sign_small_r(&self, message: &[u8], r_bytes: &[u8; 32], k_bytes: &[u8; 32]) -> [u8; 64] {
        let k = sha512(&[k_bytes, &self.public, message]);
        let s = k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }
}

/// The order of a point of the 8-torsion subgroup.
pub fn torsion_order(point: &EdwardsPoint) -> u32 {
    let mut multiple = *point;
    for order in 1..=8 {
        if multiple == identity() {
            return order;
        }
        multiple += point;
    }
    panic!("not a torsion point")
}

/// A torsion point of each order: 1, 2, 4, 8.
pub fn torsion_of_order(order: u32) -> EdwardsPoint {
    *EIGHT_TORSION
        .iter()
        .find(|point| torsion_order(point) == order)
        .expect("the 8-torsion has points of orders 1, 2, 4 and 8")
}

/// The RFC 8032 §7.1 test vectors 1-3 (secret seed, public key, message,
/// signature): honest signatures from the reference implementation.
pub const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

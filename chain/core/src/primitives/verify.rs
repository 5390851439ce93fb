//! The signature rule, v2 (DESIGN.md §1): admissible keys, single
//! verification and exact batch verification, written directly on
//! curve25519-dalek.
//!
//! # The rule
//!
//! A signature `(R, S)` by key `A` on message `M` is valid iff
//!
//! 1. `A` is an [admissible key](AdmissibleKey): the 32 bytes are the
//!    canonical encoding of a curve point (`y < p`, and not `x = 0` with the
//!    sign bit set) and that point is not of small order (`[8]A ≠ 0`);
//! 2. `R` decodes to a curve point (non-canonical encodings allowed);
//! 3. `S < ℓ`;
//! 4. `[8]([S]B − R − [k]A) = 0` with `k = SHA-512(R_bytes || A_bytes || M)
//!    mod ℓ` over the bytes as given.
//!
//! 2–4 are ZIP-215; `ed25519-zebra` 4 implements them and is the oracle the
//! tests hold this module to. 1 is ours: under the cofactored equation
//! anyone can sign for a small-order key, so such keys never verify, and
//! `execute` and `genesis` refuse them wherever they would gain rights or
//! funds.
//!
//! # Batches
//!
//! [`verify_batch`] checks `[8]·Σ zᵢ(Rᵢ + [kᵢ]Aᵢ − [Sᵢ]B) = 0` for 128-bit
//! coefficients `zᵢ`. Each `Pᵢ = Rᵢ + [kᵢ]Aᵢ − [Sᵢ]B` has `[8]Pᵢ` in the
//! prime-order subgroup, and a signature is valid iff `[8]Pᵢ = 0`. If some
//! `[8]Pⱼ ≠ 0`, the sum vanishes for at most one value of `zⱼ` mod ℓ given
//! the others, so a batch holding an invalid signature passes with
//! probability at most 2⁻¹²⁸ over `zⱼ`. Batch and single verification
//! therefore accept exactly the same signatures, whatever the torsion
//! components of `A` and `R` (the cofactor kills them in both), and nodes
//! may batch in any grouping without ever disagreeing. Keys repeated in a
//! batch are coalesced: their `zᵢkᵢ` are summed into one coefficient.

use std::collections::BTreeMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// Why 32 bytes are not an admissible ed25519 key. The messages complete
/// "KEY is not an admissible ed25519 key: ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `y >= p`, or `x = 0` with the sign bit set: another encoding of a
    /// point that has a canonical one.
    #[error("not canonical (y >= p, or x = 0 with the sign bit set)")]
    NotCanonical,
    /// No curve point has this `y`.
    #[error("not the encoding of a curve point")]
    NotAPoint,
    /// `[8]A` is the identity: anyone can sign for it under the cofactored
    /// equation.
    #[error("small order (anyone can sign for a small-order key)")]
    SmallOrder,
}

/// The domain tag of the batch coefficients' transcript.
const BATCH_DOMAIN: &[u8] = b"bwchain/batch-verify/v2";

/// Whether `bytes` is the canonical encoding of a field element `y` and a
/// sign bit: `y < p = 2^255 - 19`, and not "negative zero", the sign bit
/// set on `x = 0` (whose points are `y = 1` and `y = p - 1`). Says nothing
/// about whether a point has this `y`.
pub fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    // y >= p iff bits 8..255 of y are all ones and its low byte >= 0xed.
    let top_all_ones = bytes[1..31].iter().all(|byte| *byte == 0xff) && bytes[31] & 0x7f == 0x7f;
    if top_all_ones && bytes[0] >= 0xed {
        return false;
    }
    let sign = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    !(sign && (y == one || y == minus_one))
}

/// A public key that passed the admissibility check, decompressed. Cheap
/// to copy; [`crate::primitives::batch::BatchVerifier`] caches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissibleKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl AdmissibleKey {
    /// Checks admissibility (DESIGN.md §1) and decompresses.
    pub fn new(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_canonical_encoding(bytes) {
            return Err(KeyError::NotCanonical);
        }
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or(KeyError::NotAPoint)?;
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        Ok(Self {
            bytes: *bytes,
            point,
        })
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Single verification under the v2 rule.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        Prepared::new(self, message, signature).is_some_and(|prepared| prepared.verify_single())
    }
}

/// Single verification under the v2 rule: [`AdmissibleKey::new`], then
/// [`AdmissibleKey::verify`].
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    AdmissibleKey::new(public_key).is_ok_and(|key| key.verify(message, signature))
}

/// A signature whose `S` is canonical and whose `R` decodes, with its
/// challenge `k` computed: ready for the single or the batch equation.
/// Building one is the part of verification that does not depend on the
/// rest of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Prepared<'k> {
    key: &'k AdmissibleKey,
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl<'k> Prepared<'k> {
    /// `None` when `S >= ℓ` or `R` is not a curve point: the signature is
    /// invalid whatever the equation.
    pub fn new(key: &'k AdmissibleKey, message: &[u8], signature: &[u8; 64]) -> Option<Self> {
        let (r_bytes, s_bytes) = signature.split_at(32);
        let r_bytes: [u8; 32] = r_bytes.try_into().expect("R is 32 bytes");
        let s_bytes: [u8; 32] = s_bytes.try_into().expect("S is 32 bytes");
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        let mut hasher = Sha512::new();
        hasher.update(r_bytes);
        hasher.update(key.bytes);
        hasher.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hasher.finalize().into());
        Some(Self {
            key,
            r_bytes,
            r,
            s,
            k,
        })
    }

    /// `[8]([S]B − R − [k]A) = 0`.
    pub fn verify_single(&self) -> bool {
        let r_prime =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.key.point, &self.s);
        (self.r - r_prime).mul_by_cofactor().is_identity()
    }
}

/// Whether every item is valid, by the cofactored batch equation (see the
/// module documentation); `true` for an empty batch. Exactly
/// `items.iter().all(Prepared::verify_single)` but for a chance of at most
/// 2⁻¹²⁸ per batch, whoever chose the items.
///
/// # The coefficients
///
/// The `zᵢ` are derived from a hash of the whole batch, not drawn from an
/// RNG: `seed = SHA-512(tag || n || Σ (Aᵢ || Rᵢ || Sᵢ || kᵢ))` commits to
/// every input of the equation (`kᵢ` commits to the message), and
/// `z_{4j..4j+3}` are the four 16-byte quarters of `SHA-512(seed || j)`.
/// That keeps the core pure (no OS randomness; every node and every rerun
/// computes the same thing) while keeping the coefficients unpredictable to
/// signers: changing any item changes every `zᵢ`, so slipping an invalid
/// signature through means finding, one hash per try, a batch whose
/// coefficients hit a 2⁻¹²⁸ event. This is what ed25519-dalek's
/// `verify_batch` does with its merlin transcript, without the extra
/// dependency.
pub fn verify_batch(items: &[Prepared<'_>]) -> bool {
    let coefficients = batch_coefficients(items);
    // Distinct keys in order of first appearance, each with its summed
    // coefficient Σ zᵢkᵢ.
    let mut key_index: BTreeMap<&[u8; 32], usize> = BTreeMap::new();
    let mut key_points: Vec<EdwardsPoint> = Vec::new();
    let mut key_coefficients: Vec<Scalar> = Vec::new();
    let mut b_coefficient = Scalar::ZERO;
    for (item, z) in items.iter().zip(&coefficients) {
        b_coefficient -= z * item.s;
        let index = *key_index.entry(&item.key.bytes).or_insert_with(|| {
            key_points.push(item.key.point);
            key_coefficients.push(Scalar::ZERO);
            key_points.len() - 1
        });
        key_coefficients[index] += z * item.k;
    }
    let scalars = std::iter::once(&b_coefficient)
        .chain(&key_coefficients)
        .chain(&coefficients);
    let points = std::iter::once(&ED25519_BASEPOINT_POINT)
        .chain(&key_points)
        .chain(items.iter().map(|item| &item.r));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// The 128-bit `zᵢ` of [`verify_batch`], as scalars.
fn batch_coefficients(items: &[Prepared<'_>]) -> Vec<Scalar> {
    let mut transcript = Sha512::new();
    transcript.update(BATCH_DOMAIN);
    transcript.update((items.len() as u64).to_le_bytes());
    for item in items {
        transcript.update(item.key.bytes);
        transcript.update(item.r_bytes);
        transcript.update(item.s.as_bytes());
        transcript.update(item.k.as_bytes());
    }
    let seed = transcript.finalize();
    let mut coefficients = Vec::with_capacity(items.len());
    for block in 0..items.len().div_ceil(4) as u64 {
        let mut hasher = Sha512::new();
        hasher.update(seed);
        hasher.update(block.to_le_bytes());
        let output = hasher.finalize();
        for quarter in output.chunks_exact(16) {
            if coefficients.len() == items.len() {
                break;
            }
            let mut bytes = [0u8; 32];
            bytes[..16].copy_from_slice(quarter);
            coefficients.push(Scalar::from_bytes_mod_order(bytes));
        }
    }
    coefficients
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;

    fn key_bytes(seed: u8) -> [u8; 32] {
        EdwardsPoint::mul_base(&Scalar::from(u64::from(seed) + 2))
            .compress()
            .to_bytes()
    }

    #[test]
    fn canonical_encoding_matches_recompression() {
        // Every y within 40 of 0 and of p, both signs, and random-ish bytes:
        // where the bytes decode, canonical iff decompress-then-compress
        // gives the bytes back.
        let mut samples = Vec::new();
        for delta in 0u8..40 {
            let mut low = [0u8; 32];
            low[0] = delta;
            let mut high = [0xffu8; 32];
            high[31] = 0x7f;
            high[0] = 0xff - delta;
            samples.push(low);
            samples.push(high);
        }
        for seed in 0..40 {
            samples.push(key_bytes(seed));
        }
        let mut decoded = 0;
        for mut bytes in samples {
            for sign in [0, 0x80] {
                bytes[31] = (bytes[31] & 0x7f) | sign;
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    decoded += 1;
                    assert_eq!(
                        is_canonical_encoding(&bytes),
                        point.compress().to_bytes() == bytes,
                        "{}",
                        hex::encode(bytes)
                    );
                }
            }
        }
        assert!(decoded > 80);
    }

    #[test]
    fn admissibility() {
        for point in EIGHT_TORSION {
            let bytes = point.compress().to_bytes();
            assert_eq!(AdmissibleKey::new(&bytes), Err(KeyError::SmallOrder));
            // A prime-order point plus torsion is admissible (mixed order).
            let mixed = (EdwardsPoint::mul_base(&Scalar::from(5u8)) + point)
                .compress()
                .to_bytes();
            assert!(AdmissibleKey::new(&mixed).is_ok());
        }
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        assert_eq!(AdmissibleKey::new(&y2), Err(KeyError::NotAPoint));
        let mut negative_zero = [0u8; 32];
        negative_zero[0] = 1;
        negative_zero[31] = 0x80;
        assert_eq!(
            AdmissibleKey::new(&negative_zero),
            Err(KeyError::NotCanonical)
        );
        assert!(AdmissibleKey::new(&key_bytes(1)).is_ok());
    }

    #[test]
    fn coefficients_depend_on_every_item() {
        let keys: Vec<AdmissibleKey> = (0..3)
            .map(|i| AdmissibleKey::new(&key_bytes(i)).unwrap())
            .collect();
        let signature = {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&key_bytes(9));
            bytes
        };
        let items: Vec<Prepared<'_>> = keys
            .iter()
            .map(|key| Prepared::new(key, b"m", &signature).unwrap())
            .collect();
        let all = batch_coefficients(&items);
        assert_eq!(all.len(), 3);
        assert_ne!(all[0], all[1]);
        let fewer = batch_coefficients(&items[..2]);
        assert_ne!(all[..2], fewer[..]);
        let other = Prepared::new(&keys[2], b"n", &signature).unwrap();
        let changed = batch_coefficients(&[items[0], items[1], other]);
        assert_ne!(all[0], changed[0]);
        assert!(verify_batch(&[]));
    }
}

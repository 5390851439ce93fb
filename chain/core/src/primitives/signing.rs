//! The exact signed bytes (DESIGN.md §1-4), signing, verification under the
//! v2 rule (see [`super::verify`]) and key files.
//!
//! Every signature covers a domain tag and the chain's genesis hash, so a
//! signature is never valid on another chain or for another purpose.

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use super::bytes::{Account, Hash, Signature};
use super::codec::legacy;
use super::hash::{sha256, DEV_KEY_DOMAIN, RECEIPT_DOMAIN, TX_DOMAIN};
use super::types::{Receipt, Tx, TxBody};
pub use super::verify::KeyError;

/// Which signature of a transaction is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The sender's signature over the transaction.
    #[error("bad signature: the transaction is not signed by {from} for this chain")]
    Sender { from: Account },
    /// A consumer's signature over receipt `index` of a claim.
    #[error("bad receipt signature: receipt {index} is not signed by its consumer {consumer} for this chain")]
    Receipt { index: usize, consumer: Account },
}

/// The bytes a consumer signs for a receipt.
pub fn receipt_signing_bytes(
    genesis_hash: &Hash,
    provider: &Account,
    consumer: &Account,
    session: u64,
    bytes: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECEIPT_DOMAIN.len() + 32 * 3 + 16);
    out.extend_from_slice(RECEIPT_DOMAIN);
    out.extend_from_slice(&genesis_hash.0);
    out.extend_from_slice(&provider.0);
    out.extend_from_slice(&consumer.0);
    out.extend_from_slice(&session.to_le_bytes());
    out.extend_from_slice(&bytes.to_le_bytes());
    out
}

/// The bytes the sender of a transaction signs.
pub fn tx_signing_bytes(genesis_hash: &Hash, from: &Account, nonce: u64, body: &TxBody) -> Vec<u8> {
    let mut out = Vec::with_capacity(TX_DOMAIN.len() + 32 * 2 + 8 + 64);
    out.extend_from_slice(TX_DOMAIN);
    out.extend_from_slice(&genesis_hash.0);
    out.extend_from_slice(&from.0);
    out.extend_from_slice(&nonce.to_le_bytes());
    bincode::encode_into_std_write(body, &mut out, legacy())
        .expect("encoding into a Vec cannot fail");
    out
}

/// `tx_hash = SHA-256(signed bytes || signature)`.
pub fn tx_hash(genesis_hash: &Hash, tx: &Tx) -> Hash {
    let mut bytes = tx_signing_bytes(genesis_hash, &tx.from, tx.nonce, &tx.body);
    bytes.extend_from_slice(&tx.signature.0);
    sha256(&bytes)
}

/// Whether `account` is an admissible key (DESIGN.md §1): the canonical
/// encoding of a curve point that is not of small order. Keys that are not
/// are refused wherever they would gain rights or funds.
///
/// The verdicts are remembered (a process-wide bounded cache): every
/// transaction's sender and every receipt's devices are checked on
/// admission and again in each block that carries them, and a check
/// decompresses a point.
pub fn check_admissible(account: &Account) -> Result<(), KeyError> {
    super::batch::check_admissible_cached(&account.0)
}

/// Signature verification under the v2 rule (DESIGN.md §1): the key is
/// admissible and ZIP-215's cofactored equation holds. See [`super::verify`].
pub fn verify(account: &Account, message: &[u8], signature: &Signature) -> bool {
    super::verify::verify(&account.0, message, &signature.0)
}

pub fn verify_receipt(genesis_hash: &Hash, receipt: &Receipt) -> bool {
    let message = receipt_signing_bytes(
        genesis_hash,
        &receipt.provider,
        &receipt.consumer,
        receipt.session,
        receipt.bytes,
    );
    verify(&receipt.consumer, &message, &receipt.signature)
}

pub fn verify_tx_signature(genesis_hash: &Hash, tx: &Tx) -> bool {
    let message = tx_signing_bytes(genesis_hash, &tx.from, tx.nonce, &tx.body);
    verify(&tx.from, &message, &tx.signature)
}

/// An ed25519 signing key with its account.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.account())
    }
}

impl Keypair {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The dev key NAME: seed `SHA-256("bwchain-dev/" || NAME)`. Never for
    /// real networks: anyone can derive it.
    pub fn dev(name: &str) -> Self {
        let mut bytes = DEV_KEY_DOMAIN.to_vec();
        bytes.extend_from_slice(name.as_bytes());
        Self::from_seed(sha256(&bytes).0)
    }

    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn account(&self) -> Account {
        Account(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// Signs, as the consumer, a receipt for `bytes` received from `provider`.
    pub fn sign_receipt(
        &self,
        genesis_hash: &Hash,
        provider: Account,
        session: u64,
        bytes: u64,
    ) -> Receipt {
        let consumer = self.account();
        let message = receipt_signing_bytes(genesis_hash, &provider, &consumer, session, bytes);
        Receipt {
            provider,
            consumer,
            session,
            bytes,
            signature: self.sign(&message),
        }
    }

    /// Signs a transaction from this key's account.
    pub fn sign_tx(&self, genesis_hash: &Hash, nonce: u64, body: TxBody) -> Tx {
        let from = self.account();
        let message = tx_signing_bytes(genesis_hash, &from, nonce, &body);
        let signature = self.sign(&message);
        Tx {
            from,
            nonce,
            body,
            signature,
        }
    }
}

/// The JSON form of a key file: `{"public_key": hex, "secret_key": hex}`,
/// where the secret key is the 32-byte seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub public_key: Account,
    pub secret_key: Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file is not valid JSON of the form {{\"public_key\", \"secret_key\"}}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("public_key {found} does not belong to secret_key (expected {expected})")]
    Mismatch { expected: Account, found: Account },
}

impl KeyFile {
    pub fn from_keypair(keypair: &Keypair) -> Self {
        Self {
            public_key: keypair.account(),
            secret_key: Hash(keypair.seed()),
        }
    }

    /// Parses a key file and checks that its public key matches its seed.
    pub fn parse(text: &str) -> Result<Keypair, KeyFileError> {
        let file: KeyFile = serde_json::from_str(text)?;
        let keypair = Keypair::from_seed(file.secret_key.0);
        if keypair.account() != file.public_key {
            return Err(KeyFileError::Mismatch {
                expected: keypair.account(),
                found: file.public_key,
            });
        }
        Ok(keypair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::codec::{decode, encode, DecodeError};
    use crate::primitives::Header;

    #[test]
    fn signing_bytes_layout() {
        let g = Hash([9; 32]);
        let bytes = receipt_signing_bytes(&g, &Account([1; 32]), &Account([2; 32]), 3, 4);
        assert_eq!(bytes.len(), 18 + 32 * 3 + 16);
        assert_eq!(&bytes[..18], b"bwchain/receipt/v1");
        assert_eq!(&bytes[18 + 96..18 + 104], &3u64.to_le_bytes());

        let body = TxBody::Transfer {
            to: Account([5; 32]),
            amount: 6,
        };
        let bytes = tx_signing_bytes(&g, &Account([1; 32]), 2, &body);
        // tag 13 + genesis 32 + from 32 + nonce 8 + variant u32 + to 32 + amount 8
        assert_eq!(bytes.len(), 13 + 32 + 32 + 8 + 4 + 32 + 8);
        assert_eq!(&bytes[85..89], &1u32.to_le_bytes());
    }

    #[test]
    fn claim_body_uses_u64_length_prefix() {
        let body = TxBody::Claim { receipts: vec![] };
        assert_eq!(encode(&body), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let body = TxBody::SetDevice {
            device: Account([7; 32]),
            active: true,
        };
        let bytes = encode(&body);
        assert_eq!(bytes.len(), 4 + 32 + 1);
        assert_eq!(bytes[36], 1);
    }

    #[test]
    fn sign_and_verify() {
        let alice = Keypair::dev("alice");
        let g = Hash([1; 32]);
        let tx = alice.sign_tx(
            &g,
            0,
            TxBody::Transfer {
                to: Keypair::dev("bob").account(),
                amount: 1,
            },
        );
        assert!(verify_tx_signature(&g, &tx));
        assert!(!verify_tx_signature(&Hash([2; 32]), &tx), "other chain");
        let mut tampered = tx.clone();
        tampered.nonce = 1;
        assert!(!verify_tx_signature(&g, &tampered));
        // The identity point is a small-order key: the cofactored equation
        // holds for R = identity and S = 0 on any message, but the key is
        // not admissible, so verification refuses it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        assert_eq!(
            check_admissible(&Account(identity)),
            Err(KeyError::SmallOrder)
        );
        assert!(!verify(&Account(identity), b"x", &Signature(signature)));
    }

    #[test]
    fn decode_rejects_trailing_and_garbage() {
        let header = Header {
            height: 1,
            slot: 2,
            timestamp_ms: 3,
            parent: Hash([4; 32]),
            proposer: Account([5; 32]),
            tx_root: Hash([6; 32]),
            state_root: Hash([7; 32]),
        };
        let mut bytes = encode(&header);
        assert_eq!(bytes.len(), 8 * 3 + 32 * 4);
        assert_eq!(decode::<Header>(&bytes).unwrap(), header);
        bytes.push(0);
        assert!(matches!(
            decode::<Header>(&bytes),
            Err(DecodeError::Trailing { trailing: 1 })
        ));
        assert!(decode::<Header>(&bytes[..10]).is_err());
        // A huge claimed Vec length must fail cleanly, not allocate.
        let mut claim = vec![0u8; 4];
        claim.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<TxBody>(&claim).is_err());
    }

    #[test]
    fn key_file_round_trip_and_mismatch() {
        let kp = Keypair::dev("carol");
        let text = serde_json::to_string(&KeyFile::from_keypair(&kp)).unwrap();
        assert_eq!(KeyFile::parse(&text).unwrap().account(), kp.account());
        let mut file = KeyFile::from_keypair(&kp);
        file.public_key = Keypair::dev("dave").account();
        let text = serde_json::to_string(&file).unwrap();
        assert!(matches!(
            KeyFile::parse(&text),
            Err(KeyFileError::Mismatch { .. })
        ));
    }
}

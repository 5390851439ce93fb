//! How a [`StoredBlock`] is laid out on disk. Nothing here is hashed,
//! signed or sent: the block hash, tx hashes and signed bytes are those of
//! the consensus encoding, recomputed from what is decoded (a block record
//! is checked against the hash it is filed under).
//!
//! The consensus encoding of a claim repeats, in every receipt, the provider
//! (which is the claim's sender) and, in every receipt's outcome, the
//! consumer and session (which are the receipt's). The stored form drops
//! those copies, names each consumer by its store-wide number (the
//! [`Accounts`] table: a consumer's 32-byte key is stored once, not in
//! every receipt it signs), and writes integers as varints (bincode's
//! `standard` configuration): a 64-receipt claim's receipt takes about 80
//! bytes with its outcome instead of 200, 64 of them its signature. A
//! transaction that does not fit that shape (not a claim, or a claim whose
//! receipts name another provider or whose outcome does not follow its
//! receipts) is kept whole.

use std::collections::HashMap;

use bincode::{Decode, Encode};

use bwchain_core::primitives::codec::{DecodeError, MAX_DECODE_BYTES};
use bwchain_core::primitives::{
    Account, Block, Hash, Header, Receipt, ReceiptOutcome, Reward, Signature, Tx, TxBody, TxOutcome,
};

use super::StoredBlock;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::NoLimit,
>;

fn config() -> Config {
    bincode::config::standard()
}

#[derive(Encode, Decode)]
struct CompactBlock {
    /// First, so that [`decode_header`] reads only it.
    header: Header,
    signature: Signature,
    txs: Vec<CompactTx>,
    rewards: Vec<Reward>,
    minted: u64,
}

#[derive(Encode, Decode)]
struct CompactTx {
    from: Account,
    nonce: u64,
    signature: Signature,
    hash: Hash,
    body: CompactBody,
}

#[derive(Encode, Decode)]
enum CompactBody {
    /// A claim whose receipts all name `from` as provider, with its
    /// outcome, whose receipt outcomes follow the receipts one for one.
    Claim {
        receipts: Vec<CompactReceipt>,
        provider_reward: u64,
    },
    /// Any other transaction, with its outcome, as it is.
    Whole { body: TxBody, outcome: TxOutcome },
}

#[derive(Encode, Decode)]
struct CompactReceipt {
    /// The consumer's number in [`Accounts`].
    consumer: u32,
    session: u64,
    bytes: u64,
    signature: Signature,
    credited_bytes: u64,
    forfeited_bytes: u64,
}

/// A claim's receipts and outcome in the compact shape, if they fit it.
fn compact_claim(
    from: &Account,
    receipts: &[Receipt],
    outcome: &TxOutcome,
    accounts: &mut Accounts,
    new: &mut Vec<Account>,
) -> Option<CompactBody> {
    let TxOutcome::Claim {
        receipts: outcomes,
        provider_reward,
    } = outcome
    else {
        return None;
    };
    if outcomes.len() != receipts.len() {
        return None;
    }
    let fits = receipts.iter().zip(outcomes).all(|(receipt, outcome)| {
        receipt.provider == *from
            && receipt.consumer == outcome.consumer
            && receipt.session == outcome.session
    });
    if !fits {
        return None;
    }
    let receipts = receipts
        .iter()
        .zip(outcomes)
        .map(|(receipt, outcome)| {
            let consumer = accounts.number(receipt.consumer, new);
            CompactReceipt {
                consumer,
                session: receipt.session,
                bytes: receipt.bytes,
                signature: receipt.signature,
                credited_bytes: outcome.credited_bytes,
                forfeited_bytes: outcome.forfeited_bytes,
            }
        })
        .collect();
    Some(CompactBody::Claim {
        receipts,
        provider_reward: *provider_reward,
    })
}

/// The store-wide numbers of the accounts that consumers' receipts name:
/// account `n` is stored under `N` + n (u32 BE). Numbers are handed out in
/// order and never taken back (a reverted block's consumers keep theirs).
#[derive(Default)]
pub(super) struct Accounts {
    by_number: Vec<Account>,
    numbers: HashMap<Account, u32>,
}

impl Accounts {
    /// The number of `account`, handing out the next one (and adding the
    /// account to `new`) when it has none.
    fn number(&mut self, account: Account, new: &mut Vec<Account>) -> u32 {
        if let Some(number) = self.numbers.get(&account) {
            return *number;
        }
        let number = u32::try_from(self.by_number.len()).expect("fewer than 2^32 accounts");
        self.by_number.push(account);
        self.numbers.insert(account, number);
        new.push(account);
        number
    }

    pub(super) fn len(&self) -> usize {
        self.by_number.len()
    }

    /// Adds the account stored under `number`, which must be the next one.
    pub(super) fn push(&mut self, number: u32, account: Account) -> Result<(), DecodeError> {
        if usize::try_from(number).ok() != Some(self.by_number.len()) {
            return Err(DecodeError::Malformed(format!(
                "account number {number} where {} was next",
                self.by_number.len()
            )));
        }
        self.by_number.push(account);
        self.numbers.insert(account, number);
        Ok(())
    }

    fn account(&self, number: u32) -> Result<Account, DecodeError> {
        usize::try_from(number)
            .ok()
            .and_then(|i| self.by_number.get(i))
            .copied()
            .ok_or_else(|| {
                DecodeError::Malformed(format!(
                    "account number {number} of {} known",
                    self.by_number.len()
                ))
            })
    }
}

/// The stored form of `stored`, numbering its consumers in `accounts`; the
/// accounts numbered now are added to `new`, to be stored with the block.
/// A block whose tx hashes or outcomes do not pair with its transactions
/// (never made by this node) is refused, so that what is stored always
/// decodes to what was given.
pub(super) fn encode(
    stored: &StoredBlock,
    accounts: &mut Accounts,
    new: &mut Vec<Account>,
) -> Vec<u8> {
    let txs = &stored.block.txs;
    assert!(
        stored.tx_hashes.len() == txs.len() && stored.outcomes.len() == txs.len(),
        "a stored block has one tx hash and one outcome per transaction"
    );
    let txs = txs
        .iter()
        .zip(&stored.tx_hashes)
        .zip(&stored.outcomes)
        .map(|((tx, hash), outcome)| {
            let compact = match &tx.body {
                TxBody::Claim { receipts } => {
                    compact_claim(&tx.from, receipts, outcome, accounts, new)
                }
                _ => None,
            };
            CompactTx {
                from: tx.from,
                nonce: tx.nonce,
                signature: tx.signature,
                hash: *hash,
                body: compact.unwrap_or_else(|| CompactBody::Whole {
                    body: tx.body.clone(),
                    outcome: outcome.clone(),
                }),
            }
        })
        .collect();
    let compact = CompactBlock {
        header: stored.block.header.clone(),
        signature: stored.block.signature,
        txs,
        rewards: stored.rewards.clone(),
        minted: stored.minted,
    };
    bincode::encode_to_vec(&compact, config()).expect("encoding into a Vec cannot fail")
}

/// The block stored as `bytes` (bounded like every decoder of outside input).
pub(super) fn decode(bytes: &[u8], accounts: &Accounts) -> Result<StoredBlock, DecodeError> {
    if bytes.len() > MAX_DECODE_BYTES {
        return Err(DecodeError::TooLarge {
            limit: MAX_DECODE_BYTES,
            found: bytes.len(),
        });
    }
    let limited = config().with_limit::<MAX_DECODE_BYTES>();
    let (compact, read): (CompactBlock, usize) = bincode::decode_from_slice(bytes, limited)
        .map_err(|err| DecodeError::Malformed(err.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError::Trailing {
            trailing: bytes.len() - read,
        });
    }
    let mut txs = Vec::with_capacity(compact.txs.len());
    let mut tx_hashes = Vec::with_capacity(compact.txs.len());
    let mut outcomes = Vec::with_capacity(compact.txs.len());
    for tx in compact.txs {
        let (body, outcome) = match tx.body {
            CompactBody::Whole { body, outcome } => (body, outcome),
            CompactBody::Claim {
                receipts: compact_receipts,
                provider_reward,
            } => {
                let mut receipts = Vec::with_capacity(compact_receipts.len());
                let mut receipt_outcomes = Vec::with_capacity(compact_receipts.len());
                for receipt in compact_receipts {
                    let consumer = accounts.account(receipt.consumer)?;
                    receipts.push(Receipt {
                        provider: tx.from,
                        consumer,
                        session: receipt.session,
                        bytes: receipt.bytes,
                        signature: receipt.signature,
                    });
                    receipt_outcomes.push(ReceiptOutcome {
                        consumer,
                        session: receipt.session,
                        credited_bytes: receipt.credited_bytes,
                        forfeited_bytes: receipt.forfeited_bytes,
                    });
                }
                (
                    TxBody::Claim { receipts },
                    TxOutcome::Claim {
                        receipts: receipt_outcomes,
                        provider_reward,
                    },
                )
            }
        };
        txs.push(Tx {
            from: tx.from,
            nonce: tx.nonce,
            body,
            signature: tx.signature,
        });
        tx_hashes.push(tx.hash);
        outcomes.push(outcome);
    }
    Ok(StoredBlock {
        block: Block {
            header: compact.header,
            signature: compact.signature,
            txs,
        },
        tx_hashes,
        outcomes,
        rewards: compact.rewards,
        minted: compact.minted,
    })
}

/// The header of the block stored as `bytes`, without decoding the rest.
pub(super) fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let limited = config().with_limit::<MAX_DECODE_BYTES>();
    bincode::decode_from_slice(bytes, limited)
        .map(|(header, _)| header)
        .map_err(|err| DecodeError::Malformed(err.to_string()))
}

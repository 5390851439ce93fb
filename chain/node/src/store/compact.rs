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

use bwchain_core::primitives::codec::{self, DecodeError, MAX_DECODE_BYTES};
use bwchain_core::primitives::{
    Account, Block, Hash, Header, Receipt, ReceiptOutcome, Reward, Signature, Tx, TxBody, TxOutcome,
};

use bwchain_core::state::{SessionId, StateKey, StateValue};

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
            let consumer = accounts.number(receipt.consumer);
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

/// The store-wide numbers of the accounts that stored receipts and session
/// entries name: account `n` is stored under `N` + n (u32 BE). Numbers are
/// handed out in order and never taken back (a reverted block's consumers
/// keep theirs).
#[derive(Default)]
pub(super) struct Accounts {
    by_number: Vec<Account>,
    numbers: HashMap<Account, u32>,
    /// How many of them are stored (or in a batch being applied): a
    /// number handed out in a commit that failed is stored by the next.
    stored: usize,
}

impl Accounts {
    /// The number of `account`, handing out the next one when it has none.
    fn number(&mut self, account: Account) -> u32 {
        if let Some(number) = self.numbers.get(&account) {
            return *number;
        }
        let number = u32::try_from(self.by_number.len()).expect("fewer than 2^32 accounts");
        self.by_number.push(account);
        self.numbers.insert(account, number);
        number
    }

    pub(super) fn len(&self) -> usize {
        self.by_number.len()
    }

    /// The numbers handed out that are not stored yet, with their accounts.
    pub(super) fn unstored(&self) -> impl Iterator<Item = (u32, &Account)> + '_ {
        (self.stored..)
            .zip(&self.by_number[self.stored..])
            .map(|(number, account)| {
                (
                    u32::try_from(number).expect("fewer than 2^32 accounts"),
                    account,
                )
            })
    }

    /// Records that the first `count` numbers are stored.
    pub(super) fn mark_stored(&mut self, count: usize) {
        self.stored = self.stored.max(count);
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

    pub(super) fn account(&self, number: u32) -> Result<Account, DecodeError> {
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

/// The stored form of `stored`, numbering its consumers in `accounts` (the
/// caller stores the accounts numbered now with the block). A block whose
/// tx hashes or outcomes do not pair with its transactions (never made by
/// this node) is refused, so that what is stored always decodes to what
/// was given.
pub(super) fn encode(stored: &StoredBlock, accounts: &mut Accounts) -> Vec<u8> {
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
                TxBody::Claim { receipts } => compact_claim(&tx.from, receipts, outcome, accounts),
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

/// Session counters, one per receipt ever credited, are most of the state:
/// they are stored under `Q` + provider number + consumer number (u32 BE
/// each) + session (u64 BE), 17 bytes instead of the 77 of `S` + the
/// consensus encoding of the key, with the value as a varint. Every other
/// entry stays under `S`.
const SESSION_KEY_LEN: usize = 1 + 4 + 4 + 8;

fn session_key(provider: u32, consumer: u32, session: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(SESSION_KEY_LEN);
    key.push(super::SESSION);
    key.extend_from_slice(&provider.to_be_bytes());
    key.extend_from_slice(&consumer.to_be_bytes());
    key.extend_from_slice(&session.to_be_bytes());
    key
}

/// Where `state_key` is stored, numbering the accounts it names if needed.
pub(super) fn entry_key(accounts: &mut Accounts, state_key: &StateKey) -> Vec<u8> {
    match state_key {
        StateKey::Session(id) => session_key(
            accounts.number(id.provider),
            accounts.number(id.consumer),
            id.session,
        ),
        other => super::state_key(other),
    }
}

/// Where `state_key` is stored, or `None` when it cannot be (an account it
/// names has no number): then it is absent.
pub(super) fn find_entry_key(accounts: &Accounts, state_key: &StateKey) -> Option<Vec<u8>> {
    match state_key {
        StateKey::Session(id) => Some(session_key(
            *accounts.numbers.get(&id.provider)?,
            *accounts.numbers.get(&id.consumer)?,
            id.session,
        )),
        other => Some(super::state_key(other)),
    }
}

/// The key of an entry stored under `Q`.
pub(super) fn decode_session_key(
    accounts: &Accounts,
    stored_key: &[u8],
) -> Result<StateKey, DecodeError> {
    if stored_key.len() != SESSION_KEY_LEN {
        return Err(DecodeError::Malformed(format!(
            "a session key of {} bytes",
            stored_key.len()
        )));
    }
    let number = |at: usize| {
        let bytes: [u8; 4] = stored_key[at..at + 4].try_into().expect("4 bytes");
        accounts.account(u32::from_be_bytes(bytes))
    };
    let session: [u8; 8] = stored_key[9..17].try_into().expect("8 bytes");
    Ok(StateKey::Session(SessionId {
        provider: number(1)?,
        consumer: number(5)?,
        session: u64::from_be_bytes(session),
    }))
}

/// A state value as stored: sessions' in bincode's `standard` layout,
/// the others' in the consensus encoding.
pub(super) fn encode_value(state_key: &StateKey, value: &StateValue) -> Vec<u8> {
    match state_key {
        StateKey::Session(_) => {
            bincode::encode_to_vec(value, config()).expect("encoding into a Vec cannot fail")
        }
        _ => codec::encode(value),
    }
}

pub(super) fn decode_value(state_key: &StateKey, bytes: &[u8]) -> Result<StateValue, DecodeError> {
    match state_key {
        StateKey::Session(_) => {
            let (value, read) = bincode::decode_from_slice(bytes, config())
                .map_err(|err| DecodeError::Malformed(err.to_string()))?;
            if read != bytes.len() {
                return Err(DecodeError::Trailing {
                    trailing: bytes.len() - read,
                });
            }
            Ok(value)
        }
        _ => codec::decode(bytes),
    }
}

//! The bincode *legacy* layout (fixed-width little-endian integers, raw
//! fixed arrays, u64 length prefixes, u32 enum tags) used for everything
//! that is hashed, signed, stored or sent to a peer; and the bounded decoder
//! for bytes that come from outside.

use bincode::{Decode, Encode};

/// The largest encoded value `decode` accepts. Blocks are the largest thing
/// we decode; `max_block_txs * max_receipts_per_claim` bounds their size well
/// below this in any sane genesis.
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn legacy() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::NoLimit,
> {
    bincode::config::legacy()
}

/// Encodes a value in bincode's legacy layout.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, legacy()).expect("encoding into a Vec cannot fail")
}

/// Errors from decoding bincode bytes that came from outside (disk or peer).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("input of {found} bytes exceeds the limit of {limit}")]
    TooLarge { limit: usize, found: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
    #[error("{trailing} trailing bytes after the value")]
    Trailing { trailing: usize },
}

/// Decodes a value in bincode's legacy layout, rejecting oversized input
/// and trailing bytes (one value has exactly one encoding).
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_DECODE_BYTES {
        return Err(DecodeError::TooLarge {
            limit: MAX_DECODE_BYTES,
            found: bytes.len(),
        });
    }
    let config = legacy().with_limit::<MAX_DECODE_BYTES>();
    let (value, read) = bincode::decode_from_slice(bytes, config)
        .map_err(|err| DecodeError::Malformed(err.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError::Trailing {
            trailing: bytes.len() - read,
        });
    }
    Ok(value)
}

/// Decodes a value from the start of `bytes`, ignoring what follows (for
/// reading the leading field of a larger stored record, e.g. a block's
/// header). Still bounded like [`decode`].
pub fn decode_prefix<T: Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    let config = legacy().with_limit::<MAX_DECODE_BYTES>();
    bincode::decode_from_slice(bytes, config)
        .map(|(value, _)| value)
        .map_err(|err| DecodeError::Malformed(err.to_string()))
}

//! The peer-to-peer wire protocol: messages and their framing.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of one
//! bincode-legacy [`Message`]. Frames over [`MAX_FRAME_BYTES`] are refused
//! before any of their body is read. The first frame each way is
//! [`Message::Hello`]; a peer on another chain or protocol version is
//! dropped at that point.

use bincode::{Decode, Encode};

use crate::finality::{Certificate, Checkpoint, FinalityProof, SignedVote};
use crate::genesis::MAX_BLOCK_BYTES;
use crate::primitives::codec::{self, DecodeError};
use crate::primitives::{Block, Hash, Tx};

/// Bumped on any incompatible change to [`Message`]. Version 2 added
/// finality votes, certificates and proofs (FINALITY.md §1.5).
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest frame: one block of the largest size a genesis allows, plus room
/// for the message around it.
pub const MAX_FRAME_BYTES: usize = MAX_BLOCK_BYTES as usize + 64 * 1024;
/// Most blocks asked for or sent in one sync message.
pub const MAX_BLOCKS_PER_MESSAGE: u32 = 128;
/// A `Blocks` reply stops adding blocks past this many bytes (one block may
/// exceed it on its own), so replies stay well under the frame limit.
pub const BLOCKS_REPLY_SOFT_BYTES: usize = 4 * 1024 * 1024;

/// The first message on a connection, both ways.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    pub version: u32,
    pub genesis_hash: Hash,
    pub head_height: u64,
    pub head_hash: Hash,
    /// The port this node accepts peers on, so the other side can tell
    /// operators where it is; 0 when it does not listen.
    pub listen_port: u16,
    /// Random per process, so a node notices when it dialed itself.
    pub nonce: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    Hello(Hello),
    /// The sender's head and finality, sent periodically.
    Status {
        head_height: u64,
        head_hash: Hash,
        justified: Checkpoint,
        finalized: Checkpoint,
    },
    /// A block the sender accepted onto its chosen chain.
    NewBlock(Block),
    /// A transaction the sender admitted to its mempool.
    NewTx(Tx),
    /// Blocks of the responder's chosen chain from `from_height` upwards.
    GetBlocks {
        from_height: u64,
        max: u32,
    },
    /// The block `hash` and up to `max - 1` of its ancestors.
    GetAncestors {
        hash: Hash,
        max: u32,
    },
    /// A reply to either request, lowest height first.
    Blocks(Vec<Block>),
    /// A finality vote (relayed once by each node that accepts it).
    Vote(SignedVote),
    /// Asks for the sender's latest finality proof and highest certificate.
    GetFinality,
    /// The answer to `GetFinality`.
    Finality {
        proof: Option<FinalityProof>,
        justified: Option<Certificate>,
    },
    /// Asks for the certificate that justified `target`.
    GetCertificate {
        target: Checkpoint,
    },
    /// A certificate: q signatures over one `source -> target`.
    Certificate(Certificate),
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Status { .. } => "status",
            Message::NewBlock(_) => "new_block",
            Message::NewTx(_) => "new_tx",
            Message::GetBlocks { .. } => "get_blocks",
            Message::GetAncestors { .. } => "get_ancestors",
            Message::Blocks(_) => "blocks",
            Message::Vote(_) => "vote",
            Message::GetFinality => "get_finality",
            Message::Finality { .. } => "finality",
            Message::GetCertificate { .. } => "get_certificate",
            Message::Certificate(_) => "certificate",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {found} bytes exceeds the limit of {limit}")]
    TooLarge { limit: usize, found: usize },
    #[error("undecodable frame: {0}")]
    Decode(#[from] DecodeError),
}

/// Encodes a message as one frame (length prefix included).
pub fn encode_frame(message: &Message) -> Result<Vec<u8>, FrameError> {
    let body = codec::encode(message);
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            limit: MAX_FRAME_BYTES,
            found: body.len(),
        });
    }
    let length = u32::try_from(body.len()).expect("frame limit fits u32");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Checks a frame's announced length before its body is read.
pub fn check_frame_length(length: u32) -> Result<usize, FrameError> {
    let length = length as usize;
    if length > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            limit: MAX_FRAME_BYTES,
            found: length,
        });
    }
    Ok(length)
}

/// Decodes a frame body (without its length prefix).
pub fn decode_message(body: &[u8]) -> Result<Message, FrameError> {
    Ok(codec::decode(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let message = Message::Status {
            head_height: 7,
            head_hash: Hash([3; 32]),
            justified: Checkpoint::genesis(Hash([1; 32])),
            finalized: Checkpoint::genesis(Hash([1; 32])),
        };
        let frame = encode_frame(&message).unwrap();
        let length = u32::from_be_bytes(frame[..4].try_into().unwrap());
        assert_eq!(check_frame_length(length).unwrap(), frame.len() - 4);
        assert_eq!(decode_message(&frame[4..]).unwrap(), message);
    }

    #[test]
    fn garbage_and_oversized_frames_are_errors() {
        assert!(matches!(
            check_frame_length(u32::MAX),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(decode_message(&[0xff; 16]).is_err());
        assert!(decode_message(&[]).is_err());
        // A Blocks message claiming 2^64-1 blocks must fail, not allocate.
        let mut lying = 6u32.to_le_bytes().to_vec();
        lying.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_message(&lying).is_err());
    }
}

//! BEP 9 `ut_metadata` messages: how peers hand each other a torrent's
//! info dictionary (the "metadata") in pieces of 16 KiB, so a client given
//! only a magnet link can join the swarm.
//!
//! A message is an extended message whose payload is a bencoded
//! dictionary — `msg_type` 0 (request), 1 (data) or 2 (reject), `piece`,
//! and for data `total_size` — followed, for data, by the piece's bytes.
//! Decoding never panics: anything else is a [`MetadataError`].

use bytes::Bytes;
use thiserror::Error;

use crate::bencode::{self, Limits, Owned};

/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const UT_METADATA: &str = "ut_metadata";
/// Bytes per metadata piece (the last one may be shorter).
pub const METADATA_PIECE_LEN: usize = 16 * 1024;
/// The largest info dictionary riffle accepts from a peer: a torrent of a
/// million pieces has 20 MB of piece hashes; a peer claiming more is not
/// believed (nothing is allocated for a claim, only for data received).
pub const MAX_METADATA_SIZE: u64 = 32 * 1024 * 1024;

/// Why a `ut_metadata` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// Not a bencoded dictionary (with trailing data for a data message).
    #[error("ut_metadata message is not a bencoded dictionary: {0}")]
    Bencode(String),
    /// A key is missing or of the wrong type.
    #[error("ut_metadata message lacks a valid {0}")]
    Missing(&'static str),
    /// A `msg_type` other than 0, 1 or 2.
    #[error("ut_metadata message type {0} is unknown")]
    UnknownType(i64),
    /// Trailing bytes on a request or reject.
    #[error("ut_metadata {0} carries trailing bytes")]
    Trailing(&'static str),
}

/// One `ut_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Send me metadata piece `piece`.
    Request {
        /// Piece index.
        piece: u32,
    },
    /// Metadata piece `piece` of an info dictionary of `total_size` bytes.
    Data {
        /// Piece index.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u64,
        /// The piece's bytes.
        data: Bytes,
    },
    /// I will not send piece `piece`.
    Reject {
        /// Piece index.
        piece: u32,
    },
}

impl MetadataMessage {
    /// Decode an extended message's payload.
    pub fn decode(payload: &Bytes) -> Result<MetadataMessage, MetadataError> {
        let limits = Limits {
            max_depth: 4,
            max_items: 64,
        };
        let (value, used) = bencode::decode_prefix(payload, limits)
            .map_err(|e| MetadataError::Bencode(e.to_string()))?;
        let dict = value
            .as_dict()
            .ok_or_else(|| MetadataError::Bencode("not a dictionary".into()))?;
        let int = |key: &'static str| {
            dict.get(key.as_bytes())
                .and_then(|v| v.as_int())
                .ok_or(MetadataError::Missing(key))
        };
        let piece = u32::try_from(int("piece")?).map_err(|_| MetadataError::Missing("piece"))?;
        let rest = payload.slice(used..);
        match int("msg_type")? {
            0 if rest.is_empty() => Ok(MetadataMessage::Request { piece }),
            0 => Err(MetadataError::Trailing("request")),
            1 => {
                let total_size = u64::try_from(int("total_size")?)
                    .map_err(|_| MetadataError::Missing("total_size"))?;
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data: rest,
                })
            }
            2 if rest.is_empty() => Ok(MetadataMessage::Reject { piece }),
            2 => Err(MetadataError::Trailing("reject")),
            other => Err(MetadataError::UnknownType(other)),
        }
    }

    /// The payload to send.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, piece) = match self {
            MetadataMessage::Request { piece } => (0, piece),
            MetadataMessage::Data { piece, .. } => (1, piece),
            MetadataMessage::Reject { piece } => (2, piece),
        };
        let mut d = Owned::dict([
            (&b"msg_type"[..], Owned::Int(kind)),
            (&b"piece"[..], Owned::Int(i64::from(*piece))),
        ]);
        if let MetadataMessage::Data { total_size, .. } = self {
            d.insert(
                b"total_size",
                Owned::Int(i64::try_from(*total_size).unwrap_or(i64::MAX)),
            );
        }
        let mut out = bencode::encode(&d);
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }
}

/// How many metadata pieces an info dictionary of `size` bytes has.
pub fn metadata_pieces(size: u64) -> u32 {
    u32::try_from(size.div_ceil(METADATA_PIECE_LEN as u64)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_the_wire_form() {
        for m in [
            MetadataMessage::Request { piece: 3 },
            MetadataMessage::Reject { piece: 0 },
            MetadataMessage::Data {
                piece: 1,
                total_size: 20_000,
                data: Bytes::from_static(b"d4:name1:ae"),
            },
        ] {
            let bytes = Bytes::from(m.encode());
            assert_eq!(MetadataMessage::decode(&bytes).unwrap(), m);
        }
        assert_eq!(
            MetadataMessage::Request { piece: 0 }.encode(),
            b"d8:msg_typei0e5:piecei0ee"
        );
        assert_eq!(metadata_pieces(16384), 1);
        assert_eq!(metadata_pieces(16385), 2);
        assert_eq!(metadata_pieces(0), 0);
    }

    #[test]
    fn refusals() {
        for bad in [
            &b""[..],
            b"le",
            b"d5:piecei0ee",
            b"d8:msg_typei0ee",
            b"d8:msg_typei7e5:piecei0ee",
            b"d8:msg_typei0e5:piecei-1ee",
            b"d8:msg_typei1e5:piecei0ee",
            b"d8:msg_typei0e5:piecei0eeXX",
            b"d8:msg_typei2e5:piecei0eeXX",
        ] {
            assert!(
                MetadataMessage::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MetadataMessage::decode(&Bytes::from(bytes));
        }
    }
}

//! Peer wire messages: BEP 3, the BEP 6 fast extension, and the BEP 10
//! extended envelope.
//!
//! Every message after the handshake is `<u32 length><u8 id><payload>`
//! (length 0 is a keep-alive). This module turns one frame body (`id` plus
//! payload, already cut out by [`super::framing`]) into a [`Message`] and
//! back. Decoding checks only the shape of each message (its exact length);
//! piece indices stay raw `u32`s because only the connection knows the
//! piece count ([`crate::peer`] validates them). Piece data and other
//! variable payloads are [`Bytes`] sliced from the read buffer, never
//! copied.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Message ids on the wire.
pub mod id {
    /// BEP 3: the sender will not serve requests.
    pub const CHOKE: u8 = 0;
    /// BEP 3: the sender will serve requests.
    pub const UNCHOKE: u8 = 1;
    /// BEP 3: the sender wants pieces from the receiver.
    pub const INTERESTED: u8 = 2;
    /// BEP 3: the sender no longer wants anything.
    pub const NOT_INTERESTED: u8 = 3;
    /// BEP 3: the sender now holds a piece.
    pub const HAVE: u8 = 4;
    /// BEP 3: every piece the sender holds.
    pub const BITFIELD: u8 = 5;
    /// BEP 3: ask for a block.
    pub const REQUEST: u8 = 6;
    /// BEP 3: a block of data.
    pub const PIECE: u8 = 7;
    /// BEP 3: withdraw a request.
    pub const CANCEL: u8 = 8;
    /// BEP 5: the sender's DHT port.
    pub const PORT: u8 = 9;
    /// BEP 6: a hint to download this piece.
    pub const SUGGEST_PIECE: u8 = 0x0D;
    /// BEP 6: the sender is a seed.
    pub const HAVE_ALL: u8 = 0x0E;
    /// BEP 6: the sender has nothing.
    pub const HAVE_NONE: u8 = 0x0F;
    /// BEP 6: a request will not be served.
    pub const REJECT_REQUEST: u8 = 0x10;
    /// BEP 6: this piece may be requested even while choked.
    pub const ALLOWED_FAST: u8 = 0x11;
    /// BEP 10: an extension message.
    pub const EXTENDED: u8 = 20;
    /// BEP 52: ask for a range of a file's merkle tree.
    pub const HASH_REQUEST: u8 = 21;
    /// BEP 52: the hashes asked for, with their proof.
    pub const HASHES: u8 = 22;
    /// BEP 52: a hash request will not be served.
    pub const HASH_REJECT: u8 = 23;
}

/// The range of a file's merkle tree a BEP 52 hash message names: the
/// file's pieces root, the layer (0: leaves), the first node and how many,
/// and how many layers of proof above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRange {
    /// The file's pieces root.
    pub root: [u8; 32],
    /// Layers above the leaves.
    pub base_layer: u32,
    /// First node in that layer.
    pub index: u32,
    /// Nodes asked for.
    pub length: u32,
    /// Layers of proof (ancestors' siblings) wanted.
    pub proof_layers: u32,
}

/// Bytes of a [`HashRange`] on the wire.
pub const HASH_RANGE_LEN: usize = 48;

impl HashRange {
    fn decode(id: u8, p: &[u8]) -> Result<HashRange, MessageError> {
        if p.len() < HASH_RANGE_LEN {
            return Err(MessageError::BadLength {
                id,
                got: p.len(),
                expected: HASH_RANGE_LEN,
            });
        }
        let mut root = [0u8; 32];
        root.copy_from_slice(&p[..32]);
        Ok(HashRange {
            root,
            base_layer: be_u32(p, 32),
            index: be_u32(p, 36),
            length: be_u32(p, 40),
            proof_layers: be_u32(p, 44),
        })
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.root);
        out.put_u32(self.base_layer);
        out.put_u32(self.index);
        out.put_u32(self.length);
        out.put_u32(self.proof_layers);
    }
}

/// Length of a PIECE frame before its data: length prefix, id, index, offset.
pub const PIECE_HEADER_LEN: usize = 13;

/// A block as named in REQUEST, CANCEL and REJECT REQUEST, not yet checked
/// against the torrent's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawBlock {
    /// Piece index as sent (may be past the end).
    pub piece: u32,
    /// Byte offset inside the piece.
    pub offset: u32,
    /// Number of bytes.
    pub length: u32,
}

/// One peer wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length frame: keeps an idle connection open.
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    /// The sender completed this piece.
    Have(u32),
    /// Raw bitfield bytes; their length is checked against the piece count
    /// by the connection.
    Bitfield(Bytes),
    Request(RawBlock),
    /// A block of data.
    Piece {
        piece: u32,
        offset: u32,
        data: Bytes,
    },
    Cancel(RawBlock),
    /// BEP 5: the sender's DHT port.
    Port(u16),
    SuggestPiece(u32),
    HaveAll,
    HaveNone,
    RejectRequest(RawBlock),
    AllowedFast(u32),
    /// BEP 10: `id` is 0 for the extended handshake, else the receiver's
    /// id for the extension (from the receiver's `m` dictionary).
    Extended {
        id: u8,
        payload: Bytes,
    },
    /// BEP 52: hashes asked for.
    HashRequest(HashRange),
    /// BEP 52: the hashes of a range (base nodes then proof, 32 bytes
    /// each, as raw bytes: a whole number of hashes).
    Hashes {
        range: HashRange,
        hashes: Bytes,
    },
    /// BEP 52: a hash request refused.
    HashReject(HashRange),
    /// A message id riffle does not know (private extensions). Framing keeps it so the connection can count and skip
    /// it instead of dropping a peer that speaks a newer dialect.
    Unknown {
        id: u8,
        payload: Bytes,
    },
}

/// Why a frame body is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// A message with a fixed size came with another size.
    #[error("message id {id} has a payload of {got} bytes, expected {expected}")]
    BadLength { id: u8, got: usize, expected: usize },
    /// A PIECE frame shorter than its 8-byte header.
    #[error("PIECE payload of {0} bytes is shorter than its 8-byte header")]
    ShortPiece(usize),
    /// An EXTENDED frame without its extension id byte.
    #[error("EXTENDED message without an extension id")]
    ShortExtended,
    /// A HASHES frame whose hashes are not whole 32-byte digests.
    #[error("HASHES message carries {0} bytes of hashes, not a multiple of 32")]
    RaggedHashes(usize),
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn fixed(id: u8, payload: &[u8], expected: usize) -> Result<(), MessageError> {
    if payload.len() == expected {
        Ok(())
    } else {
        Err(MessageError::BadLength {
            id,
            got: payload.len(),
            expected,
        })
    }
}

fn raw_block(id: u8, p: &[u8]) -> Result<RawBlock, MessageError> {
    fixed(id, p, 12)?;
    Ok(RawBlock {
        piece: be_u32(p, 0),
        offset: be_u32(p, 4),
        length: be_u32(p, 8),
    })
}

impl Message {
    /// Decode a frame body: the id byte followed by the payload. An empty
    /// body is a keep-alive. `body` is consumed so variable payloads can be
    /// sliced out of it without copying.
    pub fn decode(mut body: Bytes) -> Result<Message, MessageError> {
        if body.is_empty() {
            return Ok(Message::KeepAlive);
        }
        let id = body.split_to(1).first().copied().unwrap_or_default();
        let p = &body[..];
        let msg = match id {
            id::CHOKE => fixed(id, p, 0).map(|_| Message::Choke)?,
            id::UNCHOKE => fixed(id, p, 0).map(|_| Message::Unchoke)?,
            id::INTERESTED => fixed(id, p, 0).map(|_| Message::Interested)?,
            id::NOT_INTERESTED => fixed(id, p, 0).map(|_| Message::NotInterested)?,
            id::HAVE => fixed(id, p, 4).map(|_| Message::Have(be_u32(p, 0)))?,
            id::BITFIELD => Message::Bitfield(body),
            id::REQUEST => Message::Request(raw_block(id, p)?),
            id::PIECE => {
                if p.len() < 8 {
                    return Err(MessageError::ShortPiece(p.len()));
                }
                let piece = be_u32(p, 0);
                let offset = be_u32(p, 4);
                Message::Piece {
                    piece,
                    offset,
                    data: body.split_off(8),
                }
            }
            id::CANCEL => Message::Cancel(raw_block(id, p)?),
            id::PORT => {
                fixed(id, p, 2)?;
                Message::Port(u16::from_be_bytes([
                    p.first().copied().unwrap_or(0),
                    p.get(1).copied().unwrap_or(0),
                ]))
            }
            id::SUGGEST_PIECE => fixed(id, p, 4).map(|_| Message::SuggestPiece(be_u32(p, 0)))?,
            id::HAVE_ALL => fixed(id, p, 0).map(|_| Message::HaveAll)?,
            id::HAVE_NONE => fixed(id, p, 0).map(|_| Message::HaveNone)?,
            id::REJECT_REQUEST => Message::RejectRequest(raw_block(id, p)?),
            id::ALLOWED_FAST => fixed(id, p, 4).map(|_| Message::AllowedFast(be_u32(p, 0)))?,
            id::EXTENDED => {
                let ext = p.first().copied().ok_or(MessageError::ShortExtended)?;
                Message::Extended {
                    id: ext,
                    payload: body.split_off(1),
                }
            }
            id::HASH_REQUEST => {
                fixed(id, p, HASH_RANGE_LEN)?;
                Message::HashRequest(HashRange::decode(id, p)?)
            }
            id::HASH_REJECT => {
                fixed(id, p, HASH_RANGE_LEN)?;
                Message::HashReject(HashRange::decode(id, p)?)
            }
            id::HASHES => {
                let range = HashRange::decode(id, p)?;
                let hashes = body.split_off(HASH_RANGE_LEN);
                if !hashes.len().is_multiple_of(32) {
                    return Err(MessageError::RaggedHashes(hashes.len()));
                }
                Message::Hashes { range, hashes }
            }
            other => Message::Unknown {
                id: other,
                payload: body,
            },
        };
        Ok(msg)
    }

    /// The message id, `None` for a keep-alive.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::SuggestPiece(_) => id::SUGGEST_PIECE,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::RejectRequest(_) => id::REJECT_REQUEST,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::HashRequest(_) => id::HASH_REQUEST,
            Message::Hashes { .. } => id::HASHES,
            Message::HashReject(_) => id::HASH_REJECT,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// Length of the payload after the id byte.
    fn payload_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have(_) | Message::SuggestPiece(_) | Message::AllowedFast(_) => 4,
            Message::Port(_) => 2,
            Message::Request(_) | Message::Cancel(_) | Message::RejectRequest(_) => 12,
            Message::Bitfield(b) => b.len(),
            Message::Piece { data, .. } => 8 + data.len(),
            Message::Extended { payload, .. } => 1 + payload.len(),
            Message::HashRequest(_) | Message::HashReject(_) => HASH_RANGE_LEN,
            Message::Hashes { hashes, .. } => HASH_RANGE_LEN + hashes.len(),
            Message::Unknown { payload, .. } => payload.len(),
        }
    }

    /// Bytes this message takes on the wire, length prefix included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::KeepAlive => 4,
            m => 5 + m.payload_len(),
        }
    }

    /// Append the full frame (length prefix included) to `out`. For PIECE
    /// this copies the data; the connection uses [`write_piece_header`]
    /// instead and sends the data as its own chunk.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        let Some(msg_id) = self.id() else {
            out.put_u32(0);
            return;
        };
        // A payload over 4 GiB cannot be framed; saturate rather than wrap
        // (the receiver's length limit rejects it either way).
        let len = u32::try_from(1 + self.payload_len()).unwrap_or(u32::MAX);
        out.put_u32(len);
        out.put_u8(msg_id);
        match self {
            Message::Have(i) | Message::SuggestPiece(i) | Message::AllowedFast(i) => {
                out.put_u32(*i)
            }
            Message::Bitfield(b) => out.put_slice(b),
            Message::Request(b) | Message::Cancel(b) | Message::RejectRequest(b) => {
                out.put_u32(b.piece);
                out.put_u32(b.offset);
                out.put_u32(b.length);
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                out.put_u32(*piece);
                out.put_u32(*offset);
                out.put_slice(data);
            }
            Message::Port(p) => out.put_u16(*p),
            Message::Extended { id, payload } => {
                out.put_u8(*id);
                out.put_slice(payload);
            }
            Message::HashRequest(r) | Message::HashReject(r) => r.encode(out),
            Message::Hashes { range, hashes } => {
                range.encode(out);
                out.put_slice(hashes);
            }
            Message::Unknown { payload, .. } => out.put_slice(payload),
            _ => {}
        }
    }
}

/// Append the 13-byte header of a PIECE frame carrying `data_len` bytes, so
/// the data itself can follow as a separate buffer (vectored write, no copy).
pub fn write_piece_header(out: &mut BytesMut, piece: u32, offset: u32, data_len: u32) {
    out.reserve(PIECE_HEADER_LEN);
    out.put_u32(data_len.saturating_add(9));
    out.put_u8(id::PIECE);
    out.put_u32(piece);
    out.put_u32(offset);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw() -> impl Strategy<Value = RawBlock> {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(piece, offset, length)| RawBlock {
            piece,
            offset,
            length,
        })
    }

    fn payload() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
    }

    /// Any message the encoder can produce.
    pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            Just(Message::KeepAlive),
            Just(Message::Choke),
            Just(Message::Unchoke),
            Just(Message::Interested),
            Just(Message::NotInterested),
            any::<u32>().prop_map(Message::Have),
            payload().prop_map(Message::Bitfield),
            raw().prop_map(Message::Request),
            (any::<u32>(), any::<u32>(), payload()).prop_map(|(piece, offset, data)| {
                Message::Piece {
                    piece,
                    offset,
                    data,
                }
            }),
            raw().prop_map(Message::Cancel),
            any::<u16>().prop_map(Message::Port),
            any::<u32>().prop_map(Message::SuggestPiece),
            Just(Message::HaveAll),
            Just(Message::HaveNone),
            raw().prop_map(Message::RejectRequest),
            any::<u32>().prop_map(Message::AllowedFast),
            (any::<u8>(), payload()).prop_map(|(id, payload)| Message::Extended { id, payload }),
            range().prop_map(Message::HashRequest),
            range().prop_map(Message::HashReject),
            (range(), proptest::collection::vec(any::<[u8; 32]>(), 0..6)).prop_map(|(range, h)| {
                Message::Hashes {
                    range,
                    hashes: Bytes::from(h.concat()),
                }
            }),
            (24u8..=255, payload()).prop_map(|(id, payload)| Message::Unknown { id, payload }),
        ]
    }

    fn range() -> impl Strategy<Value = HashRange> {
        (any::<[u8; 32]>(), any::<[u32; 4]>()).prop_map(|(root, n)| HashRange {
            root,
            base_layer: n[0],
            index: n[1],
            length: n[2],
            proof_layers: n[3],
        })
    }

    fn body(frame: &[u8]) -> Bytes {
        Bytes::copy_from_slice(&frame[4..])
    }

    #[test]
    fn known_encodings() {
        let mut out = BytesMut::new();
        Message::Have(0x0102_0304).encode(&mut out);
        assert_eq!(&out[..], &[0, 0, 0, 5, 4, 1, 2, 3, 4]);
        out.clear();
        Message::Request(RawBlock {
            piece: 1,
            offset: 0x4000,
            length: 0x4000,
        })
        .encode(&mut out);
        assert_eq!(
            &out[..],
            &[0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
        );
        out.clear();
        Message::KeepAlive.encode(&mut out);
        assert_eq!(&out[..], &[0, 0, 0, 0]);
        out.clear();
        Message::HaveAll.encode(&mut out);
        assert_eq!(&out[..], &[0, 0, 0, 1, 0x0E]);
        out.clear();
        Message::Port(6881).encode(&mut out);
        assert_eq!(&out[..], &[0, 0, 0, 3, 9, 0x1A, 0xE1]);
    }

    #[test]
    fn piece_header_matches_full_encoding() {
        let data = Bytes::from_static(b"hello block");
        let mut full = BytesMut::new();
        Message::Piece {
            piece: 3,
            offset: 16384,
            data: data.clone(),
        }
        .encode(&mut full);
        let mut split = BytesMut::new();
        write_piece_header(&mut split, 3, 16384, data.len() as u32);
        assert_eq!(split.len(), PIECE_HEADER_LEN);
        split.extend_from_slice(&data);
        assert_eq!(full, split);
    }

    #[test]
    fn piece_data_is_not_copied() {
        let frame = {
            let mut out = BytesMut::new();
            Message::Piece {
                piece: 1,
                offset: 2,
                data: Bytes::from(vec![9u8; 100]),
            }
            .encode(&mut out);
            out.freeze()
        };
        let body = frame.slice(4..);
        let start = body.as_ptr() as usize;
        let Message::Piece { data, .. } = Message::decode(body).unwrap() else {
            panic!("not a piece")
        };
        assert_eq!(
            data.as_ptr() as usize,
            start + 9,
            "data points into the frame"
        );
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert_eq!(
            Message::decode(Bytes::from_static(&[4, 0, 0, 1])),
            Err(MessageError::BadLength {
                id: 4,
                got: 3,
                expected: 4
            })
        );
        assert_eq!(
            Message::decode(Bytes::from_static(&[0, 1])),
            Err(MessageError::BadLength {
                id: 0,
                got: 1,
                expected: 0
            })
        );
        assert_eq!(
            Message::decode(Bytes::from_static(&[7, 0, 0, 0, 0, 0, 0])),
            Err(MessageError::ShortPiece(6))
        );
        assert_eq!(
            Message::decode(Bytes::from_static(&[20])),
            Err(MessageError::ShortExtended)
        );
        assert_eq!(
            Message::decode(Bytes::from_static(&[6; 12])),
            Err(MessageError::BadLength {
                id: 6,
                got: 11,
                expected: 12
            })
        );
    }

    #[test]
    fn unknown_ids_are_kept() {
        assert_eq!(
            Message::decode(Bytes::from_static(&[42, 1, 2])),
            Ok(Message::Unknown {
                id: 42,
                payload: Bytes::from_static(&[1, 2])
            })
        );
    }

    #[test]
    fn hash_messages_are_checked_for_shape() {
        let mut short = vec![id::HASH_REQUEST];
        short.extend_from_slice(&[0; 47]);
        assert!(Message::decode(Bytes::from(short)).is_err());
        let mut ragged = vec![id::HASHES];
        ragged.extend_from_slice(&[0; 48 + 33]);
        assert_eq!(
            Message::decode(Bytes::from(ragged)),
            Err(MessageError::RaggedHashes(33))
        );
    }

    proptest! {
        #[test]
        fn round_trip(msg in arb_message()) {
            let mut out = BytesMut::new();
            msg.encode(&mut out);
            prop_assert_eq!(out.len(), msg.encoded_len());
            let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
            prop_assert_eq!(len + 4, out.len());
            prop_assert_eq!(Message::decode(body(&out)), Ok(msg));
        }

        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(msg) = Message::decode(Bytes::from(bytes.clone())) {
                // Whatever decodes re-encodes to the same body.
                let mut out = BytesMut::new();
                msg.encode(&mut out);
                prop_assert_eq!(&out[4..], &bytes[..]);
            }
        }
    }
}

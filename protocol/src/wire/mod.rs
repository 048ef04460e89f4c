//! The peer wire protocol: the bytes two BitTorrent peers exchange over TCP.
//!
//! Layered the way a reader consumes a connection:
//!
//! - [`handshake`]: the fixed 68-byte opening (protocol string, extension
//!   bits, info-hash, peer id).
//! - [`framing`]: length-prefixed frames cut off a read buffer with
//!   `check` then `parse`; "incomplete" is an ordinary answer, an oversized
//!   length prefix an immediate error.
//! - [`message`]: the body of one frame as a [`Message`] (BEP 3, BEP 6,
//!   BEP 10 envelope), with piece data as zero-copy [`bytes::Bytes`].
//! - [`extension`]: the BEP 10 extended handshake dictionary.
//!
//! Everything here is pure encode/decode: no sockets, no clock, and no
//! panic on any input. Protocol *state* (who may send what when, piece
//! counts, timeouts) lives in [`crate::peer`].

pub mod extension;
pub mod framing;
pub mod handshake;
pub mod message;
pub mod metadata;
pub mod pex;

pub use extension::{ExtendedHandshake, ExtensionError};
pub use framing::{Frame, FrameError, Framer, DEFAULT_MAX_FRAME_LEN};
pub use handshake::{Handshake, HandshakeError, Reserved, HANDSHAKE_LEN};
pub use message::{
    write_piece_header, HashRange, Message, MessageError, RawBlock, HASH_RANGE_LEN,
    PIECE_HEADER_LEN,
};
pub use metadata::{MetadataError, MetadataMessage, UT_METADATA};
pub use pex::{PexError, PexMessage, UT_PEX};

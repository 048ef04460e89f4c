//! riffle-protocol: bytes in, values out.
//!
//! Everything BitTorrent puts on the wire or in a file, as pure encode and
//! decode functions and state machines: no sockets, no tokio, no clock.
//! Callers pass time in; decoders never panic on any input.

pub mod bencode;
pub mod dht;
pub mod geometry;
pub mod magnet;
pub mod merkle;
pub mod metadata;
pub mod metainfo;
pub mod pad;
pub mod peer;
pub mod tracker;
pub mod types;
pub mod wire;

pub use geometry::PieceGeometry;
pub use types::{
    blocks_in_piece, Bitfield, BlockRef, InfoHash, PeerId, PieceIndex, TypeError, BLOCK_SIZE,
};

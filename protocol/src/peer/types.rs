//! The values that go in and out of a [`super::PeerConnection`]: its setup,
//! tunable limits, events, errors and counters.

use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::geometry::PieceGeometry;
use crate::types::{Bitfield, BlockRef, InfoHash, PeerId, PieceIndex, TypeError, BLOCK_SIZE};
use crate::wire::{
    ExtendedHandshake, ExtensionError, FrameError, HandshakeError, RawBlock, Reserved,
    DEFAULT_MAX_FRAME_LEN,
};

/// Durations and limits of one connection. Durations are configurable
/// because the swarm lab runs with scaled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Send a keep-alive after this much send silence (BEP 3: about every
    /// two minutes).
    pub keep_alive_interval: Duration,
    /// Drop the peer after this much receive silence. Longer than the
    /// keep-alive interval so a healthy idle peer is never dropped.
    pub idle_timeout: Duration,
    /// The peer's handshake must arrive within this time of connecting.
    pub handshake_timeout: Duration,
    /// A request unanswered for this long is reported as timed out (the
    /// peer may be snubbing us; the torrent can re-request elsewhere).
    pub request_timeout: Duration,
    /// Largest frame accepted (raised automatically to fit a full bitfield
    /// of this torrent).
    pub max_frame_len: u32,
    /// How many of the peer's requests we queue; more are rejected (fast
    /// extension) or ignored. libtorrent's `max_allowed_in_request_queue`
    /// plays the same role. Advertise at most this as `reqq` in our
    /// extended handshake.
    pub max_peer_requests: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            keep_alive_interval: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(180),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_peer_requests: 500,
        }
    }
}

/// Check a block named by a peer in a REQUEST or CANCEL: index in range,
/// non-empty, at most one 16 KiB block, inside its piece (not necessarily
/// on a block boundary: some clients ask for odd ranges).
pub(crate) fn check_block(g: &PieceGeometry, raw: RawBlock) -> Result<BlockRef, ConnectionError> {
    let piece = check_piece(g, raw.piece)?;
    if raw.length == 0 || raw.length > BLOCK_SIZE {
        return Err(ConnectionError::BadBlockLength(raw));
    }
    if raw
        .offset
        .checked_add(raw.length)
        .is_none_or(|end| end > g.length_of(piece))
    {
        return Err(ConnectionError::BlockOutsidePiece(raw));
    }
    Ok(BlockRef {
        piece,
        offset: raw.offset,
        length: raw.length,
    })
}

/// Check a piece index named by a peer.
pub(crate) fn check_piece(g: &PieceGeometry, index: u32) -> Result<PieceIndex, ConnectionError> {
    g.check_piece(index)
        .map_err(|_| ConnectionError::PieceOutOfRange {
            index,
            count: g.piece_count(),
        })
}

/// Which extensions we offer in our handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    /// BEP 6 fast extension.
    pub fast: bool,
    /// BEP 10: the extended handshake we send when the peer supports it
    /// (`None`: we do not offer the extension protocol).
    pub extended: Option<ExtendedHandshake>,
    /// BEP 5: our DHT port, sent in a PORT message to peers with the DHT bit
    /// (`None`: no DHT).
    pub dht_port: Option<u16>,
    /// BEP 52: we speak v2 for this torrent (hash requests, the v2 bit).
    pub v2: bool,
}

impl Offer {
    /// The reserved bits announcing this offer.
    pub fn reserved(&self) -> Reserved {
        Reserved::empty()
            .with(Reserved::FAST, self.fast)
            .with(Reserved::EXTENSION_PROTOCOL, self.extended.is_some())
            .with(Reserved::DHT, self.dht_port.is_some())
            .with(Reserved::V2, self.v2)
    }
}

/// Everything a connection needs to start.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// The torrent; the peer's handshake must name it (or `alt_info_hash`).
    pub info_hash: InfoHash,
    /// A hybrid torrent's other identity (its v2 info-hash, truncated):
    /// a peer may name either; an accepting side answers with the one the
    /// peer used, a dialling side takes either back.
    pub alt_info_hash: Option<InfoHash>,
    /// Our peer id; a peer presenting it is ourselves.
    pub our_id: PeerId,
    /// Piece count and sizes, to validate what the peer sends.
    pub geometry: PieceGeometry,
    /// The pieces we hold now (sent as BITFIELD / HAVE ALL / HAVE NONE).
    /// Must cover `geometry.piece_count()` pieces; one of another length is a
    /// caller bug and is treated as holding nothing.
    pub bitfield: Bitfield,
    /// Extensions we offer.
    pub offer: Offer,
    /// True when we dialled: we send our handshake first. An accepting
    /// side answers once the peer's handshake has named the torrent.
    pub initiator: bool,
    /// Timeouts and limits.
    pub config: PeerConfig,
}

/// Something the torrent should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Both handshakes are exchanged; messages may flow.
    HandshakeCompleted {
        /// The peer's id.
        peer_id: PeerId,
        /// The peer's extension bits.
        reserved: Reserved,
    },
    /// The peer's BITFIELD.
    Bitfield(Bitfield),
    /// The peer has every piece (BEP 6).
    HaveAll,
    /// The peer has no piece (BEP 6).
    HaveNone,
    /// The peer completed a piece it did not have before (duplicates are
    /// not reported, so availability counts stay right).
    Have(PieceIndex),
    /// The peer choked us.
    Choked,
    /// The peer unchoked us: requests will be served.
    Unchoked,
    /// The peer wants pieces from us.
    Interested,
    /// The peer no longer wants pieces from us.
    NotInterested,
    /// A block we requested arrived.
    BlockReceived {
        /// Which block.
        block: BlockRef,
        /// Its data, a view of the read buffer.
        data: Bytes,
    },
    /// The peer asks for a block; answer with `send_block` or
    /// `reject_request`.
    BlockRequested(BlockRef),
    /// The peer withdrew a request it made.
    RequestCancelled(BlockRef),
    /// A request of ours will not be served: the peer rejected it (BEP 6)
    /// or choked us without the fast extension, which drops all requests.
    RequestRejected(BlockRef),
    /// A request of ours has gone unanswered for the request timeout. It
    /// stays outstanding (the data may still come).
    RequestTimedOut(BlockRef),
    /// The peer lets us request this piece even while choked (BEP 6).
    AllowedFast(PieceIndex),
    /// The peer suggests we download this piece (BEP 6).
    Suggest(PieceIndex),
    /// The peer's DHT port (BEP 5).
    DhtPort(u16),
    /// The peer's extended handshake (BEP 10), as received.
    ExtendedHandshake(ExtendedHandshake),
    /// An extension message; `id` is the id from *our* `m` dictionary.
    ExtendedMessage {
        /// Our id for the extension.
        id: u8,
        /// The message payload.
        payload: Bytes,
    },
    /// BEP 52: the peer asks for hashes; answer with `send_hashes` or
    /// `reject_hashes`.
    HashRequest(crate::wire::HashRange),
    /// BEP 52: hashes we asked for (base nodes then proof, 32 bytes each;
    /// not checked yet).
    Hashes {
        /// What we asked.
        range: crate::wire::HashRange,
        /// The hashes.
        hashes: Bytes,
    },
    /// BEP 52: a hash request of ours was refused.
    HashRejected(crate::wire::HashRange),
}

/// Why a connection must end: the peer broke the protocol or went silent.
/// The client drops (or bans) the peer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    #[error("bad handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("peer wants torrent {got}, not ours ({expected})")]
    WrongInfoHash { expected: InfoHash, got: InfoHash },
    #[error("connected to ourselves")]
    ConnectedToSelf,
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("bad bitfield: {0}")]
    Bitfield(TypeError),
    #[error("piece index {index} is past the last piece ({count} pieces)")]
    PieceOutOfRange { index: u32, count: u32 },
    #[error("block {0:?} has a length of 0 or over 16 KiB")]
    BadBlockLength(RawBlock),
    #[error("block {0:?} extends past the end of its piece")]
    BlockOutsidePiece(RawBlock),
    #[error("PIECE data for piece {piece} at {offset} ({len} bytes) extends past the piece")]
    PieceDataOutsidePiece { piece: u32, offset: u32, len: usize },
    #[error("{0} received but the fast extension was not negotiated")]
    FastNotNegotiated(&'static str),
    #[error("extended message received but the extension protocol was not negotiated")]
    ExtensionNotNegotiated,
    #[error("bad extended handshake: {0}")]
    ExtendedHandshake(#[from] ExtensionError),
    #[error("no handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("peer silent for {0:?}")]
    Idle(Duration),
}

/// Why a command from the torrent was not carried out. These are the
/// caller's mistakes or races, never fatal to the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("the handshake is not complete")]
    NotConnected,
    #[error("the connection is closed")]
    Closed,
    #[error("the peer is choking us and the piece is not allowed fast")]
    Choked,
    #[error("the peer does not have the piece")]
    PeerLacksPiece,
    #[error("the block is already requested")]
    AlreadyRequested,
    #[error("the block is not a valid block of this torrent")]
    InvalidBlock,
    #[error("the peer has not requested this block (cancelled, or we choked it)")]
    NotRequested,
    #[error("the data length does not match the block")]
    WrongDataLength,
    #[error("the extension protocol was not negotiated")]
    ExtensionNotNegotiated,
    #[error("the fast extension was not negotiated")]
    FastNotNegotiated,
    #[error("we do not have the piece")]
    WeLackPiece,
    #[error("too many hash requests in flight, or this one already is")]
    TooManyHashRequests,
}

/// Byte counters, split as trackers and rate limits want them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Piece data received that we had requested.
    pub payload_down: u64,
    /// Piece data sent.
    pub payload_up: u64,
    /// Everything else received: handshake, headers, control messages.
    pub protocol_down: u64,
    /// Everything else sent.
    pub protocol_up: u64,
    /// Piece data received that we had not requested (or had cancelled):
    /// dropped, counted as waste.
    pub unrequested_down: u64,
    /// Requests from the peer we did not queue (choked, piece missing,
    /// queue full, duplicate).
    pub ignored_requests: u64,
    /// Messages ignored: unknown ids, rejects or cancels for nothing.
    pub ignored_messages: u64,
}

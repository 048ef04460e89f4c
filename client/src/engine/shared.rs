//! What a torrent shares with its peer tasks: the things a peer task needs
//! on the data path (storage, block claims, the verified pieces, rate
//! buckets, byte counters), so piece data never travels through the
//! torrent's control task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use riffle_protocol::peer::{Offer, PeerConfig};
use riffle_protocol::{InfoHash, PeerId, PieceGeometry};
use riffle_storage::Storage;

use super::claims::{AtomicBits, BlockClaims};
use super::rate::Bucket;

/// Byte counters of a torrent, updated by its peer tasks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Payload bytes received (including data later found bad or
    /// duplicated).
    pub downloaded: AtomicU64,
    /// Payload bytes sent.
    pub uploaded: AtomicU64,
    /// Payload bytes received that were not needed (duplicates) or failed
    /// their hash check.
    pub wasted: AtomicU64,
}

impl Counters {
    /// Add to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Read-mostly state of one torrent shared with its peer tasks.
pub struct TorrentShared {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id in this session.
    pub our_id: PeerId,
    /// Piece sizes.
    pub geometry: PieceGeometry,
    /// Where pieces live; peer tasks write received blocks and read
    /// requested ones directly.
    pub storage: Arc<dyn Storage>,
    /// First-writer-wins claims on blocks.
    pub claims: BlockClaims,
    /// Pieces that passed their hash check (what we may upload).
    pub verified: AtomicBits,
    /// Upload buckets every peer of this torrent draws from, outermost
    /// first (session, then torrent).
    pub up: Vec<Arc<Bucket>>,
    /// Download buckets, likewise.
    pub down: Vec<Arc<Bucket>>,
    /// Byte counters.
    pub counters: Counters,
    /// Timeouts and limits for each connection.
    pub peer_config: PeerConfig,
    /// Extensions we offer.
    pub offer: Offer,
    /// The info dictionary's bytes, served to magnet-link peers (BEP 9).
    pub info_bytes: bytes::Bytes,
    /// The session's DHT node, told of nodes peers announce (BEP 5 PORT);
    /// None for a private torrent or a session without DHT.
    pub dht: Option<crate::dht::Dht>,
    /// BEP 52: the torrent's v2 hashes (empty for a v1 torrent): piece
    /// checks, and the layers peers ask for.
    pub v2: std::sync::RwLock<riffle_protocol::metainfo::V2Hashes>,
}

impl std::fmt::Debug for TorrentShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentShared")
            .field("info_hash", &self.info_hash)
            .finish_non_exhaustive()
    }
}

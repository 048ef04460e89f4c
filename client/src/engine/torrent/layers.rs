//! BEP 52 piece layers fetched from peers: a v2 torrent started from a
//! magnet link's metadata (or a `.torrent` without `piece layers`) knows
//! each file's root but not the hashes its pieces are checked against.
//! They are asked for in chunks of up to 512 nodes with a proof up to the
//! root, each chunk checked against the root on arrival (a peer that sends
//! a wrong one is banned), and the layer handed to the torrent's
//! [`V2Hashes`] once whole. A piece that completes before its layer is
//! known waits for it instead of failing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use riffle_policies::PeerKey;
use riffle_protocol::merkle::{self, Hash32};
use riffle_protocol::wire::HashRange;
use riffle_protocol::PieceIndex;
use tokio::time::Instant;

use super::Torrent;

/// Nodes asked for at once (BEP 52: no more than 512).
const CHUNK: usize = 512;
/// A chunk unanswered this long is asked of someone else.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Want,
    Asked(PeerKey, Instant),
    Done,
}

/// One file's layer being put together.
#[derive(Debug)]
struct Assembly {
    /// Width of the layer in its tree (a power of two).
    width: usize,
    /// Nodes per request.
    chunk: usize,
    nodes: Vec<Option<Hash32>>,
    chunks: Vec<Chunk>,
    /// Peers that refused a chunk (not asked again for this file).
    refused: HashSet<PeerKey>,
}

/// The layers being fetched, by file root.
#[derive(Debug, Default)]
pub(crate) struct LayerFetch {
    files: HashMap<Hash32, Assembly>,
    depth: u32,
    /// Pieces complete on disk that wait for their layer to be checked.
    pub(super) parked: HashSet<PieceIndex>,
}

impl LayerFetch {
    /// Fetch the layers `v2` lacks (torrents of `piece_length`).
    pub(crate) fn new(v2: &riffle_protocol::metainfo::V2Hashes, piece_length: u32) -> LayerFetch {
        let depth = merkle::piece_layer_depth(piece_length);
        let files = v2
            .missing()
            .map(|f| {
                let pieces = f.pieces as usize;
                let width = pieces.next_power_of_two();
                let chunk = width.min(CHUNK);
                let chunks = pieces.div_ceil(chunk);
                (
                    f.root,
                    Assembly {
                        width,
                        chunk,
                        nodes: vec![None; pieces],
                        chunks: vec![Chunk::Want; chunks],
                        refused: HashSet::new(),
                    },
                )
            })
            .collect();
        LayerFetch {
            files,
            depth,
            parked: HashSet::new(),
        }
    }

    /// Nothing left to fetch.
    pub(crate) fn is_done(&self) -> bool {
        self.files.is_empty()
    }

    /// The next range to ask of `peer` (marked asked), if any.
    fn next_for(&mut self, peer: PeerKey, now: Instant) -> Option<HashRange> {
        // One chunk at a time per peer (a timed-out one no longer counts).
        let waiting = self.files.values().flat_map(|a| &a.chunks).any(
            |c| matches!(c, Chunk::Asked(p, at) if *p == peer && now.duration_since(*at) < ASK_TIMEOUT),
        );
        if waiting {
            return None;
        }
        for (root, a) in &mut self.files {
            if a.refused.contains(&peer) {
                continue;
            }
            let busy = |c: &Chunk| matches!(c, Chunk::Asked(p, at) if *p == peer || now.duration_since(*at) < ASK_TIMEOUT);
            let Some(i) = a
                .chunks
                .iter()
                .position(|c| *c == Chunk::Want || (matches!(c, Chunk::Asked(..)) && !busy(c)))
            else {
                continue;
            };
            a.chunks[i] = Chunk::Asked(peer, now);
            let levels = a.width.trailing_zeros();
            return Some(HashRange {
                root: *root,
                base_layer: self.depth,
                index: (i * a.chunk) as u32,
                length: a.chunk as u32,
                // Up to the root: the levels above the base, less the one
                // the root itself is.
                proof_layers: levels.saturating_sub(1),
            });
        }
        None
    }

    /// Hashes `peer` sent for `range`: Ok(Some(layer)) when they complete
    /// a file's layer, Ok(None) when good but more are needed, Err when
    /// they do not prove out against the root.
    fn on_hashes(
        &mut self,
        peer: PeerKey,
        range: &HashRange,
        hashes: &Bytes,
    ) -> Result<Option<(Hash32, Vec<Hash32>)>, ()> {
        let Some(a) = self.files.get_mut(&range.root) else {
            return Ok(None);
        };
        let i = range.index as usize / a.chunk.max(1);
        let asked = matches!(a.chunks.get(i), Some(Chunk::Asked(p, _)) if *p == peer);
        if range.base_layer != self.depth || !asked {
            return Ok(None);
        }
        let all: Vec<Hash32> = hashes
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        let count = range.length as usize;
        if all.len() < count {
            return Err(());
        }
        let (base, uncles) = all.split_at(count);
        let pad = merkle::pad_hash(self.depth);
        if !merkle::verify_range(
            &range.root,
            a.width,
            range.index as usize,
            base,
            pad,
            uncles,
        ) {
            return Err(());
        }
        let start = range.index as usize;
        for (k, h) in base.iter().enumerate() {
            if let Some(slot) = a.nodes.get_mut(start + k) {
                *slot = Some(*h);
            }
        }
        a.chunks[i] = Chunk::Done;
        if a.chunks.iter().all(|c| *c == Chunk::Done) {
            let layer: Option<Vec<Hash32>> = a.nodes.iter().copied().collect();
            let root = range.root;
            self.files.remove(&root);
            return Ok(layer.map(|l| (root, l)));
        }
        Ok(None)
    }

    /// `peer` refused `range`, or left: its chunks are wanted again.
    fn release(&mut self, peer: PeerKey, refused: Option<&HashRange>) {
        for a in self.files.values_mut() {
            for c in &mut a.chunks {
                if matches!(c, Chunk::Asked(p, _) if *p == peer) {
                    *c = Chunk::Want;
                }
            }
        }
        if let Some(r) = refused {
            if let Some(a) = self.files.get_mut(&r.root) {
                a.refused.insert(peer);
            }
        }
    }
}

impl Torrent {
    /// Ask connected peers for the layers still missing (a chunk per peer
    /// at a time, from peers that hold pieces).
    pub(super) fn fetch_layers(&mut self, now: Instant) {
        let Some(fetch) = self.layers.as_mut() else {
            return;
        };
        if fetch.is_done() {
            return;
        }
        for (key, e) in &self.peers {
            if e.link != super::peers::Link::Connected || e.has.count_ones() == 0 {
                continue;
            }
            if let Some(range) = fetch.next_for(*key, now) {
                e.mailbox.post(|o| o.hash_requests.push(range));
            }
        }
    }

    /// Hashes arrived from `key`.
    pub(super) fn on_hashes(&mut self, key: PeerKey, range: HashRange, hashes: Bytes) {
        let Some(fetch) = self.layers.as_mut() else {
            return;
        };
        match fetch.on_hashes(key, &range, &hashes) {
            Ok(None) => {}
            Ok(Some((root, layer))) => {
                let took = self
                    .shared
                    .v2
                    .write()
                    .map(|mut v2| v2.set_layer(&root, layer))
                    .unwrap_or(false);
                tracing::debug!(took, "a piece layer is complete");
                // The pieces that waited for it are checked now.
                let waiting: Vec<PieceIndex> = fetch.parked.drain().collect();
                for p in waiting {
                    self.start_hash(p);
                }
            }
            Err(()) => {
                let Some(e) = self.peers.get(&key) else {
                    return;
                };
                let (addr, id) = (e.addr, e.peer_id);
                tracing::warn!(peer = %addr, "hashes that do not prove out against the file's root");
                e.mailbox
                    .post(|o| o.close = Some("sent wrong hashes".into()));
                self.ban(addr, id);
                if let Some(f) = self.layers.as_mut() {
                    f.release(key, None);
                }
            }
        }
        self.fetch_layers(Instant::now());
    }

    /// `key` refused a hash request (or left, with `None`).
    pub(super) fn on_hash_refused(&mut self, key: PeerKey, range: Option<HashRange>) {
        if let Some(f) = self.layers.as_mut() {
            f.release(key, range.as_ref());
        }
    }
}

#[cfg(test)]
mod tests;

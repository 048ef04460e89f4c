//! Putting a torrent's info dictionary together from one peer's
//! `ut_metadata` pieces (BEP 9), sans-IO.
//!
//! A [`MetadataAssembler`] is one attempt with one peer: the size the peer
//! announced (refused above [`MAX_METADATA_SIZE`]), the pieces it has
//! sent, and which to ask for next (in order, a few in flight). When the
//! last piece arrives the whole is hashed and compared with the info-hash:
//! only bytes whose SHA-1 is the info-hash are ever used. An attempt per
//! peer means a lying peer is caught whole (its copy fails the hash) and
//! never spoils an honest peer's; the caller runs a few attempts at once
//! and takes the first that verifies. Memory: at most the announced size,
//! filled only as data arrives.

use bytes::Bytes;
use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::wire::metadata::{metadata_pieces, MAX_METADATA_SIZE, METADATA_PIECE_LEN};
use crate::InfoHash;

/// Why an attempt ended without metadata.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssemblyError {
    /// The announced size is zero or past the limit.
    #[error("the peer announced metadata of {0} bytes")]
    BadSize(u64),
    /// A data message that does not fit: wrong piece, size or length.
    #[error("metadata piece {piece} does not fit: {why}")]
    BadPiece {
        /// Its index.
        piece: u32,
        /// What was wrong.
        why: &'static str,
    },
    /// The peer refused a piece.
    #[error("the peer rejected metadata piece {0}")]
    Rejected(u32),
    /// The assembled bytes do not hash to the info-hash.
    #[error("the metadata does not match the info-hash")]
    HashMismatch,
}

/// One attempt at the metadata from one peer.
#[derive(Debug)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    /// A v2-only magnet link: the metadata's SHA-256 must be this.
    v2: Option<[u8; 32]>,
    size: u64,
    pieces: Vec<Option<Bytes>>,
    /// Next piece never asked for.
    next: u32,
    /// Pieces asked for and not received.
    in_flight: u32,
}

impl MetadataAssembler {
    /// An attempt at metadata of `size` bytes (the peer's `metadata_size`).
    pub fn new(info_hash: InfoHash, size: u64) -> Result<MetadataAssembler, AssemblyError> {
        if size == 0 || size > MAX_METADATA_SIZE {
            return Err(AssemblyError::BadSize(size));
        }
        Ok(MetadataAssembler {
            info_hash,
            v2: None,
            size,
            pieces: vec![None; metadata_pieces(size) as usize],
            next: 0,
            in_flight: 0,
        })
    }

    /// Check the whole against this SHA-256 (a v2-only magnet link's hash)
    /// instead of the info-hash's SHA-1.
    pub fn expecting_v2(mut self, v2: [u8; 32]) -> MetadataAssembler {
        self.v2 = Some(v2);
        self
    }

    /// The announced size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next piece to ask for, keeping at most `window` in flight.
    pub fn next_request(&mut self, window: u32) -> Option<u32> {
        if self.in_flight >= window || self.next as usize >= self.pieces.len() {
            return None;
        }
        let p = self.next;
        self.next += 1;
        self.in_flight += 1;
        Some(p)
    }

    /// Fraction of the pieces received.
    pub fn progress(&self) -> f64 {
        let have = self.pieces.iter().filter(|p| p.is_some()).count();
        have as f64 / self.pieces.len().max(1) as f64
    }

    fn expected_len(&self, piece: u32) -> usize {
        let start = u64::from(piece) * METADATA_PIECE_LEN as u64;
        (self.size - start).min(METADATA_PIECE_LEN as u64) as usize
    }

    /// A data message. `Ok(Some(info))` once every piece is in and the
    /// whole hashes to the info-hash; `Ok(None)` while pieces are missing.
    pub fn on_data(
        &mut self,
        piece: u32,
        total_size: u64,
        data: Bytes,
    ) -> Result<Option<Vec<u8>>, AssemblyError> {
        let bad = |why| AssemblyError::BadPiece { piece, why };
        if total_size != self.size {
            return Err(bad("its total_size differs from the announced size"));
        }
        let slot = self
            .pieces
            .get_mut(piece as usize)
            .ok_or(bad("past the last piece"))?;
        if piece >= self.next {
            return Err(bad("never asked for"));
        }
        if slot.is_some() {
            return Err(bad("sent twice"));
        }
        let expected = {
            let start = u64::from(piece) * METADATA_PIECE_LEN as u64;
            (self.size - start).min(METADATA_PIECE_LEN as u64) as usize
        };
        if data.len() != expected {
            return Err(bad("of the wrong length"));
        }
        *slot = Some(data);
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.pieces.iter().any(Option::is_none) {
            return Ok(None);
        }
        let mut info = Vec::with_capacity(self.size as usize);
        for p in &self.pieces {
            info.extend_from_slice(p.as_ref().expect("every piece is in"));
        }
        let ok = match self.v2 {
            Some(v2) => {
                use sha2::Digest as _;
                <[u8; 32]>::from(sha2::Sha256::digest(&info)) == v2
            }
            None => <[u8; 20]>::from(Sha1::digest(&info)) == self.info_hash.0,
        };
        if !ok {
            return Err(AssemblyError::HashMismatch);
        }
        debug_assert_eq!(info.len() as u64, self.size, "{}", self.expected_len(0));
        Ok(Some(info))
    }

    /// A reject: this peer will not give the metadata.
    pub fn on_reject(&mut self, piece: u32) -> AssemblyError {
        AssemblyError::Rejected(piece)
    }
}

/// Metainfo bytes (a `.torrent`) from a fetched info dictionary and the
/// trackers a magnet link named: what `--save-torrent` writes and what a
/// magnet download runs from.
pub fn torrent_from_info(info: &[u8], trackers: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(info.len() + 64);
    out.push(b'd');
    if let Some(first) = trackers.first() {
        out.extend_from_slice(format!("8:announce{}:", first.len()).as_bytes());
        out.extend_from_slice(first.as_bytes());
        out.extend_from_slice(b"13:announce-listl");
        for t in trackers {
            out.extend_from_slice(format!("l{}:", t.len()).as_bytes());
            out.extend_from_slice(t.as_bytes());
            out.push(b'e');
        }
        out.push(b'e');
    }
    out.extend_from_slice(b"4:info");
    out.extend_from_slice(info);
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{Metainfo, TorrentBuilder};

    fn info_of(n_hashes: usize) -> (Vec<u8>, InfoHash) {
        let mut b = TorrentBuilder::new("meta".into(), 16384);
        b.single_file(16384 * n_hashes as u64);
        b.piece_hashes(vec![[7; 20]; n_hashes]);
        let (bytes, hash) = b.build().unwrap();
        let meta = Metainfo::from_bytes(&bytes).unwrap();
        (meta.info_bytes, hash)
    }

    #[test]
    fn assembles_in_order_with_a_window_and_checks_the_hash() {
        // ~40 KB of hashes: three metadata pieces.
        let (info, hash) = info_of(2000);
        let mut a = MetadataAssembler::new(hash, info.len() as u64).unwrap();
        assert_eq!(a.next_request(2), Some(0));
        assert_eq!(a.next_request(2), Some(1));
        assert_eq!(a.next_request(2), None, "window of two");
        let piece =
            |p: usize| Bytes::copy_from_slice(&info[p * 16384..((p + 1) * 16384).min(info.len())]);
        assert_eq!(a.on_data(1, info.len() as u64, piece(1)), Ok(None));
        assert_eq!(a.next_request(2), Some(2));
        assert_eq!(a.on_data(0, info.len() as u64, piece(0)), Ok(None));
        let got = a.on_data(2, info.len() as u64, piece(2)).unwrap().unwrap();
        assert_eq!(got, info);
        // The .torrent built from it parses back to the same torrent.
        let t = torrent_from_info(&got, &["http://t/announce".into()]);
        let meta = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(meta.info_hash, hash);
        assert_eq!(meta.trackers, vec![vec!["http://t/announce".to_owned()]]);
        assert_eq!(
            Metainfo::from_bytes(&torrent_from_info(&got, &[]))
                .unwrap()
                .info_hash,
            hash
        );
    }

    #[test]
    fn liars_are_caught() {
        let (info, hash) = info_of(10);
        let size = info.len() as u64;
        assert!(MetadataAssembler::new(hash, 0).is_err());
        assert!(MetadataAssembler::new(hash, MAX_METADATA_SIZE + 1).is_err());
        let mut a = MetadataAssembler::new(hash, size).unwrap();
        assert!(
            a.on_data(0, size, Bytes::from(info.clone())).is_err(),
            "never asked"
        );
        a.next_request(4);
        assert!(a.on_data(0, size + 1, Bytes::from(info.clone())).is_err());
        assert!(a.on_data(0, size, Bytes::from_static(b"short")).is_err());
        let mut forged = info.clone();
        forged[5] ^= 1;
        assert_eq!(
            a.on_data(0, size, Bytes::from(forged)),
            Err(AssemblyError::HashMismatch)
        );
        let mut b = MetadataAssembler::new(hash, size).unwrap();
        b.next_request(4);
        assert_eq!(b.on_reject(0), AssemblyError::Rejected(0));
    }
}

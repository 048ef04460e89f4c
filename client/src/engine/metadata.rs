//! BEP 9 on the engine's side: serving a torrent's info dictionary to
//! peers that came by a magnet link (each peer task answers requests
//! itself, from `TorrentShared::info_bytes`), and fetching one for a
//! magnet link (`magnet.rs`).

use bytes::Bytes;
use riffle_protocol::wire::metadata::{metadata_pieces, METADATA_PIECE_LEN};

/// The id we want `ut_metadata` messages under (our `m` dictionary).
pub const OUR_UT_METADATA: u8 = 2;

/// Piece `piece` of the info dictionary `info` (None past the end).
pub fn piece_of(info: &Bytes, piece: u32) -> Option<Bytes> {
    let start = piece as usize * METADATA_PIECE_LEN;
    if start >= info.len() {
        return None;
    }
    let end = (start + METADATA_PIECE_LEN).min(info.len());
    Some(info.slice(start..end))
}

/// Metadata pieces one connection is given at most: the whole dictionary
/// a few times over (a client that lost it may ask again), never an
/// endless stream a peer could ask for to waste our upload.
pub fn allowance(info_len: usize) -> usize {
    metadata_pieces(info_len as u64) as usize * 4 + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_allowance() {
        let info = Bytes::from(vec![1u8; 40_000]);
        assert_eq!(piece_of(&info, 0).unwrap().len(), 16384);
        assert_eq!(piece_of(&info, 2).unwrap().len(), 40_000 - 32768);
        assert!(piece_of(&info, 3).is_none());
        assert_eq!(allowance(40_000), 16);
    }
}

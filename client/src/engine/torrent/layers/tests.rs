//! The layer fetch without sockets: what is asked of whom, and what
//! becomes of good, wrong and refused answers.

use std::collections::HashMap;

use bytes::Bytes;
use riffle_policies::PeerKey;
use riffle_protocol::merkle::{self, Hash32};
use riffle_protocol::metainfo::{Metainfo, TorrentBuilder, V2Hashes, Version};
use riffle_protocol::wire::HashRange;
use tokio::time::Instant;

use super::{LayerFetch, ASK_TIMEOUT};

const PIECE: u32 = 16 * 1024;

/// A v2 torrent of one file of `pieces` pieces (distinct piece hashes),
/// without its layer; returns it, the layer and the root.
fn torrent(pieces: usize) -> (Metainfo, Vec<Hash32>, Hash32) {
    let leaves: Vec<Hash32> = (0..pieces)
        .map(|i| merkle::leaf(&(i as u64).to_be_bytes()))
        .collect();
    let (layer, root) = merkle::file_tree(&leaves, PIECE);
    let mut b = TorrentBuilder::new("f.bin".into(), PIECE);
    b.single_file(pieces as u64 * u64::from(PIECE));
    b.v2(Version::V2, vec![Some((root, None))]);
    let meta = Metainfo::from_bytes(&b.build().unwrap().0).unwrap();
    (meta, layer, root)
}

fn fetch(meta: &Metainfo) -> LayerFetch {
    let (v2, _) = V2Hashes::new(&meta.info, &HashMap::new());
    LayerFetch::new(&v2, meta.info.piece_length)
}

/// What an honest peer answers to `range` from the whole `layer`.
fn answer(layer: &[Hash32], range: &HashRange) -> Bytes {
    let pad = merkle::pad_hash(0);
    let mut nodes = layer.to_vec();
    nodes.resize(layer.len().next_power_of_two(), pad);
    let (i, n) = (range.index as usize, range.length as usize);
    let mut out: Vec<Hash32> = nodes[i..i + n].to_vec();
    out.extend(merkle::proof(&nodes, pad, i, n, range.proof_layers));
    Bytes::from(out.concat())
}

#[test]
fn a_large_layer_comes_in_chunks_from_several_peers() {
    let (meta, layer, root) = torrent(1500);
    let mut f = fetch(&meta);
    let now = Instant::now();
    let (a, b) = (PeerKey(1), PeerKey(2));
    // 1500 nodes in a tree 2048 wide: three chunks of 512 (the last
    // partly padding).
    let ra = f.next_for(a, now).unwrap();
    let rb = f.next_for(b, now).unwrap();
    assert_eq!((ra.root, ra.base_layer, ra.length), (root, 0, 512));
    assert_eq!((ra.index, rb.index), (0, 512));
    assert_eq!(ra.proof_layers, 10, "up to the root of 2048 leaves");
    // One chunk at a time per peer.
    assert_eq!(f.next_for(a, now), None);
    assert_eq!(f.on_hashes(a, &ra, &answer(&layer, &ra)), Ok(None));
    let ra2 = f.next_for(a, now).unwrap();
    assert_eq!(ra2.index, 1024);
    assert_eq!(f.on_hashes(b, &rb, &answer(&layer, &rb)), Ok(None));
    assert_eq!(f.next_for(b, now), None, "every chunk asked");
    let done = f.on_hashes(a, &ra2, &answer(&layer, &ra2)).unwrap();
    assert_eq!(done, Some((root, layer)));
    assert!(f.is_done());
}

#[test]
fn wrong_hashes_are_an_error_and_their_chunk_is_asked_again() {
    let (meta, layer, _) = torrent(40);
    let mut f = fetch(&meta);
    let now = Instant::now();
    let (liar, honest) = (PeerKey(1), PeerKey(2));
    let r = f.next_for(liar, now).unwrap();
    assert_eq!((r.index, r.length), (0, 64));
    let mut bad = answer(&layer, &r).to_vec();
    bad[5] ^= 1;
    assert_eq!(f.on_hashes(liar, &r, &Bytes::from(bad)), Err(()));
    // Too few hashes: an error too.
    assert_eq!(
        f.on_hashes(liar, &r, &answer(&layer, &r).slice(..64)),
        Err(())
    );
    f.release(liar, None);
    let again = f.next_for(honest, now).unwrap();
    assert_eq!(again, r);
    // Hashes for a range nobody asked this peer for are ignored.
    assert_eq!(f.on_hashes(liar, &r, &answer(&layer, &r)), Ok(None));
    assert!(!f.is_done());
    assert!(f
        .on_hashes(honest, &r, &answer(&layer, &r))
        .unwrap()
        .is_some());
}

#[test]
fn a_refusing_peer_is_not_asked_again_and_a_slow_one_is_overtaken() {
    let (meta, _, _) = torrent(40);
    let mut f = fetch(&meta);
    let now = Instant::now();
    let (a, b) = (PeerKey(1), PeerKey(2));
    let r = f.next_for(a, now).unwrap();
    f.release(a, Some(&r));
    assert_eq!(f.next_for(a, now), None, "a refused the file");
    // b takes it, then sits on it: after the timeout it may go to c.
    let rb = f.next_for(b, now).unwrap();
    assert_eq!(rb, r);
    let c = PeerKey(3);
    assert_eq!(f.next_for(c, now), None);
    assert_eq!(f.next_for(c, now + ASK_TIMEOUT), Some(r));
}

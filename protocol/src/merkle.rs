//! BEP 52 merkle trees: SHA-256 over a file's 16 KiB blocks, branching
//! factor two, the leaves past the end of the file set to zero (32 zero
//! bytes, not the hash of a zero block).
//!
//! A file's tree has `next_power_of_two(blocks)` leaves; its root is the
//! file's `pieces root`. The *piece layer* is the layer whose nodes each
//! cover one piece (`piece_length / 16 KiB` leaves): a `.torrent` carries
//! it for every file longer than a piece (`piece layers`), and a piece is
//! checked against its node there. A file of one piece or less has no
//! piece layer: its one piece is checked against the root itself.

use sha2::{Digest, Sha256};

use crate::types::BLOCK_SIZE;

/// A SHA-256 digest.
pub type Hash32 = [u8; 32];

/// The hash of a leaf past the end of a file.
pub const ZERO: Hash32 = [0; 32];

/// SHA-256 of one block (the last block of a file may be shorter).
pub fn leaf(block: &[u8]) -> Hash32 {
    Sha256::digest(block).into()
}

/// SHA-256 of two children.
pub fn parent(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a subtree of `2^depth` zero leaves (what pads a layer
/// `depth` levels above the leaves).
pub fn pad_hash(depth: u32) -> Hash32 {
    let mut h = ZERO;
    for _ in 0..depth {
        h = parent(&h, &h);
    }
    h
}

/// The root over `nodes` padded with `pad` up to `width` nodes (a power of
/// two at least `nodes.len()`, and at least 1).
pub fn root(nodes: &[Hash32], width: usize, pad: Hash32) -> Hash32 {
    let width = width.max(nodes.len()).max(1).next_power_of_two();
    let mut layer: Vec<Hash32> = nodes.to_vec();
    let mut pad = pad;
    let mut w = width;
    while w > 1 {
        let mut next = Vec::with_capacity(layer.len().div_ceil(2));
        for pair in layer.chunks(2) {
            let right = pair.get(1).copied().unwrap_or(pad);
            next.push(parent(&pair[0], &right));
        }
        layer = next;
        pad = parent(&pad, &pad);
        w /= 2;
    }
    layer.first().copied().unwrap_or(pad)
}

/// Blocks (16 KiB leaves) per piece of `piece_length` bytes.
pub fn blocks_per_piece(piece_length: u32) -> u32 {
    (piece_length / BLOCK_SIZE).max(1)
}

/// How many layers above the leaves the piece layer is.
pub fn piece_layer_depth(piece_length: u32) -> u32 {
    blocks_per_piece(piece_length).trailing_zeros()
}

/// Does `layer` (a file's piece-layer hashes, one per piece, nothing past
/// the file's last piece) hash up to `pieces_root`?
pub fn layer_matches(layer: &[Hash32], piece_length: u32, pieces_root: &Hash32) -> bool {
    let pad = pad_hash(piece_layer_depth(piece_length));
    &root(layer, layer.len().next_power_of_two(), pad) == pieces_root
}

/// The merkle root of a piece's data: its blocks' leaf hashes, padded
/// with zero leaves up to `leaves` (blocks per piece, or for a file of
/// one piece or less the next power of two of its block count).
pub fn piece_root(data: &[u8], leaves: u32) -> Hash32 {
    let hashes: Vec<Hash32> = data.chunks(BLOCK_SIZE as usize).map(leaf).collect();
    root(&hashes, leaves as usize, ZERO)
}

/// The leaves the tree of a piece is padded to: a whole piece's blocks
/// for a file longer than one piece, else the next power of two of the
/// file's own block count.
pub fn piece_leaves(file_length: u64, piece_length: u32) -> u32 {
    if file_length > u64::from(piece_length) {
        blocks_per_piece(piece_length)
    } else {
        let blocks = file_length.div_ceil(u64::from(BLOCK_SIZE)).max(1);
        (blocks as u32).next_power_of_two()
    }
}

/// A file's piece layer and its root, from its data (for creating
/// torrents): one hash per piece, and the pieces root.
pub fn file_tree(leaf_hashes: &[Hash32], piece_length: u32) -> (Vec<Hash32>, Hash32) {
    let bpp = blocks_per_piece(piece_length) as usize;
    if leaf_hashes.len() <= bpp {
        let r = root(
            leaf_hashes,
            leaf_hashes.len().max(1).next_power_of_two(),
            ZERO,
        );
        return (vec![r], r);
    }
    let layer: Vec<Hash32> = leaf_hashes
        .chunks(bpp)
        .map(|c| root(c, bpp, ZERO))
        .collect();
    let pad = pad_hash(piece_layer_depth(piece_length));
    let r = root(&layer, layer.len().next_power_of_two(), pad);
    (layer, r)
}

/// The uncle hashes that prove `count` nodes starting at `index` of a
/// layer (`layer`, unpadded; `pad` fills it to a power of two) against the
/// root, as BEP 52's `hashes` message carries them (and libtorrent counts
/// them): `proof_layers` counts the levels climbed from the base layer;
/// the first `log2(count) - 1` of them lie inside the range's own subtree
/// and send nothing, each later one sends the sibling of the node the
/// range has reached (so `proof_layers = log2(width) - 1` reaches the
/// root).
pub fn proof(
    layer: &[Hash32],
    pad: Hash32,
    index: usize,
    count: usize,
    proof_layers: u32,
) -> Vec<Hash32> {
    let width = layer.len().max(1).next_power_of_two();
    let mut nodes: Vec<Hash32> = layer.to_vec();
    nodes.resize(width, pad);
    let mut pad = pad;
    let mut out = Vec::new();
    let mut pos = index;
    let mut span = count.max(1);
    let mut level = 0u32;
    // Climb the levels inside the range's subtree without emitting.
    while span > 1 && nodes.len() > 1 {
        nodes = up(&nodes);
        pad = parent(&pad, &pad);
        pos /= 2;
        span /= 2;
        level += 1;
    }
    while nodes.len() > 1 && level <= proof_layers {
        let sibling = pos ^ 1;
        out.push(nodes.get(sibling).copied().unwrap_or(pad));
        nodes = up(&nodes);
        pad = parent(&pad, &pad);
        pos /= 2;
        level += 1;
    }
    out
}

fn up(nodes: &[Hash32]) -> Vec<Hash32> {
    nodes
        .chunks(2)
        .map(|p| parent(&p[0], p.get(1).unwrap_or(&p[0])))
        .collect()
}

/// Do `hashes` (nodes `index..` of a layer of `width` nodes, a power of
/// two; missing ones past the layer's end are `pad`) and the `uncles`
/// above them hash up to `root`? The range must start at a multiple of
/// its (power-of-two) length.
pub fn verify_range(
    root_hash: &Hash32,
    width: usize,
    index: usize,
    hashes: &[Hash32],
    pad: Hash32,
    uncles: &[Hash32],
) -> bool {
    let span = hashes.len().max(1).next_power_of_two();
    if hashes.is_empty()
        || !index.is_multiple_of(span)
        || index + hashes.len() > width
        || !width.is_power_of_two()
    {
        return false;
    }
    let mut h = root(hashes, span, pad);
    let mut pos = index / span;
    let mut level_width = width / span;
    let mut uncles = uncles.iter();
    while level_width > 1 {
        let Some(u) = uncles.next() else {
            return false;
        };
        h = if pos.is_multiple_of(2) {
            parent(&h, u)
        } else {
            parent(u, &h)
        };
        pos /= 2;
        level_width /= 2;
    }
    uncles.next().is_none() && &h == root_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: u8, len: usize) -> Vec<u8> {
        vec![i; len]
    }

    #[test]
    fn a_small_file_is_its_own_piece() {
        // Three blocks and a bit: padded to four leaves.
        let data: Vec<u8> = (0..3)
            .flat_map(|i| block(i, 16384))
            .chain(block(9, 100))
            .collect();
        let leaves: Vec<Hash32> = data.chunks(16384).map(leaf).collect();
        assert_eq!(leaves.len(), 4);
        let (layer, r) = file_tree(&leaves, 65536);
        assert_eq!(layer, vec![r]);
        assert_eq!(piece_root(&data, piece_leaves(data.len() as u64, 65536)), r);
        let two = &data[..20000];
        let r2 = file_tree(&two.chunks(16384).map(leaf).collect::<Vec<_>>(), 65536).1;
        assert_eq!(piece_root(two, piece_leaves(20000, 65536)), r2);
        assert_eq!(r2, parent(&leaf(&two[..16384]), &leaf(&two[16384..])));
    }

    #[test]
    fn piece_layers_hash_up_to_the_root() {
        // Five pieces of two blocks (32 KiB pieces), the last one short.
        let data: Vec<u8> = (0..9u8).flat_map(|i| block(i, 16384)).collect();
        let leaves: Vec<Hash32> = data.chunks(16384).map(leaf).collect();
        let (layer, r) = file_tree(&leaves, 32768);
        assert_eq!(layer.len(), 5);
        assert!(layer_matches(&layer, 32768, &r));
        let mut bad = layer.clone();
        bad[4][0] ^= 1;
        assert!(!layer_matches(&bad, 32768, &r));
        // The last piece, one block long, padded with a zero leaf.
        assert_eq!(piece_root(&data[8 * 16384..], 2), layer[4]);
        // The same root from the leaves directly (16 leaves, zero-padded).
        assert_eq!(root(&leaves, 16, ZERO), r);
    }

    #[test]
    fn proofs_verify_and_lies_do_not() {
        let layer: Vec<Hash32> = (0..11u8).map(|i| leaf(&[i])).collect();
        let pad = pad_hash(1);
        let r = root(&layer, 16, pad);
        for (index, count) in [(0, 2), (4, 4), (8, 4), (0, 16), (10, 1)] {
            let hashes: Vec<Hash32> = (index..index + count)
                .map(|i| layer.get(i).copied().unwrap_or(pad))
                .collect();
            let uncles = proof(&layer, pad, index, count, 10);
            assert!(
                verify_range(&r, 16, index, &hashes, pad, &uncles),
                "{index} {count}"
            );
            let mut wrong = hashes.clone();
            wrong[0][5] ^= 1;
            assert!(!verify_range(&r, 16, index, &wrong, pad, &uncles));
            if !uncles.is_empty() {
                assert!(!verify_range(&r, 16, index, &hashes, pad, &uncles[1..]));
            }
        }
        assert!(
            !verify_range(&r, 16, 3, &layer[3..5], pad, &[]),
            "unaligned"
        );
    }
}

//! What each piece must hash to: SHA-1 (v1), the merkle root of its
//! file's data (v2), or both (hybrid, BEP 52: "pieces match both piece
//! hash formats"). A v2 piece's node comes from its file's piece layer,
//! which a `.torrent` carries and a magnet link's metadata does not: until
//! it arrives from peers, such a piece cannot be checked.

use std::collections::HashMap;

use super::{Info, Version};
use crate::merkle::{self, Hash32};
use crate::types::PieceIndex;

/// What a piece must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceCheck {
    /// SHA-1 of the whole piece.
    Sha1([u8; 20]),
    /// The merkle root of the first `data_len` bytes of the piece (its
    /// file's data; the rest is alignment padding), 16 KiB leaves padded
    /// with zero hashes to `leaves`.
    Merkle {
        /// The node of the piece layer (or the file's root).
        root: Hash32,
        /// Leaves of the piece's subtree.
        leaves: u32,
        /// Bytes of file data in the piece.
        data_len: u32,
    },
    /// Both (a hybrid torrent).
    Both {
        /// SHA-1 of the whole piece.
        sha1: [u8; 20],
        /// The merkle root, as in [`PieceCheck::Merkle`].
        root: Hash32,
        /// Leaves of the piece's subtree.
        leaves: u32,
        /// Bytes of file data in the piece.
        data_len: u32,
    },
    /// Not known yet (a v2 piece whose piece layer has not come).
    Unknown,
}

/// One v2 file's place and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHashes {
    /// Index in [`Info::files`].
    pub file_index: usize,
    /// Its pieces root.
    pub root: Hash32,
    /// Its length in bytes.
    pub length: u64,
    /// The global index of its first piece.
    pub first_piece: u32,
    /// How many pieces it spans.
    pub pieces: u32,
    /// Its piece layer (files longer than a piece), once known and checked
    /// against `root`.
    pub layer: Option<Vec<Hash32>>,
}

/// The v2 hashes of a torrent: every file with data, its root and (once
/// known) its piece layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2Hashes {
    files: Vec<FileHashes>,
    piece_length: u32,
    /// Per global piece: which entry of `files` holds it.
    by_piece: HashMap<u32, usize>,
}

impl V2Hashes {
    /// The hashes of `info` (empty for a v1 torrent), with the piece
    /// layers `layers` brings; returns them and the roots whose layer was
    /// dropped because it did not hash up to its root.
    pub fn new(info: &Info, layers: &HashMap<Hash32, Vec<Hash32>>) -> (V2Hashes, Vec<Hash32>) {
        let mut out = V2Hashes {
            files: Vec::new(),
            piece_length: info.piece_length,
            by_piece: HashMap::new(),
        };
        let mut dropped = Vec::new();
        if info.version == Version::V1 {
            return (out, dropped);
        }
        let pl = u64::from(info.piece_length);
        let mut offset = 0u64;
        for (i, f) in info.files.iter().enumerate() {
            if let (Some(root), false) = (f.pieces_root, f.pad) {
                let first_piece = (offset / pl) as u32;
                let pieces = f.length.div_ceil(pl) as u32;
                let layer = if f.length > pl {
                    match layers.get(&root) {
                        Some(l) if merkle::layer_matches(l, info.piece_length, &root) => {
                            Some(l.clone())
                        }
                        Some(_) => {
                            dropped.push(root);
                            None
                        }
                        None => None,
                    }
                } else {
                    None
                };
                for p in first_piece..first_piece + pieces {
                    out.by_piece.insert(p, out.files.len());
                }
                out.files.push(FileHashes {
                    file_index: i,
                    root,
                    length: f.length,
                    first_piece,
                    pieces,
                    layer,
                });
            }
            offset += f.length;
        }
        (out, dropped)
    }

    /// The v2 files.
    pub fn files(&self) -> &[FileHashes] {
        &self.files
    }

    /// The file holding `piece`.
    pub fn file_of(&self, piece: PieceIndex) -> Option<&FileHashes> {
        self.by_piece
            .get(&piece.get())
            .and_then(|i| self.files.get(*i))
    }

    /// The piece layer of the file with `root`, if known (for a file of
    /// one piece, its root).
    pub fn layer(&self, root: &Hash32) -> Option<std::borrow::Cow<'_, [Hash32]>> {
        let f = self.files.iter().find(|f| &f.root == root)?;
        if f.length <= u64::from(self.piece_length) {
            return Some(std::borrow::Cow::Owned(vec![f.root]));
        }
        f.layer.as_deref().map(std::borrow::Cow::Borrowed)
    }

    /// Take a piece layer that came from a peer, if it hashes up to the
    /// root of a file that lacks one. Returns whether it was taken.
    pub fn set_layer(&mut self, root: &Hash32, layer: Vec<Hash32>) -> bool {
        let pl = self.piece_length;
        let Some(f) = self.files.iter_mut().find(|f| &f.root == root) else {
            return false;
        };
        if f.layer.is_some() || f.length <= u64::from(pl) || layer.len() != f.pieces as usize {
            return false;
        }
        if !merkle::layer_matches(&layer, pl, root) {
            return false;
        }
        f.layer = Some(layer);
        true
    }

    /// The answer to a BEP 52 hash request: the base nodes asked for, then
    /// the proof above them (libtorrent's order and counting), or None to
    /// refuse it. Served from the piece layer and above (a request below
    /// it — leaf hashes — is refused: they are not kept), for a file we
    /// know the layer of; the range is checked as libtorrent checks it,
    /// and at most 512 nodes are given (BEP 52's bound).
    pub fn answer(&self, r: &crate::wire::HashRange) -> Option<Vec<Hash32>> {
        let f = self.files.iter().find(|f| f.root == r.root)?;
        let blocks = f
            .length
            .div_ceil(u64::from(crate::types::BLOCK_SIZE))
            .max(1);
        let num_leaves = usize::try_from(blocks).ok()?.next_power_of_two();
        let num_layers = num_leaves.trailing_zeros();
        let depth = merkle::piece_layer_depth(self.piece_length);
        let (base, index, count) = (r.base_layer, r.index as usize, r.length as usize);
        if count == 0 || count > 512 || base >= num_layers || base < depth {
            return None;
        }
        let level_size = num_leaves >> base;
        if index >= level_size || index + count > level_size || r.proof_layers >= num_layers - base
        {
            return None;
        }
        let layer = f.layer.as_ref()?;
        // The piece layer padded to its full width, then up to the base.
        let mut pad = merkle::pad_hash(depth);
        let mut nodes = layer.clone();
        nodes.resize(num_leaves >> depth, pad);
        for _ in depth..base {
            nodes = nodes
                .chunks(2)
                .map(|p| merkle::parent(&p[0], p.get(1).unwrap_or(&pad)))
                .collect();
            pad = merkle::parent(&pad, &pad);
        }
        let mut out: Vec<Hash32> = nodes.get(index..index + count)?.to_vec();
        out.extend(merkle::proof(&nodes, pad, index, count, r.proof_layers));
        Some(out)
    }

    /// Files longer than a piece whose layer is not known yet.
    pub fn missing(&self) -> impl Iterator<Item = &FileHashes> {
        let pl = u64::from(self.piece_length);
        self.files
            .iter()
            .filter(move |f| f.length > pl && f.layer.is_none())
    }

    /// The v2 half of `piece`'s check: its node, leaves and data length;
    /// None when the layer is not known yet or the piece is only padding.
    fn merkle(&self, piece: PieceIndex) -> Option<(Hash32, u32, u32)> {
        let f = self.file_of(piece)?;
        let pl = u64::from(self.piece_length);
        let k = piece.get().checked_sub(f.first_piece)?;
        let start = u64::from(k) * pl;
        let data_len = (f.length - start).min(pl) as u32;
        let leaves = merkle::piece_leaves(f.length, self.piece_length);
        let root = if f.length <= pl {
            f.root
        } else {
            *f.layer.as_ref()?.get(k as usize)?
        };
        Some((root, leaves, data_len))
    }
}

impl Info {
    /// What `piece` must hash to, given the torrent's v2 hashes (empty for
    /// a v1 torrent). A hybrid piece with no v2 node yet is checked by its
    /// SHA-1 alone.
    pub fn piece_check(&self, v2: &V2Hashes, piece: PieceIndex) -> PieceCheck {
        let sha1 = self.piece_hashes.get(piece.idx()).copied();
        match (sha1, v2.merkle(piece)) {
            (Some(sha1), Some((root, leaves, data_len))) => PieceCheck::Both {
                sha1,
                root,
                leaves,
                data_len,
            },
            (Some(sha1), None) => PieceCheck::Sha1(sha1),
            (None, Some((root, leaves, data_len))) => PieceCheck::Merkle {
                root,
                leaves,
                data_len,
            },
            (None, None) => PieceCheck::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf, pad_hash, verify_range};
    use crate::metainfo::FileEntry;
    use crate::wire::HashRange;

    /// A v2 torrent of one file of 11 pieces of 32 KiB (2 blocks each).
    fn torrent() -> (Info, HashMap<Hash32, Vec<Hash32>>, Hash32) {
        let leaves: Vec<Hash32> = (0..21u8).map(|i| leaf(&[i; 100])).collect();
        let (layer, root) = merkle::file_tree(&leaves, 32768);
        let info = Info {
            name: "t".into(),
            piece_length: 32768,
            piece_hashes: Vec::new(),
            files: vec![
                FileEntry {
                    path: vec!["f".into()],
                    length: 21 * 16384,
                    pieces_root: Some(root),
                    ..FileEntry::default()
                },
                FileEntry {
                    length: 16384,
                    pad: true,
                    ..FileEntry::default()
                },
            ],
            private: false,
            multi_file: false,
            version: Version::V2,
        };
        (info, HashMap::from([(root, layer)]), root)
    }

    #[test]
    fn answers_verify_against_the_root() {
        let (info, layers, root) = torrent();
        let (v2, dropped) = V2Hashes::new(&info, &layers);
        assert!(dropped.is_empty());
        assert_eq!(v2.files().len(), 1);
        // 21 leaves: a tree of 32 leaves, 5 layers; the piece layer is 1,
        // 16 nodes wide (11 real).
        let ask = HashRange {
            root,
            base_layer: 1,
            index: 8,
            length: 8,
            proof_layers: 3,
        };
        let got = v2.answer(&ask).expect("answered");
        assert_eq!(
            got.len(),
            8 + 1,
            "eight nodes and one uncle (the other half)"
        );
        assert!(verify_range(
            &root,
            16,
            8,
            &got[..8],
            pad_hash(1),
            &got[8..]
        ));
        assert_eq!(
            got[..3],
            layers[&root][8..11],
            "the real nodes, then padding"
        );
        // Refused: leaf hashes, past the layer, too many proof layers.
        for bad in [
            HashRange {
                base_layer: 0,
                ..ask
            },
            HashRange { index: 12, ..ask },
            HashRange {
                proof_layers: 4,
                ..ask
            },
            HashRange {
                root: [1; 32],
                ..ask
            },
        ] {
            assert!(v2.answer(&bad).is_none(), "{bad:?}");
        }
        assert!(matches!(
            info.piece_check(&v2, PieceIndex::new(10)),
            PieceCheck::Merkle {
                leaves: 2,
                data_len: 16384,
                ..
            }
        ));
    }

    #[test]
    fn layers_from_peers_must_add_up() {
        let (info, layers, root) = torrent();
        let (mut v2, _) = V2Hashes::new(&info, &HashMap::new());
        assert_eq!(
            info.piece_check(&v2, PieceIndex::new(0)),
            PieceCheck::Unknown
        );
        assert_eq!(v2.missing().count(), 1);
        let mut bad = layers[&root].clone();
        bad[3][0] ^= 1;
        assert!(!v2.set_layer(&root, bad));
        assert!(v2.set_layer(&root, layers[&root].clone()));
        assert!(matches!(
            info.piece_check(&v2, PieceIndex::new(0)),
            PieceCheck::Merkle { .. }
        ));
        // A wrong layer in the torrent itself is dropped, not trusted.
        let mut wrong = layers.clone();
        wrong.get_mut(&root).unwrap()[0][0] ^= 1;
        let (_, dropped) = V2Hashes::new(&info, &wrong);
        assert_eq!(dropped, vec![root]);
    }

    /// A v2 info of one file of `pieces` pieces of `piece_length`, its
    /// layer and root.
    fn one_file(pieces: u32, piece_length: u32) -> (Info, HashMap<Hash32, Vec<Hash32>>, Hash32) {
        let bpp = piece_length / 16384;
        let leaves: Vec<Hash32> = (0..pieces * bpp).map(|i| leaf(&i.to_be_bytes())).collect();
        let (layer, root) = merkle::file_tree(&leaves, piece_length);
        let info = Info {
            name: "t".into(),
            piece_length,
            piece_hashes: Vec::new(),
            files: vec![FileEntry {
                path: vec!["f".into()],
                length: u64::from(pieces) * u64::from(piece_length),
                pieces_root: Some(root),
                ..FileEntry::default()
            }],
            private: false,
            multi_file: false,
            version: Version::V2,
        };
        (info, HashMap::from([(root, layer)]), root)
    }

    proptest::proptest! {
        /// Any request is answered or refused without a panic; an answer
        /// to an aligned range of the piece layer with the whole proof
        /// (what riffle's layer fetch asks) proves out against the root.
        #[test]
        fn answers_prove_out_and_nothing_panics(
            pieces in 2u32..3000,
            shift in 0u32..4,
            base_layer in 0u32..16,
            index in 0u32..4096,
            length in 0u32..1100,
            proof_layers in 0u32..16,
        ) {
            let piece_length = 16384 << shift;
            let (info, layers, root) = one_file(pieces, piece_length);
            let (v2, dropped) = V2Hashes::new(&info, &layers);
            proptest::prop_assert!(dropped.is_empty());
            let r = HashRange { root, base_layer, index, length, proof_layers };
            let _ = v2.answer(&r);
            // The request riffle's fetch makes, at a random aligned chunk.
            let width = (pieces as usize).next_power_of_two();
            let chunk = width.min(512);
            let depth = merkle::piece_layer_depth(piece_length);
            let k = index as usize % width.div_ceil(chunk);
            let ask = HashRange {
                root,
                base_layer: depth,
                index: (k * chunk) as u32,
                length: chunk as u32,
                proof_layers: width.trailing_zeros().saturating_sub(1),
            };
            let got = v2.answer(&ask);
            proptest::prop_assert!(got.is_some(), "{ask:?} refused");
            let got = got.unwrap();
            proptest::prop_assert!(verify_range(
                &root,
                width,
                k * chunk,
                &got[..chunk],
                pad_hash(depth),
                &got[chunk..],
            ));
        }
    }
}

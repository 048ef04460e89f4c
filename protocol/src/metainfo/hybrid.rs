//! Hybrid torrents (`meta version` 2 with the v1 keys, BEP 52): the v1
//! file list and the v2 `file tree` must describe the same files, as
//! libtorrent's `files_compatible` checks, or the torrent is refused.

use super::v2::{remove_tail_padding, Tree};
use super::{FileEntry, MetainfoError};

/// Check a hybrid torrent's v2 tree against its v1 file list: the same
/// number of files, total size, and for every file that is neither empty
/// nor padding the same path, size and offset. On success the v1 files
/// get their pieces roots from the tree.
pub(super) fn check(
    tree: Tree,
    v1: &mut [FileEntry],
    multi_file: bool,
) -> Result<(), MetainfoError> {
    let mut v2 = tree.files;
    if v2.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    if v2.len() == v1.len() + 1 {
        // Older libtorrent wrote hybrids without tail padding.
        remove_tail_padding(&mut v2);
    }
    let inconsistent = Err(MetainfoError::InconsistentHybrid);
    if v2.len() != v1.len() {
        return inconsistent;
    }
    let v1_total: u64 = v1.iter().map(|f| f.length).sum();
    let v2_total: u64 = v2.iter().map(|f| f.length).sum();
    if v1_total != v2_total {
        return inconsistent;
    }
    let (mut off1, mut off2) = (0u64, 0u64);
    for (a, b) in v1.iter().zip(&v2) {
        let a_relevant = !a.pad && a.length > 0;
        let b_relevant = !b.pad && b.length > 0;
        if a_relevant != b_relevant {
            return inconsistent;
        }
        if a_relevant {
            // A single-file v1 torrent names its file by `name`; the tree
            // by its one key. Both are the whole path then.
            let same_path = if multi_file && !tree.single {
                a.path == b.path
            } else {
                a.path.last() == b.path.last() && a.path.len() == 1 && b.path.len() == 1
            };
            if a.length != b.length || !same_path || off1 != off2 {
                return inconsistent;
            }
        }
        off1 += a.length;
        off2 += b.length;
    }
    for (a, b) in v1.iter_mut().zip(&v2) {
        a.pieces_root = b.pieces_root;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::bencode::{encode, Owned};
    use crate::metainfo::{Metainfo, MetainfoError};

    fn leaf(len: i64, root: Option<u8>) -> Owned {
        let mut f = Owned::dict([("length", Owned::Int(len))]);
        if let Some(r) = root {
            f.insert("pieces root", Owned::Bytes(vec![r; 32]));
        }
        Owned::dict([("", f)])
    }

    fn v1_file(path: &[&str], len: i64, pad: bool) -> Owned {
        let mut f = Owned::dict([
            ("length", Owned::Int(len)),
            ("path", Owned::List(path.iter().map(Owned::bytes).collect())),
        ]);
        if pad {
            f.insert("attr", Owned::bytes("p"));
        }
        f
    }

    /// A hybrid of `a` (20,000 bytes) then `b` (5 bytes), as libtorrent
    /// lays it out: a pad file after `a` so `b` starts a piece.
    fn hybrid(b_len_v1: i64, tree_b: Owned) -> Owned {
        Owned::dict([
            (
                "file tree",
                Owned::dict([("a", leaf(20_000, Some(0xab))), ("b", tree_b)]),
            ),
            (
                "files",
                Owned::List(vec![
                    v1_file(&["a"], 20_000, false),
                    v1_file(&[".pad", "12768"], 12_768, true),
                    v1_file(&["b"], b_len_v1, false),
                ]),
            ),
            ("meta version", Owned::Int(2)),
            ("name", Owned::bytes("hy")),
            ("piece length", Owned::Int(16384)),
            ("pieces", Owned::Bytes(vec![1; 60])),
        ])
    }

    fn parse(info: Owned) -> Result<Metainfo, MetainfoError> {
        Metainfo::from_bytes(&encode(&Owned::dict([("info", info)])))
    }

    #[test]
    fn consistent_hybrid_reads_as_v1() {
        let m = parse(hybrid(5, leaf(5, Some(1)))).unwrap();
        assert!(m.info.multi_file);
        assert_eq!(m.info.total_length(), 32_773);
        assert_eq!(m.info.file_path(2), vec!["hy", "b"]);
        assert!(m.info.files[1].pad);
    }

    #[test]
    fn broken_hybrids_are_refused() {
        // Both halves say 6 bytes: consistent.
        assert!(parse(hybrid(6, leaf(6, Some(1)))).is_ok());
        assert_eq!(
            parse(hybrid(5, leaf(7, Some(1)))).unwrap_err(),
            MetainfoError::InconsistentHybrid
        );
        assert!(matches!(
            parse(hybrid(5, leaf(5, None))),
            Err(MetainfoError::FileTree(_))
        ));
        assert!(matches!(
            parse(hybrid(5, leaf(5, Some(0)))),
            Err(MetainfoError::FileTree(_))
        ));
        let mut pad = leaf(5, Some(1));
        if let Owned::Dict(d) = &mut pad {
            if let Some((_, f)) = d.first_mut() {
                f.insert("attr", Owned::bytes("p"));
            }
        }
        assert!(matches!(
            parse(hybrid(5, pad)),
            Err(MetainfoError::FileTree(_))
        ));
        assert!(matches!(
            parse(hybrid(5, Owned::Int(1))),
            Err(MetainfoError::FileTree(_))
        ));
        let mut v2_only = hybrid(5, leaf(5, Some(1)));
        if let Owned::Dict(d) = &mut v2_only {
            d.retain(|(k, _)| k != b"files" && k != b"pieces");
        }
        let v2 = parse(v2_only).expect("a v2-only torrent");
        assert_eq!(v2.info.version, crate::metainfo::Version::V2);
        assert!(v2.info.piece_hashes.is_empty());
        // a, its padding to 32 KiB, b, and b's tail padding.
        assert_eq!(v2.info.files.len(), 4);
        assert_eq!(v2.info.total_length(), 3 * 16384);
        assert_eq!(v2.info.files[0].pieces_root, Some([0xab; 32]));
    }
}

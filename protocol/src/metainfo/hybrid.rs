//! Hybrid torrents (`meta version` 2 with v1 `pieces`, BEP 52): riffle
//! speaks v1 and reads them through their v1 half, but first checks the v2
//! `file tree` the way libtorrent does, so a hybrid libtorrent refuses
//! (malformed tree, v1 and v2 halves that disagree) is refused here too.

use super::sanitize::sanitize_element;
use super::{FileEntry, MetainfoError, MAX_FILE_SIZE, MAX_TOTAL_SIZE};
use crate::bencode::{Dict, Value};

/// One file of the v2 tree, with the pad files libtorrent inserts after
/// each file so the next starts on a piece boundary.
struct TreeFile {
    /// Full path as libtorrent builds it: `name/dir/file`, or `file` for a
    /// single-file torrent.
    path: String,
    size: u64,
    pad: bool,
}

/// Walk state.
struct Walk {
    piece_length: u64,
    files: Vec<TreeFile>,
    total: u64,
}

fn tree_err(what: &str) -> MetainfoError {
    MetainfoError::FileTree(what.to_owned())
}

impl Walk {
    fn dir(
        &mut self,
        tree: &Dict<'_>,
        prefix: &str,
        has_files: bool,
        depth: u32,
    ) -> Result<(), MetainfoError> {
        if depth > 100 {
            return Err(tree_err("nested more than 100 levels"));
        }
        for entry in &tree.entries {
            let Value::Dict(child) = &entry.value else {
                return Err(tree_err("an entry is not a dictionary"));
            };
            if entry.key.is_empty() {
                return Err(tree_err("an entry has an empty name"));
            }
            let leaf = child.len() == 1 && child.entries.first().is_some_and(|e| e.key.is_empty());
            let single = leaf && !has_files && tree.len() == 1;
            let mut path = if single {
                String::new()
            } else {
                prefix.to_owned()
            };
            if let Some(c) = sanitize_element(entry.key) {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(&c);
            }
            if leaf {
                let Some(Value::Dict(file)) = child.entries.first().map(|e| &e.value) else {
                    return Err(tree_err("a file entry is not a dictionary"));
                };
                self.file(file, path)?;
            } else {
                self.dir(child, &path, true, depth + 1)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, d: &Dict<'_>, path: String) -> Result<(), MetainfoError> {
        let attr = d.get_bytes(b"attr").unwrap_or_default();
        if attr.contains(&b'p') {
            return Err(tree_err("a pad file is listed"));
        }
        let symlink = attr.contains(&b'l');
        let size = if symlink {
            0
        } else {
            d.get_int(b"length").unwrap_or(-1)
        };
        if size < 0 || size / (16 * 1024) >= (i32::MAX / 2) as i64 || size > MAX_FILE_SIZE {
            return Err(MetainfoError::FileLength(format!(
                "info.file tree {path:?}"
            )));
        }
        if symlink {
            if let Some(l) = d.get_list(b"symlink path") {
                if l.iter().any(|e| e.as_bytes().is_none()) {
                    return Err(tree_err(
                        "a symlink path has an element that is not a string",
                    ));
                }
            }
        } else if size > 0 {
            match d.get_bytes(b"pieces root") {
                Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => {}
                _ => return Err(tree_err("a file has no valid pieces root")),
            }
        }
        let size = size as u64;
        if MAX_TOTAL_SIZE - self.total < size {
            return Err(MetainfoError::TotalTooLarge);
        }
        self.files.push(TreeFile {
            path,
            size,
            pad: false,
        });
        self.total += size;
        let rem = self.total % self.piece_length;
        if rem != 0 {
            let pad = self.piece_length - rem;
            if self.total > MAX_TOTAL_SIZE - pad {
                return Err(MetainfoError::TotalTooLarge);
            }
            self.files.push(TreeFile {
                path: format!(".pad/{pad}"),
                size: pad,
                pad: true,
            });
            self.total += pad;
        }
        Ok(())
    }
}

/// Check a hybrid torrent's v2 `file tree` against its v1 file list, as
/// libtorrent's `files_compatible` does: the same number of files, total
/// size, and for every file that is neither empty nor padding the same
/// path, size and offset.
pub(super) fn check(
    tree: &Dict<'_>,
    piece_length: u64,
    has_files: bool,
    name: &str,
    v1: &[FileEntry],
    multi_file: bool,
) -> Result<(), MetainfoError> {
    let mut walk = Walk {
        piece_length,
        files: Vec::new(),
        total: 0,
    };
    walk.dir(tree, name, has_files, 0)?;
    let mut v2 = walk.files;
    if v2.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    if v2.len() == v1.len() + 1 {
        // Older libtorrent wrote hybrids without tail padding.
        if let Some(last) = v2.iter().rposition(|f| f.size > 0) {
            if v2.get(last).is_some_and(|f| f.pad) {
                v2.remove(last);
            }
        }
    }
    let inconsistent = Err(MetainfoError::InconsistentHybrid);
    if v2.len() != v1.len() {
        return inconsistent;
    }
    let v1_total: u64 = v1.iter().map(|f| f.length).sum();
    let v2_total: u64 = v2.iter().map(|f| f.size).sum();
    if v1_total != v2_total {
        return inconsistent;
    }
    let (mut off1, mut off2) = (0u64, 0u64);
    for (a, b) in v1.iter().zip(&v2) {
        let a_relevant = !a.pad && a.length > 0;
        let b_relevant = !b.pad && b.size > 0;
        if a_relevant != b_relevant {
            return inconsistent;
        }
        if a_relevant {
            let a_path = if multi_file {
                format!("{name}/{}", a.path.join("/"))
            } else {
                name.to_owned()
            };
            if a.length != b.size || a_path != b.path || off1 != off2 {
                return inconsistent;
            }
        }
        off1 += a.length;
        off2 += b.size;
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
        assert_eq!(parse(v2_only).unwrap_err(), MetainfoError::V2Only);
    }
}

//! The v2 half of a torrent (BEP 52): the `file tree` walked as libtorrent
//! 2.0 walks it — a pad file after every file that does not end on a
//! piece boundary, so each file starts a piece — and the `piece layers`
//! beside the info dictionary.

use std::collections::HashMap;

use super::sanitize::sanitize_element;
use super::{FileEntry, MetainfoError, MAX_FILE_SIZE, MAX_TOTAL_SIZE};
use crate::bencode::{Dict, Value};
use crate::merkle::Hash32;

fn tree_err(what: &str) -> MetainfoError {
    MetainfoError::FileTree(what.to_owned())
}

/// The files of a `file tree`, in order, with the pad files libtorrent
/// inserts; and whether it is a single file (one leaf at the top, and no
/// v1 `files` list).
pub(super) struct Tree {
    pub files: Vec<FileEntry>,
    pub single: bool,
    pub total: u64,
}

struct Walk {
    piece_length: u64,
    files: Vec<FileEntry>,
    total: u64,
    single: bool,
}

/// Walk `tree`. Paths are below the torrent's directory (for a single
/// file: the file's own name).
pub(super) fn walk(
    tree: &Dict<'_>,
    piece_length: u64,
    has_files: bool,
) -> Result<Tree, MetainfoError> {
    let mut w = Walk {
        piece_length,
        files: Vec::new(),
        total: 0,
        single: false,
    };
    w.dir(tree, &[], has_files, 0)?;
    Ok(Tree {
        files: w.files,
        single: w.single,
        total: w.total,
    })
}

impl Walk {
    fn dir(
        &mut self,
        tree: &Dict<'_>,
        prefix: &[String],
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
            let single = leaf && !has_files && tree.len() == 1 && depth == 0;
            let mut path = prefix.to_vec();
            // libtorrent strips leading separators from the key first.
            let key = entry
                .key
                .iter()
                .position(|&b| b != b'/')
                .map_or(&[][..], |i| &entry.key[i..]);
            if let Some(c) = sanitize_element(key) {
                path.push(c);
            }
            if leaf {
                let Some(Value::Dict(file)) = child.entries.first().map(|e| &e.value) else {
                    return Err(tree_err("a file entry is not a dictionary"));
                };
                self.single = single;
                self.file(file, path)?;
            } else {
                self.dir(child, &path, true, depth + 1)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, d: &Dict<'_>, path: Vec<String>) -> Result<(), MetainfoError> {
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
                "info.file tree {:?}",
                path.join("/")
            )));
        }
        let mut target = None;
        let mut pieces_root = None;
        if symlink {
            if let Some(l) = d.get_list(b"symlink path") {
                if l.iter().any(|e| e.as_bytes().is_none()) {
                    return Err(tree_err(
                        "a symlink path has an element that is not a string",
                    ));
                }
                let t: Vec<String> = l
                    .iter()
                    .filter_map(|e| e.as_bytes())
                    .filter_map(sanitize_element)
                    .collect();
                target = (!t.is_empty()).then_some(t);
            }
        } else if size > 0 {
            match d.get_bytes(b"pieces root") {
                Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => {
                    pieces_root = <[u8; 32]>::try_from(r).ok();
                }
                _ => return Err(tree_err("a file has no valid pieces root")),
            }
        }
        let size = size as u64;
        if MAX_TOTAL_SIZE - self.total < size {
            return Err(MetainfoError::TotalTooLarge);
        }
        self.files.push(FileEntry {
            path,
            length: size,
            pad: false,
            executable: attr.contains(&b'x'),
            hidden: attr.contains(&b'h'),
            symlink: target,
            pieces_root,
        });
        self.total += size;
        let rem = self.total % self.piece_length;
        if rem != 0 {
            let pad = self.piece_length - rem;
            if self.total > MAX_TOTAL_SIZE - pad {
                return Err(MetainfoError::TotalTooLarge);
            }
            self.files.push(FileEntry {
                path: Vec::new(),
                length: pad,
                pad: true,
                ..FileEntry::default()
            });
            self.total += pad;
        }
        Ok(())
    }
}

/// Drop the pad file after the last file that has data (libtorrent before
/// 2.0 wrote hybrids without it; it accepts both).
pub(super) fn remove_tail_padding(files: &mut Vec<FileEntry>) {
    if let Some(last) = files.iter().rposition(|f| f.length > 0) {
        if files.get(last).is_some_and(|f| f.pad) {
            files.remove(last);
        }
    }
}

/// The `piece layers` dictionary: for each file longer than a piece, its
/// pieces root and the piece-layer hashes. As libtorrent 2.0 reads it: a
/// key that is not 32 bytes, a value that is not a string of whole hashes,
/// or a layer of the wrong length for its file refuses the torrent; hashes
/// that do not add up to their root are found (and dropped) when the
/// torrent starts.
pub(super) fn piece_layers(
    d: &Dict<'_>,
    files: &[FileEntry],
    piece_length: u32,
) -> Result<HashMap<Hash32, Vec<Hash32>>, MetainfoError> {
    let mut raw: HashMap<Hash32, &[u8]> = HashMap::new();
    for e in &d.entries {
        let key = <[u8; 32]>::try_from(e.key).map_err(|_| MetainfoError::PieceLayers)?;
        let value = e
            .value
            .as_bytes()
            .filter(|v| v.len() % 32 == 0)
            .ok_or(MetainfoError::PieceLayers)?;
        raw.insert(key, value);
    }
    let mut out = HashMap::new();
    for f in files {
        let Some(root) = f.pieces_root else { continue };
        if f.length <= u64::from(piece_length) {
            continue;
        }
        let Some(bytes) = raw.get(&root) else {
            continue;
        };
        let pieces = f.length.div_ceil(u64::from(piece_length));
        if bytes.len() as u64 != pieces * 32 {
            return Err(MetainfoError::PieceLayers);
        }
        let layer = bytes
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        out.insert(root, layer);
    }
    Ok(out)
}

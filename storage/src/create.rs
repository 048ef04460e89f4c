//! The files of a new torrent: find them, then hash their pieces.
//!
//! [`Source::scan`] takes a file or a folder and lists what a torrent of it
//! holds — every regular file below a folder, in byte order of their paths
//! (the same folder always gives the same torrent), symbolic links left out
//! and reported. [`Source::hash_pieces`] computes the SHA-1 of every piece
//! on several threads through the same [`FsStorage`] and [`Verifier`] that
//! downloads and seeds use (positional reads, no shared file cursor), so
//! creating a torrent and checking one share one read path. Building the
//! `.torrent` from the hashes is riffle-protocol's `TorrentBuilder`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use riffle_protocol::merkle::{self, Hash32};
use riffle_protocol::PieceIndex;
use thiserror::Error;

use crate::{FsStorage, Layout, Storage, StorageError, Verifier};

/// Why a torrent could not be made from a path.
#[derive(Debug, Error)]
pub enum CreateError {
    /// The path, or a file below it, could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Walking the folder failed.
    #[error("cannot list {}", path.display())]
    List {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: walkdir::Error,
    },
    /// The path ends in no name (`/`, say) to give the torrent.
    #[error("{} has no name to give the torrent", .0.display())]
    NoName(PathBuf),
    /// Torrent paths are UTF-8 text.
    #[error("{} is not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),
    /// A device, a socket, a pipe.
    #[error("{} is neither a file nor a folder", .0.display())]
    NotFileOrFolder(PathBuf),
    /// A folder with no regular file in it.
    #[error("{} holds no files to share", .0.display())]
    NoFiles(PathBuf),
    /// Files that add up to zero bytes have no pieces.
    #[error("{} holds only empty files: there is nothing to share", .0.display())]
    NothingToShare(PathBuf),
    /// The files cannot be cut into pieces of this length.
    #[error("cannot lay out the pieces")]
    Layout(#[source] StorageError),
    /// The files cannot be opened for reading.
    #[error("cannot open the files")]
    Open(#[source] StorageError),
    /// Reading a piece back failed.
    #[error("cannot read the files (did they change while hashing?)")]
    Hash(#[source] StorageError),
    /// A hashing thread panicked.
    #[error("a hashing thread failed")]
    Worker,
}

/// One file of the torrent: its path inside the torrent and its length
/// when it was listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Path components below the torrent's folder (for a single-file
    /// torrent, the file's name alone).
    pub components: Vec<String>,
    /// Length in bytes.
    pub length: u64,
}

/// The hashes of a new torrent: SHA-1 per piece (v1 and hybrid), and per
/// file its pieces root and, for a file longer than a piece, its piece
/// layer (hybrid and v2; `None` for an empty file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TorrentHashes {
    /// SHA-1 of each piece (of the padded layout for a hybrid).
    pub sha1: Vec<[u8; 20]>,
    /// Per file, in order: (pieces root, piece layer).
    pub v2: Vec<Option<(Hash32, Option<Vec<Hash32>>)>>,
}

/// The length of the BEP 47 pad file after a file that ends at `end` in a
/// torrent aligned to pieces of `piece_length` (0: none needed).
pub fn pad_after(end: u64, piece_length: u32) -> u64 {
    let pl = u64::from(piece_length);
    match end % pl {
        0 => 0,
        r => pl - r,
    }
}

/// What a torrent made from one path holds.
#[derive(Clone, Debug)]
pub struct Source {
    /// The directory the torrent's name lives in (the path's parent).
    pub parent: PathBuf,
    /// The torrent's name: the last component of the canonical path.
    pub name: String,
    /// A single file (true) or a folder (false).
    pub single: bool,
    /// The files, in the order the torrent lists them.
    pub files: Vec<SourceFile>,
    /// Symbolic links found below a folder and left out.
    pub skipped_links: Vec<PathBuf>,
}

impl Source {
    /// List what a torrent of `path` (a file or a folder) holds. `skip` is
    /// left out if it lies inside (the `.torrent` being written). Fails on
    /// a path with nothing to share.
    pub fn scan(path: &Path, skip: Option<&Path>) -> Result<Source, CreateError> {
        let read = |source| CreateError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        let canonical = std::fs::canonicalize(path).map_err(read)?;
        let name = file_name(&canonical)?;
        let single = meta.is_file();
        let mut skipped_links = Vec::new();
        let files = if single {
            vec![SourceFile {
                components: vec![name.clone()],
                length: meta.len(),
            }]
        } else if meta.is_dir() {
            let skip = skip.and_then(|s| std::fs::canonicalize(s).ok());
            list_folder(path, skip.as_deref(), &mut skipped_links)?
        } else {
            return Err(CreateError::NotFileOrFolder(path.to_owned()));
        };
        if files.is_empty() {
            return Err(CreateError::NoFiles(path.to_owned()));
        }
        if files.iter().map(|f| f.length).sum::<u64>() == 0 {
            return Err(CreateError::NothingToShare(path.to_owned()));
        }
        Ok(Source {
            parent: canonical.parent().unwrap_or(Path::new("/")).to_owned(),
            name,
            single,
            files,
            skipped_links,
        })
    }

    /// Bytes in all the files.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// The files' paths on disk below [`Source::parent`], as
    /// [`FsStorage::new`] takes them.
    fn paths_on_disk(&self) -> Vec<Vec<String>> {
        if self.single {
            return vec![vec![self.name.clone()]];
        }
        self.files
            .iter()
            .map(|f| {
                std::iter::once(self.name.clone())
                    .chain(f.components.iter().cloned())
                    .collect()
            })
            .collect()
    }

    /// SHA-1 of every piece of `piece_length` bytes, on `workers` threads
    /// (each claims the next piece index in turn); `progress` hears the
    /// length of every piece hashed.
    pub fn hash_pieces(
        &self,
        piece_length: u32,
        workers: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<[u8; 20]>, CreateError> {
        let layout = Layout::new(self.files.iter().map(|f| f.length).collect(), piece_length)
            .map_err(CreateError::Layout)?;
        let piece_count = layout.piece_count();
        let storage = FsStorage::new(&self.parent, layout, &self.paths_on_disk())
            .map_err(CreateError::Open)?;
        let next = AtomicU32::new(0);
        let hashes = Mutex::new(vec![[0u8; 20]; piece_count as usize]);
        let workers = workers.clamp(1, piece_count.max(1) as usize);
        let worker = || -> Result<(), CreateError> {
            let mut verifier = Verifier::new();
            loop {
                let piece = next.fetch_add(1, Ordering::Relaxed);
                if piece >= piece_count {
                    return Ok(());
                }
                let piece = PieceIndex::new(piece);
                let digest = verifier
                    .hash_piece(&storage, piece)
                    .map_err(CreateError::Hash)?;
                hashes.lock().map_err(|_| CreateError::Worker)?[piece.idx()] = digest;
                let len = storage
                    .layout()
                    .piece_len(piece)
                    .map_err(CreateError::Hash)?;
                progress(u64::from(len));
            }
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| CreateError::Worker)?)
        })?;
        hashes.into_inner().map_err(|_| CreateError::Worker)
    }
}

impl Source {
    /// Hash the files for a torrent that speaks v1 (`v1`), v2 (`v2`) or
    /// both (a hybrid): for v2 each file starts a piece (a pad file after
    /// every file that does not end on a piece boundary, in a folder), and
    /// a hybrid's SHA-1 pieces cover that padding as zeros. One read of
    /// the data serves both. `progress` hears every piece's length.
    pub fn hash(
        &self,
        piece_length: u32,
        v1: bool,
        v2: bool,
        workers: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<TorrentHashes, CreateError> {
        if !v2 {
            let sha1 = self.hash_pieces(piece_length, workers, progress)?;
            return Ok(TorrentHashes {
                sha1,
                v2: Vec::new(),
            });
        }
        // The padded layout: (length, pad, index of the real file).
        let mut entries: Vec<(u64, bool, usize)> = Vec::new();
        let mut end = 0u64;
        for (i, f) in self.files.iter().enumerate() {
            entries.push((f.length, false, i));
            end += f.length;
            let pad = pad_after(end, piece_length);
            if !self.single && f.length > 0 && pad > 0 {
                entries.push((pad, true, i));
                end += pad;
            }
        }
        let layout = Layout::new(entries.iter().map(|e| e.0).collect(), piece_length)
            .map_err(CreateError::Layout)?;
        let disk = self.paths_on_disk();
        let paths: Vec<Vec<String>> = entries
            .iter()
            .enumerate()
            .map(|(k, e)| match e.1 {
                // Never read: a name that clashes with nothing.
                true => vec![format!(".riffle-pad-{k}")],
                false => disk[e.2].clone(),
            })
            .collect();
        let storage = FsStorage::new(&self.parent, layout, &paths)
            .map_err(CreateError::Open)?
            .with_pad_files(entries.iter().map(|e| e.1).collect());
        let piece_count = storage.layout().piece_count();
        // Per piece: the file it belongs to and its bytes of that file.
        let mut owner = Vec::with_capacity(piece_count as usize);
        for p in 0..piece_count {
            let span = storage
                .layout()
                .piece_spans(PieceIndex::new(p))
                .map_err(CreateError::Hash)?
                .next();
            let (file, data_len) = match span {
                Some(s) if !entries[s.file_index].1 => (entries[s.file_index].2, s.len as u32),
                _ => (usize::MAX, 0),
            };
            owner.push((file, data_len));
        }
        let next = AtomicU32::new(0);
        let results = Mutex::new(vec![([0u8; 20], merkle::ZERO); piece_count as usize]);
        let workers = workers.clamp(1, piece_count.max(1) as usize);
        let worker = || -> Result<(), CreateError> {
            let mut verifier = Verifier::new();
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= piece_count {
                    return Ok(());
                }
                let (file, data_len) = owner[p as usize];
                let piece = PieceIndex::new(p);
                let (sha1, leaves) = verifier
                    .hash_both(&storage, piece, data_len, v1)
                    .map_err(CreateError::Hash)?;
                let node = match self.files.get(file) {
                    Some(f) => merkle::root(
                        &leaves,
                        merkle::piece_leaves(f.length, piece_length) as usize,
                        merkle::ZERO,
                    ),
                    None => merkle::ZERO,
                };
                results.lock().map_err(|_| CreateError::Worker)?[p as usize] =
                    (sha1.unwrap_or_default(), node);
                progress(u64::from(
                    storage
                        .layout()
                        .piece_len(piece)
                        .map_err(CreateError::Hash)?,
                ));
            }
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| CreateError::Worker)?)
        })?;
        let results = results.into_inner().map_err(|_| CreateError::Worker)?;
        let mut per_file: Vec<Vec<Hash32>> = vec![Vec::new(); self.files.len()];
        for (p, (file, _)) in owner.iter().enumerate() {
            if let Some(v) = per_file.get_mut(*file) {
                v.push(results[p].1);
            }
        }
        let pad = merkle::pad_hash(merkle::piece_layer_depth(piece_length));
        let v2_hashes = self
            .files
            .iter()
            .zip(per_file)
            .map(|(f, nodes)| match (f.length, nodes.len()) {
                (0, _) | (_, 0) => None,
                (len, _) if len <= u64::from(piece_length) => Some((nodes[0], None)),
                _ => {
                    let root = merkle::root(&nodes, nodes.len().next_power_of_two(), pad);
                    Some((root, Some(nodes)))
                }
            })
            .collect();
        Ok(TorrentHashes {
            sha1: if v1 {
                results.iter().map(|r| r.0).collect()
            } else {
                Vec::new()
            },
            v2: v2_hashes,
        })
    }
}

/// The last component of `path`, as UTF-8.
fn file_name(path: &Path) -> Result<String, CreateError> {
    let name = path
        .file_name()
        .ok_or_else(|| CreateError::NoName(path.to_owned()))?;
    name.to_str()
        .map(String::from)
        .ok_or_else(|| CreateError::NotUtf8(path.to_owned()))
}

/// Every regular file under `root`, in byte order of their paths. Symbolic
/// links go to `links`; `skip` (canonical) is left out.
fn list_folder(
    root: &Path,
    skip: Option<&Path>,
    links: &mut Vec<PathBuf>,
) -> Result<Vec<SourceFile>, CreateError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|source| CreateError::List {
            path: root.to_owned(),
            source,
        })?;
        let ft = entry.file_type();
        if ft.is_symlink() {
            links.push(entry.path().to_owned());
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        if skip.is_some() && std::fs::canonicalize(entry.path()).ok().as_deref() == skip {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths below its root");
        let components = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_str()
                    .map(String::from)
                    .ok_or_else(|| CreateError::NotUtf8(entry.path().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let length = entry
            .metadata()
            .map_err(|e| CreateError::Read {
                path: entry.path().to_owned(),
                source: e.into(),
            })?
            .len();
        out.push(SourceFile { components, length });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sha1_digest;

    #[test]
    fn a_folder_is_listed_in_path_order_and_hashed_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("album");
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("b/z.txt"), b"orld").unwrap();
        std::fs::write(root.join("a.txt"), b"hello, w").unwrap();
        std::fs::write(root.join("album.torrent"), b"not data").unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link")).unwrap();

        let source = Source::scan(&root, Some(&root.join("album.torrent"))).unwrap();
        assert_eq!(source.name, "album");
        assert!(!source.single);
        let names: Vec<String> = source
            .files
            .iter()
            .map(|f| f.components.join("/"))
            .collect();
        assert_eq!(names, ["a.txt", "b/z.txt"]);
        assert_eq!(source.skipped_links, [root.join("link")]);
        assert_eq!(source.total_length(), 12);

        let seen = AtomicU32::new(0);
        let progress = |n: u64| {
            seen.fetch_add(n as u32, Ordering::Relaxed);
        };
        let hashes = source.hash_pieces(8, 3, &progress).unwrap();
        assert_eq!(hashes, [sha1_digest(b"hello, w"), sha1_digest(b"orld")]);
        assert_eq!(seen.load(Ordering::Relaxed), 12);
    }

    #[test]
    fn a_single_file_is_its_own_torrent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.bin");
        std::fs::write(&path, vec![7u8; 20]).unwrap();
        let source = Source::scan(&path, None).unwrap();
        assert!(source.single);
        assert_eq!(source.files[0].components, ["one.bin"]);
        let hashes = source.hash_pieces(16, 8, &|_| {}).unwrap();
        assert_eq!(hashes, [sha1_digest(&[7u8; 16]), sha1_digest(&[7u8; 4])]);
    }

    #[test]
    fn nothing_to_share_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            Source::scan(&empty, None),
            Err(CreateError::NoFiles(_))
        ));
        std::fs::write(empty.join("zero"), b"").unwrap();
        assert!(matches!(
            Source::scan(&empty, None),
            Err(CreateError::NothingToShare(_))
        ));
        assert!(matches!(
            Source::scan(&dir.path().join("missing"), None),
            Err(CreateError::Read { .. })
        ));
    }
}

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

//! In-memory backend, for tests and the swarm lab.

use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use crate::backend::{check_file_range, FileStatus, Storage};
use crate::{Layout, StorageError};

/// One file held in memory, once it exists.
#[derive(Debug)]
struct MemFile {
    /// The file's bytes, always at its full layout length.
    data: Vec<u8>,
    /// Time of the last write, reported as the modification time.
    modified: SystemTime,
}

/// A [`Storage`] that keeps each file in its own `Vec<u8>`, allocated at
/// full length on the file's first write (so an idle swarm-lab peer costs
/// nothing). Same semantics as the filesystem backend: unwritten bytes of an
/// existing file read as zeros, a never-written file is
/// [`StorageError::Missing`]. Each file has its own lock, so writers to
/// different files never contend.
#[derive(Debug)]
pub struct MemStorage {
    /// The geometry.
    layout: Layout,
    /// One slot per file; `None` until the file is created.
    files: Vec<RwLock<Option<MemFile>>>,
}

impl MemStorage {
    /// An empty storage: no file exists yet.
    pub fn new(layout: Layout) -> MemStorage {
        let files = (0..layout.file_count())
            .map(|_| RwLock::new(None))
            .collect();
        MemStorage { layout, files }
    }

    /// A storage already holding the whole torrent, `content` being the
    /// concatenation of all files (a seeder in the lab or a test).
    pub fn with_content(layout: Layout, content: &[u8]) -> Result<MemStorage, StorageError> {
        if content.len() as u64 != layout.total_length() {
            return Err(StorageError::ContentLength {
                expected: layout.total_length(),
                got: content.len() as u64,
            });
        }
        let storage = MemStorage::new(layout);
        let mut rest = content;
        for (i, &len) in storage.layout.file_lengths().iter().enumerate() {
            let n = usize::try_from(len).unwrap_or(usize::MAX).min(rest.len());
            let (head, tail) = rest.split_at(n);
            if n > 0 {
                storage.write_at(i, 0, head)?;
            }
            rest = tail;
        }
        storage.create_empty_files()?;
        Ok(storage)
    }

    /// A copy of file `file_index`'s bytes, or `None` if it does not exist.
    pub fn file_contents(&self, file_index: usize) -> Result<Option<Vec<u8>>, StorageError> {
        let slot = self.read_slot(file_index)?;
        Ok(slot.as_ref().map(|f| f.data.clone()))
    }

    /// Remove file `file_index` as if deleted from disk (for tests of
    /// resume and verification).
    pub fn remove_file(&self, file_index: usize) -> Result<(), StorageError> {
        *self.write_slot(file_index)? = None;
        Ok(())
    }

    /// A name for error messages: memory files have no path.
    fn pseudo_path(file_index: usize) -> PathBuf {
        PathBuf::from(format!("<memory file {file_index}>"))
    }

    fn slot(&self, file_index: usize) -> Result<&RwLock<Option<MemFile>>, StorageError> {
        self.files
            .get(file_index)
            .ok_or(StorageError::FileOutOfRange {
                index: file_index,
                count: self.files.len(),
            })
    }

    fn read_slot(
        &self,
        file_index: usize,
    ) -> Result<RwLockReadGuard<'_, Option<MemFile>>, StorageError> {
        // A poisoned lock only means another thread panicked mid-copy; the
        // bytes are still plain bytes.
        Ok(self
            .slot(file_index)?
            .read()
            .unwrap_or_else(|e| e.into_inner()))
    }

    fn write_slot(
        &self,
        file_index: usize,
    ) -> Result<RwLockWriteGuard<'_, Option<MemFile>>, StorageError> {
        Ok(self
            .slot(file_index)?
            .write()
            .unwrap_or_else(|e| e.into_inner()))
    }

    /// A zeroed buffer of `len` bytes, or an error instead of an abort when
    /// it cannot be allocated.
    fn zeroed(file_index: usize, len: u64) -> Result<Vec<u8>, StorageError> {
        let oom = || {
            StorageError::io(
                Self::pseudo_path(file_index),
                std::io::Error::from(std::io::ErrorKind::OutOfMemory),
            )
        };
        let n = usize::try_from(len).map_err(|_| oom())?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| oom())?;
        v.resize(n, 0);
        Ok(v)
    }
}

impl Storage for MemStorage {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn write_at(&self, file_index: usize, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let file_len = check_file_range(&self.layout, file_index, offset, data.len())?;
        if data.is_empty() {
            // Like the filesystem backend: an empty write creates nothing.
            return Ok(());
        }
        let mut slot = self.write_slot(file_index)?;
        let file = match &mut *slot {
            Some(f) => f,
            none => none.insert(MemFile {
                data: Self::zeroed(file_index, file_len)?,
                modified: SystemTime::now(),
            }),
        };
        // The range was checked against the layout length, which is the
        // buffer's length.
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let dst = file
            .data
            .get_mut(start..)
            .and_then(|d| d.get_mut(..data.len()))
            .ok_or(StorageError::Truncated {
                file_index,
                path: Self::pseudo_path(file_index),
            })?;
        dst.copy_from_slice(data);
        file.modified = SystemTime::now();
        Ok(())
    }

    fn read_at(&self, file_index: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        check_file_range(&self.layout, file_index, offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let slot = self.read_slot(file_index)?;
        let file = slot.as_ref().ok_or(StorageError::Missing {
            file_index,
            path: Self::pseudo_path(file_index),
        })?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = file
            .data
            .get(start..)
            .and_then(|d| d.get(..buf.len()))
            .ok_or(StorageError::Truncated {
                file_index,
                path: Self::pseudo_path(file_index),
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn create_empty_files(&self) -> Result<(), StorageError> {
        for (i, &len) in self.layout.file_lengths().iter().enumerate() {
            if len == 0 {
                let mut slot = self.write_slot(i)?;
                if slot.is_none() {
                    *slot = Some(MemFile {
                        data: Vec::new(),
                        modified: SystemTime::now(),
                    });
                }
            }
        }
        Ok(())
    }

    fn file_status(&self, file_index: usize) -> Result<Option<FileStatus>, StorageError> {
        let slot = self.read_slot(file_index)?;
        Ok(slot.as_ref().map(|f| FileStatus {
            length: f.data.len() as u64,
            modified: Some(f.modified),
        }))
    }

    fn sync_all(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

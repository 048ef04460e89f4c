//! A small LRU cache of open file handles shared by many threads.

use std::fs::File;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

/// One cached handle and whether it was opened for writing.
#[derive(Debug, Clone)]
struct Entry {
    /// The open file; cloned out of the cache so I/O runs without the lock.
    file: Arc<File>,
    /// Opened read-write (a read-only handle cannot serve a write).
    writable: bool,
}

/// Open files keyed by file index, least recently used evicted first.
///
/// The mutex is held only to look up or insert an `Arc<File>`, never during
/// I/O. An evicted handle is dropped (closed) after the lock is released; a
/// thread still using it keeps it alive through its own `Arc`.
#[derive(Debug)]
pub(crate) struct HandleCache {
    /// The cache proper.
    inner: Mutex<LruCache<usize, Entry>>,
}

impl HandleCache {
    /// A cache holding at most `capacity` open files.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        HandleCache {
            inner: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<usize, Entry>> {
        // A poisoned lock holds nothing but handles; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached handle of `file_index`, if there is one good enough
    /// (writable when `need_write`).
    pub(crate) fn get(&self, file_index: usize, need_write: bool) -> Option<Arc<File>> {
        let mut cache = self.lock();
        let entry = cache.get(&file_index)?;
        (entry.writable || !need_write).then(|| Arc::clone(&entry.file))
    }

    /// Remember a freshly opened handle, replacing any older one.
    pub(crate) fn insert(&self, file_index: usize, file: Arc<File>, writable: bool) {
        let evicted = self.lock().push(file_index, Entry { file, writable });
        // Closing a file is a syscall: do it outside the lock.
        drop(evicted);
    }

    /// Forget every handle (they close once no I/O holds them).
    pub(crate) fn clear(&self) {
        let old: Vec<Entry> = {
            let mut cache = self.lock();
            let mut v = Vec::with_capacity(cache.len());
            while let Some((_, e)) = cache.pop_lru() {
                v.push(e);
            }
            v
        };
        drop(old);
    }

    /// Number of handles currently cached.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

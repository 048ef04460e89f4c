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
    /// The cache proper (grown as files are opened: a bounded `LruCache`
    /// allocates its whole capacity up front, ~2 KiB per idle torrent).
    inner: Mutex<LruCache<usize, Entry>>,
    /// At most this many handles.
    capacity: NonZeroUsize,
}

impl HandleCache {
    /// A cache holding at most `capacity` open files.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        HandleCache {
            inner: Mutex::new(LruCache::unbounded()),
            capacity,
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
        let (replaced, evicted) = {
            let mut cache = self.lock();
            let replaced = cache.push(file_index, Entry { file, writable });
            let evicted = if cache.len() > self.capacity.get() {
                cache.pop_lru()
            } else {
                None
            };
            (replaced, evicted)
        };
        // Closing a file is a syscall: do it outside the lock.
        drop((replaced, evicted));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let open = |i: usize| {
            let p = dir.path().join(format!("f{i}"));
            Arc::new(File::create(p).unwrap())
        };
        let c = HandleCache::new(NonZeroUsize::new(2).unwrap());
        assert_eq!(c.len(), 0);
        c.insert(0, open(0), true);
        c.insert(1, open(1), false);
        assert!(c.get(0, true).is_some(), "0 used last");
        c.insert(2, open(2), true);
        assert_eq!(c.len(), 2);
        assert!(c.get(1, false).is_none(), "1 was the least recently used");
        assert!(c.get(0, true).is_some() && c.get(2, false).is_some());
        // A read-only handle does not serve a write; replacing keeps the size.
        c.insert(0, open(0), false);
        assert!(c.get(0, true).is_none());
        assert_eq!(c.len(), 2);
    }
}

//! Handing freed memory back to the system after a large reply.
//!
//! A `torrent-get` of thousands of torrents builds (and frees) thousands
//! of small allocations: the manager's view of each torrent, each one's
//! JSON object. glibc keeps the pages they leave free inside its heap, so
//! every such poll (a web interface polls every few seconds) left the
//! daemon ~15 MiB larger at 10,000 torrents. `malloc_trim` returns those
//! pages; it walks the heap (a few milliseconds at 10,000 torrents), so it
//! runs at most every [`TRIM_EVERY`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Replies of at least this many torrents are followed by a trim.
pub(crate) const LARGE_REPLY: usize = 256;
/// At most one trim this often.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Return the heap's free pages to the system, unless that was done less
/// than [`TRIM_EVERY`] ago. Does nothing but with glibc.
pub(crate) fn trim_after_large_reply() {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|t| t.elapsed() < TRIM_EVERY) {
        return;
    }
    *last = Some(Instant::now());
    drop(last);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory inside glibc's heap;
    // it takes the allocator's own locks and touches no Rust object.
    unsafe {
        libc::malloc_trim(0);
    }
}

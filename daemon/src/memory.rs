//! Handing freed memory back to the system after large replies.
//!
//! A `torrent-get` of thousands of torrents builds (and frees) thousands
//! of small allocations: the manager's view of each torrent, the reply's
//! buffer. glibc keeps the pages they leave free inside its heap, so every
//! such poll (a web interface polls every few seconds, a script waits for
//! its torrents the same way) left the daemon larger: 1,000 idle torrents
//! polled three times in a row kept ~1.5 MiB more, 10,000 kept ~15 MiB.
//! `malloc_trim` returns those pages. It walks the heap (a few
//! milliseconds at 10,000 torrents), so it runs once a burst of large
//! replies is over ([`QUIET`] after the last, when the reply itself and
//! the connection's buffers are gone too), and at most every
//! [`TRIM_EVERY`]: a poll every few seconds is trimmed every ten.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Replies of at least this many torrents are followed by a trim.
pub(crate) const LARGE_REPLY: usize = 256;
/// The trim waits this long after the last large reply.
const QUIET: Duration = Duration::from_secs(1);
/// At most one trim this often.
const TRIM_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Trims {
    last_reply: Option<Instant>,
    last_trim: Option<Instant>,
    /// A task waits to trim.
    scheduled: bool,
}

impl Trims {
    /// When the waiting task may trim: quiet after the last large reply,
    /// and spaced from the last trim.
    fn due(&self) -> Option<Instant> {
        let after_reply = self.last_reply? + QUIET;
        Some(match self.last_trim {
            Some(t) => after_reply.max(t + TRIM_EVERY),
            None => after_reply,
        })
    }
}

static TRIMS: Mutex<Trims> = Mutex::new(Trims {
    last_reply: None,
    last_trim: None,
    scheduled: false,
});

/// A large reply was built: its garbage goes back to the system once the
/// burst is over (see the module's notes). Must be called inside a tokio
/// runtime.
pub(crate) fn after_large_reply() {
    let mut t = TRIMS.lock().unwrap_or_else(PoisonError::into_inner);
    t.last_reply = Some(Instant::now());
    if std::mem::replace(&mut t.scheduled, true) {
        return;
    }
    drop(t);
    tokio::spawn(async {
        loop {
            let due = TRIMS.lock().unwrap_or_else(PoisonError::into_inner).due();
            let Some(due) = due else { return };
            tokio::time::sleep_until(due).await;
            let mut t = TRIMS.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if t.due().is_some_and(|d| d > now) {
                // Another large reply came meanwhile.
                continue;
            }
            t.last_trim = Some(now);
            t.scheduled = false;
            drop(t);
            trim();
            return;
        }
    });
}

/// Return the heap's free pages to the system. Does nothing but with
/// glibc.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory inside glibc's heap;
    // it takes the allocator's own locks and touches no Rust object.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trim_waits_for_quiet_and_keeps_its_spacing() {
        let t0 = Instant::now();
        let mut t = Trims::default();
        assert_eq!(t.due(), None, "no reply, no trim");
        t.last_reply = Some(t0);
        assert_eq!(t.due(), Some(t0 + QUIET));
        // A reply later in the burst pushes the trim back.
        t.last_reply = Some(t0 + Duration::from_secs(3));
        assert_eq!(t.due(), Some(t0 + Duration::from_secs(3) + QUIET));
        // Right after a trim, the next waits out the spacing.
        t.last_trim = Some(t0 + Duration::from_secs(5));
        t.last_reply = Some(t0 + Duration::from_secs(6));
        assert_eq!(t.due(), Some(t0 + Duration::from_secs(5) + TRIM_EVERY));
        // Long after, quiet alone decides.
        t.last_reply = Some(t0 + Duration::from_secs(60));
        assert_eq!(t.due(), Some(t0 + Duration::from_secs(60) + QUIET));
    }

    #[tokio::test]
    async fn a_burst_of_replies_is_trimmed_once_after_it_ends() {
        for _ in 0..5 {
            after_large_reply();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let burst_end = Instant::now();
        {
            let t = TRIMS.lock().unwrap();
            assert!(
                t.scheduled && t.last_trim.is_none(),
                "nothing trimmed mid-burst"
            );
        }
        // The trimming task runs QUIET after the last reply.
        let t = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let t = TRIMS.lock().unwrap();
            if !t.scheduled || burst_end.elapsed() > Duration::from_secs(30) {
                break t;
            }
        };
        assert!(!t.scheduled);
        let trimmed = t.last_trim.expect("trimmed once the burst was over");
        let last_reply = t.last_reply.expect("replies noted");
        assert!(
            last_reply + Duration::from_millis(350) >= burst_end,
            "the last of the burst"
        );
        assert!(
            trimmed >= last_reply + QUIET,
            "not before the burst was quiet"
        );
    }
}

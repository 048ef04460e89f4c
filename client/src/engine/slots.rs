//! The session-wide connection limit.
//!
//! Every peer connection — accepted (from the moment the listener accepts
//! it, before its handshake is read) or dialled (before the dial) — holds
//! a [`Slot`] until it closes. When none is free the listener closes a new
//! connection at once, before any task is spawned or buffer allocated for
//! it, so a flood of connections costs a file descriptor for an instant
//! and nothing more; torrents dial only while slots are free. The limit
//! can change at run time: lowering it closes nothing, new connections
//! wait until enough have closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Connection slots shared by a session's listener and torrents.
#[derive(Debug, Default)]
pub struct ConnectionSlots {
    used: AtomicUsize,
    /// 0: no limit.
    max: AtomicUsize,
}

/// One connection's claim on a slot, released on drop.
#[derive(Debug)]
pub struct Slot(Arc<ConnectionSlots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionSlots {
    /// At most `max` connections (0: no limit).
    pub fn new(max: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            used: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        })
    }

    /// Take a slot if one is free.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let max = self.max.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if max != 0 && used >= max {
                return None;
            }
            match self.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Slot(self.clone())),
                Err(now) => used = now,
            }
        }
    }

    /// Free slots now (`usize::MAX` without a limit).
    pub fn free(&self) -> usize {
        match self.max.load(Ordering::Acquire) {
            0 => usize::MAX,
            max => max.saturating_sub(self.used.load(Ordering::Acquire)),
        }
    }

    /// Connections holding a slot now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Change the limit (0: none).
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Release);
    }

    /// The limit (0: none).
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_released_and_resized() {
        let slots = ConnectionSlots::new(2);
        let a = slots.try_take().unwrap();
        let b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        assert_eq!((slots.in_use(), slots.free()), (2, 0));
        drop(a);
        let c = slots.try_take().unwrap();
        slots.set_max(1);
        drop(b);
        assert!(
            slots.try_take().is_none(),
            "still one in use at a limit of one"
        );
        drop(c);
        assert!(slots.try_take().is_some());
        slots.set_max(0);
        let many: Vec<Slot> = (0..100).filter_map(|_| slots.try_take()).collect();
        assert_eq!(many.len(), 100);
        assert_eq!(slots.free(), usize::MAX);
    }

    #[test]
    fn never_more_than_the_limit_across_threads() {
        let slots = ConnectionSlots::new(8);
        let held = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if let Some(slot) = slots.try_take() {
                            assert!(slots.in_use() <= 8);
                            held.lock().unwrap().push(slot);
                        }
                        let mut h = held.lock().unwrap();
                        if h.len() > 4 {
                            h.pop();
                        }
                    }
                });
            }
        });
        assert!(slots.in_use() <= 8);
    }
}

//! A lean single-value channel with tokio's `watch` interface (the parts
//! riffle uses): one latest value, senders that replace or edit it,
//! receivers that borrow it and wait for the next change.
//!
//! Why not `tokio::sync::watch`: its shared state carries nine `Notify`s
//! (eight to spread receivers over, one for the sender), ~340 bytes before
//! the value. A torrent keeps three of these channels (its status, its
//! transfer counters for the announcer, its trackers' board) whether it
//! runs or is parked, and a seedbox keeps 10,000 torrents: here one
//! `Notify` serves everyone (~80 bytes with the counters), which a value
//! read by a handful of receivers does not miss.
//!
//! Semantics follow tokio's: a new receiver has seen the current value;
//! `changed` returns once the value changed since the receiver last
//! looked, or fails once every sender is gone (after any unseen change);
//! `send` fails when no receiver is left, `send_replace`/`send_modify`
//! never do.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use tokio::sync::Notify;

pub use super::error;

use error::{RecvError, SendError};

/// The version counts up by 2; the low bit says every sender is gone.
const CLOSED: u64 = 1;
const STEP: u64 = 2;

struct Shared<T> {
    value: RwLock<T>,
    state: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Wakes receivers on a change or a close, and a sender waiting in
    /// `closed` when a receiver goes.
    notify: Notify,
    /// The one receiver waiting in `poll_changed`, if any.
    poller: AtomicWaker,
}

impl<T> Shared<T> {
    fn version(&self) -> u64 {
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A channel holding `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        state: AtomicU64::new(0),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        notify: Notify::new(),
        poller: AtomicWaker::new(),
    });
    let rx = Receiver {
        shared: shared.clone(),
        seen: 0,
    };
    (Sender { shared }, rx)
}

/// A borrowed value; holds a read lock, so keep it short and never across
/// an `.await`.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value had changed since the receiver last looked (as
    /// in tokio: only meaningful from `borrow_and_update`).
    pub fn has_changed(&self) -> bool {
        self.changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The sending side; clones share the channel.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replace the value unless no receiver is left.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(Ordering::Acquire) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replace the value (receivers or not); the old one back.
    pub fn send_replace(&self, mut value: T) -> T {
        self.send_modify(|v| std::mem::swap(v, &mut value));
        value
    }

    /// Edit the value in place; receivers see a change.
    pub fn send_modify(&self, edit: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            edit(v);
            true
        });
    }

    /// Edit the value in place; receivers see a change only if `edit`
    /// says it made one.
    pub fn send_if_modified(&self, edit: impl FnOnce(&mut T) -> bool) -> bool {
        let changed = {
            let mut v = self.shared.value.write().unwrap_or_else(|e| e.into_inner());
            let changed = edit(&mut v);
            if changed {
                // Under the lock: a reader that sees the new version reads
                // the new value.
                self.shared.state.fetch_add(STEP, Ordering::AcqRel);
            }
            changed
        };
        if changed {
            self.shared.notify.notify_waiters();
            self.shared.poller.wake();
        }
        changed
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
            changed: false,
        }
    }

    /// A new receiver, which has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        Receiver {
            seen: self.shared.version(),
            shared: self.shared.clone(),
        }
    }

    /// Receivers left.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// No receiver is left.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Wait until no receiver is left.
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.state.fetch_or(CLOSED, Ordering::AcqRel);
            self.shared.notify.notify_waiters();
            self.shared.poller.wake();
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving side; clones remember what they have seen separately.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version last looked at.
    seen: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let changed = self.shared.version() != self.seen;
        Ref { guard, changed }
    }

    /// The current value, marked seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        // Under the read lock: no send is between the version and value.
        let version = self.shared.version();
        let changed = version != self.seen;
        self.seen = version;
        Ref { guard, changed }
    }

    /// Whether the value changed since last seen; an error once every
    /// sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.load(Ordering::Acquire);
        if state & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(state != self.seen)
    }

    /// Take the current value as seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version();
    }

    /// Take the current value as not yet seen.
    pub fn mark_changed(&mut self) {
        self.seen = self.shared.version().wrapping_sub(STEP);
    }

    /// Wait for a value not yet seen and mark it seen; an error once every
    /// sender is gone and nothing new is left. Cancel-safe.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let state = self.shared.state.load(Ordering::Acquire);
            if state & !CLOSED != self.seen {
                self.seen = state & !CLOSED;
                return Ok(());
            }
            if state & CLOSED != 0 {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    /// `changed` as a poll, with no state of its own (a parked torrent's
    /// wait stays small). One receiver of a channel at a time may wait
    /// this way: the channel keeps one waker for it.
    pub fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        // Registered before looking: a change after the look wakes it.
        self.shared.poller.register(cx.waker());
        let state = self.shared.state.load(Ordering::Acquire);
        if state & !CLOSED != self.seen {
            self.seen = state & !CLOSED;
            return Poll::Ready(Ok(()));
        }
        if state & CLOSED != 0 {
            return Poll::Ready(Err(RecvError(())));
        }
        Poll::Pending
    }

    /// Wait until the value satisfies `ready` (looked at now first); the
    /// value, marked seen. An error once every sender is gone without it.
    pub async fn wait_for(
        &mut self,
        mut ready: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let r = self.borrow_and_update();
                if ready(&r) {
                    break;
                }
            }
            if self.shared.is_closed() {
                return Err(RecvError(()));
            }
            self.changed().await.or_else(|e| {
                // Closed: one last look at the final value.
                if ready(&self.shared.read()) {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        }
        Ok(self.borrow_and_update())
    }

    /// Whether both receive from one channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.notify.notify_waiters();
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_receiver_sees_each_change_once() {
        let (tx, mut rx) = channel(1);
        assert_eq!(rx.has_changed(), Ok(false));
        tx.send(2).unwrap();
        assert_eq!(rx.has_changed(), Ok(true));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 2);
        assert_eq!(rx.has_changed(), Ok(false));
        let waiting = tokio::spawn(async move {
            rx.changed().await.unwrap();
            let v = *rx.borrow();
            (v, rx)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_modify(|v| *v = 3);
        let (v, mut rx) = waiting.await.unwrap();
        assert_eq!(v, 3);
        // An edit that says it changed nothing wakes nobody.
        assert!(!tx.send_if_modified(|v| {
            *v = 3;
            false
        }));
        assert_eq!(rx.has_changed(), Ok(false));
        assert_eq!(tx.send_replace(4), 3);
        assert!(rx.borrow().has_changed());
        assert!(rx.borrow_and_update().has_changed());
        assert!(!rx.borrow_and_update().has_changed());
        rx.mark_changed();
        assert_eq!(rx.has_changed(), Ok(true));
        rx.mark_unchanged();
        assert_eq!(rx.has_changed(), Ok(false));
    }

    #[tokio::test]
    async fn dropping_every_sender_ends_the_wait_after_the_last_change() {
        let (tx, mut rx) = channel(0u8);
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(5).unwrap();
        drop(tx2);
        // The change made before the close is still seen first.
        assert_eq!(rx.changed().await, Ok(()));
        assert_eq!(*rx.borrow(), 5);
        assert_eq!(rx.changed().await, Err(RecvError(())));
        assert!(rx.has_changed().is_err());
        // A waiter blocked when the last sender goes wakes.
        let (tx, mut rx) = channel(0u8);
        let waiting = tokio::spawn(async move { rx.changed().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        assert!(waiting.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn send_fails_without_receivers_and_closed_waits_for_the_last() {
        let (tx, rx) = channel(0u32);
        let rx2 = tx.subscribe();
        let rx3 = rx2.clone();
        assert!(rx.same_channel(&rx3));
        assert_eq!(tx.receiver_count(), 3);
        drop(rx);
        drop(rx2);
        let closing = tokio::spawn(async move {
            tx.closed().await;
            tx
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!closing.is_finished());
        drop(rx3);
        let tx = tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closed() returns when the last receiver goes")
            .unwrap();
        assert!(tx.is_closed());
        assert_eq!(tx.send(7), Err(SendError(7)));
        // send_replace stores anyway.
        tx.send_replace(8);
        assert_eq!(*tx.borrow(), 8);
    }

    #[tokio::test]
    async fn wait_for_looks_at_the_current_value_first_then_waits() {
        let (tx, mut rx) = channel(1);
        assert_eq!(*rx.wait_for(|v| *v == 1).await.unwrap(), 1);
        let tx2 = tx.clone();
        let setter = tokio::spawn(async move {
            for i in 2..=5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                tx2.send_replace(i);
            }
        });
        let found = *rx.wait_for(|v| *v >= 4).await.unwrap();
        assert!(found >= 4, "{found}");
        setter.await.unwrap();
        drop(tx);
        // Closed, and the final value does not satisfy it: an error.
        assert!(rx.wait_for(|v| *v == 9).await.is_err());
        // Closed, but the final value does: found.
        assert_eq!(*rx.wait_for(|v| *v == 5).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_poller_wakes_for_a_change_and_for_the_close() {
        let (tx, mut rx) = channel(0u8);
        let waiting = tokio::spawn(async move {
            std::future::poll_fn(|cx| rx.poll_changed(cx))
                .await
                .unwrap();
            let v = *rx.borrow();
            let closed = std::future::poll_fn(|cx| rx.poll_changed(cx)).await;
            (v, closed)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_replace(3);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let (v, closed) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the poller woke")
            .unwrap();
        assert_eq!((v, closed), (3, Err(RecvError(()))));
    }

    #[test]
    fn its_shared_state_is_far_smaller_than_tokios() {
        // What a torrent pays per channel, beyond the value itself.
        let ours = std::mem::size_of::<Shared<()>>();
        assert!(ours <= 96, "{ours} bytes");
    }
}

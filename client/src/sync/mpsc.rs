//! A lean bounded multi-producer, single-consumer queue with tokio's
//! `mpsc` interface (the parts riffle uses: `send`, `try_send`,
//! `is_closed`, weak senders, `recv`, `poll_recv`): one lock around a
//! `VecDeque` that allocates only once a message is queued, a waker slot
//! for the receiver and a `Notify` for senders waiting for room.
//! A torrent's input channel (commands and routed connections, a few a
//! minute) is one of these: ~150 bytes where tokio's costs ~800.
//!
//! Semantics follow tokio's: `recv` yields queued messages, then `None`
//! once every (strong) sender is gone; a send fails once the receiver is
//! gone, and dropping the receiver drops what is still queued (a reply
//! channel inside a message then tells its sender no answer comes).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use tokio::sync::Notify;

pub use super::error;

use error::{SendError, TrySendError};

struct Chan<T> {
    queue: Mutex<VecDeque<T>>,
    bound: usize,
    /// Strong senders; weak ones are not counted.
    senders: AtomicUsize,
    /// The receiver is gone.
    closed: AtomicBool,
    /// Wakes the receiver: a message, or the last sender gone.
    to_receiver: AtomicWaker,
    /// Wakes senders waiting for room: a message taken, or the receiver
    /// gone.
    to_senders: Notify,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take the next message; wake senders waiting for room.
    fn pop(&self) -> Option<T> {
        let v = self.lock().pop_front();
        if v.is_some() {
            self.to_senders.notify_waiters();
        }
        v
    }

    /// Queue `value` if there is room and a receiver.
    fn push(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(value));
        }
        {
            let mut q = self.lock();
            if q.len() >= self.bound {
                return Err(TrySendError::Full(value));
            }
            q.push_back(value);
        }
        self.to_receiver.wake();
        Ok(())
    }
}

/// A channel queueing at most `bound` messages (at least 1).
pub fn channel<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        queue: Mutex::new(VecDeque::new()),
        bound: bound.max(1),
        senders: AtomicUsize::new(1),
        closed: AtomicBool::new(false),
        to_receiver: AtomicWaker::new(),
        to_senders: Notify::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending side; clones share the channel.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Queue `value`, waiting for room; an error once the receiver is
    /// gone. Cancel-safe: a send dropped while waiting queues nothing.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = value;
        loop {
            let room = self.chan.to_senders.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.chan.push(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(SendError(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            room.await;
        }
    }

    /// Queue `value` now, or hand it back (full, or no receiver).
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.push(value)
    }

    /// The receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.closed.load(Ordering::Acquire)
    }

    /// A sender that does not keep the channel open.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::AcqRel);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.to_receiver.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// A sender that does not keep the channel open: `upgrade` gives a
/// sender while a strong one is left.
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> WeakSender<T> {
    /// A sender, unless every strong sender is gone.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        let senders = &self.chan.senders;
        let mut n = senders.load(Ordering::Acquire);
        loop {
            if n == 0 {
                return None;
            }
            match senders.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return Some(Sender {
                        chan: self.chan.clone(),
                    })
                }
                Err(now) => n = now,
            }
        }
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> std::fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakSender").finish_non_exhaustive()
    }
}

/// The receiving side.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone and the queue
    /// is empty. Cancel-safe.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// `recv` as a poll: the next message, `None` as `recv` says, or
    /// pending with `cx`'s waker kept to wake when that changes. Needs no
    /// state of its own, so a parked torrent's wait stays small.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Registered before looking: a message landing between the look
        // and the return wakes it.
        self.chan.to_receiver.register(cx.waker());
        if let Some(v) = self.chan.pop() {
            return Poll::Ready(Some(v));
        }
        if self.chan.senders.load(Ordering::Acquire) == 0 {
            // A last message may have landed before the last sender went.
            return Poll::Ready(self.chan.pop());
        }
        Poll::Pending
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.chan.pop()
    }

    /// Give back the queue's memory once it is empty (a torrent that
    /// parks keeps no buffer from its last burst of messages).
    pub fn shrink(&mut self) {
        let mut q = self.chan.lock();
        if q.is_empty() {
            q.shrink_to_fit();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.closed.store(true, Ordering::Release);
        // What is still queued goes now (outside the lock).
        let left = std::mem::take(&mut *self.chan.lock());
        drop(left);
        self.chan.to_senders.notify_waiters();
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn messages_arrive_in_order_then_none_when_the_senders_go() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        tx.send(1).await.unwrap();
        tx2.try_send(2).unwrap();
        let weak = tx.downgrade();
        drop(tx);
        assert!(weak.upgrade().is_some(), "a strong sender is left");
        drop(tx2);
        assert!(weak.upgrade().is_none(), "no strong sender is left");
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_message_and_for_the_last_sender() {
        let (tx, mut rx) = channel::<u32>(4);
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(7).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the receiver woke")
            .unwrap();
        assert_eq!(got, (Some(7), None));
    }

    #[tokio::test]
    async fn a_full_queue_holds_senders_until_there_is_room() {
        let (tx, mut rx) = channel(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move { tx2.send(3).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!blocked.is_finished());
        assert_eq!(rx.recv().await, Some(1));
        tokio::time::timeout(Duration::from_secs(5), blocked)
            .await
            .expect("the sender got room")
            .unwrap()
            .unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
    }

    #[tokio::test]
    async fn dropping_the_receiver_fails_senders_and_drops_what_was_queued() {
        let (tx, rx) = channel(1);
        let (reply, answered) = tokio::sync::oneshot::channel::<()>();
        tx.send(reply).await.unwrap();
        // Full: this one waits, and fails when the receiver goes.
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move {
            let (r, _) = tokio::sync::oneshot::channel::<()>();
            tx2.send(r).await.is_err()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert!(blocked.await.unwrap(), "a waiting send fails");
        assert!(tx.is_closed());
        // The queued reply channel was dropped: its waiter hears so.
        assert!(answered.await.is_err());
        let (r, _) = tokio::sync::oneshot::channel::<()>();
        assert!(matches!(tx.try_send(r), Err(TrySendError::Closed(_))));
    }

    #[tokio::test]
    async fn many_senders_deliver_everything_once() {
        let (tx, mut rx) = channel(3);
        let mut tasks = Vec::new();
        for s in 0..4u32 {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200u32 {
                    tx.send(s * 1000 + i).await.unwrap();
                }
            }));
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        for t in tasks {
            t.await.unwrap();
        }
        got.sort_unstable();
        let want: Vec<u32> = (0..4u32)
            .flat_map(|s| (0..200).map(move |i| s * 1000 + i))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn its_shared_state_is_far_smaller_than_tokios() {
        let ours = std::mem::size_of::<Chan<Box<u8>>>();
        assert!(ours <= 160, "{ours} bytes");
    }
}

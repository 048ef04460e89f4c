//! A channel made when first used: a seedbox's idle torrents, which never
//! see a peer or hash a piece, do not pay for the channels those would
//! report on (tokio allocates a block of 32 slots for each channel).

use tokio::sync::mpsc;

/// A bounded channel whose owner both sends (hands out senders) and
/// receives; nothing is allocated until the first sender is asked for.
pub(crate) struct LazyChannel<T> {
    capacity: usize,
    pair: Option<(mpsc::Sender<T>, mpsc::Receiver<T>)>,
}

impl<T> LazyChannel<T> {
    /// A channel of `capacity`, not made yet.
    pub(crate) fn new(capacity: usize) -> LazyChannel<T> {
        LazyChannel {
            capacity,
            pair: None,
        }
    }

    /// A sender, making the channel first if need be.
    pub(crate) fn sender(&mut self) -> mpsc::Sender<T> {
        let capacity = self.capacity;
        let (tx, _) = self.pair.get_or_insert_with(|| mpsc::channel(capacity));
        tx.clone()
    }

    /// The next message; pending for ever while no sender was handed out
    /// (the owner keeps one, so it never ends once made).
    pub(crate) async fn recv(&mut self) -> Option<T> {
        match &mut self.pair {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// A message already queued, if any.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        self.pair.as_mut().and_then(|(_, rx)| rx.try_recv().ok())
    }

    /// Whether the channel has been made.
    #[cfg(test)]
    pub(crate) fn is_made(&self) -> bool {
        self.pair.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_on_the_first_sender_and_delivers_in_order() {
        let mut ch = LazyChannel::new(4);
        assert!(!ch.is_made());
        assert_eq!(ch.try_recv(), None::<u32>);
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), ch.recv()).await;
        assert!(pending.is_err(), "nothing to receive before any sender");
        let tx = ch.sender();
        assert!(ch.is_made());
        tx.send(1).await.unwrap();
        ch.sender().send(2).await.unwrap();
        assert_eq!(ch.recv().await, Some(1));
        assert_eq!(ch.try_recv(), Some(2));
        assert_eq!(ch.try_recv(), None);
    }
}

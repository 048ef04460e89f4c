//! What a torrent tells one of its peer tasks.
//!
//! Not a channel: the torrent must never wait on a slow peer, and a queue
//! of commands would grow without bound behind one. The mailbox coalesces
//! instead: requests, cancels and HAVEs accumulate in vectors bounded by the
//! request depth and the piece count, and choke and interest are the latest
//! value only. The peer task takes everything at once when notified.

use std::sync::Mutex;

use riffle_protocol::{BlockRef, PieceIndex};
use tokio::sync::Notify;

/// Pending instructions for one peer task.
#[derive(Debug, Default)]
pub struct Orders {
    /// Blocks to request from the peer, in order.
    pub requests: Vec<BlockRef>,
    /// Requests to withdraw (end-game losers, timed-out blocks).
    pub cancels: Vec<BlockRef>,
    /// Pieces we completed: send HAVE.
    pub haves: Vec<PieceIndex>,
    /// Latest choke decision (`Some(true)`: choke the peer).
    pub choke: Option<bool>,
    /// With an unchoke: serve at most this many bytes, then choke the peer
    /// (a per-piece choker's turn is one piece; the peer task stops at the
    /// piece's end itself, so nothing more leaves before the next draw).
    pub turn_bytes: Option<u64>,
    /// Latest interest decision.
    pub interested: Option<bool>,
    /// Suggest this piece to the peer (BEP 6): a seed's block choice.
    pub suggest: Option<PieceIndex>,
    /// Send this peer-exchange message (BEP 11; the latest only).
    pub pex: Option<bytes::Bytes>,
    /// BEP 52 hash requests to send (a piece layer's chunks).
    pub hash_requests: Vec<riffle_protocol::wire::HashRange>,
    /// End the connection, with the reason (for logs).
    pub close: Option<String>,
}

/// The torrent's side and the peer task's side share one of these.
#[derive(Debug, Default)]
pub struct Mailbox {
    orders: Mutex<Orders>,
    notify: Notify,
}

impl Mailbox {
    /// Change the orders and wake the peer task.
    pub fn post(&self, f: impl FnOnce(&mut Orders)) {
        if let Ok(mut o) = self.orders.lock() {
            f(&mut o);
        }
        self.notify.notify_one();
    }

    /// Take every pending order (empty when there are none).
    pub fn take(&self) -> Orders {
        match self.orders.lock() {
            Ok(mut o) => std::mem::take(&mut *o),
            Err(_) => Orders {
                close: Some("mailbox poisoned".into()),
                ..Orders::default()
            },
        }
    }

    /// Wait until something is posted (returns at once if a post came
    /// since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn posts_coalesce_and_wake_the_reader() {
        let m = Mailbox::default();
        m.post(|o| o.choke = Some(true));
        m.post(|o| o.choke = Some(false));
        m.post(|o| o.haves.push(PieceIndex::new(3)));
        // The permit stored by the posts wakes this wait at once.
        m.wait().await;
        let o = m.take();
        assert_eq!(
            o.choke,
            Some(false),
            "only the latest choke decision counts"
        );
        assert_eq!(o.haves, vec![PieceIndex::new(3)]);
        assert!(m.take().haves.is_empty(), "taken orders are gone");
    }
}

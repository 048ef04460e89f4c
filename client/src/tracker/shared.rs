//! What a torrent's announcer and its tier tasks share: the torrent's
//! identity, its latest [`Transfer`] counters, the peer channel and the
//! status board ([`Shared`]). The announcer builds it; each tier reads it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use crate::watch;
use riffle_protocol::tracker::http::AnnounceRequest;
use riffle_protocol::tracker::Event;
use riffle_protocol::{InfoHash, PeerId};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use tokio::sync::mpsc;

use super::status::TrackerStatus;
use super::AnnounceConfig;

/// What a torrent tells its announcer; the announcer reads the latest
/// value when it announces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Payload bytes sent to peers since the torrent started.
    pub uploaded: u64,
    /// Payload bytes received (and kept) since the torrent started.
    pub downloaded: u64,
    /// Bytes still missing; 0 for a seed.
    pub left: u64,
}

/// Every tracker's status, one entry per URL. Shared (an `Arc`): the
/// announcer's board and the torrent's status snapshots hold one copy
/// between them until the next change.
pub type Board = Arc<Vec<TrackerStatus>>;

/// What the tier tasks share.
pub(super) struct Shared {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Ours.
    pub peer_id: PeerId,
    /// Ours.
    pub port: u16,
    /// Random per announcer, so a tracker can recognise us across address
    /// changes (HTTP `key`, BEP 15 key).
    pub key: [u8; 8],
    /// Knobs.
    pub config: Arc<AnnounceConfig>,
    /// The torrent's latest counters.
    pub transfer: watch::Receiver<Transfer>,
    /// Where peers go.
    pub peers: PeerSink,
    /// The status board, one entry per tracker URL.
    pub status: watch::Sender<Board>,
}

impl Shared {
    /// An announce request with the latest counters.
    pub fn request(&self, event: Event, tracker_id: Option<Vec<u8>>) -> AnnounceRequest {
        let t = *self.transfer.borrow();
        let mut req = AnnounceRequest::new(self.info_hash, self.peer_id, self.port, t.left);
        req.uploaded = t.uploaded;
        req.downloaded = t.downloaded;
        req.event = event;
        req.numwant = Some(if event == Event::Stopped {
            0
        } else {
            self.config.numwant
        });
        req.key = Some(self.key.to_vec());
        req.tracker_id = tracker_id;
        req
    }

    /// Edit one tracker's status entry.
    pub fn update(&self, index: usize, edit: impl FnOnce(&mut TrackerStatus)) {
        self.status.send_modify(|all| {
            // Copied on write: the torrent's status shares the last board.
            if let Some(s) = Arc::make_mut(all).get_mut(index) {
                edit(s);
            }
        });
    }

    /// Hand peers to the torrent without ever waiting on it: a torrent
    /// that is not draining its channel gets this batch dropped. Our own
    /// entry is left out: trackers such as opentracker list the announcer
    /// itself (on loopback, or at the `external ip` the tracker saw).
    pub fn deliver(&self, mut peers: Vec<SocketAddr>, external_ip: Option<IpAddr>) {
        peers.retain(|p| !is_self(*p, self.port, external_ip));
        if peers.is_empty() {
            return;
        }
        match &self.peers {
            PeerSink::Channel(tx) => {
                if let Err(e) = tx.try_send(peers) {
                    tracing::debug!(error = %e, "peer channel full or closed; dropping tracker peers");
                }
            }
            PeerSink::Inbox(inbox) => inbox.put(peers),
        }
    }
}

/// Where an announcer hands the peers it learns of.
#[derive(Clone, Debug)]
pub enum PeerSink {
    /// A channel; a batch is dropped when the channel is full.
    Channel(mpsc::Sender<Vec<SocketAddr>>),
    /// An inbox (a session's torrents: no channel per torrent).
    Inbox(PeerInbox),
}

impl From<mpsc::Sender<Vec<SocketAddr>>> for PeerSink {
    fn from(tx: mpsc::Sender<Vec<SocketAddr>>) -> PeerSink {
        PeerSink::Channel(tx)
    }
}

impl From<PeerInbox> for PeerSink {
    fn from(inbox: PeerInbox) -> PeerSink {
        PeerSink::Inbox(inbox)
    }
}

/// Most addresses an inbox holds before its owner takes them; more are
/// dropped (trackers hand out at most a few hundred per announce).
pub const INBOX_MAX: usize = 2000;

/// Peers waiting for a torrent: a list and a wake-up, ~100 bytes, where a
/// tokio channel allocates a block of 32 slots (a seedbox of 10,000 idle
/// torrents keeps one each). Clones share it.
#[derive(Clone, Debug, Default)]
pub struct PeerInbox(Arc<Inbox>);

#[derive(Debug, Default)]
struct Inbox {
    peers: Mutex<Vec<SocketAddr>>,
    /// The owner, waiting.
    ready: AtomicWaker,
}

impl PeerInbox {
    /// An empty inbox.
    pub fn new() -> PeerInbox {
        PeerInbox::default()
    }

    /// Add peers (up to [`INBOX_MAX`] waiting) and wake the owner.
    pub fn put(&self, peers: Vec<SocketAddr>) {
        {
            let mut q = self.0.peers.lock().unwrap_or_else(PoisonError::into_inner);
            let room = INBOX_MAX.saturating_sub(q.len());
            q.extend(peers.into_iter().take(room));
        }
        self.0.ready.wake();
    }

    /// Every peer waiting, once there is at least one.
    pub async fn recv(&self) -> Vec<SocketAddr> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// `recv` as a poll, for the one owner: the peers waiting, or pending
    /// with `cx`'s waker kept for the next `put`.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Vec<SocketAddr>> {
        // Registered before looking: a `put` after the look wakes it.
        self.0.ready.register(cx.waker());
        let batch =
            std::mem::take(&mut *self.0.peers.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(batch)
        }
    }
}

/// Whether `peer` is us: our port, at a loopback or unspecified address
/// or at the address the tracker says it saw us at.
pub(super) fn is_self(peer: SocketAddr, our_port: u16, external_ip: Option<IpAddr>) -> bool {
    let ip = peer.ip().to_canonical();
    peer.port() == our_port
        && (ip.is_loopback()
            || ip.is_unspecified()
            || external_ip.is_some_and(|e| e.to_canonical() == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_inbox_wakes_its_owner_keeps_order_and_stays_bounded() {
        let inbox = PeerInbox::new();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:2".parse().unwrap();
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), inbox.recv()).await;
        assert!(waiting.is_err(), "nothing to take yet");
        let owner = inbox.clone();
        let taker = tokio::spawn(async move { owner.recv().await });
        tokio::task::yield_now().await;
        inbox.put(vec![a]);
        assert_eq!(taker.await.unwrap(), vec![a]);
        inbox.put(vec![a]);
        inbox.put(vec![b]);
        assert_eq!(
            inbox.recv().await,
            vec![a, b],
            "batches kept in order, taken at once"
        );
        inbox.put(vec![a; INBOX_MAX + 10]);
        assert_eq!(inbox.recv().await.len(), INBOX_MAX);
    }

    #[test]
    fn recognises_our_own_entry() {
        let ext: Option<IpAddr> = Some("203.0.113.5".parse().unwrap());
        let me = |s: &str| is_self(s.parse().unwrap(), 6881, ext);
        assert!(me("127.0.0.1:6881"));
        assert!(me("[::1]:6881"));
        assert!(me("[::ffff:127.0.0.1]:6881"));
        assert!(me("0.0.0.0:6881"));
        assert!(me("203.0.113.5:6881"));
        assert!(me("[::ffff:203.0.113.5]:6881"));
        assert!(!me("127.0.0.1:6882"));
        assert!(!me("203.0.113.6:6881"));
        assert!(!is_self("203.0.113.5:6881".parse().unwrap(), 6881, None));
    }
}

//! A torrent's announcer: every tier of its trackers kept informed (BEP 12
//! with announce-to-all-tiers) by the session's announce service
//! ([`super::service`]), and the handle the engine drives it with.
//!
//! The tiers ([`super::tier`]) share the torrent's identity, its latest
//! [`Transfer`] counters, the peer channel and the status board. Each
//! announce runs on its own, so a slow or dead tracker delays nothing but
//! its own tier.

use std::sync::Arc;
use std::time::Duration;

use crate::watch;
use rand::seq::SliceRandom;
use riffle_protocol::tracker::tiers::TrackerTiers;
use riffle_protocol::{InfoHash, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::service::{Announcers, Request};
use super::shared::{Board, PeerSink, Shared, Transfer};
use super::status::TrackerStatus;
use super::tier::Tier;
use super::AnnounceConfig;

/// Everything an announcer needs to know about its torrent.
#[derive(Clone, Debug)]
pub struct AnnounceSetup {
    /// The announce-list's tiers, or `[[announce]]` when there is none.
    pub tiers: Vec<Vec<String>>,
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port peers should dial (our listener's).
    pub port: u16,
    /// Intervals, timeouts, time scale (an `Arc`: a session's announcers
    /// share one).
    pub config: Arc<AnnounceConfig>,
}

/// The engine's grip on a running announcer. Dropping it ends its
/// announces without a `stopped`; [`stop`](Self::stop) sends one first.
pub struct AnnouncerHandle {
    id: u64,
    service: mpsc::UnboundedSender<Request>,
    status: watch::Receiver<Board>,
    /// Not stopped yet.
    live: bool,
}

impl AnnouncerHandle {
    /// The download just finished: announce `completed` now to every
    /// tracker that got `started` (once each; later calls do nothing).
    pub fn completed(&self) {
        let _ = self.service.send(Request::Completed(self.id));
    }

    /// We are short of peers: announce early, but no sooner than the
    /// trackers' (and our) minimum interval after their last announce.
    pub fn want_more_peers(&self) {
        let _ = self.service.send(Request::WantMorePeers(self.id));
    }

    /// Per-tracker status, updated as announces come and go.
    pub fn status(&self) -> watch::Receiver<Board> {
        self.status.clone()
    }

    /// Send `stopped` to every tracker that got `started`, all in
    /// parallel, and end the announces; returns within `within` whatever
    /// the trackers do.
    pub async fn stop(mut self, within: Duration) {
        self.live = false;
        // A week is "forever" here and keeps the instant arithmetic safe.
        let deadline = Instant::now() + within.min(Duration::from_secs(7 * 24 * 3600));
        let (done, stopped) = oneshot::channel();
        let stop = Request::Stop {
            id: self.id,
            deadline,
            done,
        };
        if self.service.send(stop).is_err() {
            return;
        }
        if tokio::time::timeout_at(deadline, stopped).await.is_err() {
            tracing::debug!("announcer did not stop in time");
        }
    }
}

impl Drop for AnnouncerHandle {
    fn drop(&mut self) {
        if self.live {
            let _ = self.service.send(Request::Forget(self.id));
        }
    }
}

/// Start a torrent's announcer on an announce service of its own (one
/// task): `started` goes out to every tier at once. Must be called inside
/// a tokio runtime. A session starts its torrents' announcers on its
/// shared service with [`announce`] instead.
pub fn spawn_announcer(
    setup: AnnounceSetup,
    transfer: watch::Receiver<Transfer>,
    peers: impl Into<PeerSink>,
) -> AnnouncerHandle {
    announce(&Announcers::start(), setup, transfer, peers)
}

/// Start a torrent's announcer on `service`: `started` goes out to every
/// tier at once.
pub fn announce(
    service: &Announcers,
    setup: AnnounceSetup,
    transfer: watch::Receiver<Transfer>,
    peers: impl Into<PeerSink>,
) -> AnnouncerHandle {
    let peers = peers.into();
    let shuffle = setup.config.shuffle_tiers;
    let order = TrackerTiers::new(setup.tiers, |urls: &mut [String]| {
        if shuffle {
            urls.shuffle(&mut rand::thread_rng());
        }
    });
    let mut board = Vec::new();
    let mut tiers = Vec::new();
    for (t, urls) in order.tiers().iter().enumerate() {
        let first = board.len();
        board.extend(urls.iter().map(|u| TrackerStatus::new(u.clone(), t)));
        tiers.push((t, urls.clone(), first));
    }
    let (status_tx, status_rx) = watch::channel(Arc::new(board));
    let shared = Arc::new(Shared {
        info_hash: setup.info_hash,
        peer_id: setup.peer_id,
        port: setup.port,
        key: key_hex(rand::random::<u32>()),
        config: setup.config,
        transfer,
        peers,
        status: status_tx,
    });
    let tiers: Vec<Tier> = tiers
        .into_iter()
        .map(|(t, urls, first)| Tier::new(t, urls, first, shared.clone()))
        .collect();
    let (id, service) = service.register(tiers);
    AnnouncerHandle {
        id,
        service,
        status: status_rx,
        live: true,
    }
}

/// Our announce key, 8 upper-case hex digits (as trackers expect it).
fn key_hex(key: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, b) in out.iter_mut().enumerate() {
        let nibble = (key >> (28 - 4 * i)) & 0xf;
        *b = b"0123456789ABCDEF"[nibble as usize];
    }
    out
}

#[cfg(test)]
mod key_tests {
    #[test]
    fn the_key_is_eight_upper_case_hex_digits() {
        for k in [0u32, 1, 0x1a2b_3c4d, u32::MAX] {
            assert_eq!(super::key_hex(k).to_vec(), format!("{k:08X}").into_bytes());
        }
    }
}

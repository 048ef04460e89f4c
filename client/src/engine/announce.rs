//! The torrent's side of its trackers: a thin wrapper over
//! [`crate::tracker`]'s announcer task, so the torrent code does not depend
//! on that module's details.

use std::sync::Arc;
use std::time::Duration;

use crate::watch;
use riffle_protocol::{InfoHash, PeerId};

use crate::tracker::{self, AnnounceConfig, AnnouncerHandle, Board};

/// Bytes a torrent reports to its trackers.
pub type Progress = tracker::Transfer;

/// What the announcer needs to start.
pub struct Setup {
    /// Tracker tiers (BEP 12).
    pub tiers: Vec<Vec<String>>,
    /// The torrent.
    pub info_hash: InfoHash,
    /// Its other identities (a hybrid's v2 info-hash, truncated): announced
    /// to the same trackers too, as libtorrent does, so v2 peers find us.
    pub also: Vec<InfoHash>,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our listening port.
    pub port: u16,
    /// Intervals and timeouts (one copy for the session).
    pub config: Arc<AnnounceConfig>,
}

/// A running announcer.
pub struct Announcer {
    handle: AnnouncerHandle,
    /// The announcers of the other identities (their status is the
    /// primary's, not shown twice).
    others: Vec<AnnouncerHandle>,
    status: watch::Receiver<Board>,
}

impl Announcer {
    /// Start announcing; peers found go to `peers`. `None` when the torrent
    /// names no tracker.
    pub fn start(
        service: &tracker::Announcers,
        setup: Setup,
        progress: watch::Receiver<Progress>,
        peers: tracker::PeerInbox,
    ) -> Option<Announcer> {
        let tiers: Vec<Vec<String>> = setup
            .tiers
            .into_iter()
            .map(|t| {
                t.into_iter()
                    .filter(|u| !u.trim().is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        if tiers.is_empty() {
            return None;
        }
        let spawn = |info_hash| {
            tracker::announce(
                service,
                tracker::AnnounceSetup {
                    tiers: tiers.clone(),
                    info_hash,
                    peer_id: setup.peer_id,
                    port: setup.port,
                    config: setup.config.clone(),
                },
                progress.clone(),
                peers.clone(),
            )
        };
        let handle = spawn(setup.info_hash);
        let others = setup.also.iter().map(|h| spawn(*h)).collect();
        let status = handle.status();
        Some(Announcer {
            handle,
            others,
            status,
        })
    }

    fn all(&self) -> impl Iterator<Item = &AnnouncerHandle> {
        std::iter::once(&self.handle).chain(&self.others)
    }

    /// The download completed.
    pub fn completed(&self) {
        self.all().for_each(AnnouncerHandle::completed);
    }

    /// Ask for peers sooner (we have none).
    pub fn want_more_peers(&self) {
        self.all().for_each(AnnouncerHandle::want_more_peers);
    }

    /// Say `stopped` to every tracker, bounded by `within`.
    pub async fn stop(self, within: Duration) {
        // The primary beside the others (a hybrid has one other).
        let others = async move {
            for h in self.others {
                h.stop(within).await;
            }
        };
        tokio::join!(self.handle.stop(within), others);
    }

    /// Ready once a tracker's state changed (pending for ever once the
    /// announcer is gone); the torrent is the board's one poller.
    pub fn poll_board_changed(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match self.status.poll_changed(cx) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(()),
            _ => std::task::Poll::Pending,
        }
    }

    /// Bring `into` up to every tracker's state now (copied only when it
    /// changed, so an idle torrent's status allocates nothing).
    pub fn statuses_into(&self, into: &mut Board) {
        let board = self.status.borrow();
        if !std::sync::Arc::ptr_eq(&board, into) {
            *into = board.clone();
        }
    }
}

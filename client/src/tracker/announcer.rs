//! A torrent's announcer: one tokio task per torrent that keeps every tier
//! of its trackers informed (BEP 12 with announce-to-all-tiers), and the
//! handle the engine drives it with.
//!
//! The task owns one sub-task per tier ([`super::tier`]); they share the
//! torrent's identity, its latest [`Transfer`] counters, the peer channel
//! and the status board. All network I/O happens in those tasks, so a slow
//! or dead tracker delays nothing but its own tier.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use riffle_protocol::tracker::http::AnnounceRequest;
use riffle_protocol::tracker::tiers::TrackerTiers;
use riffle_protocol::tracker::Event;
use riffle_protocol::{InfoHash, PeerId};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::status::TrackerStatus;
use super::tier::{Tier, TierCommand};
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
    /// Intervals, timeouts, time scale.
    pub config: AnnounceConfig,
}

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
    pub key: Vec<u8>,
    /// Knobs.
    pub config: AnnounceConfig,
    /// The torrent's latest counters.
    pub transfer: watch::Receiver<Transfer>,
    /// Where peers go.
    pub peers: mpsc::Sender<Vec<SocketAddr>>,
    /// The status board, one entry per tracker URL.
    pub status: watch::Sender<Vec<TrackerStatus>>,
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
        req.key = Some(self.key.clone());
        req.tracker_id = tracker_id;
        req
    }

    /// Edit one tracker's status entry.
    pub fn update(&self, index: usize, edit: impl FnOnce(&mut TrackerStatus)) {
        self.status.send_modify(|all| {
            if let Some(s) = all.get_mut(index) {
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
        if let Err(e) = self.peers.try_send(peers) {
            tracing::debug!(error = %e, "peer channel full or closed; dropping tracker peers");
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

/// What the handle asks of the task.
enum Command {
    Completed,
    WantMorePeers,
    Stop(Instant),
}

/// The engine's grip on a running announcer. Dropping it ends the task
/// without a `stopped` announce; [`stop`](Self::stop) sends one first.
pub struct AnnouncerHandle {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Vec<TrackerStatus>>,
    task: Option<JoinHandle<()>>,
}

impl AnnouncerHandle {
    /// The download just finished: announce `completed` now to every
    /// tracker that got `started` (once each; later calls do nothing).
    pub fn completed(&self) {
        let _ = self.commands.send(Command::Completed);
    }

    /// We are short of peers: announce early, but no sooner than the
    /// trackers' (and our) minimum interval after their last announce.
    pub fn want_more_peers(&self) {
        let _ = self.commands.send(Command::WantMorePeers);
    }

    /// Per-tracker status, updated as announces come and go.
    pub fn status(&self) -> watch::Receiver<Vec<TrackerStatus>> {
        self.status.clone()
    }

    /// Send `stopped` to every tracker that got `started`, all in
    /// parallel, and end the task; returns within `within` whatever the
    /// trackers do.
    pub async fn stop(mut self, within: Duration) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        // A week is "forever" here and keeps the instant arithmetic safe.
        let deadline = Instant::now() + within.min(Duration::from_secs(7 * 24 * 3600));
        if self.commands.send(Command::Stop(deadline)).is_err() {
            task.abort();
            return;
        }
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::debug!("announcer did not stop in time; aborting it");
            task.abort();
        }
    }
}

impl Drop for AnnouncerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Start a torrent's announcer: `started` goes out to every tier at once.
/// Must be called inside a tokio runtime.
pub fn spawn_announcer(
    setup: AnnounceSetup,
    transfer: watch::Receiver<Transfer>,
    peers: mpsc::Sender<Vec<SocketAddr>>,
) -> AnnouncerHandle {
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
    let (status_tx, status_rx) = watch::channel(board);
    let shared = Arc::new(Shared {
        info_hash: setup.info_hash,
        peer_id: setup.peer_id,
        port: setup.port,
        key: format!("{:08X}", rand::random::<u32>()).into_bytes(),
        config: setup.config,
        transfer,
        peers,
        status: status_tx,
    });
    let tiers: Vec<Tier> = tiers
        .into_iter()
        .map(|(t, urls, first)| Tier::new(t, urls, first, shared.clone()))
        .collect();
    let (commands, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(tiers, rx));
    AnnouncerHandle {
        commands,
        status: status_rx,
        task: Some(task),
    }
}

/// The announcer task: start the tiers, relay commands, wind down.
async fn run(tiers: Vec<Tier>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut set = JoinSet::new();
    let mut relays = Vec::new();
    for tier in tiers {
        let (tx, rx) = mpsc::unbounded_channel();
        relays.push(tx);
        set.spawn(tier.run(rx));
    }
    let relay = |cmd: TierCommand| {
        for r in &relays {
            let _ = r.send(cmd);
        }
    };
    while let Some(cmd) = commands.recv().await {
        match cmd {
            Command::Completed => relay(TierCommand::Completed),
            Command::WantMorePeers => relay(TierCommand::WantMorePeers),
            Command::Stop(deadline) => {
                relay(TierCommand::Stop(deadline));
                let all_done = async { while set.join_next().await.is_some() {} };
                if tokio::time::timeout_at(deadline, all_done).await.is_err() {
                    tracing::debug!("some tracker did not take our stop in time");
                }
                return;
            }
        }
    }
    // The handle was dropped: dropping `set` aborts the tiers.
}

#[cfg(test)]
mod tests {
    use super::*;

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

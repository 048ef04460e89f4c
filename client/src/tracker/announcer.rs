//! A torrent's announcer: one tokio task per torrent that keeps every tier
//! of its trackers informed (BEP 12 with announce-to-all-tiers), and the
//! handle the engine drives it with.
//!
//! The task owns one sub-task per tier ([`super::tier`]); they share the
//! torrent's identity, its latest [`Transfer`] counters, the peer channel
//! and the status board. All network I/O happens in those tasks, so a slow
//! or dead tracker delays nothing but its own tier.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use riffle_protocol::tracker::tiers::TrackerTiers;
use riffle_protocol::{InfoHash, PeerId};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::shared::{Shared, Transfer};
use super::status::TrackerStatus;
use super::tier::{Tier, TierCommand};
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
    /// Intervals, timeouts, time scale.
    pub config: AnnounceConfig,
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

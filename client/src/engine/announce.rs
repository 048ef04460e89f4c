//! The torrent's side of its trackers: a thin wrapper over
//! [`crate::tracker`]'s announcer task, so the torrent code does not depend
//! on that module's details.

use std::net::SocketAddr;
use std::time::Duration;

use riffle_protocol::{InfoHash, PeerId};
use tokio::sync::{mpsc, watch};

/// Bytes a torrent reports to its trackers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Payload bytes received.
    pub downloaded: u64,
    /// Payload bytes still missing.
    pub left: u64,
}

/// What the announcer needs to start.
#[allow(dead_code)] // read once the tracker module is wired in
pub struct Setup {
    /// Tracker tiers (BEP 12).
    pub tiers: Vec<Vec<String>>,
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our listening port.
    pub port: u16,
}

/// A running announcer.
pub struct Announcer {}

impl Announcer {
    /// Start announcing; peers found go to `peers`. `None` when the torrent
    /// has no usable tracker.
    pub fn start(
        _setup: Setup,
        _progress: watch::Receiver<Progress>,
        _peers: mpsc::Sender<Vec<SocketAddr>>,
    ) -> Option<Announcer> {
        None
    }

    /// The download completed.
    pub fn completed(&self) {}

    /// Say `stopped` to every tracker, bounded by `within`.
    pub async fn stop(self, _within: Duration) {}

    /// One line per tracker for status output.
    pub fn status_lines(&self) -> Vec<String> {
        Vec::new()
    }
}

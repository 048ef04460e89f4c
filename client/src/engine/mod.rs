//! The session: torrents, peer connections, storage and rate limits on
//! tokio.
//!
//! - [`Session`] owns the listener, the session-wide rate buckets and the
//!   hashing slots, and runs any number of torrents.
//! - Each torrent is one control task (`torrent/`) that owns its policy
//!   state; each peer connection is one task (`peer.rs`) that owns its
//!   socket and writes and reads piece data itself.
//! - `rate.rs` holds the governor buckets, `claims.rs` the lock-free bit
//!   sets shared on the data path, `mailbox.rs` the torrent-to-peer orders.

mod announce;
mod claims;
pub mod exchange;
mod lazy_channel;
mod listener;
pub mod locality;
pub mod magnet;
mod mailbox;
pub mod metadata;
mod peer;
pub mod pex;
pub mod rate;
mod relocate;
mod remove;
mod session;
mod shared;
pub mod slots;
pub mod torrent;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use riffle_protocol::peer::PeerConfig;

pub use relocate::{move_torrent_data, MoveError};
pub use remove::{delete_torrent_data, layout_paths, DeleteError, Deleted};
pub use session::{LoadCounts, Session, TorrentControl, TorrentHandle};
pub use torrent::status::{PeerStatus, PieceStatus, TorrentState, TorrentStatus, TurnCounts};
pub use torrent::{resume_path, Policies, PolicyUpdate, TorrentOptions};

/// Session-wide settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Where to listen for peers. Port 0 picks a free port; a busy port
    /// falls back to the next free one when `listen_fallback` is set.
    pub listen: SocketAddr,
    /// Try the next ports when the one asked for is busy.
    pub listen_fallback: bool,
    /// Session upload limit, bytes per second (0 = unlimited).
    pub max_upload_rate: u64,
    /// Session download limit, bytes per second (0 = unlimited).
    pub max_download_rate: u64,
    /// Timeouts and limits of each connection.
    pub peer: PeerConfig,
    /// Give up a dial after this long.
    pub connect_timeout: Duration,
    /// Dials in flight at once per torrent (8 in a client, as a home
    /// router's table of half-open connections expects). The swarm lab,
    /// all on 127.0.0.1, raises it so a newcomer meets a large swarm at
    /// once, as the model's newcomer does.
    pub half_open: usize,
    /// A peer that delivers nothing for this long while asked is snubbed.
    pub snub_after: Duration,
    /// The `stopped` announce at shutdown waits at most this long.
    pub stop_announce_timeout: Duration,
    /// Threads hashing pieces at once.
    pub hash_workers: usize,
    /// Tracker intervals and timeouts.
    pub announce: crate::tracker::AnnounceConfig,
    /// How much faster than real time the protocol's clocks run (1.0 in a
    /// client). The swarm lab raises it so a thousand model time units fit
    /// in minutes: the torrent's tick, rechoke and optimistic-unchoke
    /// intervals, snubbing, request timeouts and tracker intervals are all
    /// divided by it. Set it with [`SessionConfig::with_time_scale`].
    pub time_scale: f64,
    /// Peer connections across the whole session at most, accepted and
    /// dialled (0: no limit). Past it the listener closes new connections
    /// before reading them, and torrents stop dialling.
    pub max_connections: usize,
    /// Burst of every rate bucket in bytes (0: an eighth of a second of
    /// the rate, at least 64 KiB). The lab uses one block, so a peer that
    /// idled cannot then send faster than its capacity, as in the model.
    pub burst_bytes: u32,
    /// Run a DHT node (BEP 5) on the listening port's number, over UDP,
    /// for every non-private torrent and magnet fetch (None: no DHT, as
    /// the lab and the library default have it).
    pub dht: Option<crate::dht::DhtConfig>,
    /// Cross-swarm credit: leecher chokers rank peers by what their host
    /// gave us over every torrent, not in theirs alone.
    pub cross_swarm_credit: bool,
    /// How the upload limit is split between torrents.
    pub swarm_allocation: riffle_policies::exchange::SwarmAllocation,
    /// The key riffle peers know this host by (None: a fresh one per
    /// session; the CLI and the seedbox keep one in their state folder).
    pub host_key: Option<[u8; 16]>,
    /// A fixed tau for the CPM estimators, in protocol time (None: chosen
    /// from the swarms' hop times; experiments that compare with a model
    /// at a given tau set it).
    pub cpm_tau: Option<Duration>,
    /// Prefer peers of our own network (papers 000 and 001): dial order,
    /// which connection peer turnover closes, and the optimistic unchoke
    /// (None: no preference).
    pub locality: Option<Arc<riffle_policies::locality::Locality>>,
    /// Peer classes: connections to their networks also pay their upload
    /// bucket and count their bytes (the lab's links between networks).
    pub peer_classes: Vec<Arc<locality::PeerClass>>,
    /// A torrent with nothing to do (complete and seeding, or paused, no
    /// peer) parks after this long: it keeps a compact record and no
    /// running state until a peer, a command or a due re-dial wakes it
    /// (wall-clock time, not scaled). None: never.
    pub park_after: Option<Duration>,
}

impl SessionConfig {
    /// Speed every protocol timer up by `factor` (see
    /// [`SessionConfig::time_scale`]); the peer connection's timeouts and
    /// the announcer follow.
    pub fn with_time_scale(mut self, factor: f64) -> SessionConfig {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        self.time_scale = factor;
        self.announce.time_scale = factor;
        self.snub_after = self.scaled(self.snub_after);
        self.peer.request_timeout = self.scaled(self.peer.request_timeout);
        self.peer.keep_alive_interval = self.scaled(self.peer.keep_alive_interval);
        self.peer.idle_timeout = self.scaled(self.peer.idle_timeout);
        self
    }

    /// The address outgoing connections and announces leave from: the
    /// listening address when it names one (not 0.0.0.0 or ::).
    pub fn source_ip(&self) -> Option<IpAddr> {
        let ip = self.listen.ip();
        (!ip.is_unspecified()).then_some(ip)
    }

    /// `d` of protocol time in wall-clock time.
    pub fn scaled(&self, d: Duration) -> Duration {
        if self.time_scale > 0.0 && self.time_scale.is_finite() {
            d.div_f64(self.time_scale)
        } else {
            d
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            listen_fallback: true,
            max_upload_rate: 0,
            max_download_rate: 0,
            peer: PeerConfig::default(),
            connect_timeout: Duration::from_secs(10),
            half_open: 8,
            snub_after: Duration::from_secs(30),
            stop_announce_timeout: Duration::from_secs(2),
            hash_workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            announce: crate::tracker::AnnounceConfig::default(),
            time_scale: 1.0,
            max_connections: 0,
            burst_bytes: 0,
            dht: None,
            cross_swarm_credit: false,
            swarm_allocation: riffle_policies::exchange::SwarmAllocation::PerPeer,
            host_key: None,
            cpm_tau: None,
            locality: None,
            peer_classes: Vec::new(),
            park_after: Some(Duration::from_secs(60)),
        }
    }
}

//! What the announcer tells the rest of the program about each tracker:
//! the material of status lines and the TUI's tracker list.

use std::time::{Duration, Instant};

/// Where one tracker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackerState {
    /// Not tried yet (later in its tier than a working tracker, or the
    /// announcer has just started).
    #[default]
    Idle,
    /// An announce is in flight.
    Announcing,
    /// Its last announce worked.
    Working,
    /// Its last announce failed (see `last_error`).
    Failed,
    /// It got `stopped` (or the announcer ended).
    Stopped,
}

/// One tracker's state, as of the announcer's last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The announce URL.
    pub url: String,
    /// Its tier (0 first), as in the torrent's announce-list.
    pub tier: usize,
    /// Where it stands.
    pub state: TrackerState,
    /// When we last sent it an announce (whatever came of it).
    pub last_announce: Option<Instant>,
    /// When it last answered successfully.
    pub last_success: Option<Instant>,
    /// Peers in its last successful reply.
    pub last_peers: usize,
    /// Peers it handed out since the announcer started, counting repeats.
    pub peers_seen: u64,
    /// Seeds in the swarm by its last reply, when it says.
    pub seeders: Option<u64>,
    /// Leechers in the swarm by its last reply, when it says.
    pub leechers: Option<u64>,
    /// The (scaled) interval it asked for, as we clamped it.
    pub interval: Option<Duration>,
    /// When the next announce to it is due, if it is the tier's current
    /// tracker and one is scheduled.
    pub next_announce: Option<Instant>,
    /// The last error, transport or tracker, cleared by a success.
    pub last_error: Option<String>,
    /// The tracker's own `failure reason` (or UDP error text) when its
    /// last announce was refused.
    pub failure_reason: Option<String>,
    /// Its last `warning message` (kept until a reply without one).
    pub warning: Option<String>,
    /// Announce failures since its last success.
    pub consecutive_failures: u32,
    /// It accepted our `started` and has not been sent `stopped`.
    pub started: bool,
    /// It accepted our `completed`.
    pub completed_sent: bool,
}

impl TrackerStatus {
    /// A tracker nobody has talked to yet.
    pub fn new(url: String, tier: usize) -> TrackerStatus {
        TrackerStatus {
            url,
            tier,
            state: TrackerState::Idle,
            last_announce: None,
            last_success: None,
            last_peers: 0,
            peers_seen: 0,
            seeders: None,
            leechers: None,
            interval: None,
            next_announce: None,
            last_error: None,
            failure_reason: None,
            warning: None,
            consecutive_failures: 0,
            started: false,
            completed_sent: false,
        }
    }
}

//! The tracker's decisions: who is in each swarm and which peers an
//! announce gets back, with the two tracker-side policies of the
//! scalability paper (paper 002):
//!
//! - *shielding newcomers* ([`TrackerPolicy::shield_newcomers`]): a peer
//!   that arrives with nothing is, for a while, handed to no other leecher,
//!   and is itself handed seeds only, so the publisher (a seed) serves it
//!   first and it gets the rare piece before the popular ones;
//! - *admission control* ([`TrackerPolicy::max_peers`]): past a population
//!   cap a new downloader is refused, with a reason and a retry interval.
//!
//! [`Registry`] is sans-IO: the HTTP/UDP server in riffle-client, the swarm
//! lab and the simulator all call the same object, passing `now` in and
//! drawing randomness from a seeded generator.

mod registry;
mod swarm;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

pub use registry::{GivenCount, Registry, MAX_TOTAL_PEERS};

/// How the tracker answers: intervals, list sizes and the paper's policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerPolicy {
    /// Shield newcomers for this long (None: no shielding). A newcomer is a
    /// peer whose first announce says it has downloaded nothing and still
    /// needs something; it stops being one when it announces progress or
    /// when this much time has passed since that first announce.
    pub shield_newcomers: Option<Duration>,
    /// Admission control: most downloaders (peers with `left > 0`) a swarm
    /// holds. A new peer that would be one more downloader past this is
    /// refused. Seeds are always admitted (they only add capacity; the
    /// publisher must never be refused), and a peer already in the swarm is
    /// never refused. None: no cap.
    pub max_peers: Option<usize>,
    /// Seconds between a client's regular announces (`interval`).
    pub interval: Duration,
    /// Least time a client should leave between announces
    /// (`min interval`); also the retry time given with a refusal.
    pub min_interval: Duration,
    /// A peer that has not announced for this long is dropped by
    /// [`Registry::expire`]: it crashed or lost its connection without
    /// sending `stopped`.
    pub peer_expiry: Duration,
    /// Peers in a reply when the announce does not say `numwant`.
    pub default_numwant: usize,
    /// Most peers in any reply, whatever the announce asks for: bounds the
    /// reply size (a UDP reply must fit a datagram).
    pub max_numwant: usize,
}

impl TrackerPolicy {
    /// The defaults (see [`Default`]) with regular announces every
    /// `interval`: `min_interval` is half of it and peers expire after two
    /// missed announces.
    pub fn with_interval(interval: Duration) -> TrackerPolicy {
        TrackerPolicy {
            interval,
            min_interval: interval / 2,
            peer_expiry: interval.saturating_mul(2),
            ..TrackerPolicy::default()
        }
    }
}

impl Default for TrackerPolicy {
    /// No shielding, no cap, announces every 30 minutes (as opentracker),
    /// 50 peers per reply unless asked (BEP 3's suggestion), at most 200.
    fn default() -> Self {
        TrackerPolicy {
            shield_newcomers: None,
            max_peers: None,
            interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(900),
            peer_expiry: Duration::from_secs(3600),
            default_numwant: 50,
            max_numwant: 200,
        }
    }
}

/// One announce, as the tracker sees it (from HTTP or UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing client's id: how the tracker recognises it again.
    pub peer_id: PeerId,
    /// Where other peers reach it (the source IP and the announced port).
    pub addr: SocketAddr,
    /// Bytes it still needs; 0 makes it a seed.
    pub left: u64,
    /// Bytes it has downloaded: 0 (with `left > 0`) makes it a newcomer.
    pub downloaded: u64,
    /// Bytes it has uploaded (kept for statistics only).
    pub uploaded: u64,
    /// Started / completed / stopped / a regular announce.
    pub event: Event,
    /// Peers it asks for; None: the tracker's default.
    pub numwant: Option<usize>,
}

/// One peer handed out in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplyPeer {
    /// Its id (for dictionary-model replies).
    pub peer_id: PeerId,
    /// Where to connect to it.
    pub addr: SocketAddr,
    /// It holds everything (`left == 0` in its last announce).
    pub seed: bool,
}

/// A swarm's counts, as announce replies and scrapes report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SwarmCounts {
    /// Peers with everything (`complete`).
    pub seeds: u64,
    /// Peers still downloading (`incomplete`).
    pub leechers: u64,
    /// How many `completed` events the swarm has seen (`downloaded`).
    pub completed: u64,
}

/// The answer to an accepted announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Peers chosen at random among those the asker may be given, never
    /// the asker itself, at most its `numwant`.
    pub peers: Vec<ReplyPeer>,
    /// The swarm's counts after this announce.
    pub counts: SwarmCounts,
    /// When to announce again.
    pub interval: Duration,
    /// Least time before announcing again (zero: none; a shielded
    /// newcomer may announce its first piece at once).
    pub min_interval: Duration,
}

/// An announce the tracker will not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Shown to the user (`failure reason`, UDP error message).
    pub reason: String,
    /// When trying again makes sense (BEP 31 `retry in`).
    pub retry_in: Duration,
}

//! Talking to trackers over the network: HTTP and UDP announces, and the
//! announcer task that walks a torrent's tiers (BEP 12).
//!
//! The packets themselves are built and parsed by
//! [`riffle_protocol::tracker`]; this module only moves them:
//!
//! - [`announce_once`]: one announce to one tracker, HTTP(S) ([`http`]) or
//!   UDP (BEP 15, [`udp`]) by the URL's scheme, bounded in time.
//! - [`announce`]: a torrent's announcer on a session's [`Announcers`]
//!   (one task for every torrent's tiers, [`service`]), which sends
//!   `started`, then periodic announces at each tracker's interval, to one
//!   working tracker of every tier, with backoff on errors (spread so
//!   torrents do not announce in step); `completed` and `stopped` on
//!   request. Peers go out on an mpsc channel, per-tracker status on a
//!   watch channel. [`spawn_announcer`] is the same on a service of its
//!   own.
//!
//! Every duration in [`AnnounceConfig`] is "real" time divided by
//! [`AnnounceConfig::time_scale`], so the swarm lab and the tests can run a
//! tracker's half-hour interval in seconds.
//!
//! ```no_run
//! # async fn demo(info_hash: riffle_protocol::InfoHash, peer_id: riffle_protocol::PeerId) {
//! use std::time::Duration;
//! use riffle_client::tracker::{spawn_announcer, AnnounceConfig, AnnounceSetup, Transfer};
//! use riffle_client::watch;
//! use tokio::sync::mpsc;
//!
//! let (transfer, transfer_rx) = watch::channel(Transfer { left: 1 << 20, ..Transfer::default() });
//! let (peers_tx, mut peers) = mpsc::channel(16);
//! let setup = AnnounceSetup {
//!     tiers: vec![vec!["udp://tracker.example:6969/announce".into()]],
//!     info_hash,
//!     peer_id,
//!     port: 6881,
//!     config: AnnounceConfig::default().into(),
//! };
//! let announcer = spawn_announcer(setup, transfer_rx, peers_tx);
//! let _first_peers = peers.recv().await;
//! transfer.send_replace(Transfer { uploaded: 0, downloaded: 1 << 20, left: 0 });
//! announcer.completed();
//! for s in announcer.status().borrow().iter() {
//!     println!("{}", s.line(std::time::Instant::now()));
//! }
//! announcer.stop(Duration::from_secs(2)).await;
//! # }
//! ```

mod announcer;
mod config;
mod error;
pub mod http;
mod service;
mod shared;
mod status;
mod tier;
pub mod udp;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use announcer::{announce, spawn_announcer, AnnounceSetup, AnnouncerHandle};
pub use config::AnnounceConfig;
pub use error::TrackerError;
pub use riffle_protocol::tracker::http::AnnounceRequest;
pub use riffle_protocol::tracker::Event;
pub use service::{Announcers, MAX_IN_FLIGHT};
pub use shared::{Board, PeerInbox, PeerSink, Transfer, INBOX_MAX};
pub use status::{TrackerState, TrackerStatus};

/// What one successful announce brought back, whatever the transport.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceOutcome {
    /// Peers to dial, IPv4 and IPv6 (host-name peers already resolved,
    /// port-0 entries already dropped).
    pub peers: Vec<SocketAddr>,
    /// The tracker's regular interval, unscaled, as it sent it.
    pub interval: Duration,
    /// The tracker's `min interval`, when it sent one (HTTP only).
    pub min_interval: Option<Duration>,
    /// Seeds in the swarm, when the tracker says.
    pub seeders: Option<u64>,
    /// Leechers in the swarm, when the tracker says.
    pub leechers: Option<u64>,
    /// The tracker's `warning message`: the announce worked but the
    /// operator wants the user to see this.
    pub warning: Option<String>,
    /// HTTP `tracker id`, to be sent back in later announces.
    pub tracker_id: Option<Vec<u8>>,
    /// Our address as the tracker sees it (HTTP `external ip`), which
    /// tells our own entry apart in the peer list.
    pub external_ip: Option<IpAddr>,
}

/// Announce once to `url`, over HTTP(S) or UDP according to its scheme.
///
/// Bounded in time: HTTP by [`AnnounceConfig::http_timeout`], UDP by
/// [`AnnounceConfig::udp_base_timeout`] and
/// [`AnnounceConfig::udp_attempts`] (both scaled). For UDP, `req.key` (our
/// 8 hex digits) becomes BEP 15's 32-bit key and the URL's path and query
/// are sent as BEP 41 URL data.
pub async fn announce_once(
    url: &str,
    req: &AnnounceRequest,
    cfg: &AnnounceConfig,
) -> Result<AnnounceOutcome, TrackerError> {
    if is_udp(url)? {
        udp::announce(url, req, cfg).await
    } else {
        http::announce(url, req, cfg).await
    }
}

/// What a scrape says: per torrent asked about and known to the tracker,
/// its counts.
pub type ScrapeReply = Vec<(
    riffle_protocol::InfoHash,
    riffle_protocol::tracker::scrape::ScrapeStats,
)>;

/// Whether `url` names a UDP tracker (else HTTP or HTTPS); any other
/// scheme is an error.
fn is_udp(url: &str) -> Result<bool, TrackerError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => Ok(false),
        Some("udp") => Ok(true),
        Some(other) => Err(TrackerError::UnsupportedScheme(other.to_owned())),
        None => Err(TrackerError::BadUrl {
            url: url.to_owned(),
            why: "no scheme".to_owned(),
        }),
    }
}

/// Scrape `url` (an announce URL, HTTP(S) or UDP) for the counts of
/// `hashes` (BEP 48 / BEP 15). Bounded in time as announces are.
pub async fn scrape_once(
    url: &str,
    hashes: &[riffle_protocol::InfoHash],
    cfg: &AnnounceConfig,
) -> Result<ScrapeReply, TrackerError> {
    if is_udp(url)? {
        udp::scrape(url, hashes, cfg).await
    } else {
        http::scrape(url, hashes, cfg).await
    }
}

/// Resolve peers known only by host name (non-compact HTTP replies may
/// carry them), each bounded by `within`; names that do not resolve are
/// dropped with a debug log.
async fn resolve_hosts(hosts: Vec<(String, u16)>, within: Duration) -> Vec<SocketAddr> {
    /// A tracker listing hundreds of names is not worth hundreds of lookups.
    const MAX_HOSTS: usize = 32;
    let mut out = Vec::new();
    for (name, port) in hosts.into_iter().take(MAX_HOSTS) {
        match tokio::time::timeout(within, tokio::net::lookup_host((name.as_str(), port))).await {
            Ok(Ok(mut addrs)) => out.extend(addrs.next()),
            Ok(Err(e)) => tracing::debug!(%name, error = %e, "peer host does not resolve"),
            Err(_) => tracing::debug!(%name, "peer host lookup timed out"),
        }
    }
    out
}

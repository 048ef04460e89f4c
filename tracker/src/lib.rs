//! The built-in tracker: an HTTP tracker (BEP 3, `/announce` and
//! `/scrape`, compact and dictionary replies) and a UDP tracker (BEP 15)
//! on the same port number, answering from one
//! [`riffle_policies::tracker::Registry`] — so the paper's tracker-side
//! policies (shielding newcomers, admission control) apply to real
//! clients.
//!
//! - [`http`]: hyper serves the connections; `respond` turns a
//!   path and query into a status and a bencoded body, without sockets.
//! - [`udp`]: one datagram in, at most one out (`handle_packet`);
//!   connection ids are keyed hashes of the client's address and the
//!   current minute, so they expire without the tracker storing them.
//!
//! Everything read from the network is untrusted: request heads are
//! bounded, connections are counted and time-limited, and the registry
//! bounds the number of peers it holds.
//!
//! ```no_run
//! # async fn demo() -> Result<(), riffle_tracker::TrackerServerError> {
//! use riffle_tracker::{TrackerConfig, TrackerServer};
//! use riffle_policies::tracker::TrackerPolicy;
//!
//! let config = TrackerConfig::new("127.0.0.1:0".parse().unwrap(), TrackerPolicy::default());
//! let tracker = TrackerServer::start(config).await?;
//! println!("announce to {} or {}", tracker.announce_url(), tracker.udp_url());
//! tracker.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod http;
pub mod multitrack;
pub mod udp;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use riffle_policies::tracker::{Registry, SwarmCounts, TrackerPolicy};
use riffle_protocol::types::InfoHash;
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use udp::ConnectionIds;

/// What the tracker listens on and how it answers.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Address for both HTTP (TCP) and UDP; port 0 picks a free port, the
    /// same number for both.
    pub listen: SocketAddr,
    /// Intervals, list sizes, shielding and admission. Its durations are
    /// wall-clock time: the registry measures expiry and shielding with
    /// them.
    pub policy: TrackerPolicy,
    /// 1.0 normally. The swarm lab runs clients whose announcer divides
    /// every tracker interval by a time scale; intervals written on the
    /// wire are the policy's multiplied by this, so such clients get back
    /// the policy's wall-clock intervals.
    pub time_scale: f64,
    /// Seeds the random choice of peers in replies.
    pub seed: u64,
    /// Near-first replies by network (P4P's iTracker guidance); None:
    /// peers drawn uniformly.
    pub locality: Option<riffle_policies::locality::Locality>,
    /// MultiTrack: forward a share of our arrivals to peer trackers'
    /// swarms (paper 000); None: every arrival stays.
    pub multitrack: Option<multitrack::MultiTrackConfig>,
}

impl TrackerConfig {
    /// Listen on `listen` with `policy`, no time scaling, a random seed.
    pub fn new(listen: SocketAddr, policy: TrackerPolicy) -> TrackerConfig {
        TrackerConfig {
            listen,
            policy,
            time_scale: 1.0,
            seed: rand::random(),
            locality: None,
            multitrack: None,
        }
    }
}

/// The tracker could not start.
#[derive(Debug, Error)]
pub enum TrackerServerError {
    /// The TCP listener for HTTP could not be bound.
    #[error("cannot listen for HTTP on {addr}: {reason}")]
    BindHttp {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (in the message; not a `source`, so a chained report does
        /// not repeat it).
        reason: io::Error,
    },
    /// The MultiTrack settings are out of range.
    #[error("bad MultiTrack settings: {0}")]
    MultiTrack(#[from] riffle_policies::locality::multitrack::MultiTrackError),
    /// The UDP socket could not be bound (on the HTTP listener's port).
    #[error("cannot listen for UDP on {addr}: {reason}")]
    BindUdp {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (in the message, as for `BindHttp`).
        reason: io::Error,
    },
}

/// Intervals as written on the wire: whole seconds, scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireTimes {
    /// `interval`.
    pub interval: u32,
    /// `min interval` (0: none, the key is left out).
    pub min_interval: u32,
}

impl WireTimes {
    fn new(policy: &TrackerPolicy, time_scale: f64) -> WireTimes {
        WireTimes {
            interval: wire_secs(policy.interval, time_scale),
            min_interval: wire_secs(policy.min_interval, time_scale),
        }
    }
}

/// `d` times `scale` in whole seconds, rounded up, at least 1 (a 0
/// interval is invalid), saturating. A scale that is not a positive finite
/// number counts as 1.
pub(crate) fn wire_secs(d: Duration, scale: f64) -> u32 {
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let secs = (d.as_secs_f64() * scale).ceil();
    if secs >= f64::from(u32::MAX) {
        u32::MAX
    } else if secs >= 1.0 {
        // In range and integral: the cast is exact.
        secs as u32
    } else {
        1
    }
}

/// What the HTTP and UDP sides share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Every swarm. Locked for one announce or scrape at a time, never
    /// across an await.
    registry: Mutex<Registry>,
    /// Intervals for replies.
    pub wire: WireTimes,
    /// The time scale, for `retry in`.
    pub time_scale: f64,
    /// Issues and checks UDP connection ids.
    pub ids: ConnectionIds,
    /// Forwarding to peer trackers, when configured.
    pub(crate) multitrack: Option<multitrack::MultiTrack>,
}

impl Shared {
    pub(crate) fn new(
        config: &TrackerConfig,
    ) -> Result<Shared, riffle_policies::locality::multitrack::MultiTrackError> {
        let mut registry = Registry::new(config.policy, config.seed);
        registry.set_locality(config.locality.clone());
        let multitrack = match config.multitrack.clone() {
            Some(m) => Some(multitrack::MultiTrack::new(m, config.seed ^ 0x4D54)?),
            None => None,
        };
        Ok(Shared {
            registry: Mutex::new(registry),
            wire: WireTimes::new(&config.policy, config.time_scale),
            time_scale: config.time_scale,
            ids: ConnectionIds::new(Instant::now()),
            multitrack,
        })
    }

    /// Answer an announce: a MultiTrack-forwarded user gets its
    /// destination's peers; everyone else the registry's answer.
    pub(crate) fn announce(
        &self,
        now: Instant,
        a: &riffle_policies::tracker::Announce,
    ) -> Result<riffle_policies::tracker::AnnounceReply, riffle_policies::tracker::Refusal> {
        if let Some(m) = &self.multitrack {
            let known = self.registry().contains(&a.info_hash, &a.peer_id);
            if let Some(reply) = m.intercept(now, a, known) {
                return Ok(reply);
            }
        }
        self.registry().announce(now, a)
    }

    /// The intervals of one reply on the wire (a shielded newcomer is asked
    /// back sooner than everyone else, with no least interval).
    pub(crate) fn wire_times(&self, reply: &riffle_policies::tracker::AnnounceReply) -> WireTimes {
        WireTimes {
            interval: wire_secs(reply.interval, self.time_scale),
            min_interval: if reply.min_interval.is_zero() {
                0
            } else {
                wire_secs(reply.min_interval, self.time_scale)
            },
        }
    }

    /// The registry (a panic elsewhere while holding it leaves it usable:
    /// every registry operation keeps its invariants at each step).
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running tracker. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct TrackerServer {
    /// Where HTTP listens.
    http_addr: SocketAddr,
    /// Where UDP listens (same port number).
    udp_addr: SocketAddr,
    /// The registry, for the lab to observe.
    shared: Arc<Shared>,
    /// Set to true to stop every task.
    stop: watch::Sender<bool>,
    /// HTTP, UDP and expiry tasks.
    tasks: Vec<JoinHandle<()>>,
}

impl TrackerServer {
    /// Bind HTTP and UDP on `config.listen` and start serving.
    pub async fn start(config: TrackerConfig) -> Result<TrackerServer, TrackerServerError> {
        let shared = Arc::new(Shared::new(&config)?);
        let (tcp, udp_socket) = bind(config.listen).await?;
        let http_addr = tcp
            .local_addr()
            .map_err(|reason| TrackerServerError::BindHttp {
                addr: config.listen,
                reason,
            })?;
        let udp_addr = udp_socket
            .local_addr()
            .map_err(|reason| TrackerServerError::BindUdp {
                addr: config.listen,
                reason,
            })?;
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(http::serve(tcp, shared.clone(), stopped.clone())),
            tokio::spawn(udp::serve(udp_socket, shared.clone(), stopped.clone())),
            tokio::spawn(expire_loop(
                shared.clone(),
                config.policy.peer_expiry,
                stopped.clone(),
            )),
        ];
        let mut tasks = tasks;
        if let Some(every) = config.multitrack.as_ref().map(|m| m.every) {
            tasks.push(tokio::spawn(multitrack_loop(
                shared.clone(),
                every,
                stopped,
            )));
        }
        tracing::info!(%http_addr, %udp_addr, policy = ?config.policy, "tracker started");
        Ok(TrackerServer {
            http_addr,
            udp_addr,
            shared,
            stop,
            tasks,
        })
    }

    /// The HTTP listener's address (the real port when 0 was asked for).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The UDP socket's address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// `http://ADDR/announce`, for a torrent's announce list.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.http_addr)
    }

    /// `udp://ADDR`, for a torrent's announce list.
    pub fn udp_url(&self) -> String {
        format!("udp://{}", self.udp_addr)
    }

    /// `http://ADDR/scrape` (BEP 48).
    pub fn scrape_url(&self) -> String {
        format!("http://{}/scrape", self.http_addr)
    }

    /// A swarm's counts now (zero when unknown).
    pub fn counts(&self, info_hash: &InfoHash) -> SwarmCounts {
        self.shared.registry().counts(info_hash)
    }

    /// Peers handed out by network (asker's, peer's), with a locality.
    pub fn given_by_network(&self) -> Vec<riffle_policies::tracker::GivenCount> {
        self.shared.registry().given_by_network()
    }

    /// Set (or, with None, forget) the address of the MultiTrack peer
    /// tracker called `name` (trackers that forward to each other can start
    /// on free ports, then learn each other's); false when this tracker
    /// has no such peer.
    pub fn set_peer_tracker(&self, name: &str, addr: Option<SocketAddr>) -> bool {
        self.shared
            .multitrack
            .as_ref()
            .is_some_and(|m| m.set_addr(name, addr))
    }

    /// The MultiTrack updates of the torrent `info_hash`, oldest first (at
    /// most [`multitrack::HISTORY`]); empty without MultiTrack.
    pub fn multitrack_updates(&self, info_hash: &InfoHash) -> Vec<multitrack::ForwardingUpdate> {
        self.shared
            .multitrack
            .as_ref()
            .map(|m| m.history(info_hash))
            .unwrap_or_default()
    }

    /// `http://ADDR/stats`: swarms, peers and, with a locality, the peers
    /// handed out by network, as JSON.
    pub fn stats_url(&self) -> String {
        format!("http://{}/stats", self.http_addr)
    }

    /// Stop serving and wait for the tasks to end; the ports are free when
    /// this returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        tracing::info!(http_addr = %self.http_addr, "tracker stopped");
    }
}

impl Drop for TrackerServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Bind TCP on `listen`, then UDP on the same IP and port number. With
/// port 0 the TCP port is ephemeral and its UDP twin may be taken: try a
/// few ports.
async fn bind(listen: SocketAddr) -> Result<(TcpListener, UdpSocket), TrackerServerError> {
    const ATTEMPTS: u32 = 16;
    let http_err = |reason| TrackerServerError::BindHttp {
        addr: listen,
        reason,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tcp = TcpListener::bind(listen).await.map_err(http_err)?;
        let port = tcp.local_addr().map_err(http_err)?.port();
        let udp_addr = SocketAddr::new(listen.ip(), port);
        match UdpSocket::bind(udp_addr).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e)
                if listen.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && attempt < ATTEMPTS =>
            {
                continue
            }
            Err(reason) => {
                return Err(TrackerServerError::BindUdp {
                    addr: udp_addr,
                    reason,
                })
            }
        }
    }
}

/// Every `every`: each torrent's slot closes, the peer trackers are
/// asked for theirs, and the forwarding shares move.
async fn multitrack_loop(shared: Arc<Shared>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let Some(m) = &shared.multitrack else { break };
                let addrs = m.addrs();
                for hash in m.hashes() {
                    let mut answers = Vec::new();
                    for addr in &addrs {
                        answers.push(match addr {
                            Some(a) => multitrack::ask(*a, &hash).await,
                            None => None,
                        });
                    }
                    let leechers = shared.registry().leechers(&hash);
                    m.update(&hash, leechers, answers);
                }
            }
        }
    }
}

/// Drop silent peers every quarter of the expiry time (between 10 ms and
/// 30 s), so a peer is gone at most 25% after its expiry.
async fn expire_loop(shared: Arc<Shared>, expiry: Duration, mut stop: watch::Receiver<bool>) {
    let every = (expiry / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let mut registry = shared.registry();
                let before = registry.peer_count();
                registry.expire(Instant::now());
                let gone = before.saturating_sub(registry.peer_count());
                if gone > 0 {
                    tracing::debug!(gone, left = registry.peer_count(), "expired silent peers");
                }
            }
        }
    }
}

//! MultiTrack (paper 000) between real trackers: `riffle tracker --pid
//! NAME --peer-tracker NAME=ADDR` (one tracker per network, each knowing
//! the others). Every `every` a tracker measures its own swarm of each
//! torrent (a [`SwarmMeter`] slot: the delay is the mean size over the
//! mean download rate its leechers reported between announces, the load
//! its arrivals per second, the occupancy its leechers), asks each peer
//! tracker for its measure and a sample of its swarm (`GET
//! /multitrack?info_hash=...`), and moves its forwarding shares by the
//! replicator dynamics ([`Split::update`]) on each option's payoff:
//! delay + transit price (from the locality file's `[prices]`) +
//! congestion price. An option's delay is what our own forwarded users
//! measured there, or the peer tracker's published delay until they have.
//!
//! A new downloader (the first announce of a peer id we do not know) is
//! sent to option [`Split::choose`] draws: kept in our swarm, or
//! *forwarded*: given the peer tracker's sample instead of our peers and
//! kept out of our swarm (forwarded users meet that network's peers only,
//! as in the paper); its later announces get the same list and feed that
//! option's delay. Shares, payoffs and counts are logged at every update
//! and shown at `/stats`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use riffle_policies::locality::multitrack::{
    Congestion, Forwarding, Measure, MeterSettings, MultiTrackError, Slot, Split, SwarmMeter,
    DEFAULT_FLOOR, DEFAULT_STEP,
};
use riffle_policies::tracker::{Announce, AnnounceReply, ReplyPeer, SwarmCounts};
use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

/// Peers of a swarm a tracker publishes for forwarding.
pub const SAMPLE: usize = 50;

/// Torrents a tracker keeps MultiTrack state for: announces are
/// untrusted, so past this a new torrent's arrivals simply stay local.
pub const MAX_SWARMS: usize = 10_000;

/// Peers whose progress one torrent's state follows (forwarded ones
/// included); past this, new arrivals stay local and are not followed.
pub const MAX_FOLLOWED: usize = 50_000;

/// A peer silent for this many updates is forgotten.
const FORGET_AFTER_UPDATES: u32 = 10;

/// Updates of one torrent kept for [`crate::TrackerServer::multitrack_updates`]
/// (the oldest go first).
pub const HISTORY: usize = 1024;

/// Another tracker we may forward to.
#[derive(Clone, Debug)]
pub struct PeerTracker {
    /// Its network's name.
    pub name: String,
    /// Its HTTP address; None until known
    /// ([`crate::TrackerServer::set_peer_tracker`]): until then it is
    /// not asked and nobody is forwarded to it.
    pub addr: Option<SocketAddr>,
    /// Transit price to its swarm, in seconds (the unit of delay).
    pub price: f64,
}

/// A tracker's place among its peers.
#[derive(Clone, Debug)]
pub struct MultiTrackConfig {
    /// Our network's name (in logs and stats).
    pub own: String,
    /// The other trackers.
    pub peers: Vec<PeerTracker>,
    /// How often shares are updated (the paper: 8 s).
    pub every: Duration,
    /// What the payoffs count; `Never` keeps every arrival (and still
    /// measures and publishes).
    pub forwarding: Forwarding,
    /// The replicator step (0 < step <= 1).
    pub step: f64,
    /// The share every option keeps (0 <= floor < 0.5).
    pub floor: f64,
    /// Weight of new payoffs in the averaged payoffs the split acts on
    /// (0 < smoothing <= 1; 1: the last payoffs alone).
    pub smoothing: f64,
    /// How the congestion price is estimated.
    pub congestion: Congestion,
    /// Start each torrent's split even over the options (paper 000's
    /// runs, the lab) rather than keeping everything but the floor.
    pub even_start: bool,
}

impl MultiTrackConfig {
    /// `own` among `peers`, updating every `every`, with the defaults:
    /// MultiTrack's payoffs, step 0.5, floor 2%, no payoff averaging,
    /// congestion by occupancy.
    pub fn new(own: String, peers: Vec<PeerTracker>, every: Duration) -> MultiTrackConfig {
        MultiTrackConfig {
            own,
            peers,
            every,
            forwarding: Forwarding::Multitrack,
            step: DEFAULT_STEP,
            floor: DEFAULT_FLOOR,
            smoothing: 1.0,
            congestion: Congestion::Occupancy,
            even_start: false,
        }
    }

    /// A fresh split for these settings: everything kept but the floor,
    /// or even with `even_start`.
    fn split(&self) -> Result<Split, MultiTrackError> {
        let allowed = vec![true; 1 + self.peers.len()];
        let split = if self.even_start {
            Split::new(&allowed, 0)?
        } else {
            Split::local(&allowed, 0)?
        };
        split
            .with_step(self.step)?
            .with_floor(self.floor)?
            .with_smoothing(self.smoothing)
    }
}

/// One update of one torrent's forwarding, as kept in its history.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardingUpdate {
    /// When.
    pub at: Instant,
    /// Each option's payoff (ours first, then the peer trackers' in
    /// order) as the split acted on it (averaged with the earlier ones
    /// when `smoothing` < 1; as measured when the shares did not move);
    /// NaN where not measured yet.
    pub payoffs: Vec<f64>,
    /// The shares after the update.
    pub shares: Vec<f64>,
    /// Arrivals sent to each option since start.
    pub sent: Vec<u64>,
    /// Whether the shares moved (every payoff known).
    pub moved: bool,
}

/// Download progress of one peer, for its rate.
#[derive(Clone, Copy, Debug)]
struct Progress {
    at: Instant,
    downloaded: u64,
    size: u64,
}

/// Rates reported in one slot.
#[derive(Clone, Copy, Debug, Default)]
struct SlotRates {
    rate_sum: f64,
    size_sum: f64,
    n: u64,
}

impl SlotRates {
    fn add(&mut self, prev: Progress, now: Progress) {
        let dt = now.at.saturating_duration_since(prev.at).as_secs_f64();
        if dt > 0.0 && now.downloaded >= prev.downloaded {
            self.rate_sum += (now.downloaded - prev.downloaded) as f64 / dt;
            self.size_sum += now.size as f64;
            self.n += 1;
        }
    }

    /// Mean size over mean rate (None: no rate reported).
    fn delay(&self) -> Option<f64> {
        (self.n > 0 && self.rate_sum > 0.0).then(|| self.size_sum / self.rate_sum)
    }
}

/// One torrent's forwarding state.
struct SwarmState {
    split: Split,
    meter: SwarmMeter,
    /// Our own leechers' rates this slot and arrivals.
    own: SlotRates,
    arrivals: u64,
    /// Forwarded users' rates per option this slot, and the delay they
    /// last measured there.
    away: Vec<SlotRates>,
    away_delay: Vec<Option<f64>>,
    /// Each peer tracker's last answer: its measure and sample.
    remote: Vec<Option<(Option<Measure>, Vec<SocketAddr>)>>,
    progress: HashMap<PeerId, Progress>,
    forwarded: HashMap<PeerId, usize>,
    /// Arrivals sent to each option since start.
    sent: Vec<u64>,
    payoffs: Vec<f64>,
    updates: u64,
    history: VecDeque<ForwardingUpdate>,
}

impl std::fmt::Debug for MultiTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiTrack")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The tracker's MultiTrack state.
pub(crate) struct MultiTrack {
    pub(crate) config: MultiTrackConfig,
    /// The peer trackers' addresses (settable while running).
    addrs: Mutex<Vec<Option<SocketAddr>>>,
    swarms: Mutex<HashMap<InfoHash, SwarmState>>,
    rng: Mutex<rand::rngs::StdRng>,
}

impl MultiTrack {
    /// Check the settings (a split and a meter can be made of them).
    pub(crate) fn new(config: MultiTrackConfig, seed: u64) -> Result<MultiTrack, MultiTrackError> {
        use rand::SeedableRng;
        config.split()?;
        SwarmMeter::new(MeterSettings::for_congestion(config.congestion))?;
        if let Some(p) = config
            .peers
            .iter()
            .find(|p| !(p.price.is_finite() && p.price >= 0.0))
        {
            return Err(MultiTrackError::BadSetting(format!(
                "the price to {} must be a number >= 0, not {}",
                p.name, p.price
            )));
        }
        Ok(MultiTrack {
            addrs: Mutex::new(config.peers.iter().map(|p| p.addr).collect()),
            config,
            swarms: Mutex::default(),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
        })
    }

    /// The peer trackers' addresses now, in order.
    pub(crate) fn addrs(&self) -> Vec<Option<SocketAddr>> {
        self.addrs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Set (or forget) the address of the peer tracker called `name`;
    /// false when there is none.
    pub(crate) fn set_addr(&self, name: &str, addr: Option<SocketAddr>) -> bool {
        let Some(i) = self.config.peers.iter().position(|p| p.name == name) else {
            return false;
        };
        let mut addrs = self
            .addrs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        addrs[i] = addr;
        true
    }

    /// The history of `hash`'s updates, oldest first.
    pub(crate) fn history(&self, hash: &InfoHash) -> Vec<ForwardingUpdate> {
        self.swarms()
            .get(hash)
            .map(|s| s.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn options(&self) -> usize {
        1 + self.config.peers.len()
    }

    fn swarms(&self) -> std::sync::MutexGuard<'_, HashMap<InfoHash, SwarmState>> {
        self.swarms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self) -> SwarmState {
        let k = self.options();
        SwarmState {
            split: self.config.split().expect("checked in new"),
            meter: SwarmMeter::new(MeterSettings::for_congestion(self.config.congestion))
                .expect("checked in new"),
            own: SlotRates::default(),
            arrivals: 0,
            away: vec![SlotRates::default(); k],
            away_delay: vec![None; k],
            remote: vec![None; k],
            progress: HashMap::new(),
            forwarded: HashMap::new(),
            sent: vec![0; k],
            payoffs: vec![f64::NAN; k],
            updates: 0,
            history: VecDeque::new(),
        }
    }

    /// Before the registry sees `a`: a forwarded user's reply (None: the
    /// registry answers), and progress bookkeeping. `known`: the registry
    /// holds this peer already.
    pub(crate) fn intercept(
        &self,
        now: Instant,
        a: &Announce,
        known: bool,
    ) -> Option<AnnounceReply> {
        let mut swarms = self.swarms();
        if swarms.len() >= MAX_SWARMS && !swarms.contains_key(&a.info_hash) {
            return None;
        }
        let s = swarms.entry(a.info_hash).or_insert_with(|| self.fresh());
        if s.progress.len() >= MAX_FOLLOWED && !s.progress.contains_key(&a.peer_id) {
            return None;
        }
        let point = Progress {
            at: now,
            downloaded: a.downloaded,
            size: a.downloaded.saturating_add(a.left),
        };
        let option = match s.forwarded.get(&a.peer_id) {
            Some(&j) => Some(j),
            None if known || a.left == 0 || a.event == Event::Stopped => None,
            None => {
                let u: f64 = rand::Rng::gen(
                    &mut *self
                        .rng
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                let j = if self.config.forwarding.forwards() {
                    s.split.choose(u)
                } else {
                    0
                };
                let has_peers = s
                    .remote
                    .get(j)
                    .and_then(Option::as_ref)
                    .is_some_and(|(_, p)| !p.is_empty());
                let j = if j != 0 && has_peers { j } else { 0 };
                s.sent[j] += 1;
                if j == 0 {
                    s.arrivals += 1;
                    None
                } else {
                    s.forwarded.insert(a.peer_id, j);
                    Some(j)
                }
            }
        };
        if let Some(prev) = s.progress.insert(a.peer_id, point) {
            match option {
                Some(j) => s.away[j].add(prev, point),
                None => s.own.add(prev, point),
            }
        }
        if a.event == Event::Stopped {
            s.progress.remove(&a.peer_id);
            s.forwarded.remove(&a.peer_id);
        }
        let j = option?;
        let want = a.numwant.unwrap_or(50).min(SAMPLE);
        let peers = s.remote[j]
            .as_ref()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        Some(AnnounceReply {
            peers: peers
                .into_iter()
                .filter(|p| *p != a.addr)
                .take(want)
                .map(|addr| ReplyPeer {
                    peer_id: PeerId([0; 20]),
                    addr,
                    seed: false,
                })
                .collect(),
            counts: SwarmCounts::default(),
            interval: self.config.every,
            min_interval: Duration::ZERO,
        })
    }

    /// What `/multitrack?info_hash=` publishes: our measure and sample.
    pub(crate) fn published(&self, hash: &InfoHash, sample: Vec<SocketAddr>) -> serde_json::Value {
        let swarms = self.swarms();
        let m = swarms.get(hash).and_then(|s| s.meter.measure());
        serde_json::json!({
            "pid": self.config.own,
            "delay": m.map(|m| m.delay),
            "congestion": m.map(|m| m.congestion),
            "peers": sample.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    }

    /// The torrents we have state for.
    pub(crate) fn hashes(&self) -> Vec<InfoHash> {
        self.swarms().keys().copied().collect()
    }

    /// Close the slot of `hash` (its `leechers` now) with the peer
    /// trackers' `answers` (per peer, in order), and update the shares.
    pub(crate) fn update(
        &self,
        hash: &InfoHash,
        leechers: u64,
        answers: Vec<Option<(Option<Measure>, Vec<SocketAddr>)>>,
    ) {
        let every = self.config.every.as_secs_f64().max(1e-3);
        let mut swarms = self.swarms();
        let Some(s) = swarms.get_mut(hash) else {
            return;
        };
        if let Some(delay) = s.own.delay() {
            s.meter.observe(Slot {
                delay,
                load: s.arrivals as f64 / every,
                occupancy: leechers as f64,
            });
        }
        s.own = SlotRates::default();
        s.arrivals = 0;
        // Peers silent for long crashed or left without `stopped`.
        let stale = self.config.every.saturating_mul(FORGET_AFTER_UPDATES);
        let now = Instant::now();
        s.progress
            .retain(|_, p| now.saturating_duration_since(p.at) < stale);
        let progress = &s.progress;
        s.forwarded.retain(|id, _| progress.contains_key(id));
        for (j, answer) in answers.into_iter().enumerate() {
            if answer.is_some() {
                s.remote[j + 1] = answer;
            }
        }
        let k = self.options();
        let forwarding = self.config.forwarding;
        let mut payoffs = vec![f64::NAN; k];
        if let Some(m) = s.meter.measure() {
            payoffs[0] = forwarding.payoff(m, 0.0);
        }
        for (j, payoff) in payoffs.iter_mut().enumerate().skip(1) {
            if let Some(d) = s.away[j].delay() {
                s.away_delay[j] = Some(d);
            }
            s.away[j] = SlotRates::default();
            let Some((Some(m), _)) = &s.remote[j] else {
                continue;
            };
            let seen = Measure {
                delay: s.away_delay[j].unwrap_or(m.delay),
                congestion: m.congestion,
            };
            *payoff = forwarding.payoff(seen, self.config.peers[j - 1].price);
        }
        let moved = forwarding.forwards()
            && payoffs.iter().all(|p| p.is_finite())
            && s.split.update(&payoffs);
        if moved {
            s.updates += 1;
        }
        if s.history.len() >= HISTORY {
            s.history.pop_front();
        }
        let acted_on = match s.split.payoffs() {
            Some(p) if moved => p.to_vec(),
            _ => payoffs.clone(),
        };
        s.history.push_back(ForwardingUpdate {
            at: now,
            payoffs: acted_on,
            shares: if forwarding.forwards() {
                s.split.shares().to_vec()
            } else {
                (0..k).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect()
            },
            sent: s.sent.clone(),
            moved,
        });
        s.payoffs = payoffs;
        tracing::info!(
            pid = %self.config.own, info_hash = %hash, shares = ?s.split.shares(),
            payoffs = ?s.payoffs, sent = ?s.sent, updates = s.updates, "multitrack update"
        );
    }

    /// The `/stats` part: per torrent, shares, payoffs and arrivals sent
    /// to each option.
    pub(crate) fn stats(&self) -> serde_json::Value {
        let names: Vec<&str> = std::iter::once(self.config.own.as_str())
            .chain(self.config.peers.iter().map(|p| p.name.as_str()))
            .collect();
        let swarms = self.swarms();
        let list: Vec<serde_json::Value> = swarms
            .iter()
            .map(|(h, s)| {
                serde_json::json!({
                    "info_hash": h.to_string(),
                    "shares": s.split.shares(),
                    "payoffs": s.payoffs.iter().map(|p| p.is_finite().then_some(*p)).collect::<Vec<_>>(),
                    "sent": s.sent,
                    "updates": s.updates,
                })
            })
            .collect();
        serde_json::json!({
            "pid": self.config.own,
            "forwarding": self.config.forwarding.to_string(),
            "options": names,
            "swarms": list,
        })
    }
}

/// `GET /multitrack?info_hash=...` at `addr`: the peer tracker's measure
/// and sample (None: no answer within 2 s, or not one we understand).
pub(crate) async fn ask(
    addr: SocketAddr,
    hash: &InfoHash,
) -> Option<(Option<Measure>, Vec<SocketAddr>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let query: String = hash.0.iter().map(|b| format!("%{b:02X}")).collect();
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET /multitrack?info_hash={query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        (&mut s).take(64 * 1024).read_to_end(&mut body).await.ok()?;
        Some(body)
    };
    let reply = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()??;
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let v: serde_json::Value = serde_json::from_slice(&reply[split + 4..]).ok()?;
    let measure = match (v["delay"].as_f64(), v["congestion"].as_f64()) {
        (Some(delay), Some(congestion)) => Some(Measure { delay, congestion }),
        _ => None,
    };
    let peers = v["peers"]
        .as_array()?
        .iter()
        .filter_map(|p| p.as_str()?.parse().ok())
        .collect();
    Some((measure, peers))
}

//! All swarms a tracker knows, and its answers to announces and scrapes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_protocol::tracker::Event;
use riffle_protocol::types::{InfoHash, PeerId};

use super::swarm::{PeerRecord, Swarm};
use super::{Announce, AnnounceReply, Refusal, SwarmCounts, TrackerPolicy};
use crate::locality::{Group, Locality};

/// Most peers the registry holds over all swarms: announces are untrusted
/// and each new peer id costs memory, so past this a new peer is refused
/// ("tracker full") whatever the policy.
pub const MAX_TOTAL_PEERS: usize = 1_000_000;

/// Every swarm the tracker knows, keyed by info-hash, and the policy that
/// decides its answers. Sans-IO: `now` is passed in; the random choice of
/// peers comes from a generator seeded at construction.
#[derive(Debug)]
pub struct Registry {
    /// Intervals, list sizes, shielding and admission.
    policy: TrackerPolicy,
    /// The swarms; one disappears when its last peer leaves or expires.
    swarms: HashMap<InfoHash, Swarm>,
    /// Peers over all swarms, to enforce [`MAX_TOTAL_PEERS`].
    total_peers: usize,
    /// Draws the peers of each reply.
    rng: StdRng,
    /// Near-first replies (P4P's iTracker guidance); None: uniform.
    locality: Option<Locality>,
    /// Peers handed out, by (the asker's network, the peer's network).
    given: BTreeMap<(Group, Group), u64>,
}

/// How many peers of one network went to askers of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GivenCount {
    /// The askers' network (PID name or prefix).
    pub asker: String,
    /// The network of the peers they were given.
    pub peer: String,
    /// Peers given.
    pub count: u64,
}

impl Registry {
    /// An empty registry answering with `policy`; `seed` fixes the random
    /// choice of peers (same seed, same announces: same replies).
    pub fn new(policy: TrackerPolicy, seed: u64) -> Self {
        Registry {
            policy,
            swarms: HashMap::new(),
            total_peers: 0,
            rng: StdRng::seed_from_u64(seed),
            locality: None,
            given: BTreeMap::new(),
        }
    }

    /// Answer near-first by `locality` (None: uniform draws), and count
    /// the peers handed out by network.
    pub fn set_locality(&mut self, locality: Option<Locality>) {
        self.locality = locality;
        self.given.clear();
    }

    /// The locality in force.
    pub fn locality(&self) -> Option<&Locality> {
        self.locality.as_ref()
    }

    /// Peers handed out since locality was set, by the asker's network and
    /// the peer's (empty without locality).
    pub fn given_by_network(&self) -> Vec<GivenCount> {
        let Some(l) = &self.locality else {
            return Vec::new();
        };
        self.given
            .iter()
            .map(|(&(a, p), &count)| GivenCount {
                asker: l.name(a),
                peer: l.name(p),
                count,
            })
            .collect()
    }

    /// The policy in force.
    pub fn policy(&self) -> &TrackerPolicy {
        &self.policy
    }

    /// Record an announce made at `now` and answer it.
    ///
    /// - `stopped` removes the peer and gets an empty list.
    /// - A peer not yet in the swarm is refused when it would be one
    ///   leecher past [`TrackerPolicy::max_peers`]; a peer already in the
    ///   swarm, a seed and a `stopped` are never refused.
    /// - A newcomer (first announce with `downloaded == 0`, `left > 0`) is
    ///   shielded, when shielding is on, until it announces progress or the
    ///   shield time has passed: no leecher is given it, and it is given
    ///   seeds only.
    /// - A seed is given leechers (shielded ones included: the publisher
    ///   must find newcomers); a leecher is given seeds and unshielded
    ///   leechers. Never the asker itself; at most `numwant` (capped by
    ///   [`TrackerPolicy::max_numwant`]).
    pub fn announce(&mut self, now: Instant, a: &Announce) -> Result<AnnounceReply, Refusal> {
        let policy = self.policy;
        if a.event == Event::Stopped {
            let counts = match self.swarms.get_mut(&a.info_hash) {
                Some(swarm) => {
                    if swarm.remove(&a.peer_id) {
                        self.total_peers = self.total_peers.saturating_sub(1);
                    }
                    let counts = swarm.counts();
                    if swarm.is_empty() {
                        self.swarms.remove(&a.info_hash);
                    }
                    counts
                }
                None => SwarmCounts::default(),
            };
            return Ok(self.reply(Vec::new(), counts));
        }

        let swarm = self.swarms.get(&a.info_hash);
        let previous = swarm.and_then(|s| s.get(&a.peer_id)).copied();
        if previous.is_none() {
            // The same address under another id is that endpoint restarted:
            // it replaces its old record and is not a new peer.
            let restarted = swarm.and_then(|s| s.id_at(&a.addr)).is_some();
            if !restarted {
                self.admit(a)?;
            }
        }

        let progressed = |prev: &PeerRecord| a.downloaded > 0 || a.left == 0 || a.left < prev.left;
        let newcomer_since = match previous {
            None => (a.downloaded == 0 && a.left > 0).then_some(now),
            Some(prev) if progressed(&prev) => None,
            Some(prev) => prev.newcomer_since,
        };
        let completed_now = a.event == Event::Completed
            && a.left == 0
            && !previous.is_some_and(|p| p.counted_completion);
        let record = PeerRecord {
            id: a.peer_id,
            addr: a.addr,
            left: a.left,
            downloaded: a.downloaded,
            last_seen: now,
            newcomer_since,
            counted_completion: previous.is_some_and(|p| p.counted_completion) || completed_now,
        };

        let swarm = self.swarms.entry(a.info_hash).or_default();
        let before = swarm.len();
        if completed_now {
            swarm.count_completion();
        }
        swarm.upsert(record);
        let after = swarm.len();
        self.total_peers = (self.total_peers + after).saturating_sub(before);

        let want = a
            .numwant
            .unwrap_or(policy.default_numwant)
            .min(policy.max_numwant);
        let shield = policy.shield_newcomers;
        let rng = &mut self.rng;
        let mut choose = |eligible: &dyn Fn(&PeerRecord) -> bool| match &self.locality {
            Some(l) => swarm.choose_near(&record, want, rng, eligible, l),
            None => swarm.choose(&record, want, rng, eligible),
        };
        let peers = if record.is_seed() {
            choose(&|p| !p.is_seed())
        } else if record.shielded(now, shield) {
            choose(&PeerRecord::is_seed)
        } else {
            choose(&|p| p.is_seed() || !p.shielded(now, shield))
        };
        if let Some(l) = &self.locality {
            let ours = l.group(record.addr.ip());
            for p in &peers {
                let n = self.given.entry((ours, l.group(p.addr.ip()))).or_default();
                *n = n.saturating_add(1);
            }
        }
        let counts = swarm.counts();
        // Seeds first (the draw stays uniform; only the order changes): a
        // client that dials in list order reaches the content first.
        let mut peers = peers;
        peers.sort_by_key(|p| !p.seed);
        let mut reply = self.reply(peers, counts);
        if let Some(left) = record.shield_left(now, shield) {
            // A shielded newcomer is asked back when its shield lapses, so
            // it then learns the leechers (as the model makes it visible),
            // and may come back at once with its first piece: progress
            // ends the shield, and the sooner we hear of it the sooner the
            // leechers are given it.
            reply.interval = reply.interval.min(left);
            reply.min_interval = Duration::ZERO;
        }
        Ok(reply)
    }

    /// Check a peer not yet in the swarm may join it.
    fn admit(&self, a: &Announce) -> Result<(), Refusal> {
        let retry_in = self.policy.min_interval;
        if self.total_peers >= MAX_TOTAL_PEERS {
            return Err(Refusal {
                reason: format!("tracker full: it holds {MAX_TOTAL_PEERS} peers"),
                retry_in,
            });
        }
        if let (Some(max), true) = (self.policy.max_peers, a.left > 0) {
            let leechers = self.swarms.get(&a.info_hash).map_or(0, Swarm::leechers);
            if leechers >= max {
                return Err(Refusal {
                    reason: format!("swarm full: admission control allows {max} downloading peers"),
                    retry_in,
                });
            }
        }
        Ok(())
    }

    fn reply(&self, peers: Vec<super::ReplyPeer>, counts: SwarmCounts) -> AnnounceReply {
        AnnounceReply {
            peers,
            counts,
            interval: self.policy.interval,
            min_interval: self.policy.min_interval,
        }
    }

    /// The counts of each of `hashes` (an unknown swarm counts zero), in
    /// order.
    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<(InfoHash, SwarmCounts)> {
        hashes.iter().map(|h| (*h, self.counts(h))).collect()
    }

    /// The counts of one swarm (zero when unknown).
    pub fn counts(&self, hash: &InfoHash) -> SwarmCounts {
        self.swarms.get(hash).map(Swarm::counts).unwrap_or_default()
    }

    /// Drop peers that have not announced for
    /// [`TrackerPolicy::peer_expiry`], and swarms left empty.
    pub fn expire(&mut self, now: Instant) {
        let expiry = self.policy.peer_expiry;
        let mut total = 0usize;
        self.swarms.retain(|_, swarm| {
            swarm.expire(now, expiry);
            total = total.saturating_add(swarm.len());
            !swarm.is_empty()
        });
        self.total_peers = total;
    }

    /// Is `peer` in the swarm of `hash`?
    pub fn contains(&self, hash: &InfoHash, peer: &PeerId) -> bool {
        self.swarms.get(hash).is_some_and(|s| s.get(peer).is_some())
    }

    /// Up to `n` addresses of the swarm of `hash`, drawn uniformly (seeds
    /// first), for another tracker to forward its arrivals to.
    pub fn sample(&mut self, hash: &InfoHash, n: usize) -> Vec<std::net::SocketAddr> {
        let Some(swarm) = self.swarms.get(hash) else {
            return Vec::new();
        };
        let mut peers = swarm.sample(n, &mut self.rng);
        peers.sort_by_key(|p| !p.seed);
        peers.into_iter().map(|p| p.addr).collect()
    }

    /// Leechers of the swarm of `hash`.
    pub fn leechers(&self, hash: &InfoHash) -> u64 {
        self.counts(hash).leechers
    }

    /// Swarms currently known.
    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// Peers over all swarms.
    pub fn peer_count(&self) -> usize {
        self.total_peers
    }

    /// The swarm of `hash` (tests).
    #[cfg(test)]
    pub(super) fn swarm(&self, hash: &InfoHash) -> Option<&Swarm> {
        self.swarms.get(hash)
    }
}

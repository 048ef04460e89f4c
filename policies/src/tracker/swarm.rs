//! One swarm: its peers, their state and the choice of peers for a reply.
//!
//! Peers live in a vector (so a random peer is one index draw away, which
//! keeps replies cheap in swarms of thousands of peers, as the simulator
//! runs) with an index by peer id and one by address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use riffle_protocol::types::PeerId;

use super::{ReplyPeer, SwarmCounts};
use crate::locality::{Group, Locality};

/// Most records a near-first choice looks at: the draw needs every
/// candidate's network, so a huge swarm is sampled first (a uniform
/// sample keeps each network's share).
pub const LOCALITY_SAMPLE: usize = 2048;

/// What the tracker remembers of one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PeerRecord {
    /// Its id, the key of the swarm's index.
    pub id: PeerId,
    /// Where others reach it.
    pub addr: SocketAddr,
    /// Bytes it needs, from its last announce (0: seed).
    pub left: u64,
    /// Bytes downloaded, from its last announce.
    pub downloaded: u64,
    /// When it last announced: expiry counts from here.
    pub last_seen: Instant,
    /// When it arrived with nothing; None once it announced progress (or
    /// when it never was a newcomer). Shielding counts from here.
    pub newcomer_since: Option<Instant>,
    /// Its `completed` event was counted already (a client retrying the
    /// same announce must not count twice).
    pub counted_completion: bool,
}

impl PeerRecord {
    /// It has everything.
    pub fn is_seed(&self) -> bool {
        self.left == 0
    }

    /// It is hidden from other leechers at `now`.
    pub fn shielded(&self, now: Instant, shield: Option<Duration>) -> bool {
        match (shield, self.newcomer_since) {
            (Some(time), Some(since)) => now.saturating_duration_since(since) < time,
            _ => false,
        }
    }

    /// How long it stays hidden after `now` (None: not shielded).
    pub fn shield_left(&self, now: Instant, shield: Option<Duration>) -> Option<Duration> {
        match (shield, self.newcomer_since) {
            (Some(time), Some(since)) => {
                let left = time.saturating_sub(now.saturating_duration_since(since));
                (!left.is_zero()).then_some(left)
            }
            _ => None,
        }
    }

    fn as_reply(&self) -> ReplyPeer {
        ReplyPeer {
            peer_id: self.id,
            addr: self.addr,
            seed: self.is_seed(),
        }
    }
}

/// The peers of one torrent.
#[derive(Debug, Default)]
pub(super) struct Swarm {
    /// Every peer, in no particular order.
    peers: Vec<PeerRecord>,
    /// Peer id -> position in `peers`.
    by_id: HashMap<PeerId, usize>,
    /// Address -> position in `peers`: a new id at a known address is the
    /// same endpoint restarted, and replaces the old record.
    by_addr: HashMap<SocketAddr, usize>,
    /// Seeds among `peers`, kept current so counts cost nothing.
    seeds: u64,
    /// `completed` events seen.
    completed: u64,
}

impl Swarm {
    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// No peers left.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Seeds, leechers, completions.
    pub fn counts(&self) -> SwarmCounts {
        let total = u64::try_from(self.peers.len()).unwrap_or(u64::MAX);
        SwarmCounts {
            seeds: self.seeds,
            leechers: total.saturating_sub(self.seeds),
            completed: self.completed,
        }
    }

    /// Leechers now (constant time: admission asks on every arrival).
    pub fn leechers(&self) -> usize {
        let seeds = usize::try_from(self.seeds).unwrap_or(usize::MAX);
        self.peers.len().saturating_sub(seeds)
    }

    /// The record for `id`.
    pub fn get(&self, id: &PeerId) -> Option<&PeerRecord> {
        self.by_id.get(id).and_then(|&i| self.peers.get(i))
    }

    /// The id of the peer at `addr`, if any.
    pub fn id_at(&self, addr: &SocketAddr) -> Option<PeerId> {
        self.by_addr
            .get(addr)
            .and_then(|&i| self.peers.get(i))
            .map(|p| p.id)
    }

    /// Count a `completed` event.
    pub fn count_completion(&mut self) {
        self.completed = self.completed.saturating_add(1);
    }

    /// Insert or replace the record with `rec.id`. Another record at the
    /// same address (the endpoint restarted with a new id) is removed.
    pub fn upsert(&mut self, rec: PeerRecord) {
        if let Some(other) = self.id_at(&rec.addr).filter(|other| *other != rec.id) {
            self.remove(&other);
        }
        match self.by_id.get(&rec.id).copied() {
            Some(i) => {
                let Some(slot) = self.peers.get_mut(i) else {
                    return;
                };
                let old = std::mem::replace(slot, rec);
                if old.addr != rec.addr {
                    self.by_addr.remove(&old.addr);
                    self.by_addr.insert(rec.addr, i);
                }
                match (old.is_seed(), rec.is_seed()) {
                    (false, true) => self.seeds = self.seeds.saturating_add(1),
                    (true, false) => self.seeds = self.seeds.saturating_sub(1),
                    _ => {}
                }
            }
            None => {
                let i = self.peers.len();
                self.peers.push(rec);
                self.by_id.insert(rec.id, i);
                self.by_addr.insert(rec.addr, i);
                if rec.is_seed() {
                    self.seeds = self.seeds.saturating_add(1);
                }
            }
        }
    }

    /// Remove the peer `id`; returns whether it was there.
    pub fn remove(&mut self, id: &PeerId) -> bool {
        let Some(i) = self.by_id.remove(id) else {
            return false;
        };
        if i >= self.peers.len() {
            return false;
        }
        let gone = self.peers.swap_remove(i);
        if self.by_addr.get(&gone.addr) == Some(&i) {
            self.by_addr.remove(&gone.addr);
        }
        if gone.is_seed() {
            self.seeds = self.seeds.saturating_sub(1);
        }
        // The last record moved into slot i: re-point its indexes.
        if let Some(moved) = self.peers.get(i) {
            self.by_id.insert(moved.id, i);
            self.by_addr.insert(moved.addr, i);
        }
        true
    }

    /// Drop every peer last seen `expiry` or longer before `now`.
    pub fn expire(&mut self, now: Instant, expiry: Duration) {
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|p| now.saturating_duration_since(p.last_seen) >= expiry)
            .map(|p| p.id)
            .collect();
        for id in stale {
            self.remove(&id);
        }
    }

    /// Up to `want` peers among those `eligible` accepts, never `asker`,
    /// drawn near-first by `locality` (see [`crate::locality`]): the
    /// candidates are every eligible peer, or in a swarm larger than
    /// [`LOCALITY_SAMPLE`] a uniform sample of that many records.
    pub fn choose_near(
        &self,
        asker: &PeerRecord,
        want: usize,
        rng: &mut impl Rng,
        eligible: impl Fn(&PeerRecord) -> bool,
        locality: &Locality,
    ) -> Vec<ReplyPeer> {
        let ok = |p: &PeerRecord| p.id != asker.id && p.addr != asker.addr && eligible(p);
        if want == 0 || self.peers.is_empty() {
            return Vec::new();
        }
        let pool: Vec<&PeerRecord> = if self.peers.len() <= LOCALITY_SAMPLE {
            self.peers.iter().filter(|p| ok(p)).collect()
        } else {
            rand::seq::index::sample(rng, self.peers.len(), LOCALITY_SAMPLE)
                .into_iter()
                .filter_map(|i| self.peers.get(i))
                .filter(|p| ok(p))
                .collect()
        };
        let groups: Vec<Group> = pool.iter().map(|p| locality.group(p.addr.ip())).collect();
        let ours = locality.group(asker.addr.ip());
        locality
            .draw(ours, &groups, want, rng)
            .into_iter()
            .filter_map(|i| pool.get(i))
            .map(|p| p.as_reply())
            .collect()
    }

    /// Up to `n` peers drawn uniformly at random.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<ReplyPeer> {
        rand::seq::index::sample(rng, self.peers.len(), n.min(self.peers.len()))
            .into_iter()
            .filter_map(|i| self.peers.get(i))
            .map(PeerRecord::as_reply)
            .collect()
    }

    /// Up to `want` peers drawn uniformly at random among those `eligible`
    /// accepts, never `asker` (by id or by address).
    pub fn choose(
        &self,
        asker: &PeerRecord,
        want: usize,
        rng: &mut impl Rng,
        eligible: impl Fn(&PeerRecord) -> bool,
    ) -> Vec<ReplyPeer> {
        let ok = |p: &PeerRecord| p.id != asker.id && p.addr != asker.addr && eligible(p);
        if want == 0 || self.peers.is_empty() {
            return Vec::new();
        }
        // A big swarm and a small reply: draw indexes and keep the eligible
        // ones. Each draw is uniform and rejections do not bias the rest, so
        // the result is a uniform sample of the eligible peers. Give up
        // after a bounded number of draws (most peers may be ineligible)
        // and fall back to a full scan.
        let n = self.peers.len();
        if want.saturating_mul(4) < n {
            let mut picked: Vec<usize> = Vec::with_capacity(want);
            for _ in 0..want.saturating_mul(8) {
                let i = rng.gen_range(0..n);
                if picked.contains(&i) {
                    continue;
                }
                if self.peers.get(i).is_some_and(ok) {
                    picked.push(i);
                    if picked.len() == want {
                        return picked
                            .iter()
                            .filter_map(|&i| self.peers.get(i))
                            .map(PeerRecord::as_reply)
                            .collect();
                    }
                }
            }
        }
        let mut all: Vec<ReplyPeer> = self
            .peers
            .iter()
            .filter(|p| ok(p))
            .map(PeerRecord::as_reply)
            .collect();
        let (chosen, _) = all.partial_shuffle(rng, want);
        chosen.to_vec()
    }

    /// Every record (tests and invariant checks).
    #[cfg(test)]
    pub fn records(&self) -> &[PeerRecord] {
        &self.peers
    }

    /// The indexes agree with the records (tests).
    #[cfg(test)]
    pub fn check_invariants(&self) {
        assert_eq!(self.by_id.len(), self.peers.len());
        assert_eq!(self.by_addr.len(), self.peers.len());
        for (i, p) in self.peers.iter().enumerate() {
            assert_eq!(self.by_id.get(&p.id), Some(&i));
            assert_eq!(self.by_addr.get(&p.addr), Some(&i));
        }
        let seeds = self.peers.iter().filter(|p| p.is_seed()).count();
        assert_eq!(self.seeds, seeds as u64);
    }
}

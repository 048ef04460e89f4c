//! The content propagation metric (CPM) of one swarm, as a client can see
//! it on the wire.
//!
//! Paper 004 defines the CPM of a swarm as the size of the propagation
//! tree of a block we upload within a time tau: how many peers hold a copy
//! descended from it tau after we sent it (the recipient included). A
//! client cannot see lineage, only which pieces it sent to whom and the
//! HAVEs every neighbour announces. Counting every HAVE of the piece that
//! follows an upload overcounts badly in a large swarm (most copies there
//! descend from older uploads: 2-5x the true CPM of a 20-peer swarm in the
//! reference model), so the estimator keeps a *soft lineage* instead:
//!
//! - every copy of a piece a peer holds carries weights over our recent
//!   uploads of that piece: a copy we sent is wholly (1.0) of its upload;
//! - when a peer announces a piece we did not send it, its sender is
//!   unknown, taken as uniform over the neighbours holding the piece: its
//!   copy's weights are their weights' average (holders whose copy
//!   descends from no followed upload count as weight 0);
//! - an upload's sample, once tau has passed, is 1 + the weight its
//!   lineage gathered from the HAVEs within `(t, t + tau]`.
//!
//! In the reference model (closed swarms of 1, 5 and 20 peers, K = 10,
//! mu = 2) this tracks the exact lineage CPM within 8% at tau = 0.5 to 8.
//! The estimate is the mean of the last [`WINDOW`] samples.
//!
//! tau: too small and every swarm reads about 1; too large and the
//! estimate reacts late. [`auto_tau`] sets it from the swarms themselves:
//! [`TAU_HOPS`] *hop times*, a hop being the time between our upload of a
//! piece and the first HAVE its lineage gets (the model's 1/mu; the swarms
//! separate from tau ~ 4/mu).
//!
//! Memory is bounded: at most [`MAX_OPEN`] uploads are followed at once
//! (the oldest is closed early past that) and at most [`MAX_COPIES`]
//! weighted copies are kept (the oldest lineages are dropped first).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::PeerKey;

/// Uploads followed at once.
pub const MAX_OPEN: usize = 4096;
/// Weighted copies (peer, piece) kept at once.
pub const MAX_COPIES: usize = 65_536;
/// Closed samples the estimate averages.
pub const WINDOW: usize = 256;
/// Hop times per tau.
pub const TAU_HOPS: u32 = 8;
/// An estimate counts as fresh from the samples of the last this many tau.
pub const FRESH_TAUS: u32 = 10;

#[derive(Debug, Clone)]
struct Open {
    id: u64,
    piece: u32,
    to: PeerKey,
    at: Instant,
    reach: f64,
    first_hop: Option<Duration>,
}

/// One swarm's estimator. Time comes in as arguments.
#[derive(Debug, Clone)]
pub struct CpmEstimator {
    tau: Duration,
    next_id: u64,
    open: VecDeque<Open>,
    /// (peer, piece) -> weights over open uploads (by id) of its copy.
    copies: HashMap<(PeerKey, u32), Vec<(u64, f64)>>,
    /// Open uploads per (recipient, piece): a HAVE is checked against
    /// them in O(1), not by a walk over every open upload.
    open_to: HashMap<(PeerKey, u32), u32>,
    /// Open uploads per piece.
    open_pieces: HashMap<u32, u32>,
    /// Closed samples: when they closed, and their value.
    samples: VecDeque<(Instant, f64)>,
    /// First-hop times seen (for [`auto_tau`]), most recent last.
    hops: VecDeque<Duration>,
    /// Every sample closed since the last [`CpmEstimator::reset_totals`]:
    /// sum and count.
    totals: (f64, u64),
}

impl CpmEstimator {
    /// An estimator with this tau.
    pub fn new(tau: Duration) -> CpmEstimator {
        CpmEstimator {
            tau,
            next_id: 0,
            open: VecDeque::new(),
            copies: HashMap::new(),
            open_to: HashMap::new(),
            open_pieces: HashMap::new(),
            samples: VecDeque::new(),
            hops: VecDeque::new(),
            totals: (0.0, 0),
        }
    }

    /// The tau in use.
    pub fn tau(&self) -> Duration {
        self.tau
    }

    /// Change tau (uploads already followed keep their window).
    pub fn set_tau(&mut self, tau: Duration) {
        self.tau = tau;
    }

    /// The oldest upload id still followed.
    fn oldest(&self) -> u64 {
        self.open.front().map_or(self.next_id, |o| o.id)
    }

    /// We sent the whole of `piece` to `to` at `now`.
    pub fn piece_sent(&mut self, to: PeerKey, piece: u32, now: Instant) {
        self.close(now);
        if self.open.len() >= MAX_OPEN {
            if let Some(o) = self.open.pop_front() {
                self.finish(o);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        *self.open_to.entry((to, piece)).or_default() += 1;
        *self.open_pieces.entry(piece).or_default() += 1;
        self.open.push_back(Open {
            id,
            piece,
            to,
            at: now,
            reach: 0.0,
            first_hop: None,
        });
        self.keep_copy((to, piece), vec![(id, 1.0)]);
    }

    /// Is an upload of `piece` being followed (so a HAVE of it matters)?
    pub fn follows(&self, piece: u32) -> bool {
        self.open_pieces.contains_key(&piece)
    }

    /// The open upload with id `id` (ids are consecutive from the front).
    fn open_mut(&mut self, id: u64) -> Option<&mut Open> {
        let front = self.open.front()?.id;
        let i = usize::try_from(id.checked_sub(front)?).ok()?;
        self.open.get_mut(i)
    }

    /// `from` announced `piece` at `now`; `holders` are the other
    /// neighbours that held it just before (its possible senders).
    pub fn have(&mut self, from: PeerKey, piece: u32, now: Instant, holders: &[PeerKey]) {
        self.close(now);
        if !self.follows(piece) || self.open_to.contains_key(&(from, piece)) {
            // Ours: the recipient's copy is already counted.
            return;
        }
        let oldest = self.oldest();
        let n = holders.iter().filter(|h| **h != from).count();
        if n == 0 {
            return;
        }
        let mut mix: Vec<(u64, f64)> = Vec::new();
        for h in holders.iter().filter(|h| **h != from) {
            let Some(w) = self.copies.get(&(*h, piece)) else {
                continue;
            };
            for (id, v) in w.iter().filter(|(id, _)| *id >= oldest) {
                match mix.iter_mut().find(|(m, _)| m == id) {
                    Some(e) => e.1 += v / n as f64,
                    None => mix.push((*id, v / n as f64)),
                }
            }
        }
        if mix.is_empty() {
            return;
        }
        for (id, v) in &mix {
            if let Some(o) = self.open_mut(*id) {
                o.reach += v;
                if o.first_hop.is_none() {
                    o.first_hop = Some(now.saturating_duration_since(o.at));
                }
            }
        }
        self.keep_copy((from, piece), mix);
    }

    fn keep_copy(&mut self, at: (PeerKey, u32), w: Vec<(u64, f64)>) {
        if self.copies.len() >= MAX_COPIES && !self.copies.contains_key(&at) {
            let oldest = self.oldest();
            self.copies
                .retain(|_, w| w.iter().any(|(id, _)| *id >= oldest));
            if self.copies.len() >= MAX_COPIES {
                // Still full: the lineages of the older half go.
                let cut = oldest + (self.next_id - oldest) / 2;
                self.copies
                    .retain(|_, w| w.iter().any(|(id, _)| *id >= cut));
            }
            if self.copies.len() >= MAX_COPIES {
                return;
            }
        }
        self.copies.insert(at, w);
    }

    /// A peer left: its copies no longer spread.
    pub fn peer_gone(&mut self, peer: PeerKey) {
        self.copies.retain(|(p, _), _| *p != peer);
    }

    /// Close the uploads whose tau has passed by `now`.
    pub fn close(&mut self, now: Instant) {
        let mut closed = false;
        while let Some(o) = self.open.front() {
            if now.saturating_duration_since(o.at) <= self.tau {
                break;
            }
            let o = self.open.pop_front().expect("front exists");
            self.finish(o);
            closed = true;
        }
        if closed && self.open.is_empty() {
            self.copies.clear();
        }
    }

    fn finish(&mut self, o: Open) {
        release(&mut self.open_pieces, o.piece);
        release(&mut self.open_to, (o.to, o.piece));
        if self.samples.len() >= WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back((o.at + self.tau, 1.0 + o.reach));
        self.totals.0 += 1.0 + o.reach;
        self.totals.1 += 1;
        if let Some(h) = o.first_hop {
            if self.hops.len() >= WINDOW {
                self.hops.pop_front();
            }
            self.hops.push_back(h);
        }
    }

    /// The current estimate (None until an upload has closed).
    pub fn estimate(&self) -> Option<f64> {
        if self.samples.is_empty() {
            return None;
        }
        Some(self.samples.iter().map(|s| s.1).sum::<f64>() / self.samples.len() as f64)
    }

    /// What an allocator should go by: the mean of the samples of the
    /// last [`FRESH_TAUS`] tau, or when none is that recent (a swarm held
    /// at the floor closes few) the last [`WINDOW`] samples'.
    pub fn fresh_estimate(&self, now: Instant) -> Option<f64> {
        now.checked_sub(self.tau * FRESH_TAUS)
            .and_then(|since| self.estimate_since(since))
            .or_else(|| self.estimate())
    }

    /// The estimate from the samples that closed at `since` or later (None
    /// if there are none): an allocator asks for a fresh one, so a swarm
    /// starved to the floor is not judged forever on what it did before
    /// — it reads as unmeasured and is measured again.
    pub fn estimate_since(&self, since: Instant) -> Option<f64> {
        let fresh: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.0 >= since)
            .map(|s| s.1)
            .collect();
        (!fresh.is_empty()).then(|| fresh.iter().sum::<f64>() / fresh.len() as f64)
    }

    /// Closed samples behind the estimate.
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// The median first-hop time of recent uploads, if any was seen.
    pub fn hop_time(&self) -> Option<Duration> {
        let mut h: Vec<Duration> = self.hops.iter().copied().collect();
        if h.is_empty() {
            return None;
        }
        h.sort_unstable();
        Some(h[h.len() / 2])
    }

    /// The mean of every sample closed since the last
    /// [`CpmEstimator::reset_totals`] (a simulator's whole-run figure),
    /// and how many there were.
    pub fn total_mean(&self) -> (Option<f64>, u64) {
        let (sum, n) = self.totals;
        ((n > 0).then(|| sum / n as f64), n)
    }

    /// Start the whole-run figure again (at the end of a warm-up).
    pub fn reset_totals(&mut self) {
        self.totals = (0.0, 0);
    }

    /// Forget every sample (after tau changed).
    pub fn reset_samples(&mut self) {
        self.samples.clear();
    }
}

/// One open upload fewer under `key`.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// The tau for a set of swarms: [`TAU_HOPS`] times the longest median
/// hop time among them (the slowest swarm must have time to show its
/// spread), within `[min, max]`; `fallback` when no hop was seen yet.
pub fn auto_tau(
    estimators: &[&CpmEstimator],
    min: Duration,
    max: Duration,
    fallback: Duration,
) -> Duration {
    estimators
        .iter()
        .filter_map(|e| e.hop_time())
        .max()
        .map_or(fallback, |h| h * TAU_HOPS)
        .clamp(min, max)
}

#[cfg(test)]
mod tests;

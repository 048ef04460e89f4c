//! One replicate: the event loop of the swarm model.
//!
//! The simulator owns only the mechanics of the model: Poisson arrivals,
//! exponential service times (one block per upload opportunity), the clock,
//! who is connected to whom and the statistics. Every decision is a call
//! into riffle-policies:
//!
//! - whom an uploader serves: its [`Choker`] (built from the catalog), given
//!   a [`PeerView`] of each neighbour; per-piece chokers are asked at every
//!   upload opportunity, others every rechoke interval;
//! - which block: a seed (the publisher, or a lingering peer) suggests
//!   one (BEP 6) with its picker kind's `PickerKind::suggest`, over what
//!   its neighbours hold — the publisher's block policy (RFB/RUB in the
//!   paper) acts here, as in the lab's engine; the receiver's
//!   [`PiecePicker`] (its own kind, `PickerKind::build`) honours it with
//!   `pick_piece`, and otherwise (no suggestion, or from a non-seed) picks
//!   by its own rule;
//! - at what rate: [`OneClub::rate`] for each peer's piece count;
//! - whom a peer meets and whether it may join: the tracker [`Registry`]
//!   (shielding newcomers, population cap), see [`super::tracker`].
//!
//! [`Choker`]: riffle_policies::choker::Choker
//! [`PiecePicker`]: riffle_policies::picker::PiecePicker
//! [`Registry`]: riffle_policies::tracker::Registry

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_policies::catalog::ChokerSettings;
use riffle_policies::choker::{PeerView, Unchoke};
use riffle_policies::exchange::CpmEstimator;
use riffle_policies::picker::AvailabilityChange;
use riffle_policies::service::OneClub;
use riffle_policies::tracker::TrackerPolicy;
use riffle_policies::PeerKey;
use riffle_protocol::tracker::Event;
use riffle_protocol::{BlockRef, PieceGeometry, BLOCK_SIZE};

use super::peers::{Peers, SlotSet, PUBLISHER};
use super::stats::Stats;
use super::tracker::SimTracker;
use super::{Replicate, SimError, SimOptions};
use crate::experiment::report::RunResult;
use crate::experiment::{Arrivals, RunSpec};

mod credit;
mod locality;
mod membership;
mod transfer;
use membership::Timer;

/// Rechoke interval of chokers that are not per-piece, in model time units
/// (10 s in a client; a model time unit is one publisher block time).
pub const RECHOKE_UNITS: f64 = 10.0;

/// How often a peer with room for more connections asks the tracker for
/// peers, in model time units, when newcomers are not shielded (with
/// shielding it is the shield time, so a newcomer the publisher has not
/// served is listed again as soon as its shield lapses).
pub const REANNOUNCE_UNITS: f64 = 5.0;

/// Rates are handed to [`OneClub`] in millionths of a block per time unit
/// (it works in integers).
const RATE_SCALE: f64 = 1e6;

/// Bytes of one piece (one block per piece, as in the model).
const PIECE_BYTES: u64 = BLOCK_SIZE as u64;

/// "No slot" in the id -> slot table.
const GONE: u32 = u32::MAX;

/// Peers uploading at one rate.
struct RateClass {
    /// Rate in blocks per time unit.
    rate: f64,
    /// Its rate as [`OneClub`] gave it (the class key).
    key: u64,
    /// Its members.
    members: SlotSet,
}

/// A fresh, well-mixed seed for policy object `purpose` of peer `id`
/// (splitmix64 of the replicate seed and both numbers).
fn sub_seed(seed: u64, id: u64, purpose: u64) -> u64 {
    let mut z = seed
        .wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(purpose.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The state of one replicate.
pub(super) struct Sim<'a> {
    /// What is simulated.
    spec: &'a RunSpec,
    /// The replicate's seed (sub-seeds of every policy object derive from it).
    seed: u64,
    /// Simulator-only settings.
    options: SimOptions,
    /// Model time.
    t: f64,
    /// The mechanics' randomness: inter-event times, which event, which
    /// uploader. Policies have their own seeded generators.
    rng: StdRng,
    /// The seeds' suggestion rule's randomness (ties among the rarest, a
    /// random useful piece); a policy's own seeded generator.
    suggest_rng: StdRng,
    /// Model time 0.
    base: Instant,
    /// Pieces in the torrent.
    k: u32,
    /// Piece geometry handed to pickers.
    geometry: PieceGeometry,
    /// How peers' chokers are built.
    choker_settings: ChokerSettings,
    /// The upload-rate policy (one-club throttling).
    service: OneClub,
    /// Every peer and the publisher.
    peers: Peers,
    /// id -> slot (GONE once departed).
    slot_of: Vec<u32>,
    /// Next peer id (the publisher is 0).
    next_id: u64,
    /// The tracker.
    tracker: SimTracker,
    /// Upload classes by rate.
    classes: Vec<RateClass>,
    /// slot -> index in `classes` (None: no piece to upload).
    class_of: Vec<Option<usize>>,
    /// Completed peers still seeding.
    lingering: SlotSet,
    /// Re-announces.
    timers: BinaryHeap<Reverse<Timer>>,
    /// Re-announce interval (model time).
    reannounce: f64,
    /// Peers in the swarm (not the publisher).
    population: u32,
    /// Peers one piece short.
    one_club: u32,
    /// Statistics.
    stats: Stats,
    /// Events processed.
    events: u64,
    /// Scratch: views of an uploader's neighbours.
    views: Vec<PeerView>,
    /// Scratch: a choker's answer.
    unchoke: Unchoke,
    /// Scratch: picked blocks.
    blocks: Vec<BlockRef>,
    /// Scratch: end-game cancels (never used with instant delivery).
    cancels: Vec<PeerKey>,
    /// Scratch: slots.
    scratch: Vec<usize>,
    /// The publisher's content propagation metric, one estimator per tau
    /// asked for (`RunSpec::cpm_tau`), reset at the end of the warm-up.
    cpm: Vec<(f64, CpmEstimator)>,
    cpm_warm: bool,
    /// The publisher's upload rate now (the model's, or the share a host's
    /// allocation gives this swarm).
    publisher_rate: f64,
    /// A cross-credit run: the host's ledger and its contributors.
    credit: Option<credit::HostCredit>,
    /// A locality run: the networks, their links and what crossed them.
    loc: Option<locality::SimLocality>,
}

impl<'a> Sim<'a> {
    /// Set up a replicate of `spec` with `seed`: the publisher alone,
    /// registered with the tracker.
    pub fn new(spec: &'a RunSpec, seed: u64, options: SimOptions) -> Result<Self, SimError> {
        let m = spec.model;
        let geometry = PieceGeometry::new(m.pieces, BLOCK_SIZE, BLOCK_SIZE)
            .map_err(|e| SimError::Model(format!("pieces = {}: {e}", m.pieces)))?;
        let choker_settings = ChokerSettings {
            slots: 0,
            rechoke_interval: Duration::from_secs_f64(RECHOKE_UNITS),
            piece_bytes: PIECE_BYTES,
        };
        let to_rate = |r: f64| (r * RATE_SCALE).round().max(1.0) as u64;
        let service = OneClub {
            full: Some(to_rate(m.peer_rate)),
            reduced: m.one_club_rate.map(to_rate),
        };
        let reannounce = m.shield_newcomers.unwrap_or(REANNOUNCE_UNITS);
        let connections = usize::try_from(m.connections).unwrap_or(usize::MAX);
        let tracker_policy = TrackerPolicy {
            shield_newcomers: m.shield_newcomers.map(Duration::from_secs_f64),
            max_peers: m.cap.and_then(|c| usize::try_from(c).ok()),
            interval: Duration::from_secs_f64(reannounce),
            min_interval: Duration::from_secs_f64(reannounce / 2.0),
            // Simulated peers never vanish without `stopped`.
            peer_expiry: Duration::from_secs_f64(m.duration * 4.0 + 1e6),
            default_numwant: connections,
            max_numwant: connections.max(200),
        };
        let base = Instant::now();
        let mut tracker = SimTracker::new(
            tracker_policy,
            sub_seed(seed, 0, 3),
            base,
            m.pieces,
            PIECE_BYTES,
        );
        let mut loc = locality::SimLocality::new(spec, sub_seed(seed, 0, 6), &mut tracker)?;
        let mut publisher_choker = spec
            .publisher
            .seed_choker
            .build(&choker_settings, sub_seed(seed, 0, 2));
        if let Some(l) = loc.as_mut() {
            publisher_choker = l.wrap(publisher_choker, sub_seed(seed, 0, 7));
            l.joined(0, &tracker);
        }
        let peers = Peers::new(m.pieces, publisher_choker);
        let mut timers = BinaryHeap::new();
        if loc.is_some() {
            timers.push(Reverse(Timer {
                t: reannounce,
                slot: PUBLISHER,
                id: 0,
                delivery: None,
            }));
        }
        // The publisher is a seed in the tracker's swarm (never refused).
        tracker
            .announce(0.0, 0, m.pieces, Event::Started, 0)
            .map_err(SimError::Model)?;
        Ok(Sim {
            spec,
            seed,
            options,
            t: 0.0,
            rng: StdRng::seed_from_u64(sub_seed(seed, 0, 1)),
            suggest_rng: StdRng::seed_from_u64(sub_seed(seed, 0, 4)),
            base,
            k: m.pieces,
            geometry,
            choker_settings,
            service,
            peers,
            slot_of: vec![0],
            next_id: 1,
            tracker,
            classes: Vec::new(),
            class_of: vec![None],
            lingering: SlotSet::default(),
            timers,
            reannounce,
            population: 0,
            one_club: 0,
            stats: Stats::new(m.warmup, m.duration),
            events: 0,
            views: Vec::new(),
            unchoke: Unchoke::default(),
            blocks: Vec::with_capacity(4),
            cancels: Vec::new(),
            scratch: Vec::new(),
            cpm: spec
                .cpm_tau
                .iter()
                .map(|t| (*t, CpmEstimator::new(Duration::from_secs_f64(*t))))
                .collect(),
            cpm_warm: spec.model.warmup <= 0.0,
            publisher_rate: spec.model.publisher_rate,
            credit: credit::HostCredit::new(spec, PIECE_BYTES, sub_seed(seed, 0, 5)),
            loc,
        })
    }

    /// Run to the end of the replicate.
    pub fn run(mut self) -> Result<Replicate, SimError> {
        if self.credit.is_some() {
            // Cross-credit: torrent A flows to the host through the
            // warm-up; the swarm's flash crowd arrives at its end.
            self.idle_until(self.spec.model.warmup);
        }
        self.start()?;
        self.run_until(self.spec.model.duration)?;
        Ok(self.finish())
    }

    /// The population at time 0.
    pub fn start(&mut self) -> Result<(), SimError> {
        if let Arrivals::Closed { population } = self.spec.model.arrivals {
            for _ in 0..population {
                self.arrive()?;
            }
        }
        for _ in 0..self.options.initial_one_club {
            self.join(true)?;
        }
        Ok(())
    }

    /// Let time pass to `t` with nothing happening (a swarm that has not
    /// joined its host yet).
    pub fn idle_until(&mut self, t: f64) {
        if t > self.t {
            self.advance(t.min(self.spec.model.duration));
        }
    }

    /// Set the publisher's upload rate (a host's share for this swarm).
    pub fn set_publisher_rate(&mut self, rate: f64) {
        self.publisher_rate = rate.max(0.0);
    }

    /// Peers in the swarm now.
    pub fn population(&self) -> u32 {
        self.population
    }

    /// The publisher's CPM estimate at the first measured tau.
    pub fn cpm_estimate(&self) -> Option<f64> {
        let now = self.instant();
        self.cpm.first().and_then(|(_, e)| e.fresh_estimate(now))
    }

    /// Forget the CPM samples (the host's swarms changed: every swarm is
    /// measured again, as V-Formation probes again after a change).
    pub fn reset_cpm(&mut self) {
        for (_, e) in &mut self.cpm {
            e.reset_samples();
        }
    }

    /// Blocks the publisher uploaded so far.
    pub fn publisher_total(&self) -> u64 {
        self.stats.publisher_total
    }

    /// Blocks the swarm downloaded so far (from the publisher and peers).
    pub fn blocks_total(&self) -> u64 {
        self.stats.blocks_total
    }

    /// Simulate up to model time `end` (at most the run's duration).
    pub fn run_until(&mut self, end: f64) -> Result<(), SimError> {
        let m = self.spec.model;
        let end = end.min(m.duration);
        let lambda = m.arrival_rate().unwrap_or(0.0);
        while self.t < end {
            let rate_peers: f64 = self
                .classes
                .iter()
                .map(|c| c.rate * c.members.len() as f64)
                .sum();
            let rate_linger = if m.linger > 0.0 {
                self.lingering.len() as f64 / m.linger
            } else {
                0.0
            };
            let total = lambda + self.publisher_rate + rate_peers + rate_linger;
            if total <= 0.0 {
                self.advance(end);
                break;
            }
            let u: f64 = self.rng.gen();
            let dt = -(1.0 - u).ln() / total;
            let next = self.t + dt;
            if let Some(Reverse(timer)) = self.timers.peek().copied() {
                if timer.t <= next && timer.t < end {
                    self.timers.pop();
                    self.advance(timer.t);
                    self.on_timer(timer)?;
                    continue;
                }
            }
            if next >= end {
                // Memoryless: the next event is drawn again from `end`.
                self.advance(end);
                break;
            }
            self.advance(next);
            self.events += 1;
            let mut x = self.rng.gen::<f64>() * total;
            if x < lambda {
                self.arrive()?;
                continue;
            }
            x -= lambda;
            if x < self.publisher_rate {
                self.upload(PUBLISHER)?;
                continue;
            }
            x -= self.publisher_rate;
            if x < rate_peers {
                if let Some(up) = self.draw_uploader(x) {
                    self.upload(up)?;
                }
                continue;
            }
            let n = self.lingering.len();
            if n > 0 {
                if let Some(slot) = self.lingering.get(self.rng.gen_range(0..n)) {
                    self.depart(slot)?;
                }
            }
        }
        Ok(())
    }

    /// The uploader for offset `x` in `[0, sum of class rates)`: a class
    /// in proportion to its total rate, then a member uniformly.
    fn draw_uploader(&mut self, mut x: f64) -> Option<usize> {
        for c in &self.classes {
            let w = c.rate * c.members.len() as f64;
            if x < w {
                let i = ((x / c.rate) as usize).min(c.members.len().saturating_sub(1));
                return c.members.get(i);
            }
            x -= w;
        }
        // Rounding at the very top: the last non-empty class.
        let c = self.classes.iter().rev().find(|c| c.members.len() > 0)?;
        c.members.get(self.rng.gen_range(0..c.members.len()))
    }

    /// A block went from `up` to `to`: the publisher's CPM estimators see
    /// the upload (ours) or the HAVE (with every other peer holding the
    /// piece as its possible sender: the publisher neighbours them all).
    fn follow_cpm(&mut self, up: usize, to: usize, piece: u32) {
        if self.cpm.is_empty() {
            return;
        }
        let now = self.instant();
        let key = PeerKey(self.peers.ids[to]);
        if !self.cpm_warm && self.t >= self.spec.model.warmup {
            self.cpm_warm = true;
            for (_, e) in &mut self.cpm {
                e.close(now);
                e.reset_totals();
            }
        }
        if up == PUBLISHER {
            for (_, e) in &mut self.cpm {
                e.piece_sent(key, piece, now);
            }
            return;
        }
        if !self.cpm.iter().any(|(_, e)| e.follows(piece)) {
            return;
        }
        let index = riffle_protocol::PieceIndex::new(piece);
        let holders: Vec<PeerKey> = (0..self.peers.alive.len())
            .filter(|&s| {
                s != PUBLISHER
                    && s != to
                    && self.peers.alive[s]
                    && self.peers.bitfields[s].has(index)
            })
            .map(|s| PeerKey(self.peers.ids[s]))
            .collect();
        for (_, e) in &mut self.cpm {
            e.have(key, piece, now, &holders);
        }
    }

    /// Let time run to `t` (statistics integrate the state held meanwhile).
    fn advance(&mut self, t: f64) {
        self.stats
            .advance(self.t, t, self.population, self.one_club);
        self.t = t;
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_secs_f64(self.t)
    }

    /// An upload opportunity of `up`: its choker decides whom, the
    /// receiver's picker decides which block; the block arrives at once
    /// (the exponential service time has just elapsed).
    fn upload(&mut self, up: usize) -> Result<(), SimError> {
        if self.peers.links[up].len() == 0 {
            return Ok(());
        }
        let per_piece = self.peers.chokers[up]
            .as_ref()
            .is_some_and(|c| c.per_piece());
        if per_piece || self.t >= self.peers.next_rechoke[up] {
            self.rechoke(up);
            if !per_piece {
                self.peers.next_rechoke[up] = self.t + RECHOKE_UNITS;
            }
        }
        // Serve the unchoked peer that wants a piece of ours and got least
        // since its unchoke (bandwidth shared among unchoked peers).
        let mut best: Option<(usize, u64)> = None;
        for (pos, l) in self.peers.links[up].list.iter().enumerate() {
            if l.unchoked_since.is_none() || l.waiting {
                continue;
            }
            let n = l.slot as usize;
            if !self.peers.wants(n, up) {
                continue;
            }
            if best.is_none_or(|(_, s)| l.sent_since_unchoke < s) {
                best = Some((pos, l.sent_since_unchoke));
            }
        }
        let Some((pos, _)) = best else {
            return Ok(()); // the slot goes unused for this piece time
        };
        let to = self.peers.links[up].list[pos].slot as usize;
        let Some(block) = self.pick_block(up, to) else {
            return Ok(());
        };
        if self.hold_at_link(up, to, block) {
            return Ok(()); // it lands when the link between networks has room
        }
        self.land(up, to, block)
    }

    /// The piece seed `up` suggests to `to` (BEP 6), by its picker kind's
    /// rule (the publisher's from the experiment's publisher policy, a
    /// lingering peer's from the peers' policy) over what `up`'s neighbours
    /// hold. None when `up` is not a seed (leechers do not suggest) or it
    /// has nothing `to` lacks.
    fn suggestion(&mut self, up: usize, to: usize) -> Option<riffle_protocol::PieceIndex> {
        if self.peers.counts[up] < self.k {
            return None;
        }
        let kind = if up == PUBLISHER {
            self.spec.publisher.picker
        } else {
            self.spec.peers.picker
        };
        let Peers {
            bitfields, links, ..
        } = &self.peers;
        let neighbours = &links[up].list;
        // Copies among `up`'s neighbours, counted only if the rule asks.
        let availability = |p: riffle_protocol::PieceIndex| {
            let n = neighbours
                .iter()
                .filter(|l| bitfields[l.slot as usize].has(p))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        kind.suggest(
            &bitfields[up],
            &bitfields[to],
            availability,
            &mut self.suggest_rng,
        )
    }

    /// Ask `up`'s choker whom to unchoke, from views of its neighbours,
    /// and record the answer on the links.
    fn rechoke(&mut self, up: usize) {
        let now = self.instant();
        let t = self.t;
        let k = self.k;
        self.views.clear();
        for l in &self.peers.links[up].list {
            let n = l.slot as usize;
            let wants = self.peers.wants(n, up);
            let pieces = self.peers.count_of(n);
            let near = self.is_near(up, n);
            let age = (t - l.connected_at).max(1.0);
            let per_sec = |blocks: u64| (blocks as f64 * PIECE_BYTES as f64 / age) as u64;
            self.views.push(PeerView {
                key: l.key,
                interested: wants,
                wants_ours: wants,
                download_rate: per_sec(l.got),
                upload_rate: per_sec(l.sent),
                pieces,
                total_pieces: k,
                connected_at: l.connected_instant,
                unchoked_since: l.unchoked_since,
                sent_since_unchoke: l.sent_since_unchoke,
                snubbed: false,
                is_seed: pieces == k,
                near,
            });
        }
        if let Some(choker) = self.peers.chokers[up].as_mut() {
            choker.rechoke(now, &self.views, &mut self.unchoke);
            if up == PUBLISHER && !choker.per_piece() {
                if let Some(c) = self.credit.as_mut() {
                    c.serve_first(self.base, t, &self.views, &mut self.unchoke);
                }
            }
        } else {
            self.unchoke.clear();
        }
        // Views and links are in the same order.
        for (l, v) in self.peers.links[up].list.iter_mut().zip(&self.views) {
            if self.unchoke.contains(v.key) {
                if l.unchoked_since.is_none() {
                    l.unchoked_since = Some(now);
                    l.sent_since_unchoke = 0;
                }
            } else {
                l.unchoked_since = None;
                l.sent_since_unchoke = 0;
            }
        }
    }

    /// `to` now holds `piece`: its neighbours' pickers hear a HAVE, its
    /// upload rate follows the service policy, and it completes or
    /// announces its first progress.
    fn deliver(&mut self, to: usize, piece: u32) -> Result<(), SimError> {
        let old = self.peers.counts[to];
        if !self.peers.set_piece(to, piece) {
            return Ok(());
        }
        let new = old + 1;
        {
            let Peers { pickers, links, .. } = &mut self.peers;
            let index = riffle_protocol::PieceIndex::new(piece);
            for l in &links[to].list {
                if let Some(p) = pickers[l.slot as usize].as_mut() {
                    p.on_availability(AvailabilityChange::Have(index));
                }
            }
        }
        if OneClub::in_club(old, self.k) {
            self.one_club -= 1;
        }
        if OneClub::in_club(new, self.k) {
            self.one_club += 1;
        }
        self.set_class(to);
        if new == self.k {
            return self.complete(to);
        }
        if old == 0 {
            // First progress: tell the tracker (this ends shielding) and
            // meet the peers it now lists.
            self.announce(to, true);
        }
        Ok(())
    }

    /// Put `slot` in the upload class of the rate the service policy gives
    /// its piece count (none while it holds nothing).
    fn set_class(&mut self, slot: usize) {
        let have = self.peers.counts[slot];
        let want = if have == 0 || !self.peers.alive[slot] {
            None
        } else {
            let key = self
                .service
                .rate(have, self.k)
                .or(self.service.full)
                .unwrap_or(1);
            Some(match self.classes.iter().position(|c| c.key == key) {
                Some(i) => i,
                None => {
                    self.classes.push(RateClass {
                        rate: key as f64 / RATE_SCALE,
                        key,
                        members: SlotSet::default(),
                    });
                    self.classes.len() - 1
                }
            })
        };
        let cur = self.class_of[slot];
        if cur == want {
            return;
        }
        if let Some(c) = cur {
            self.classes[c].members.remove(slot);
        }
        if let Some(c) = want {
            self.classes[c].members.insert(slot);
        }
        self.class_of[slot] = want;
    }

    /// `slot` holds every piece: count the download, then linger or leave.
    fn complete(&mut self, slot: usize) -> Result<(), SimError> {
        self.stats.completion(self.t, self.peers.arrived[slot]);
        if let Some(c) = self.credit.as_mut() {
            c.completed(self.peers.ids[slot], self.t - self.peers.arrived[slot]);
        }
        if self.loc.is_some() {
            return self.stay_as_seed(slot);
        }
        if self.spec.model.linger > 0.0 {
            let id = self.peers.ids[slot];
            let _ = self
                .tracker
                .announce(self.t, id, self.k, Event::Completed, 0);
            self.lingering.insert(slot);
            Ok(())
        } else {
            self.depart(slot)
        }
    }

    /// `slot` leaves: `stopped` to the tracker, its neighbours lose it (and
    /// look for new peers), and in a closed system a newcomer replaces it.
    fn depart(&mut self, slot: usize) -> Result<(), SimError> {
        let id = self.peers.ids[slot];
        let _ = self
            .tracker
            .announce(self.t, id, self.peers.counts[slot], Event::Stopped, 0);
        if OneClub::in_club(self.peers.counts[slot], self.k) {
            self.one_club -= 1;
        }
        if let Some(c) = self.class_of[slot].take() {
            self.classes[c].members.remove(slot);
        }
        self.lingering.remove(slot);
        self.population -= 1;
        let mut former = std::mem::take(&mut self.scratch);
        self.peers.disconnect_all(slot, &mut former);
        if let Some(e) = usize::try_from(id)
            .ok()
            .and_then(|i| self.slot_of.get_mut(i))
        {
            *e = GONE;
        }
        for (_, e) in &mut self.cpm {
            e.peer_gone(PeerKey(id));
        }
        self.peers.release(slot);
        for &n in &former {
            self.schedule_announce(n);
        }
        self.scratch = former;
        // A cross-credit run is one flash crowd: nobody replaces it.
        if matches!(self.spec.model.arrivals, Arrivals::Closed { .. }) && self.credit.is_none() {
            self.arrive()?;
        }
        Ok(())
    }

    /// The replicate's result and time series.
    pub fn finish(self) -> Replicate {
        let m = self.spec.model;
        let s = self.stats;
        Replicate {
            result: RunResult {
                name: self.spec.name.clone(),
                seed: self.seed,
                policies: self.spec.policies(),
                throughput_u: s.throughput() / m.publisher_rate,
                mean_download_time: s.mean_download_time(),
                one_club_peak: s.one_club_peak,
                population_mean: s.population_mean(),
                completions: s.completions,
                cpm: self
                    .cpm
                    .iter()
                    .filter_map(|(tau, e)| e.total_mean().0.map(|m| (*tau, m)))
                    .collect(),
                swarms: None,
                cross: self.credit.as_ref().map(credit::HostCredit::figures),
                locality: self.loc.as_ref().map(locality::SimLocality::figures),
                multitrack: None,
            },
            lost_arrivals: s.lost_arrivals,
            arrivals: s.arrivals,
            events: self.events,
            samples: s.samples,
        }
    }
}

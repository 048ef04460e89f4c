//! A locality run in the simulator (`pids`, `peering`, `link_rate`; papers
//! 000 and 001, the `locality` preset), as the lab runs it with real
//! sessions:
//!
//! - one closed flash crowd: peer i (id i + 1) in network i % pids, the
//!   publisher in network 0, each at the lab's address
//!   (`crate::experiment::networks`), so the tracker's [`Registry`] draws
//!   its lists near-first ([`Registry::set_locality`]) when `peering` has a
//!   local share, and a peer's connections are made from those lists;
//! - the publisher too is met through the lists (not every peer's
//!   neighbour from the start, as in other runs): it announces every
//!   re-announce interval and connects to the peers listed, with no cap
//!   of its own, as the lab's publisher dials its candidates;
//! - the client side as the engine does it: peer turnover closes the
//!   victim [`Locality::turnover_victim`] names (among links with no block
//!   waiting), the chokers' optimistic unchoke goes through
//!   [`NearOptimistic`] (the views' `near`);
//! - each link between two networks is a token bucket of `link_rate`
//!   blocks per unit (burst one block, as the lab's fixed turns), shared
//!   by both directions and every connection across it. A block whose
//!   link has no token is sent anyway and *waits*: the uploader's
//!   opportunity is spent on it (the lab's host pays its own bucket
//!   first, then waits on the link's), the block lands when the link has
//!   carried the blocks queued before it (first come, first served), and
//!   meanwhile that connection carries nothing else, while the uploader's
//!   next opportunities go to its other peers, as the lab's other
//!   connections keep sending;
//! - peers stay once complete, seeding with the publisher's seed choker
//!   (as the lab's hosts do) until the run ends; the population is the
//!   peers still downloading, as the lab samples it.
//!
//! Measured: blocks landed across networks over all blocks landed (the
//! publisher's included), and each network's mean download time.
//!
//! [`Registry`]: riffle_policies::tracker::Registry
//! [`Registry::set_locality`]: riffle_policies::tracker::Registry::set_locality

use std::cmp::Reverse;
use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use riffle_policies::choker::{Choker, NearOptimistic};
use riffle_policies::locality::{Group, Locality, DEFAULT_LOCAL_SHARE};
use riffle_protocol::tracker::Event;
use riffle_protocol::BlockRef;

use super::membership::Timer;
use super::{sub_seed, Sim};
use crate::experiment::networks::lab_map;
use crate::experiment::report::LocalityFigures;
use crate::experiment::RunSpec;
use crate::sim::peers::PUBLISHER;
use crate::sim::tracker::{network_of, SimTracker};
use crate::sim::SimError;

/// A link between two networks: a token bucket in blocks, whose tokens may
/// go negative (the blocks queued at it).
#[derive(Clone, Copy, Debug)]
struct LinkBucket {
    /// Tokens (blocks); below zero, the queue's length.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: f64,
}

/// How many tokens a link holds at most: one block.
const LINK_BURST: f64 = 1.0;

/// A block waiting at a link.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    up: usize,
    up_id: u64,
    to: usize,
    to_id: u64,
    block: BlockRef,
}

/// The networks of a locality replicate and what crossed them.
pub(super) struct SimLocality {
    /// Networks.
    pids: u32,
    /// The networks as the lab's map; its share is the run's (P4P's
    /// default for random peering, where it is not used).
    locality: Locality,
    /// `peering` prefers near peers (lists, turnover, optimistic unchoke).
    near_first: bool,
    /// Link capacity in blocks per unit (None: uncapped).
    link_rate: Option<f64>,
    /// Each peer's network group, by id.
    groups: Vec<Group>,
    /// Every peer's group (the peers a host learns of, for turnover).
    known: Vec<Group>,
    /// Links by (lower, higher) network.
    links: HashMap<(u32, u32), LinkBucket>,
    /// Blocks waiting at links, by key.
    waiting: HashMap<u64, InFlight>,
    /// Next key of `waiting`.
    next_key: u64,
    /// Blocks landed across networks, and in all.
    crossed: u64,
    sent: u64,
    /// Per network: sum of download times, completions, hosts.
    by_pid: Vec<(f64, u32, u32)>,
    /// Turnover's draws (a policy's own generator).
    rng: StdRng,
}

impl SimLocality {
    /// For a run with `pids`; puts the tracker's peers in their networks.
    pub(super) fn new(
        spec: &RunSpec,
        seed: u64,
        tracker: &mut SimTracker,
    ) -> Result<Option<SimLocality>, SimError> {
        let pids = spec.pids;
        if pids == 0 {
            return Ok(None);
        }
        let share = spec.peering.local_share();
        let locality = Locality::from_map(lab_map(pids))
            .with_local_share(share.unwrap_or(DEFAULT_LOCAL_SHARE))
            .map_err(|e| SimError::Model(e.to_string()))?;
        tracker.set_networks(pids, share.map(|_| locality.clone()));
        Ok(Some(SimLocality {
            pids,
            locality,
            near_first: share.is_some(),
            link_rate: spec.link_rate.filter(|r| r.is_finite() && *r > 0.0),
            groups: Vec::new(),
            known: Vec::new(),
            links: HashMap::new(),
            waiting: HashMap::new(),
            next_key: 0,
            crossed: 0,
            sent: 0,
            by_pid: vec![(0.0, 0, 0); pids as usize],
            rng: StdRng::seed_from_u64(seed),
        }))
    }

    /// `choker` with its optimistic unchoke near-first when the run
    /// prefers near peers (the engine's chokers under locality).
    pub(super) fn wrap(&self, choker: Box<dyn Choker>, seed: u64) -> Box<dyn Choker> {
        if !self.near_first {
            return choker;
        }
        Box::new(NearOptimistic::new(
            choker,
            self.locality.local_share(),
            StdRng::seed_from_u64(seed),
        ))
    }

    /// Peer `id` (0: the publisher) joined, at the tracker's address for it.
    pub(super) fn joined(&mut self, id: u64, tracker: &SimTracker) {
        let group = self.locality.group(tracker.addr_of(id).ip());
        let i = usize::try_from(id).unwrap_or(usize::MAX);
        if self.groups.len() <= i {
            self.groups.resize(i.saturating_add(1), Group::Unknown);
        }
        if let Some(g) = self.groups.get_mut(i) {
            *g = group;
        }
        self.known.push(group);
        if id != 0 {
            let pid = self.pid(id) as usize;
            if let Some(p) = self.by_pid.get_mut(pid) {
                p.2 += 1;
            }
        }
    }

    fn pid(&self, id: u64) -> u32 {
        network_of(id, self.pids)
    }

    fn group(&self, id: u64) -> Group {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.groups.get(i))
            .copied()
            .unwrap_or(Group::Unknown)
    }

    /// Are peers `a` and `b` (ids) in the same network?
    fn near(&self, a: u64, b: u64) -> bool {
        let g = self.group(a);
        g != Group::Unknown && g == self.group(b)
    }

    /// When a block sent now (`t`) from `a`'s network to `b`'s lands:
    /// `t` when the link has a token (or no cap, or one network), later
    /// when blocks are queued at it.
    fn reserve(&mut self, t: f64, a: u32, b: u32) -> f64 {
        let Some(rate) = self.link_rate.filter(|_| a != b) else {
            return t;
        };
        let link = self
            .links
            .entry((a.min(b), a.max(b)))
            .or_insert(LinkBucket {
                tokens: LINK_BURST,
                at: t,
            });
        link.tokens = (link.tokens + (t - link.at).max(0.0) * rate).min(LINK_BURST);
        link.at = t;
        link.tokens -= 1.0;
        if link.tokens >= 0.0 {
            t
        } else {
            t - link.tokens / rate
        }
    }

    /// Peer `id` completed after `time`.
    fn completed(&mut self, id: u64, time: f64) {
        let pid = self.pid(id) as usize;
        if let Some(p) = self.by_pid.get_mut(pid) {
            p.0 += time;
            p.1 += 1;
        }
    }

    /// What crossed, and each network's times.
    pub(super) fn figures(&self) -> LocalityFigures {
        LocalityFigures {
            inter_share: self.crossed as f64 / self.sent.max(1) as f64,
            time_by_pid: self
                .by_pid
                .iter()
                .map(|&(sum, done, _)| {
                    if done == 0 {
                        f64::NAN
                    } else {
                        sum / f64::from(done)
                    }
                })
                .collect(),
            done_by_pid: self.by_pid.iter().map(|&(_, d, n)| (d, n)).collect(),
        }
    }
}

impl Sim<'_> {
    /// Are the peers in slots `a` and `b` in the same network (false
    /// outside a locality run)?
    pub(super) fn is_near(&self, a: usize, b: usize) -> bool {
        self.loc
            .as_ref()
            .is_some_and(|l| l.near(self.peers.ids[a], self.peers.ids[b]))
    }

    /// `block` from `up` to `to` crosses a link with blocks queued: it
    /// waits there (true), landing when the link has carried them.
    pub(super) fn hold_at_link(&mut self, up: usize, to: usize, block: BlockRef) -> bool {
        let t = self.t;
        let (up_id, to_id) = (self.peers.ids[up], self.peers.ids[to]);
        let Some(l) = self.loc.as_mut() else {
            return false;
        };
        let (a, b) = (l.pid(up_id), l.pid(to_id));
        let at = l.reserve(t, a, b);
        if at <= t {
            return false;
        }
        let key = l.next_key;
        l.next_key += 1;
        l.waiting.insert(
            key,
            InFlight {
                up,
                up_id,
                to,
                to_id,
                block,
            },
        );
        if let Some(p) = self.peers.links[up].find(to) {
            self.peers.links[up].list[p].waiting = true;
        }
        self.timers.push(Reverse(Timer {
            t: at,
            slot: to,
            id: to_id,
            delivery: Some(key),
        }));
        true
    }

    /// The link has carried waiting block `key`: it lands, if both ends
    /// are still there and connected (else it is lost with the
    /// connection, whose requests the receiver's picker already dropped).
    pub(super) fn land_waiting(&mut self, key: u64) -> Result<(), SimError> {
        let Some(w) = self.loc.as_mut().and_then(|l| l.waiting.remove(&key)) else {
            return Ok(());
        };
        let live =
            |s: usize, id: u64| self.peers.alive.get(s) == Some(&true) && self.peers.ids[s] == id;
        if !live(w.up, w.up_id) || !live(w.to, w.to_id) {
            return Ok(());
        }
        let Some(p) = self.peers.links[w.up].find(w.to) else {
            return Ok(());
        };
        self.peers.links[w.up].list[p].waiting = false;
        self.land(w.up, w.to, w.block)
    }

    /// A block from `up` landed at `to`: count it, and whether it crossed.
    pub(super) fn count_landed(&mut self, up: usize, to: usize) {
        let (a, b) = (self.peers.ids[up], self.peers.ids[to]);
        if let Some(l) = self.loc.as_mut() {
            l.sent += 1;
            if l.pid(a) != l.pid(b) {
                l.crossed += 1;
            }
        }
    }

    /// Peer turnover in a locality run: `slot` closes a link with no block
    /// waiting on it (never the publisher's), the one
    /// [`Locality::turnover_victim`] names when the run prefers near
    /// peers, else one at random. False if there is none.
    pub(super) fn make_room_near(&mut self, slot: usize) -> bool {
        let Some(l) = self.loc.as_mut() else {
            return false;
        };
        let peers = &self.peers;
        let list = &peers.links[slot].list;
        let busy = |v: usize| {
            let back = &peers.links[v];
            back.find(slot).is_some_and(|p| back.list[p].waiting)
        };
        let idle: Vec<usize> = (0..list.len())
            .filter(|&i| {
                let v = list[i].slot as usize;
                v != PUBLISHER && !list[i].waiting && !busy(v)
            })
            .collect();
        let pick = if l.near_first {
            let ours = l.group(peers.ids[slot]);
            let connected: Vec<Group> = list.iter().map(|k| l.group(k.key.0)).collect();
            l.locality
                .turnover_victim(ours, &connected, &l.known, &idle, &mut l.rng)
        } else {
            idle.choose(&mut l.rng).copied()
        };
        let Some(victim) = pick.map(|i| list[i].slot as usize) else {
            return false;
        };
        self.peers.disconnect(slot, victim);
        self.schedule_announce(victim);
        true
    }

    /// The publisher's regular announce in a locality run (no peer is
    /// connected to it from the start): it connects to the peers listed,
    /// as the lab's publisher dials them, a peer at its cap making room.
    pub(super) fn publisher_announce(&mut self) -> Result<(), SimError> {
        let want = self.cap_links();
        if let Ok(listed) = self.tracker.announce(self.t, 0, self.k, Event::None, want) {
            self.connect_listed(PUBLISHER, &listed, true);
        }
        self.timers.push(Reverse(Timer {
            t: self.t + self.reannounce,
            slot: PUBLISHER,
            id: 0,
            delivery: None,
        }));
        Ok(())
    }

    /// `slot` completed in a locality run: it tells the tracker, and stays
    /// as a seed with the publisher's seed choker (as a lab host does)
    /// until the run ends; it no longer counts in the population.
    pub(super) fn stay_as_seed(&mut self, slot: usize) -> Result<(), SimError> {
        let id = self.peers.ids[slot];
        let _ = self
            .tracker
            .announce(self.t, id, self.k, Event::Completed, 0);
        let time = self.t - self.peers.arrived[slot];
        let choker = self
            .spec
            .publisher
            .seed_choker
            .build(&self.choker_settings, sub_seed(self.seed, id, 7));
        let Some(l) = self.loc.as_mut() else {
            return Ok(());
        };
        l.completed(id, time);
        let choker = l.wrap(choker, sub_seed(self.seed, id, 8));
        self.peers.chokers[slot] = Some(choker);
        self.peers.next_rechoke[slot] = self.t;
        for link in &mut self.peers.links[slot].list {
            link.unchoked_since = None;
            link.sent_since_unchoke = 0;
        }
        self.population = self.population.saturating_sub(1);
        Ok(())
    }
}

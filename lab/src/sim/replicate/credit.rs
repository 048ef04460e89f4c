//! The host's side of a cross-credit run (the `cross-credit` preset) in
//! the simulator: the first `contributors` of the swarm's peers also give
//! the publisher (the host seeding the swarm) a second torrent, A, at
//! `contributor_rate` blocks per unit each, from time 0 on (who
//! contributes is drawn at random among the arrivals); the swarm's
//! peers arrive at the warm-up's end, all at once, and are not replaced.
//! A flows into the host's [`CreditLedger`], the session's own, and with
//! `cross_swarm_credit` the host's seed choker serves credited hosts first
//! through [`serve_credited_first`], the function the engine calls. A is
//! not simulated block by block: only the host receives it, and only its
//! bytes matter (to the ledger).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use riffle_policies::choker::{PeerView, Unchoke};
use riffle_policies::exchange::credit::{serve_credited_first, DEFAULT_CAPACITY, DEFAULT_HORIZON};
use riffle_policies::exchange::{CreditLedger, HostId};
use riffle_policies::PeerKey;

use crate::experiment::report::CrossFigures;
use crate::experiment::RunSpec;

/// Steps in which A's bytes reach the ledger (model time units).
const FEED_STEP: f64 = 0.25;

/// The host's ledger and who contributes.
pub(super) struct HostCredit {
    ledger: CreditLedger,
    contributors: HashSet<u64>,
    /// Contributors still to mark among the arrivals.
    to_mark: usize,
    /// Arrivals still to come (the flash crowd's size).
    to_come: usize,
    /// Who among the arrivals contributes: `to_mark` of the `to_come`, at
    /// random.
    rng: rand::rngs::StdRng,
    /// Bytes each contributor gives per unit.
    rate_bytes: f64,
    /// A is in the ledger up to this model time.
    fed_until: f64,
    /// The host ranks by credit (`cross_swarm_credit`).
    on: bool,
    /// (sum of download times, completions, peers) for contributors and
    /// for the others.
    classes: [(f64, u32, u32); 2],
}

impl HostCredit {
    /// For a cross-credit run (`contributors` > 0), else None.
    pub(super) fn new(spec: &RunSpec, piece_bytes: u64, seed: u64) -> Option<HostCredit> {
        if spec.contributors <= 0.0 {
            return None;
        }
        let population = match spec.model.arrivals {
            crate::experiment::Arrivals::Closed { population } => population,
            crate::experiment::Arrivals::Open { .. } => return None,
        };
        Some(HostCredit {
            ledger: CreditLedger::new(DEFAULT_HORIZON, DEFAULT_CAPACITY),
            contributors: HashSet::new(),
            to_mark: (f64::from(population) * spec.contributors).round() as usize,
            to_come: population as usize,
            rng: rand::SeedableRng::seed_from_u64(seed),
            rate_bytes: spec.contributor_rate * piece_bytes as f64,
            fed_until: 0.0,
            on: spec.cross_swarm_credit,
            classes: [(0.0, 0, 0); 2],
        })
    }

    /// Peer `id` joined the swarm.
    pub(super) fn arrived(&mut self, id: u64) {
        use rand::Rng;
        let contributor = self.to_come > 0 && self.rng.gen_range(0..self.to_come) < self.to_mark;
        self.to_come = self.to_come.saturating_sub(1);
        if contributor {
            self.to_mark -= 1;
            self.contributors.insert(id);
        }
        self.classes[usize::from(!contributor)].2 += 1;
    }

    /// A contributor's host (the simulator's peer id as its key).
    fn host(id: u64) -> HostId {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&id.to_le_bytes());
        HostId::Key(key)
    }

    /// Torrent A's bytes up to model time `t` (model time 0 at `base`).
    fn feed(&mut self, base: Instant, t: f64) {
        while self.fed_until + FEED_STEP <= t {
            self.fed_until += FEED_STEP;
            let at = base + Duration::from_secs_f64(self.fed_until);
            let bytes = (self.rate_bytes * FEED_STEP).round() as u64;
            for &id in &self.contributors {
                self.ledger.received(Self::host(id), bytes, at);
            }
        }
    }

    /// The host's unchoke: credited hosts first (when on).
    pub(super) fn serve_first(
        &mut self,
        base: Instant,
        t: f64,
        views: &[PeerView],
        unchoke: &mut Unchoke,
    ) {
        self.feed(base, t);
        if !self.on {
            return;
        }
        let now = base + Duration::from_secs_f64(t);
        let ledger = &self.ledger;
        let contributors = &self.contributors;
        serve_credited_first(
            views,
            |k: PeerKey| {
                contributors
                    .contains(&k.0)
                    .then(|| ledger.contribution(&Self::host(k.0), now))
            },
            unchoke,
        );
    }

    /// Peer `id` completed after `download_time` units.
    pub(super) fn completed(&mut self, id: u64, download_time: f64) {
        let c = &mut self.classes[usize::from(!self.contributors.contains(&id))];
        c.0 += download_time;
        c.1 += 1;
    }

    /// The contributors' mean download time against the others'.
    pub(super) fn figures(&self) -> CrossFigures {
        let mean = |(sum, n, _): (f64, u32, u32)| {
            if n == 0 {
                f64::NAN
            } else {
                sum / f64::from(n)
            }
        };
        let [c, o] = self.classes;
        CrossFigures {
            contributors_time: mean(c),
            others_time: mean(o),
            contributors_done: (c.1, c.2),
            others_done: (o.1, o.2),
        }
    }
}

//! MultiTrack (paper 000) in the simulator: trackers in several ISPs, one
//! swarm each, forwarding arrivals to each other's swarms.
//!
//! A flow-level model in the spirit of the paper's ns-2 runs (which used
//! Eger et al.'s flow-level BitTorrent model): a swarm is its seeds'
//! upload plus its leechers' useful upload, shared equally among its
//! leechers (processor sharing), each leecher downloading at most
//! `download_cap`; a leecher leaves when it has the file. The leechers'
//! useful upload is `mu n K / (mu n + K)` with `K = sharing * seeds'
//! upload`: about `mu n` while few leechers share each seed's upload,
//! levelling off at K when many do (a leecher can pass on only what came
//! from the seeds; paper 002's missing piece is the extreme of this). So a
//! seed-poor swarm's delay rises smoothly with its load, and one with 200
//! seeds does not notice its load.
//!
//! Arrivals are Poisson at each tracker. Every `update` time units each
//! tracker measures its own swarm (riffle-policies' `SwarmMeter`: the
//! slot's delay, `F` over the peers' mean download rate in the slot, its
//! arrival rate and its mean population) and, after the warm-up, updates
//! its `Split` from the payoffs of its options (its own swarm and the
//! swarms it may forward to: their trackers' measures plus the transit
//! price). Each arrival goes where its tracker's split sends it, drawn
//! from a golden-ratio sequence (a quasi-random uniform, so the split is
//! followed closely) started at a random point; a forwarded peer joins the
//! destination swarm only.
//!
//! The cost of a user is its download time plus the transit price its
//! tracker paid; users arriving during the warm-up are not counted, and
//! after `duration` arrivals stop and the swarms drain, so every counted
//! user finishes.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_policies::locality::multitrack::{
    relative_gap, slot_delay, MeterSettings, Slot, Split, SwarmMeter,
};

use super::{Replicate, SimError};
use crate::experiment::multitrack::MultiTrackSpec;
use crate::experiment::report::{MultiTrackFigures, RunResult, Sample, TrackerUpdate};
use crate::experiment::RunSpec;

/// The tolerance of the convergence figure: the options' payoffs within
/// 10% of each other.
pub const SETTLED_WITHIN: f64 = 0.1;

/// 1 / the golden ratio: the step of the quasi-random draws.
const GOLDEN: f64 = 0.618_033_988_749_894_9;

/// One leecher: when its swarm's per-leecher work reaches `done_at` it
/// has the file (everyone in a swarm downloads at the same rate, so they
/// finish in order of arrival).
#[derive(Clone, Copy, Debug)]
struct Leecher {
    done_at: f64,
    arrived: f64,
    price: f64,
    counted: bool,
}

/// What a swarm did during the current slot.
#[derive(Clone, Copy, Debug, Default)]
struct SlotStats {
    peer_time: f64,
    downloaded: f64,
    arrivals: u32,
    seed_upload: f64,
    peer_upload: f64,
}

/// One tracker's swarm.
#[derive(Debug)]
struct Swarm {
    seed_rate: f64,
    saturation: f64,
    mu: f64,
    cap: f64,
    file: f64,
    work: f64,
    leechers: VecDeque<Leecher>,
    slot: SlotStats,
}

impl Swarm {
    /// Seeds' upload plus the leechers' useful upload with `n` leechers.
    fn capacity(&self, n: f64) -> f64 {
        let peers = self.mu * n;
        let useful = if self.saturation > 0.0 {
            peers * self.saturation / (peers + self.saturation)
        } else {
            peers
        };
        self.seed_rate + useful
    }

    /// Each leecher's download rate with `n` leechers.
    fn rate_with(&self, n: usize) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let n = n as f64;
        (self.capacity(n) / n).min(self.cap)
    }

    /// When the first leecher finishes, if nothing changes.
    fn next_completion(&self, now: f64) -> f64 {
        match self.leechers.front() {
            Some(l) => now + (l.done_at - self.work).max(0.0) / self.rate_with(self.leechers.len()),
            None => f64::INFINITY,
        }
    }

    /// Let `dt` pass.
    fn advance(&mut self, dt: f64) {
        let n = self.leechers.len();
        if n == 0 || dt <= 0.0 {
            return;
        }
        let r = self.rate_with(n);
        let used = r * n as f64;
        let seeds = used * self.seed_rate / self.capacity(n as f64);
        self.work += r * dt;
        self.slot.peer_time += n as f64 * dt;
        self.slot.downloaded += used * dt;
        self.slot.seed_upload += seeds * dt;
        self.slot.peer_upload += (used - seeds) * dt;
    }

    /// The slot as the tracker sees it (an empty swarm: the delay a
    /// newcomer would have alone).
    fn measure(&self, length: f64) -> Slot {
        let s = self.slot;
        Slot {
            delay: slot_delay(self.file, s.downloaded, s.peer_time)
                .unwrap_or(self.file / self.rate_with(1)),
            load: f64::from(s.arrivals) / length,
            occupancy: s.peer_time / length,
        }
    }
}

/// One tracker: its split, its meter and its draws.
#[derive(Debug)]
struct Tracker {
    split: Split,
    meter: SwarmMeter,
    draw: f64,
    arrivals: u64,
    forwarded: u64,
}

/// Users counted (arrived after the warm-up) that finished.
#[derive(Debug, Default)]
struct Tally {
    users: u64,
    download: f64,
    transit: f64,
    window_completions: u64,
    population_area: f64,
}

/// The state of one replicate.
struct Sim<'a> {
    spec: &'a RunSpec,
    mt: &'a MultiTrackSpec,
    rng: StdRng,
    t: f64,
    swarms: Vec<Swarm>,
    trackers: Vec<Tracker>,
    next_arrival: Vec<f64>,
    next_slot: f64,
    tally: Tally,
    updates: Vec<TrackerUpdate>,
    samples: Vec<Sample>,
    completions: u64,
    events: u64,
}

/// One replicate of a MultiTrack run.
pub(super) fn run(spec: &RunSpec, seed: u64) -> Result<Replicate, SimError> {
    let Some(mt) = spec.multitrack.as_ref() else {
        return Err(SimError::Model("not a multitrack run".into()));
    };
    let mut sim = Sim::new(spec, mt, seed)?;
    sim.run();
    Ok(sim.finish(seed))
}

impl<'a> Sim<'a> {
    fn new(spec: &'a RunSpec, mt: &'a MultiTrackSpec, seed: u64) -> Result<Sim<'a>, SimError> {
        let m = spec.model;
        let q = mt.trackers();
        let swarms = mt
            .seeders
            .iter()
            .map(|&s| {
                let seed_rate = f64::from(s) * m.publisher_rate;
                Swarm {
                    seed_rate,
                    saturation: mt.sharing * seed_rate,
                    mu: m.peer_rate,
                    cap: mt.download_cap.unwrap_or(f64::INFINITY),
                    file: f64::from(m.pieces),
                    work: 0.0,
                    leechers: VecDeque::new(),
                    slot: SlotStats::default(),
                }
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut trackers = Vec::with_capacity(q);
        for j in 0..q {
            let mask: Vec<bool> = (0..q).map(|i| mt.price(j, i).is_some()).collect();
            let split = Split::new(&mask, j)
                .and_then(|s| s.with_step(mt.step))
                .and_then(|s| s.with_floor(mt.floor))
                .and_then(|s| s.with_smoothing(mt.smoothing))
                .map_err(|e| SimError::Model(format!("tracker {}: {e}", j + 1)))?;
            let meter = SwarmMeter::new(MeterSettings::for_congestion(mt.congestion))
                .map_err(|e| SimError::Model(e.to_string()))?;
            trackers.push(Tracker {
                split,
                meter,
                draw: rng.gen::<f64>(),
                arrivals: 0,
                forwarded: 0,
            });
        }
        let next_arrival = mt
            .arrivals
            .iter()
            .map(|&l| exponential(&mut rng, l))
            .collect();
        Ok(Sim {
            spec,
            mt,
            rng,
            t: 0.0,
            swarms,
            trackers,
            next_arrival,
            next_slot: mt.update,
            tally: Tally::default(),
            updates: Vec::new(),
            samples: Vec::new(),
            completions: 0,
            events: 0,
        })
    }

    /// Arrivals, completions and slots until `duration`, then the drain.
    fn run(&mut self) {
        let duration = self.spec.model.duration;
        loop {
            let open = self.t < duration;
            let (arrival, tracker) = if open {
                argmin(&self.next_arrival)
            } else {
                (f64::INFINITY, 0)
            };
            let completions: Vec<f64> = self
                .swarms
                .iter()
                .map(|s| s.next_completion(self.t))
                .collect();
            let (done, swarm) = argmin(&completions);
            let slot = if self.next_slot <= duration {
                self.next_slot
            } else {
                f64::INFINITY
            };
            let arrival = if arrival < duration {
                arrival
            } else {
                f64::INFINITY
            };
            let next = arrival.min(done).min(slot);
            if !next.is_finite() {
                break;
            }
            self.advance_to(next);
            self.events += 1;
            if slot <= next {
                self.end_slot();
            } else if done <= next {
                self.complete(swarm);
            } else {
                self.arrive(tracker);
            }
        }
    }

    fn advance_to(&mut self, t: f64) {
        let dt = t - self.t;
        let m = self.spec.model;
        let lo = self.t.max(m.warmup);
        let hi = t.min(m.duration);
        if hi > lo {
            let n: usize = self.swarms.iter().map(|s| s.leechers.len()).sum();
            self.tally.population_area += n as f64 * (hi - lo);
        }
        for s in &mut self.swarms {
            s.advance(dt);
        }
        self.t = t;
    }

    /// An arrival at `j`: its tracker sends it to a swarm.
    fn arrive(&mut self, j: usize) {
        let rate = self.mt.arrivals[j];
        self.next_arrival[j] = self.t + exponential(&mut self.rng, rate);
        let counted = self.t >= self.spec.model.warmup;
        let tr = &mut self.trackers[j];
        tr.draw = (tr.draw + GOLDEN).fract();
        let to = if self.mt.forwarding.forwards() {
            tr.split.choose(tr.draw)
        } else {
            j
        };
        if counted {
            tr.arrivals += 1;
            tr.forwarded += u64::from(to != j);
        }
        let price = self.mt.price(j, to).unwrap_or(0.0);
        let s = &mut self.swarms[to];
        s.leechers.push_back(Leecher {
            done_at: s.work + s.file,
            arrived: self.t,
            price,
            counted,
        });
        s.slot.arrivals += 1;
    }

    /// The first leecher of swarm `i` has the file and leaves.
    fn complete(&mut self, i: usize) {
        let Some(l) = self.swarms[i].leechers.pop_front() else {
            return;
        };
        self.completions += 1;
        let m = self.spec.model;
        if self.t >= m.warmup && self.t <= m.duration {
            self.tally.window_completions += 1;
        }
        if l.counted {
            self.tally.users += 1;
            self.tally.download += self.t - l.arrived;
            self.tally.transit += l.price;
        }
    }

    /// Every tracker measures its swarm, then (after the warm-up) updates
    /// its split from its options' payoffs.
    fn end_slot(&mut self) {
        let len = self.mt.update;
        self.next_slot += len;
        let mut seeds = 0.0;
        let mut peers = 0.0;
        for (s, tr) in self.swarms.iter_mut().zip(&mut self.trackers) {
            tr.meter.observe(s.measure(len));
            seeds += s.slot.seed_upload;
            peers += s.slot.peer_upload;
            s.slot = SlotStats::default();
        }
        self.samples.push(Sample {
            t: self.t,
            population: self.swarms.iter().map(|s| s.leechers.len() as u32).sum(),
            one_club: 0,
            departures: self.completions,
            publisher_rate: seeds / len,
            peer_rate: peers / len,
        });
        if self.t <= self.spec.model.warmup {
            return;
        }
        let q = self.trackers.len();
        let mut payoffs = Vec::with_capacity(q);
        let mut shares = Vec::with_capacity(q);
        for j in 0..q {
            let f: Vec<f64> = (0..q).map(|i| self.payoff(j, i)).collect();
            let tr = &mut self.trackers[j];
            tr.split.update(&f);
            payoffs.push(match tr.split.payoffs() {
                Some(p) => p.to_vec(),
                None => f,
            });
            shares.push(if self.mt.forwarding.forwards() {
                tr.split.shares().to_vec()
            } else {
                (0..q).map(|i| if i == j { 1.0 } else { 0.0 }).collect()
            });
        }
        self.updates.push(TrackerUpdate {
            t: self.t,
            payoffs,
            shares,
        });
    }

    /// Tracker `j`'s payoff of sending an arrival to swarm `i` (NaN where
    /// it may not).
    fn payoff(&self, j: usize, i: usize) -> f64 {
        match (self.mt.price(j, i), self.trackers[i].meter.measure()) {
            (Some(price), Some(m)) => self.mt.forwarding.payoff(m, price),
            _ => f64::NAN,
        }
    }

    fn finish(self, seed: u64) -> Replicate {
        let m = self.spec.model;
        let span = m.measured_time().max(f64::MIN_POSITIVE);
        let tally = &self.tally;
        let users = tally.users.max(1) as f64;
        // A tracker that never forwards has nothing to settle.
        let settled = if self.mt.forwarding.forwards() {
            settled_updates(&self.updates, &self.trackers)
        } else {
            vec![None; self.trackers.len()]
        };
        let figures = MultiTrackFigures {
            forwarding: self.mt.forwarding.to_string(),
            users: tally.users,
            cost_per_user: (tally.download + tally.transit) / users,
            download_time: tally.download / users,
            transit_per_user: tally.transit / users,
            forwarded: self
                .trackers
                .iter()
                .map(|t| t.forwarded as f64 / t.arrivals.max(1) as f64)
                .collect(),
            settled,
            updates: self.updates,
        };
        let arrivals = self.trackers.iter().map(|t| t.arrivals).sum();
        let throughput = tally.window_completions as f64 * f64::from(m.pieces) / span;
        Replicate {
            result: RunResult {
                name: self.spec.name.clone(),
                seed,
                policies: self.spec.policies(),
                throughput_u: throughput / m.publisher_rate,
                mean_download_time: if tally.users > 0 {
                    figures.download_time
                } else {
                    f64::NAN
                },
                one_club_peak: 0,
                population_mean: tally.population_area / span,
                completions: tally.users,
                cpm: Vec::new(),
                swarms: None,
                cross: None,
                locality: None,
                multitrack: Some(figures),
            },
            arrivals,
            lost_arrivals: 0,
            events: self.events,
            samples: self.samples,
        }
    }
}

/// Per tracker, the first update from which the payoffs of all its
/// options stay within [`SETTLED_WITHIN`] of each other to the end; None
/// for a tracker with one option or one that never settles.
fn settled_updates(updates: &[TrackerUpdate], trackers: &[Tracker]) -> Vec<Option<u32>> {
    let options: Vec<Vec<usize>> = trackers
        .iter()
        .map(|t| {
            (0..t.split.options())
                .filter(|&i| t.split.is_allowed(i))
                .collect()
        })
        .collect();
    settled(updates, &options)
}

/// Per tracker `j` with `options[j]` (the swarms it may send arrivals
/// to, its own included), the first update from which their payoffs stay
/// within [`SETTLED_WITHIN`] of each other to the end; None for a tracker
/// with one option or one that never settles.
pub(crate) fn settled(updates: &[TrackerUpdate], options: &[Vec<usize>]) -> Vec<Option<u32>> {
    options
        .iter()
        .enumerate()
        .map(|(j, options)| {
            if options.len() < 2 {
                return None;
            }
            let gaps: Vec<f64> = updates
                .iter()
                .map(|u| spread(&u.payoffs[j], options))
                .collect();
            settled_at(&gaps, SETTLED_WITHIN)
        })
        .collect()
}

/// The largest relative gap between two of `options`' payoffs.
fn spread(payoffs: &[f64], options: &[usize]) -> f64 {
    let mut worst: f64 = 0.0;
    for &a in options {
        for &b in options {
            worst = worst.max(relative_gap(payoffs[a], payoffs[b]));
        }
    }
    worst
}

/// The first update (1-based) from which every gap is within `tolerance`.
pub fn settled_at(gaps: &[f64], tolerance: f64) -> Option<u32> {
    let last_bad = gaps
        .iter()
        .rposition(|g| !(g.is_finite() && *g <= tolerance));
    let first = last_bad.map_or(0, |i| i + 1);
    (first < gaps.len()).then(|| u32::try_from(first + 1).unwrap_or(u32::MAX))
}

/// The smallest value and its index (infinite for an empty slice).
fn argmin(v: &[f64]) -> (f64, usize) {
    v.iter()
        .enumerate()
        .fold((f64::INFINITY, 0), |(best, bi), (i, &x)| {
            if x < best {
                (x, i)
            } else {
                (best, bi)
            }
        })
}

/// An exponential wait at `rate`.
fn exponential(rng: &mut StdRng, rate: f64) -> f64 {
    let u: f64 = rng.gen();
    -(1.0 - u).ln() / rate
}

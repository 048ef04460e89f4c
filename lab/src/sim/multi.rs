//! Several swarms fed by one host (paper 004's allocation experiments):
//! each swarm is its own closed simulation; the host's upload rate (the
//! run's `publisher_rate`) is split between them by a
//! [`riffle_policies::exchange::Allocator`] — the session's own — decided
//! again every time unit from each swarm's peers and the CPM the host
//! measures there (at the run's first `cpm_tau`, 8 units if none).

use riffle_policies::exchange::{Allocator, SwarmDemand};

use super::replicate::Sim;
use super::{Replicate, SimError, SimOptions};
use crate::experiment::report::RunResult;
use crate::experiment::{Arrivals, RunSpec};

/// How often the host splits its upload again (model time units).
pub const REALLOCATE_UNITS: f64 = 1.0;
/// The tau of the host's CPM estimate when the run names none.
pub const DEFAULT_TAU_UNITS: f64 = 8.0;

/// One replicate of a run with several swarms.
pub(super) fn run(spec: &RunSpec, seed: u64, options: SimOptions) -> Result<Replicate, SimError> {
    let m = spec.model;
    let specs: Vec<RunSpec> = spec
        .swarms
        .iter()
        .enumerate()
        .map(|(i, &population)| {
            let mut s = spec.clone();
            s.model.arrivals = match spec.swarm_arrivals.get(i) {
                Some(&rate) => {
                    s.model.cap = Some(population);
                    Arrivals::Open { rate }
                }
                None => Arrivals::Closed { population },
            };
            s.swarms = Vec::new();
            if s.cpm_tau.is_empty() {
                s.cpm_tau = vec![DEFAULT_TAU_UNITS];
            }
            s
        })
        .collect();
    let mut sims = specs
        .iter()
        .enumerate()
        .map(|(i, s)| Sim::new(s, swarm_seed(seed, i as u64), options))
        .collect::<Result<Vec<_>, _>>()?;
    let n = sims.len();
    let times: Vec<(f64, f64)> = if spec.swarm_times.is_empty() {
        vec![(0.0, m.duration); n]
    } else {
        spec.swarm_times.clone()
    };
    let mut started = vec![false; n];
    let mut allocator = Allocator::new(spec.allocation);
    let mut shares = vec![0.0; n];
    let mut blocks_at_warmup = vec![0u64; n];
    let mut series: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut downloads: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut t = 0.0;
    let mut was_active: Vec<usize> = Vec::new();
    while t < m.duration {
        let active: Vec<usize> = (0..n)
            .filter(|&i| times[i].0 <= t && t < times[i].1)
            .collect();
        if active != was_active && !was_active.is_empty() {
            // The host's swarms changed: measure every swarm again.
            for s in &mut sims {
                s.reset_cpm();
            }
        }
        was_active = active.clone();
        for &i in &active {
            if !started[i] {
                // Its peers arrive when it joins (nothing ran before).
                sims[i].idle_until(t);
                sims[i].start()?;
                started[i] = true;
            }
        }
        let demands: Vec<SwarmDemand> = active
            .iter()
            .map(|&i| SwarmDemand {
                id: i as u64,
                interested: sims[i].population(),
                cpm: sims[i].cpm_estimate(),
            })
            .collect();
        let weights = allocator.weights(&demands);
        let mut rate = vec![0.0; n];
        for (&i, w) in active.iter().zip(&weights) {
            rate[i] = *w;
        }
        let next = (t + REALLOCATE_UNITS).min(m.duration);
        if t < m.warmup && next >= m.warmup {
            for (b, s) in blocks_at_warmup.iter_mut().zip(&sims) {
                *b = s.publisher_total();
            }
        }
        for (i, s) in sims.iter_mut().enumerate() {
            if !active.contains(&i) {
                series[i].push(f64::NAN);
                downloads[i].push(f64::NAN);
                continue;
            }
            let (before, down_before) = (s.publisher_total(), s.blocks_total());
            s.set_publisher_rate(m.publisher_rate * rate[i]);
            s.run_until(next)?;
            series[i].push((s.publisher_total() - before) as f64 / (next - t));
            downloads[i].push((s.blocks_total() - down_before) as f64 / (next - t));
        }
        if t >= m.warmup {
            for (acc, w) in shares.iter_mut().zip(&rate) {
                *acc += w * (next - t);
            }
        }
        t = next;
    }
    let span = (m.duration - m.warmup).max(f64::MIN_POSITIVE);
    let host_blocks: Vec<f64> = sims
        .iter()
        .zip(&blocks_at_warmup)
        .map(|(s, b)| (s.publisher_total() - b) as f64 / span)
        .collect();
    let reps: Vec<Replicate> = sims.into_iter().map(Sim::finish).collect();
    let mut rep = combine(
        spec,
        seed,
        reps,
        shares.iter().map(|s| s / span).collect(),
        host_blocks,
    );
    if let Some(f) = rep.result.swarms.as_mut() {
        f.host_series = series;
        f.download_series = downloads;
    }
    Ok(rep)
}

/// Seed of swarm `i` of a replicate (swarm 0 keeps the replicate's own).
fn swarm_seed(seed: u64, i: u64) -> u64 {
    seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The host's figures from its swarms' replicates.
fn combine(
    spec: &RunSpec,
    seed: u64,
    reps: Vec<Replicate>,
    shares: Vec<f64>,
    host_blocks: Vec<f64>,
) -> Replicate {
    let completions: u64 = reps.iter().map(|r| r.result.completions).sum();
    let weighted_time: f64 = reps
        .iter()
        .filter(|r| r.result.completions > 0)
        .map(|r| r.result.mean_download_time * r.result.completions as f64)
        .sum();
    let mut samples = reps.first().map(|r| r.samples.clone()).unwrap_or_default();
    for r in reps.iter().skip(1) {
        for (a, b) in samples.iter_mut().zip(&r.samples) {
            a.population += b.population;
            a.one_club += b.one_club;
            a.departures += b.departures;
            a.publisher_rate += b.publisher_rate;
            a.peer_rate += b.peer_rate;
        }
    }
    let swarm_throughput = reps
        .iter()
        .map(|r| r.result.throughput_u * spec.model.publisher_rate * f64::from(spec.model.pieces))
        .collect();
    let cpm = reps
        .iter()
        .map(|r| r.result.cpm.first().map_or(f64::NAN, |(_, c)| *c))
        .collect();
    Replicate {
        result: RunResult {
            name: spec.name.clone(),
            seed,
            policies: spec.policies(),
            throughput_u: reps.iter().map(|r| r.result.throughput_u).sum(),
            mean_download_time: if completions > 0 {
                weighted_time / completions as f64
            } else {
                f64::NAN
            },
            one_club_peak: reps
                .iter()
                .map(|r| r.result.one_club_peak)
                .max()
                .unwrap_or(0),
            population_mean: reps.iter().map(|r| r.result.population_mean).sum(),
            completions,
            cpm: Vec::new(),
            cross: None,
            locality: None,
            multitrack: None,
            swarms: Some(crate::experiment::report::SwarmFigures {
                allocation: spec.allocation.to_string(),
                share: shares,
                host_blocks,
                throughput_blocks: swarm_throughput,
                cpm,
                host_series: Vec::new(),
                download_series: Vec::new(),
            }),
        },
        arrivals: reps.iter().map(|r| r.arrivals).sum(),
        lost_arrivals: reps.iter().map(|r| r.lost_arrivals).sum(),
        events: reps.iter().map(|r| r.events).sum(),
        samples,
    }
}

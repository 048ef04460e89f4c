//! `riffle sim`: a discrete-event simulator of the swarm model of paper 002
//! (the model of the reference simulation: one block per piece, exponential
//! service times, Poisson arrivals), at scales the lab of real peers cannot
//! reach. It reads the same experiment files ([`crate::experiment`]) and
//! produces the same results ([`crate::experiment::report`]).
//!
//! The simulator holds no decision logic: which block, whom to serve, at
//! what rate and whom a peer meets are all answered by riffle-policies
//! objects (see [`replicate`] for the list). What it adds is the model's
//! mechanics and one convention where the model and BitTorrent differ:
//! the publisher is connected to every peer (in the model it sees them
//! all), while each peer keeps at most `connections` connections, made
//! with the peers the tracker lists when it arrives, when it first holds a
//! piece, and every re-announce interval while it has room; a peer at its
//! cap accepts a joining peer by dropping a random other connection (peer
//! turnover), so a swarm far larger than the cap keeps mixing as the
//! model's uniform random contacts do. Completed peers that linger keep
//! their leecher choker. Non-per-piece chokers (tit-for-tat, round-robin,
//! ...) rechoke every 10 time units and share the upload among the
//! unchoked peers; per-piece ones are asked at every upload opportunity.
//! A locality run (`pids`) places the peers in networks whose links are
//! capped, has them meet the publisher through the tracker too, and keeps
//! completed peers as seeds, as the lab does (see `replicate/locality.rs`).
//!
//! [`multitrack`] simulates paper 000's trackers forwarding arrivals
//! between their swarms (a flow-level model of its own; a run with a
//! `multitrack` table).
//!
//! [`sweep`] runs an experiment's runs over a list of arrival rates
//! (`riffle sim --sweep-lambda`), to show throughput against lambda up to
//! saturation next to the paper's formula.

mod multi;
pub mod multitrack;
mod peers;
pub mod replicate;
mod stats;
pub mod sweep;
#[cfg(test)]
mod tests;
mod tracker;

use thiserror::Error;

use crate::experiment::report::{Outputs, RunResult, Sample};
use crate::experiment::{Experiment, RunSpec};

/// Why a simulation stopped.
#[derive(Debug, Error)]
pub enum SimError {
    /// The model's numbers cannot be simulated.
    #[error("cannot simulate this model: {0}")]
    Model(String),
    /// A policy object refused a call the simulator made (a simulator bug).
    #[error("a policy refused the simulator's call: {0}")]
    Policy(String),
}

/// What one replicate produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Replicate {
    /// The figures of the replicate.
    pub result: RunResult,
    /// Its time series.
    pub samples: Vec<Sample>,
    /// Arrivals the tracker admitted.
    pub arrivals: u64,
    /// Arrivals the tracker refused (population cap): lost, as in the model.
    pub lost_arrivals: u64,
    /// Events processed (arrivals, upload opportunities, departures).
    pub events: u64,
}

/// Settings of the simulator that are not part of the experiment file
/// (the lab has no equivalent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// Peers present at time 0 holding every piece but piece 0: an initial
    /// one club, the regime the paper's saturation formula describes (it
    /// assumes an infinite one club). 0: start from an empty swarm.
    pub initial_one_club: u32,
}

/// Simulate one replicate of `spec` with `seed`. Deterministic: the same
/// spec and seed give the same result.
pub fn run_replicate(spec: &RunSpec, seed: u64) -> Result<Replicate, SimError> {
    run_replicate_with(spec, seed, SimOptions::default())
}

/// [`run_replicate`] with simulator-only settings.
pub fn run_replicate_with(
    spec: &RunSpec,
    seed: u64,
    options: SimOptions,
) -> Result<Replicate, SimError> {
    if spec.multitrack.is_some() {
        return multitrack::run(spec, seed);
    }
    if !spec.swarms.is_empty() {
        return multi::run(spec, seed, options);
    }
    replicate::Sim::new(spec, seed, options)?.run()
}

/// Simulate every run of `exp` with each of its seeds, calling `progress`
/// after each replicate, and collect the outputs for the report.
pub fn run_experiment(
    exp: &Experiment,
    options: SimOptions,
    mut progress: impl FnMut(&RunSpec, &Replicate),
) -> Result<Outputs, SimError> {
    let mut out = Outputs::default();
    for spec in &exp.runs {
        for &seed in &spec.seeds {
            let rep = run_replicate_with(spec, seed, options)?;
            progress(spec, &rep);
            out.results.push(rep.result.clone());
            out.series.push((spec.name.clone(), seed, rep.samples));
        }
    }
    Ok(out)
}

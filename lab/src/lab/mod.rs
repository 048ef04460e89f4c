//! The swarm lab: runs an experiment's runs with real riffle peers.
//!
//! Every lab peer is a full [`riffle_client::engine::Session`] — its own listener
//! on 127.0.0.1, storage in a temporary directory, the wire protocol over
//! TCP, governor buckets at the model's rates — announcing to the lab's
//! own [`riffle_tracker::TrackerServer`]. The lab only starts, stops
//! and observes them (`replicate.rs`). Time runs faster than in a client:
//! one model time unit (one publisher block time, 1/U) lasts
//! `time_unit_ms` of wall time and counts as one second of protocol time,
//! so rechoke, optimistic-unchoke, announce and request timers all scale
//! with it ([`riffle_client::engine::SessionConfig::with_time_scale`]).
//!
//! Results use the same [`crate::experiment::report`] types as `riffle
//! sim`, so the two can be compared run for run.

mod cross;
mod crowd;
mod locality;
mod multi;
mod multitrack;
pub mod payload;
mod replicate;
mod setup;

use std::path::Path;

use anyhow::{Context, Result};

use crate::experiment::report::{Outputs, RunResult, Sample};
use crate::experiment::{Experiment, RunSpec};

/// Progress of an experiment, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Replicates finished.
    pub done: usize,
    /// Replicates in all.
    pub total: usize,
    /// Model time reached in the current replicate.
    pub t: f64,
    /// Its duration.
    pub duration: f64,
}

/// Run one replicate of `spec` with `seed`, in a fresh temporary
/// directory under `work` (removed afterwards).
pub async fn run_replicate(
    spec: &RunSpec,
    seed: u64,
    work: &Path,
    tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    let dir = tempfile::Builder::new()
        .prefix("riffle-lab-")
        .tempdir_in(work)
        .with_context(|| format!("cannot create a directory in {}", work.display()))?;
    if spec.multitrack.is_some() {
        multitrack::run(spec, seed, dir.path(), tick).await
    } else if spec.contributors > 0.0 {
        cross::run(spec, seed, dir.path(), tick).await
    } else if spec.pids > 0 {
        locality::run(spec, seed, dir.path(), tick).await
    } else if !spec.swarms.is_empty() {
        multi::run(spec, seed, dir.path(), tick).await
    } else if spec.cpm_tau.len() > 1 {
        // A session measures CPM at one tau: one replicate per tau, the
        // first one's figures for the rest.
        let mut tick = tick;
        let mut out: Option<(RunResult, Vec<Sample>)> = None;
        for (i, &tau) in spec.cpm_tau.iter().enumerate() {
            let mut one = spec.clone();
            one.cpm_tau = vec![tau];
            let sub = dir.path().join(format!("tau-{i}"));
            let (r, samples) = replicate::run(&one, seed, &sub, &mut tick).await?;
            match out.as_mut() {
                Some((first, _)) => first.cpm.extend(r.cpm),
                None => out = Some((r, samples)),
            }
        }
        out.ok_or_else(|| anyhow::anyhow!("no tau"))
    } else {
        replicate::run(spec, seed, dir.path(), tick).await
    }
    .with_context(|| format!("run {} seed {seed}", spec.name))
}

/// Run every replicate of `experiment` one after the other; `progress` is
/// called as time passes.
pub async fn run_experiment(
    experiment: &Experiment,
    work: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Outputs> {
    let total: usize = experiment.runs.iter().map(|r| r.seeds.len()).sum();
    let mut outputs = Outputs::default();
    let mut done = 0;
    for spec in &experiment.runs {
        for &seed in &spec.seeds {
            let duration = spec.model.duration;
            let (result, samples) = run_replicate(spec, seed, work, |t| {
                progress(Progress {
                    done,
                    total,
                    t,
                    duration,
                })
            })
            .await?;
            tracing::info!(
                run = %spec.name,
                seed,
                throughput_u = result.throughput_u,
                completions = result.completions,
                "replicate done"
            );
            outputs.results.push(result);
            outputs.series.push((spec.name.clone(), seed, samples));
            done += 1;
        }
    }
    Ok(outputs)
}

//! Several swarms fed by one host, with real sessions (the cpm-allocation
//! preset): one host [`Session`] seeds a torrent per swarm under one upload
//! limit (the run's `publisher_rate`), split by the session's own swarm
//! allocation (`allocation`: per-peer, equal or cpm, the engine's
//! [`riffle_policies::exchange::Allocator`]); each swarm is a closed
//! population of lab peers, driven as a single-swarm replicate is
//! ([`super::replicate::drive`]). Every time unit the lab reads, for each
//! swarm, what the host uploaded into it and the host's CPM estimate there
//! (the engine's estimator, at the run's first `cpm_tau`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::engine::{Session, TorrentHandle, TorrentStatus};
use riffle_client::watch;
use riffle_protocol::BLOCK_SIZE;
use tokio::time::Instant;

use super::replicate::{drive, result, start_tracker, wait_ready, Clock};
use super::setup::Setup;
use crate::experiment::report::{RunResult, Sample, SwarmFigures};
use crate::experiment::{Arrivals, RunSpec};

/// One swarm's samples and completions (completed at, download time).
type SwarmRun = (Vec<Sample>, Vec<(f64, f64)>);

/// One replicate of a run with several swarms.
pub async fn run(
    spec: &RunSpec,
    seed: u64,
    dir: &std::path::Path,
    mut tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    if !spec.swarm_times.is_empty() || !spec.swarm_arrivals.is_empty() {
        return Err(anyhow!(
            "run {:?}: the lab feeds closed swarms present for the whole run; swarm_times and swarm_arrivals are for the simulator (riffle sim)",
            spec.name
        ));
    }
    let model = spec.model;
    let unit = Duration::from_secs_f64(model.time_unit_ms / 1000.0);
    let mut rng = StdRng::seed_from_u64(seed);
    let tracker = start_tracker(spec, unit, rng.gen(), None, None).await?;
    let host_dir = dir.join("host");
    let mut setups = Vec::new();
    for i in 0..spec.swarms.len() {
        setups.push(swarm_setup(
            spec,
            i,
            seed,
            dir,
            &tracker.announce_url(),
            unit,
        )?);
    }
    let mut config = setups[0].0.session_config(model.publisher_rate);
    config.swarm_allocation = spec.allocation;
    // The host's CPM at the run's tau (one model unit is one protocol
    // second), 8 units if none, as the simulator measures it: on loopback
    // the engine's own rule (8 hop times) collapses to its 1 s floor.
    config.cpm_tau = Some(Duration::from_secs_f64(
        spec.cpm_tau.first().copied().unwrap_or(8.0),
    ));
    let host = Session::start(config)
        .await
        .map_err(|e| anyhow!("cannot start the host: {e}"))?;
    let mut handles: Vec<TorrentHandle> = Vec::new();
    let mut ready = Vec::new();
    for (i, (mut setup, stop_tx)) in setups.into_iter().enumerate() {
        let options = setup.publisher_options(&host_dir, rng.gen());
        let h = host
            .add_torrent((*setup.meta).clone(), options)
            .map_err(|e| anyhow!("cannot add swarm {i}'s torrent to the host: {e}"))?;
        wait_ready(&h.status()).await?;
        setup.publisher = Some(host.listen_addr());
        handles.push(h);
        ready.push((Arc::new(setup), stop_tx));
    }
    let statuses: Vec<watch::Receiver<TorrentStatus>> =
        handles.iter().map(TorrentHandle::status).collect();
    let clock = Clock {
        start: Instant::now(),
        unit,
    };
    let drives: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(i, (setup, stop_tx))| {
            let status = statuses[i].clone();
            let rng = StdRng::seed_from_u64(rng.gen());
            tokio::spawn(async move { drive(setup, stop_tx, &status, clock, rng, |_| {}).await })
        })
        .collect();
    let host_figures = watch_host(&statuses, clock, spec, &mut tick).await;
    let mut outs = Vec::new();
    for d in drives {
        outs.push(
            d.await
                .map_err(|e| anyhow!("a swarm's driver failed: {e}"))?,
        );
    }
    for h in handles {
        h.shutdown().await;
    }
    host.shutdown().await;
    tracker.shutdown().await;
    let mut per_swarm = Vec::new();
    for (i, out) in outs.into_iter().enumerate() {
        let d = out.map_err(|e| e.context(format!("swarm {i}")))?;
        per_swarm.push((d.samples, d.completions));
    }
    Ok(combine(spec, seed, per_swarm, host_figures))
}

/// Swarm `i`'s setup: its own torrent (K pieces, from `seed` and `i`) and
/// a closed population of `swarms[i]` peers; and its stop signal.
fn swarm_setup(
    spec: &RunSpec,
    i: usize,
    seed: u64,
    dir: &std::path::Path,
    announce: &str,
    unit: Duration,
) -> Result<(Setup, watch::Sender<bool>)> {
    let mut s = spec.clone();
    s.model.arrivals = Arrivals::Closed {
        population: spec.swarms[i],
    };
    s.swarms = Vec::new();
    let meta = super::payload::make_named(
        &dir.join("host"),
        &format!("swarm-{i}.bin"),
        spec.model.pieces,
        seed.wrapping_add(i as u64 * 7919),
        announce,
    )?;
    Ok(Setup::swarm(s, meta, unit, dir.join(format!("swarm-{i}"))))
}

/// The host's figures per swarm, read every time unit.
#[derive(Default)]
struct HostFigures {
    /// Blocks per unit uploaded into each swarm, per unit.
    series: Vec<Vec<f64>>,
    /// The CPM estimate in each swarm after the warm-up, per unit (None:
    /// not measured yet).
    cpm: Vec<Vec<f64>>,
    /// Bytes uploaded into each swarm after the warm-up.
    bytes_after_warmup: Vec<u64>,
}

/// Read the host's torrents every unit until the run's duration.
async fn watch_host(
    statuses: &[watch::Receiver<TorrentStatus>],
    clock: Clock,
    spec: &RunSpec,
    tick: &mut impl FnMut(f64),
) -> HostFigures {
    let n = statuses.len();
    let model = spec.model;
    let block = f64::from(BLOCK_SIZE);
    let mut f = HostFigures {
        series: vec![Vec::new(); n],
        cpm: vec![Vec::new(); n],
        bytes_after_warmup: vec![0; n],
    };
    let mut last = vec![0u64; n];
    let mut u = 1.0;
    while u <= model.duration {
        tokio::time::sleep_until(clock.start + clock.unit.mul_f64(u)).await;
        for (i, st) in statuses.iter().enumerate() {
            let st = st.borrow();
            let sent = st.uploaded.saturating_sub(last[i]);
            last[i] = st.uploaded;
            f.series[i].push(sent as f64 / block);
            if u > model.warmup {
                f.bytes_after_warmup[i] += sent;
                if let Some(c) = st.cpm {
                    f.cpm[i].push(c);
                }
            }
        }
        tick(u);
        u += 1.0;
    }
    f
}

/// Several swarms' samples, unit by unit, as one (as long as the shortest;
/// rates, populations and counts added).
pub(super) fn sum_samples<'a>(mut per_swarm: impl Iterator<Item = &'a Vec<Sample>>) -> Vec<Sample> {
    let mut samples: Vec<Sample> = per_swarm.next().cloned().unwrap_or_default();
    for other in per_swarm {
        samples.truncate(other.len());
        for (a, b) in samples.iter_mut().zip(other) {
            a.population += b.population;
            a.one_club += b.one_club;
            a.departures += b.departures;
            a.publisher_rate += b.publisher_rate;
            a.peer_rate += b.peer_rate;
        }
    }
    samples
}

/// The run's result from each swarm's samples and completions and the
/// host's figures.
fn combine(
    spec: &RunSpec,
    seed: u64,
    per_swarm: Vec<SwarmRun>,
    host: HostFigures,
) -> (RunResult, Vec<Sample>) {
    let model = spec.model;
    let results: Vec<RunResult> = per_swarm
        .iter()
        .map(|(samples, completions)| result(spec, seed, samples, completions))
        .collect();
    let completions: u64 = results.iter().map(|r| r.completions).sum();
    let weighted: f64 = results
        .iter()
        .filter(|r| r.completions > 0)
        .map(|r| r.mean_download_time * r.completions as f64)
        .sum();
    let total_bytes: u64 = host.bytes_after_warmup.iter().sum();
    let span = model.measured_time().max(1e-9);
    let mean = |v: &Vec<f64>| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let samples = sum_samples(per_swarm.iter().map(|p| &p.0));
    let result = RunResult {
        name: spec.name.clone(),
        seed,
        policies: spec.policies(),
        throughput_u: results.iter().map(|r| r.throughput_u).sum(),
        mean_download_time: if completions > 0 {
            weighted / completions as f64
        } else {
            f64::NAN
        },
        one_club_peak: results.iter().map(|r| r.one_club_peak).max().unwrap_or(0),
        population_mean: results.iter().map(|r| r.population_mean).sum(),
        completions,
        cpm: Vec::new(),
        swarms: Some(SwarmFigures {
            allocation: spec.allocation.to_string(),
            share: host
                .bytes_after_warmup
                .iter()
                .map(|b| *b as f64 / total_bytes.max(1) as f64)
                .collect(),
            host_blocks: host
                .bytes_after_warmup
                .iter()
                .map(|b| *b as f64 / f64::from(BLOCK_SIZE) / span)
                .collect(),
            throughput_blocks: results
                .iter()
                .map(|r| r.throughput_u * model.publisher_rate * f64::from(model.pieces))
                .collect(),
            cpm: host.cpm.iter().map(mean).collect(),
            host_series: host.series,
            download_series: Vec::new(),
        }),
        cross: None,
        locality: None,
        multitrack: None,
    };
    (result, samples)
}

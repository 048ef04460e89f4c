//! MultiTrack (paper 000) with real sessions and real trackers: one
//! [`riffle_tracker::TrackerServer`] per network, each with its MultiTrack settings
//! ([`MultiTrackConfig`]: forwarding, step, floor, smoothing, congestion;
//! transit prices scaled to wall seconds), its own swarm of the same
//! torrent (the same content, announced to that tracker), one seed host
//! uploading `seeders x publisher_rate`, and Poisson arrivals of lab peers
//! at its rate, each a full [`Session`] driven as a single-swarm
//! replicate is ([`super::replicate::drive`]). A tracker forwards a new
//! downloader by answering it with the destination tracker's peers, as
//! `riffle tracker --peer-tracker` does: the forwarded peer meets that
//! network's swarm only.
//!
//! The trackers know each other from the start and start from an even
//! split, as the simulator's do; what the lab reports: each tracker's updates after the warm-up (its
//! payoffs and shares, from [`riffle_tracker::TrackerServer::multitrack_updates`]); the
//! cost per user (arrived after the warm-up) as download time plus the
//! transit price its tracker paid for it (from the trackers' counts of
//! arrivals sent to each option); a user still downloading when the run
//! ends counts the time it has spent so far (a lower bound: a swarm that
//! cannot keep up never drains).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::engine::{Session, TorrentHandle, TorrentStatus};
use riffle_client::watch;
use riffle_tracker::multitrack::{ForwardingUpdate, MultiTrackConfig, PeerTracker};
use tokio::time::Instant;

use super::multi::sum_samples;
use super::replicate::{drive, result, start_tracker, wait_ready, Clock, Driven};
use super::setup::Setup;
use crate::experiment::multitrack::MultiTrackSpec;
use crate::experiment::report::{MultiTrackFigures, RunResult, Sample, TrackerUpdate};
use crate::experiment::{Arrivals, RunSpec};
use crate::sim::multitrack::settled;

/// The name of tracker `j` (0-based): its network, `T1`, `T2`, ...
fn name(j: usize) -> String {
    format!("T{}", j + 1)
}

/// The swarms tracker `j` may send an arrival to, in its options' order:
/// its own first, then the others it may forward to.
fn options_of(mt: &MultiTrackSpec, j: usize) -> Vec<usize> {
    std::iter::once(j)
        .chain((0..mt.trackers()).filter(|&i| i != j && mt.price(j, i).is_some()))
        .collect()
}

/// Tracker `j`'s MultiTrack settings (prices in wall seconds; no peer
/// addresses yet).
fn tracker_config(mt: &MultiTrackSpec, j: usize, unit: Duration) -> MultiTrackConfig {
    let peers = options_of(mt, j)
        .into_iter()
        .skip(1)
        .map(|i| PeerTracker {
            name: name(i),
            addr: None,
            price: mt.price(j, i).unwrap_or(0.0) * unit.as_secs_f64(),
        })
        .collect();
    let mut c = MultiTrackConfig::new(name(j), peers, unit.mul_f64(mt.update));
    c.forwarding = mt.forwarding;
    c.step = mt.step;
    c.floor = mt.floor;
    c.smoothing = mt.smoothing;
    c.congestion = mt.congestion;
    // As the simulator and the paper's runs: an even split at first.
    c.even_start = true;
    c
}

/// One replicate of a MultiTrack run in the lab.
pub async fn run(
    spec: &RunSpec,
    seed: u64,
    dir: &std::path::Path,
    mut tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    let mt = spec
        .multitrack
        .as_ref()
        .ok_or_else(|| anyhow!("not a multitrack run"))?;
    if mt.download_cap.is_some() || mt.sharing > 0.0 {
        return Err(anyhow!(
            "run {:?}: download_cap and sharing shape the simulator's flow model; the lab's swarms are real sessions (leave them out)",
            spec.name
        ));
    }
    let model = spec.model;
    let unit = Duration::from_secs_f64(model.time_unit_ms / 1000.0);
    let q = mt.trackers();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut trackers = Vec::with_capacity(q);
    for j in 0..q {
        let config = tracker_config(mt, j, unit);
        trackers.push(start_tracker(spec, unit, rng.gen(), None, Some(config)).await?);
    }
    for (j, t) in trackers.iter().enumerate() {
        for i in options_of(mt, j).into_iter().skip(1) {
            t.set_peer_tracker(&name(i), Some(trackers[i].http_addr()));
        }
    }
    // The same content in every network, announced to its own tracker.
    let content_seed: u64 = rng.gen();
    let mut seeds: Vec<(Session, TorrentHandle)> = Vec::with_capacity(q);
    let mut setups = Vec::with_capacity(q);
    for (j, tracker) in trackers.iter().enumerate() {
        let data = dir.join(format!("data-{j}"));
        let meta = super::payload::make_named(
            &data,
            "multitrack.bin",
            model.pieces,
            content_seed,
            &tracker.announce_url(),
        )?;
        let mut s = spec.clone();
        s.model.arrivals = Arrivals::Open {
            rate: mt.arrivals[j],
        };
        let (setup, stop_tx) = Setup::swarm(s, meta, unit, dir.join(format!("swarm-{j}")));
        let upload = f64::from(mt.seeders[j]) * model.publisher_rate;
        let session = Session::start(setup.session_config(upload))
            .await
            .map_err(|e| anyhow!("cannot start {}'s seed host: {e}", name(j)))?;
        let options = setup.publisher_options(&data, rng.gen());
        let handle = session
            .add_torrent((*setup.meta).clone(), options)
            .map_err(|e| anyhow!("cannot add the torrent to {}'s seed host: {e}", name(j)))?;
        wait_ready(&handle.status()).await?;
        seeds.push((session, handle));
        setups.push((Arc::new(setup), stop_tx));
    }
    let hash = setups[0].0.meta.info_hash;
    let clock = Clock {
        start: Instant::now(),
        unit,
    };
    let drives: Vec<_> = setups
        .into_iter()
        .zip(&seeds)
        .map(|((setup, stop_tx), (_, handle))| {
            let status: watch::Receiver<TorrentStatus> = handle.status();
            let rng = StdRng::seed_from_u64(rng.gen());
            tokio::spawn(async move { drive(setup, stop_tx, &status, clock, rng, |_| {}).await })
        })
        .collect();
    let mut u = 1.0;
    while u <= model.duration {
        tokio::time::sleep_until(clock.start + clock.unit.mul_f64(u)).await;
        tick(u);
        u += 1.0;
    }
    let warm = (clock.start + unit.mul_f64(model.warmup)).into_std();
    let mut driven = Vec::with_capacity(q);
    for (j, d) in drives.into_iter().enumerate() {
        let d = d
            .await
            .map_err(|e| anyhow!("{}'s driver failed: {e}", name(j)))?
            .map_err(|e| e.context(name(j)))?;
        driven.push(d);
    }
    let histories: Vec<Vec<ForwardingUpdate>> = trackers
        .iter()
        .map(|t| t.multitrack_updates(&hash))
        .collect();
    for (session, handle) in seeds {
        handle.shutdown().await;
        session.shutdown().await;
    }
    for t in trackers {
        t.shutdown().await;
    }
    let figures = figures(mt, spec, &driven, &histories, clock, warm);
    let samples = sum_samples(driven.iter().map(|d| &d.samples));
    let completions: Vec<(f64, f64)> = driven
        .iter()
        .flat_map(|d| d.completions.iter().copied())
        .collect();
    let mut r = result(spec, seed, &samples, &completions);
    r.completions = figures.users;
    r.mean_download_time = if figures.users > 0 {
        figures.download_time
    } else {
        f64::NAN
    };
    r.multitrack = Some(figures);
    Ok((r, samples))
}

/// The run's MultiTrack figures: users counted (arrived after the
/// warm-up), their cost, and the trackers' updates after the warm-up.
fn figures(
    mt: &MultiTrackSpec,
    spec: &RunSpec,
    driven: &[Driven],
    histories: &[Vec<ForwardingUpdate>],
    clock: Clock,
    warm: std::time::Instant,
) -> MultiTrackFigures {
    let model = spec.model;
    let q = mt.trackers();
    let unit = clock.unit.as_secs_f64();
    let mut users = 0u64;
    let mut download = 0.0;
    for d in driven {
        for &(at, took) in &d.completions {
            if at - took >= model.warmup {
                users += 1;
                download += took;
            }
        }
        for &arrived in &d.unfinished {
            if arrived >= model.warmup {
                users += 1;
                download += (model.duration - arrived).max(0.0);
            }
        }
    }
    // Arrivals each tracker sent to each option after the warm-up, and
    // what their transit cost.
    let mut transit = 0.0;
    let mut forwarded = vec![0.0; q];
    for (j, h) in histories.iter().enumerate() {
        let before = h
            .iter()
            .rev()
            .find(|u| u.at <= warm)
            .map(|u| u.sent.clone());
        let Some(last) = h.last() else { continue };
        let before = before.unwrap_or_else(|| vec![0; last.sent.len()]);
        let sent: Vec<u64> = last
            .sent
            .iter()
            .zip(&before)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let options = options_of(mt, j);
        for (k, &i) in options.iter().enumerate().skip(1) {
            transit += sent.get(k).copied().unwrap_or(0) as f64 * mt.price(j, i).unwrap_or(0.0);
        }
        let total: u64 = sent.iter().sum();
        forwarded[j] = sent.iter().skip(1).sum::<u64>() as f64 / total.max(1) as f64;
    }
    let updates = updates_after(mt, histories, clock, warm, unit);
    let options: Vec<Vec<usize>> = (0..q).map(|j| options_of(mt, j)).collect();
    let settled = if mt.forwarding.forwards() {
        settled(&updates, &options)
    } else {
        vec![None; q]
    };
    let n = users.max(1) as f64;
    MultiTrackFigures {
        forwarding: mt.forwarding.to_string(),
        users,
        cost_per_user: (download + transit) / n,
        download_time: download / n,
        transit_per_user: transit / n,
        forwarded,
        settled,
        updates,
    }
}

/// The trackers' updates after the warm-up, the k-th of each together, in
/// model units and indexed by swarm (NaN payoffs and zero shares for
/// swarms a tracker may not use).
fn updates_after(
    mt: &MultiTrackSpec,
    histories: &[Vec<ForwardingUpdate>],
    clock: Clock,
    warm: std::time::Instant,
    unit: f64,
) -> Vec<TrackerUpdate> {
    let q = mt.trackers();
    let after: Vec<Vec<&ForwardingUpdate>> = histories
        .iter()
        .map(|h| h.iter().filter(|u| u.at > warm).collect())
        .collect();
    let n = after.iter().map(Vec::len).min().unwrap_or(0);
    (0..n)
        .map(|k| {
            let mut payoffs = vec![vec![f64::NAN; q]; q];
            let mut shares = vec![vec![0.0; q]; q];
            for (j, a) in after.iter().enumerate() {
                for (o, &i) in options_of(mt, j).iter().enumerate() {
                    payoffs[j][i] = a[k].payoffs.get(o).copied().unwrap_or(f64::NAN) / unit;
                    shares[j][i] = a[k].shares.get(o).copied().unwrap_or(0.0);
                }
            }
            TrackerUpdate {
                t: clock.model(Instant::from_std(after[0][k].at)),
                payoffs,
                shares,
            }
        })
        .collect()
}

//! A cross-credit replicate (issue: cross-swarm exchange): one flash crowd
//! of `population` leechers of torrent B, fed by a publisher (the host
//! that seeds B) at U, each peer a full [`Session`] on 127.0.0.1. The
//! first `contributors` of them also seed a second torrent, A, to that
//! same host (each at `contributor_rate`, a budget of its own, so B's
//! upload is the same for everyone). With `cross_swarm_credit` every
//! session runs with cross-swarm credit: the host's seed slots in B go to
//! the hosts that gave it A first, and every leecher choker ranks B's
//! peers by what their hosts gave in A and B together.
//!
//! Torrent A runs alone for `warmup` units (the credit builds), then B
//! starts; the replicate measures each leecher's time to complete B from
//! then, and reports the contributors' mean against the others'.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::engine::{Session, TorrentHandle, TorrentOptions};
use riffle_client::watch;
use tokio::time::Instant;

use super::replicate::{result, wait_ready, Clock};
use super::setup::Setup;
use crate::experiment::report::{CrossFigures, RunResult, Sample};
use crate::experiment::{Arrivals, RunSpec};

/// Torrent A is this many times B's size: the contributors never run out
/// of it to give.
const A_SIZE_FACTOR: u32 = 8;

/// An announce URL nobody listens on: the lab's sessions are told their
/// peers and never announce.
const NO_TRACKER: &str = "http://127.0.0.1:9/announce";

/// One leecher of B.
struct Leecher {
    session: Session,
    b: Option<TorrentHandle>,
    a: Option<TorrentHandle>,
    status: watch::Receiver<riffle_client::engine::TorrentStatus>,
    contributor: bool,
    done_at: Option<f64>,
}

/// Run one cross-credit replicate of `spec` with `seed` in `dir`.
pub async fn run(
    spec: &RunSpec,
    seed: u64,
    dir: &Path,
    mut tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    let model = spec.model;
    let Arrivals::Closed { .. } = model.arrivals else {
        return Err(anyhow!("cross-credit runs need a closed population"));
    };
    let unit = std::time::Duration::from_secs_f64(model.time_unit_ms / 1000.0);
    let mut rng = StdRng::seed_from_u64(seed);
    let meta_b = super::payload::make(&dir.join("publisher"), model.pieces, seed, NO_TRACKER)?;
    let meta_a = super::payload::make_named(
        &dir.join("a"),
        "cross-a.bin",
        model.pieces * A_SIZE_FACTOR,
        seed ^ 0xA5A5,
        NO_TRACKER,
    )?;
    let (stop_tx, stop) = watch::channel(false);
    let mut setup = Setup {
        spec: spec.clone(),
        meta: Arc::new(meta_b),
        unit,
        time_scale: 1.0 / unit.as_secs_f64(),
        dir: dir.to_path_buf(),
        stop,
        publisher: None,
    };
    let mut config = setup.session_config(model.publisher_rate);
    config.cross_swarm_credit = spec.cross_swarm_credit;
    let publisher = Session::start(config)
        .await
        .map_err(|e| anyhow!("cannot start the publisher: {e}"))?;
    let mut options = setup.publisher_options(&dir.join("publisher"), rng.gen());
    options.use_trackers = false;
    let publisher_b = publisher
        .add_torrent((*setup.meta).clone(), options)
        .map_err(|e| anyhow!("cannot add B to the publisher: {e}"))?;
    let publisher_status = publisher_b.status();
    wait_ready(&publisher_status).await?;
    setup.publisher = Some(publisher.listen_addr());

    let (sessions, is_contributor) = start_crowd(&setup, spec, &mut rng).await?;
    let addrs: Vec<SocketAddr> = sessions.iter().map(Session::listen_addr).collect();
    // Torrent A first: the contributors' credit at the host builds for
    // `warmup` units before B starts.
    let (a_handles, host_a) = add_a(&setup, dir, &meta_a, &sessions, &is_contributor, &publisher)?;
    tokio::time::sleep(unit.mul_f64(model.warmup)).await;
    let leechers = add_b(
        &setup,
        dir,
        sessions,
        a_handles,
        &is_contributor,
        &addrs,
        &mut rng,
    )?;
    let clock = Clock {
        start: Instant::now(),
        unit,
    };
    let watched = watch(leechers, &publisher_status, clock, spec, &mut tick).await;
    let _ = stop_tx.send(true);
    let (leechers, samples) = watched?;
    let completions: Vec<(f64, f64)> = leechers
        .iter()
        .filter_map(|l| l.done_at.map(|t| (t + model.warmup, t)))
        .collect();
    let cross = figures(&leechers);
    for mut l in leechers {
        if let Some(b) = l.b.take() {
            b.shutdown().await;
        }
        if let Some(a) = l.a.take() {
            a.shutdown().await;
        }
        l.session.shutdown().await;
    }
    host_a.shutdown().await;
    publisher.shutdown().await;
    publisher_b.join().await;
    let mut r = result(spec, seed, &samples, &completions);
    r.cross = Some(cross);
    Ok((r, samples))
}

/// Every leecher's session (first, so each torrent is told all its
/// peers), and which of them contribute: drawn at random (peers added
/// earlier are dialled earlier: the first half would have a head start of
/// its own).
async fn start_crowd(
    setup: &Setup,
    spec: &RunSpec,
    rng: &mut StdRng,
) -> Result<(Vec<Session>, Vec<bool>)> {
    let n = match spec.model.arrivals {
        Arrivals::Closed { population } => population as usize,
        Arrivals::Open { .. } => 0,
    };
    let n_contributors = ((n as f64 * spec.contributors).round() as usize).min(n);
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        let mut config = setup.session_config(spec.model.peer_rate);
        config.cross_swarm_credit = spec.cross_swarm_credit;
        sessions.push(
            Session::start(config)
                .await
                .map_err(|e| anyhow!("cannot start a lab peer: {e}"))?,
        );
    }
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
    let mut is_contributor = vec![false; n];
    for &i in &order[..n_contributors] {
        is_contributor[i] = true;
    }
    Ok((sessions, is_contributor))
}

/// Torrent A: each contributor seeds it to the host at `contributor_rate`;
/// the host leeches it from them.
fn add_a(
    setup: &Setup,
    dir: &Path,
    meta_a: &riffle_protocol::metainfo::Metainfo,
    sessions: &[Session],
    is_contributor: &[bool],
    host: &Session,
) -> Result<(Vec<Option<TorrentHandle>>, TorrentHandle)> {
    let mut handles = Vec::with_capacity(sessions.len());
    let mut contributors = Vec::new();
    for (session, contributor) in sessions.iter().zip(is_contributor) {
        if !contributor {
            handles.push(None);
            continue;
        }
        contributors.push(session.listen_addr());
        let mut o = a_options(dir.join("a"), &[host.listen_addr()]);
        o.seed = true;
        o.require_complete = true;
        o.max_upload_rate = setup.bytes_per_sec(setup.spec.contributor_rate);
        handles.push(Some(
            session
                .add_torrent(meta_a.clone(), o)
                .map_err(|e| anyhow!("cannot add A to a contributor: {e}"))?,
        ));
    }
    let mut o = a_options(dir.join("host-a"), &contributors);
    o.seed = true;
    o.max_upload_rate = 1;
    let host_a = host
        .add_torrent(meta_a.clone(), o)
        .map_err(|e| anyhow!("cannot add A to the host: {e}"))?;
    Ok((handles, host_a))
}

/// Torrent B in every leecher's session, told the host and every other
/// leecher.
fn add_b(
    setup: &Setup,
    dir: &Path,
    sessions: Vec<Session>,
    a_handles: Vec<Option<TorrentHandle>>,
    is_contributor: &[bool],
    addrs: &[SocketAddr],
    rng: &mut StdRng,
) -> Result<Vec<Leecher>> {
    let mut leechers = Vec::with_capacity(sessions.len());
    for (i, (session, a)) in sessions.into_iter().zip(a_handles).enumerate() {
        let mut o = setup.peer_options(&dir.join(format!("peer-{i}")), false, rng.gen());
        o.use_trackers = false;
        o.peers.extend(
            addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| *a),
        );
        let b = session
            .add_torrent((*setup.meta).clone(), o)
            .map_err(|e| anyhow!("cannot add B to a lab peer: {e}"))?;
        leechers.push(Leecher {
            session,
            status: b.status(),
            b: Some(b),
            a,
            contributor: is_contributor[i],
            done_at: None,
        });
    }
    Ok(leechers)
}

/// Watch B until every leecher completed or the run's duration (sample
/// times shifted by the warm-up, which A had to itself).
async fn watch(
    mut leechers: Vec<Leecher>,
    publisher_status: &watch::Receiver<riffle_client::engine::TorrentStatus>,
    clock: Clock,
    spec: &RunSpec,
    tick: &mut impl FnMut(f64),
) -> Result<(Vec<Leecher>, Vec<Sample>)> {
    let statuses: Vec<_> = leechers.iter().map(|l| l.status.clone()).collect();
    let (done, samples) = super::crowd::watch_crowd(
        &statuses,
        publisher_status,
        clock,
        spec,
        spec.model.warmup,
        tick,
    )
    .await?;
    for (l, d) in leechers.iter_mut().zip(done) {
        l.done_at = d;
    }
    Ok((leechers, samples))
}

/// Torrent A's options in `dir`, told its `peers`, with an upload budget
/// of its own (outside the session's B upload).
fn a_options(dir: std::path::PathBuf, peers: &[SocketAddr]) -> TorrentOptions {
    let mut o = TorrentOptions::new(dir);
    o.peers = peers.to_vec();
    o.durable = false;
    o.use_trackers = false;
    o.honor_session_limits = false;
    o
}

/// The contributors' mean download time of B against the others'.
fn figures(leechers: &[Leecher]) -> CrossFigures {
    let class = |contributor: bool| {
        let times: Vec<f64> = leechers
            .iter()
            .filter(|l| l.contributor == contributor)
            .filter_map(|l| l.done_at)
            .collect();
        let of = leechers
            .iter()
            .filter(|l| l.contributor == contributor)
            .count() as u32;
        let mean = if times.is_empty() {
            f64::NAN
        } else {
            times.iter().sum::<f64>() / times.len() as f64
        };
        (mean, (times.len() as u32, of))
    };
    let (contributors_time, contributors_done) = class(true);
    let (others_time, others_done) = class(false);
    CrossFigures {
        contributors_time,
        others_time,
        contributors_done,
        others_done,
    }
}

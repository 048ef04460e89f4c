//! One replicate of one run: a tracker, a publisher and arriving peers,
//! each peer a full [`Session`] on 127.0.0.1, for the run's duration.
//!
//! The lab only starts, stops and observes sessions: arrivals follow a
//! Poisson process in model time (or keep a closed population), an
//! arrival that finds the swarm at its cap is lost (as in the model;
//! the lab makes that admission decision itself instead of starting a
//! session only to have the tracker refuse it), a peer leaves when its
//! download completes (or lingers for an exponential time), and every
//! model time unit the lab samples who is present, who is one piece short
//! and how fast each role uploads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::watch;
use riffle_policies::tracker::TrackerPolicy;
use riffle_protocol::BLOCK_SIZE;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::setup::Setup;
use crate::experiment::report::{RunResult, Sample};
use crate::experiment::{Arrivals, RunSpec};
use riffle_client::engine::{Session, TorrentStatus};
use riffle_tracker::{TrackerConfig, TrackerServer};

/// What a peer's task tells the lab.
enum PeerNews {
    /// The session runs; here are its snapshots.
    Started(u64, watch::Receiver<TorrentStatus>),
    /// Its download completed (verified) at this instant.
    Completed(u64, Instant),
    /// It left the swarm.
    Left(u64),
    /// It could not start or failed.
    Failed(u64, String),
}

/// A present peer as the lab sees it.
struct Present {
    /// When it arrived, in model time.
    arrived: f64,
    /// Its snapshots, once started.
    status: Option<watch::Receiver<TorrentStatus>>,
    /// Bytes it had uploaded at the previous sample.
    uploaded_seen: u64,
    /// It completed (and lingers, or is leaving).
    completed: bool,
    /// It completed and does not linger: its session is closing. It is no
    /// longer part of the swarm (the model removes it at once), so it
    /// neither holds a place under the cap nor counts in the population.
    leaving: bool,
}

/// Upload bytes already counted in the samples.
#[derive(Default)]
struct Counted {
    /// The publisher's upload counter at the last sample.
    publisher: u64,
    /// Bytes peers that left since the last sample uploaded after it (a
    /// peer gone from `present` still counts in the next sample's rate).
    departed: u64,
}

impl Counted {
    /// A peer left: keep what it uploaded since the last sample.
    fn departs(&mut self, p: Option<Present>) {
        if let Some(Present {
            status: Some(st),
            uploaded_seen,
            ..
        }) = p
        {
            self.departed += st.borrow().uploaded.saturating_sub(uploaded_seen);
        }
    }
}

/// The clock of a replicate: model time from wall time.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    pub(super) start: Instant,
    pub(super) unit: Duration,
}

impl Clock {
    pub(super) fn model(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() / self.unit.as_secs_f64()
    }

    fn wall(&self, model: f64) -> Instant {
        self.start + self.unit.mul_f64(model.max(0.0))
    }
}

/// Run one replicate of `spec` with random seed `seed` in `dir`; `tick` is
/// called with the model time after every sample.
pub async fn run(
    spec: &RunSpec,
    seed: u64,
    dir: &Path,
    mut tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    let model = spec.model;
    let unit = Duration::from_secs_f64(model.time_unit_ms / 1000.0);
    let time_scale = 1.0 / unit.as_secs_f64();
    let mut rng = StdRng::seed_from_u64(seed);
    let tracker = start_tracker(spec, unit, rng.gen(), None, None).await?;
    let meta = super::payload::make(
        &dir.join("publisher"),
        model.pieces,
        seed,
        &tracker.announce_url(),
    )?;
    let (stop_tx, stop) = watch::channel(false);
    let mut setup = Setup {
        spec: spec.clone(),
        meta: Arc::new(meta),
        unit,
        time_scale,
        dir: dir.to_path_buf(),
        stop,
        publisher: None,
    };

    // The publisher: a seed from the start, at rate U; its CPM measured at
    // the run's tau (one model unit is one protocol second).
    let mut config = setup.session_config(model.publisher_rate);
    let tau = spec.cpm_tau.first().copied();
    config.cpm_tau = tau.map(Duration::from_secs_f64);
    let publisher = Session::start(config)
        .await
        .map_err(|e| anyhow!("cannot start the publisher: {e}"))?;
    let options = setup.publisher_options(&dir.join("publisher"), rng.gen());
    let publisher_handle = publisher
        .add_torrent((*setup.meta).clone(), options)
        .map_err(|e| anyhow!("cannot add the lab torrent to the publisher: {e}"))?;
    let publisher_status = publisher_handle.status();
    wait_ready(&publisher_status).await?;
    setup.publisher = Some(publisher.listen_addr());
    let clock = Clock {
        start: Instant::now(),
        unit,
    };
    // The publisher's CPM estimate (the mean of its last closed samples)
    // as the run ends, before the peers leave.
    let mut cpm = None;
    let cpm_rx = publisher_status.clone();
    let out = drive(
        Arc::new(setup),
        stop_tx,
        &publisher_status,
        clock,
        rng,
        |t| {
            cpm = cpm_rx.borrow().cpm;
            tick(t);
        },
    )
    .await;
    publisher.shutdown().await;
    publisher_handle.join().await;
    tracker.shutdown().await;
    let Driven {
        samples,
        completions,
        ..
    } = out?;
    let mut r = result(spec, seed, &samples, &completions);
    r.cpm = tau.zip(cpm).into_iter().collect();
    Ok((r, samples))
}

/// The lab's tracker for a run of `spec` (one model unit lasting `unit`).
pub(super) async fn start_tracker(
    spec: &RunSpec,
    unit: Duration,
    seed: u64,
    locality: Option<riffle_policies::locality::Locality>,
    multitrack: Option<riffle_tracker::multitrack::MultiTrackConfig>,
) -> Result<TrackerServer> {
    let model = spec.model;
    let time_scale = 1.0 / unit.as_secs_f64();
    let tracker = TrackerServer::start(TrackerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        time_scale,
        seed,
        locality,
        multitrack,
        policy: TrackerPolicy {
            shield_newcomers: model.shield_newcomers.map(|s| unit.mul_f64(s)),
            max_peers: None,
            interval: unit.mul_f64(5.0),
            min_interval: unit,
            peer_expiry: unit.mul_f64(30.0),
            default_numwant: model.connections as usize,
            max_numwant: (model.connections as usize).max(200),
        },
    })
    .await
    .context("cannot start the lab's tracker")?;
    Ok(tracker)
}

/// One swarm's life around its publisher (`publisher_status`: its
/// torrent there), from model time 0 on `clock` to the run's duration:
/// arrivals (Poisson or closed), completions, departures and a sample
/// every unit; then every peer leaves (`stop_tx`).
pub(super) async fn drive(
    setup: Arc<Setup>,
    stop_tx: watch::Sender<bool>,
    publisher_status: &watch::Receiver<TorrentStatus>,
    clock: Clock,
    mut rng: StdRng,
    mut tick: impl FnMut(f64),
) -> Result<Driven> {
    let model = setup.spec.model;
    let (news_tx, mut news_rx) = mpsc::channel::<PeerNews>(1024);
    let mut present: HashMap<u64, Present> = HashMap::new();
    let mut next_id = 0u64;
    let mut samples = Vec::new();
    let mut completions: Vec<(f64, f64)> = Vec::new(); // (completed at, download time)
    let mut departures = 0u64;
    let mut counted = Counted::default();
    let mut failures: Vec<String> = Vec::new();
    let mut next_sample = 1.0f64;
    let mut next_arrival = match model.arrivals {
        Arrivals::Open { rate } => exp(&mut rng, rate),
        Arrivals::Closed { .. } => f64::INFINITY,
    };
    if let Arrivals::Closed { population } = model.arrivals {
        for _ in 0..population {
            arrive(&setup, &mut rng, &mut next_id, &mut present, 0.0, &news_tx);
        }
    }
    loop {
        let now_model = clock.model(Instant::now());
        if now_model >= model.duration {
            break;
        }
        let wake = next_arrival.min(next_sample).min(model.duration);
        tokio::select! {
            news = news_rx.recv() => {
                let Some(news) = news else { break };
                match news {
                    PeerNews::Started(id, rx) => {
                        if let Some(p) = present.get_mut(&id) {
                            p.status = Some(rx);
                        }
                    }
                    PeerNews::Completed(id, at) => {
                        if let Some(p) = present.get_mut(&id) {
                            if !p.completed {
                                p.completed = true;
                                p.leaving = model.linger <= 0.0;
                                departures += 1;
                                let t = clock.model(at);
                                completions.push((t, t - p.arrived));
                            }
                        }
                        if let Arrivals::Closed { .. } = model.arrivals {
                            let t = clock.model(Instant::now());
                            arrive(&setup, &mut rng, &mut next_id, &mut present, t, &news_tx);
                        }
                    }
                    PeerNews::Left(id) => {
                        counted.departs(present.remove(&id));
                    }
                    PeerNews::Failed(id, e) => {
                        counted.departs(present.remove(&id));
                        if failures.len() < 5 {
                            failures.push(e);
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(clock.wall(wake)) => {
                let t = clock.model(Instant::now());
                if t >= next_arrival {
                    let rate = model.arrival_rate().unwrap_or(0.0);
                    next_arrival = t + exp(&mut rng, rate);
                    let in_swarm = present.values().filter(|p| !p.leaving).count();
                    let full = model.cap.is_some_and(|c| in_swarm >= c as usize);
                    if !full {
                        arrive(&setup, &mut rng, &mut next_id, &mut present, t, &news_tx);
                    }
                }
                if t >= next_sample {
                    let elapsed = t - (next_sample - 1.0);
                    next_sample += 1.0;
                    let s = sample(&setup, t, elapsed, &mut present, departures,
                        publisher_status, &mut counted);
                    samples.push(s);
                    tick(t);
                }
            }
        }
    }
    drop(news_tx);
    let unfinished = present
        .values()
        .filter(|p| !p.completed)
        .map(|p| p.arrived)
        .collect();
    // Everyone leaves; the samples taken so far are the result.
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !present.is_empty() && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, news_rx.recv()).await {
            Ok(Some(PeerNews::Left(id))) | Ok(Some(PeerNews::Failed(id, _))) => {
                present.remove(&id);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if completions.is_empty() && !failures.is_empty() {
        return Err(anyhow!("lab peers failed: {}", failures.join("; ")));
    }
    Ok(Driven {
        samples,
        completions,
        unfinished,
    })
}

/// What [`drive`] saw of one swarm.
pub(super) struct Driven {
    /// A sample every unit.
    pub(super) samples: Vec<Sample>,
    /// (completed at, download time), model time.
    pub(super) completions: Vec<(f64, f64)>,
    /// When each peer still downloading at the end arrived.
    pub(super) unfinished: Vec<f64>,
}

/// An exponential draw with `rate` (infinite when the rate is 0).
fn exp(rng: &mut StdRng, rate: f64) -> f64 {
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -u.ln() / rate
}

/// Wait until the publisher has checked its data.
pub(super) async fn wait_ready(status: &watch::Receiver<TorrentStatus>) -> Result<()> {
    let mut rx = status.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let st = rx.borrow_and_update();
            if let riffle_client::engine::TorrentState::Failed(e) = &st.state {
                return Err(anyhow!("the publisher failed: {e}"));
            }
            if st.is_complete() {
                return Ok(());
            }
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return Err(anyhow!("the publisher did not become ready"));
        }
    }
}

/// A new peer arrives at model time `t`.
fn arrive(
    setup: &Arc<Setup>,
    rng: &mut StdRng,
    next_id: &mut u64,
    present: &mut HashMap<u64, Present>,
    t: f64,
    news: &mpsc::Sender<PeerNews>,
) {
    let id = *next_id;
    *next_id += 1;
    present.insert(
        id,
        Present {
            arrived: t,
            status: None,
            uploaded_seen: 0,
            completed: false,
            leaving: false,
        },
    );
    let linger = if setup.spec.model.linger > 0.0 {
        Some(setup.unit.mul_f64(exp(rng, 1.0 / setup.spec.model.linger)))
    } else {
        None
    };
    let random_seed = rng.gen();
    tokio::spawn(peer_life(
        setup.clone(),
        id,
        linger,
        random_seed,
        news.clone(),
    ));
}

/// One peer from arrival to departure.
async fn peer_life(
    setup: Arc<Setup>,
    id: u64,
    linger: Option<Duration>,
    random_seed: u64,
    news: mpsc::Sender<PeerNews>,
) {
    let spec = &setup.spec;
    let model = spec.model;
    let dir = setup.dir.join(format!("peer-{id}"));
    let mut config = setup.session_config(model.peer_rate);
    config.max_upload_rate = setup.bytes_per_sec(model.peer_rate);
    let session = match Session::start(config).await {
        Ok(s) => s,
        Err(e) => {
            let _ = news.send(PeerNews::Failed(id, e.to_string())).await;
            return;
        }
    };
    let options = setup.peer_options(&dir, linger.is_some(), random_seed);
    let handle = match session.add_torrent((*setup.meta).clone(), options) {
        Ok(h) => h,
        Err(e) => {
            session.shutdown().await;
            let _ = news.send(PeerNews::Failed(id, e.to_string())).await;
            return;
        }
    };
    let mut rx = handle.status();
    let mut stop = setup.stop.clone();
    if news.send(PeerNews::Started(id, rx.clone())).await.is_err() {
        session.shutdown().await;
        return;
    }
    // Until complete, or until the lab is over (the channel closes).
    let born = Instant::now();
    let mut first_peer = None;
    let mut first_piece = None;
    let mut ready = None;
    let completed = loop {
        let failed = {
            let st = rx.borrow_and_update();
            if ready.is_none() && st.state != riffle_client::engine::TorrentState::Checking {
                ready = Some(born.elapsed());
            }
            if first_peer.is_none() && !st.peers.is_empty() {
                first_peer = Some(born.elapsed());
            }
            if first_piece.is_none() && st.have_pieces > 0 {
                first_piece = Some(born.elapsed());
                tracing::debug!(id, have = ?st.have, "lab peer first piece");
            }
            if st.is_complete() && st.state != riffle_client::engine::TorrentState::Checking {
                break true;
            }
            match &st.state {
                riffle_client::engine::TorrentState::Failed(e) => Some(e.clone()),
                _ => None,
            }
        };
        if let Some(e) = failed {
            let _ = news.send(PeerNews::Failed(id, e)).await;
            session.shutdown().await;
            return;
        }
        if *stop.borrow() {
            break false;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { break false },
            _ = stop.changed() => {}
        }
    };
    tracing::debug!(
        id,
        ready_units = ready.map(|d| d.as_secs_f64() / setup.unit.as_secs_f64()),
        first_peer_units = first_peer.map(|d| d.as_secs_f64() / setup.unit.as_secs_f64()),
        first_piece_units = first_piece.map(|d| d.as_secs_f64() / setup.unit.as_secs_f64()),
        done_units = born.elapsed().as_secs_f64() / setup.unit.as_secs_f64(),
        completed,
        uploaded_blocks = rx.borrow().uploaded / u64::from(BLOCK_SIZE),
        turns = ?rx.borrow().turns,
        "lab peer timeline"
    );
    if completed {
        let _ = news.send(PeerNews::Completed(id, Instant::now())).await;
        if let Some(l) = linger {
            tokio::select! {
                _ = tokio::time::sleep(l) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    }
    session.shutdown().await;
    handle.join().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = news.send(PeerNews::Left(id)).await;
}

/// One row of the time series at model time `t`, `elapsed` time units
/// after the previous one.
fn sample(
    setup: &Setup,
    t: f64,
    elapsed: f64,
    present: &mut HashMap<u64, Present>,
    departures: u64,
    publisher: &watch::Receiver<TorrentStatus>,
    counted: &mut Counted,
) -> Sample {
    let block = f64::from(BLOCK_SIZE);
    let u = setup.spec.model.publisher_rate;
    let elapsed = elapsed.max(1e-9);
    let mut population = 0u32;
    let mut one_club = 0u32;
    let mut peer_bytes = 0u64;
    // Which piece the one club lacks (one club or several?), for the log.
    let mut club_lacks: std::collections::BTreeMap<u32, u32> = Default::default();
    // Connections and unchokes by pieces held, for the log.
    let mut by_have: std::collections::BTreeMap<u32, (u32, usize, usize)> = Default::default();
    for p in present.values_mut() {
        if !p.leaving {
            population += 1;
        }
        let Some(rx) = &p.status else { continue };
        let st = rx.borrow();
        let e = by_have.entry(st.have_pieces).or_default();
        e.0 += 1;
        e.1 += st.peers.len();
        e.2 += st.peers.iter().filter(|q| !q.peer_choking).count();
        if st.one_club && !p.completed {
            one_club += 1;
            if let Some(i) =
                (0..st.have.len()).find(|&i| !st.have.has(riffle_protocol::PieceIndex::new(i)))
            {
                *club_lacks.entry(i).or_default() += 1;
            }
        }
        peer_bytes += st.uploaded.saturating_sub(p.uploaded_seen);
        p.uploaded_seen = st.uploaded;
    }
    let (pub_now, pub_peers, pub_turns) = {
        let st = publisher.borrow();
        (st.uploaded, st.peers.len(), st.turns)
    };
    tracing::debug!(
        t,
        population,
        one_club,
        pub_peers,
        ?pub_turns,
        ?club_lacks,
        ?by_have,
        "lab sample"
    );
    let pub_bytes = pub_now.saturating_sub(counted.publisher);
    counted.publisher = pub_now;
    peer_bytes += std::mem::take(&mut counted.departed);
    Sample {
        t,
        population,
        one_club,
        departures,
        publisher_rate: pub_bytes as f64 / block / elapsed / u,
        peer_rate: peer_bytes as f64 / block / elapsed / u,
    }
}

/// The replicate's figures from its samples and completions.
pub(super) fn result(
    spec: &RunSpec,
    seed: u64,
    samples: &[Sample],
    completions: &[(f64, f64)],
) -> RunResult {
    let model = spec.model;
    let measured: Vec<&(f64, f64)> = completions
        .iter()
        .filter(|(at, _)| *at >= model.warmup)
        .collect();
    let window = model.measured_time().max(1e-9);
    let throughput_u = measured.len() as f64 / window / model.publisher_rate;
    let mean_download_time = if measured.is_empty() {
        f64::NAN
    } else {
        measured.iter().map(|(_, d)| d).sum::<f64>() / measured.len() as f64
    };
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t >= model.warmup).collect();
    let one_club_peak = after.iter().map(|s| s.one_club).max().unwrap_or(0);
    let population_mean = if after.is_empty() {
        0.0
    } else {
        after.iter().map(|s| f64::from(s.population)).sum::<f64>() / after.len() as f64
    };
    RunResult {
        cpm: Vec::new(),
        swarms: None,
        cross: None,
        locality: None,
        multitrack: None,
        name: spec.name.clone(),
        seed,
        policies: spec.policies(),
        throughput_u,
        mean_download_time,
        one_club_peak,
        population_mean,
        completions: measured.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::setup::POISSON_BURST_BLOCKS;
    use super::*;
    use riffle_client::engine::SessionConfig;

    #[test]
    fn a_lab_peer_dials_the_publisher_and_runs_the_run_policies() {
        let exp = crate::experiment::preset("admission").unwrap();
        let spec = exp
            .runs
            .iter()
            .find(|r| r.name == "cap-160-throttled")
            .unwrap()
            .clone();
        let dir = tempfile::tempdir().unwrap();
        let meta = super::super::payload::make(
            &dir.path().join("publisher"),
            spec.model.pieces,
            1,
            "http://127.0.0.1:1/announce",
        )
        .unwrap();
        let (_tx, stop) = watch::channel(false);
        let publisher: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let setup = Setup {
            spec,
            meta: Arc::new(meta),
            unit: Duration::from_millis(800),
            time_scale: 1.25,
            dir: dir.path().to_path_buf(),
            stop,
            publisher: Some(publisher),
        };
        let o = setup.peer_options(&dir.path().join("peer-0"), false, 9);
        // A swarm of 160 and 100 connections: the tracker's list alone
        // would often leave the publisher out.
        assert_eq!(o.peers, vec![publisher]);
        assert_eq!(o.max_peers, 100);
        assert!(o.peer_turnover);
        assert!(!o.seed);
        assert!(o.policies.poisson_turns);
        assert_eq!(o.policies.random_seed, Some(9));
        // mu' = 0.4 blocks per 800 ms unit.
        assert_eq!(
            o.policies.one_club_rate,
            (0.4 * f64::from(BLOCK_SIZE) / 0.8).round() as u64
        );
        // The turn clock sets the rate; the bucket must not run dry.
        assert_eq!(setup.burst_bytes(), POISSON_BURST_BLOCKS * BLOCK_SIZE);
        // A newcomer dials its whole list at once, not 8 at a time.
        assert_eq!(setup.session_config(4.0).half_open, 100);
        assert_eq!(SessionConfig::default().half_open, 8);
    }
}

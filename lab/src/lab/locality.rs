//! A locality replicate (papers 000 and 001, the locality preset): one
//! flash crowd of `population` hosts spread over `pids` networks, each a
//! loopback /24 (127.0.1.x, 127.0.2.x, ...: Linux routes all of 127/8 to
//! lo), the publisher in the first. Every host is a full [`Session`]
//! listening on its own address, so its dials and announces leave from
//! it and the tracker sees its network.
//!
//! Each link between two networks is one upload bucket (a
//! [`PeerClass`]) shared by every connection across it, both ways, at
//! `link_rate`; its byte count is the traffic that crossed. `peering`
//! decides how hosts find and prefer each other: at random, P4P's 70/30
//! (the tracker's lists, the hosts' dials, turnover and optimistic
//! unchokes) or local only. Hosts seed once complete until the run ends.
//!
//! Reported: the share of payload bytes that crossed networks, and each
//! network's mean download time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::engine::locality::PeerClass;
use riffle_client::engine::rate::Bucket;
use riffle_client::engine::{Session, TorrentHandle, TorrentStatus};
use riffle_client::watch;
use riffle_policies::locality::Locality;
use tokio::time::Instant;

use super::replicate::{result, start_tracker, wait_ready, Clock};
use super::setup::Setup;
use crate::experiment::networks::{self, lab_map, net};
use crate::experiment::report::{LocalityFigures, RunResult, Sample};
use crate::experiment::{Arrivals, RunSpec};

/// Host `h` (from 0) of network `pid` (from 0): 127.0.(pid+1).(h+2); .1
/// is left to the publisher (the file's limits keep both in range).
fn host_ip(pid: u32, h: u32) -> IpAddr {
    IpAddr::V4(networks::host_v4(pid, h).unwrap_or(Ipv4Addr::LOCALHOST))
}

/// The links between networks: one bucket and one byte count per pair,
/// seen from each side as a peer class.
struct Links {
    /// `classes[i]`: network i's classes, one per other network.
    classes: Vec<Vec<Arc<PeerClass>>>,
    /// Each pair's byte count, once.
    sent: Vec<Arc<AtomicU64>>,
}

impl Links {
    fn new(pids: u32, rate: u64, burst: u32) -> Links {
        let mut classes: Vec<Vec<Arc<PeerClass>>> = vec![Vec::new(); pids as usize];
        let mut sent = Vec::new();
        for i in 0..pids {
            for j in i + 1..pids {
                let up = Bucket::shared_with_burst(rate, burst);
                let count: Arc<AtomicU64> = Arc::default();
                sent.push(count.clone());
                for (from, to) in [(i, j), (j, i)] {
                    classes[from as usize].push(Arc::new(PeerClass {
                        name: format!("pid{from}-pid{to}"),
                        prefixes: vec![net(to)],
                        up: up.clone(),
                        sent: count.clone(),
                    }));
                }
            }
        }
        Links { classes, sent }
    }

    fn crossed(&self) -> u64 {
        self.sent
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }
}

/// One host of the crowd.
struct Host {
    session: Session,
    torrent: TorrentHandle,
    status: watch::Receiver<TorrentStatus>,
    pid: u32,
    done_at: Option<f64>,
}

/// Run one locality replicate of `spec` with `seed` in `dir`.
pub async fn run(
    spec: &RunSpec,
    seed: u64,
    dir: &Path,
    mut tick: impl FnMut(f64),
) -> Result<(RunResult, Vec<Sample>)> {
    let model = spec.model;
    let Arrivals::Closed { population } = model.arrivals else {
        return Err(anyhow!("locality runs need a closed population"));
    };
    let pids = spec.pids.max(1);
    let unit = std::time::Duration::from_secs_f64(model.time_unit_ms / 1000.0);
    let mut rng = StdRng::seed_from_u64(seed);
    let locality = match spec.peering.local_share() {
        Some(share) => Some(Locality::from_map(lab_map(pids)).with_local_share(share)?),
        None => None,
    };
    let tracker = start_tracker(spec, unit, rng.gen(), locality.clone(), None).await?;
    let meta = super::payload::make(
        &dir.join("publisher"),
        model.pieces,
        seed,
        &tracker.announce_url(),
    )?;
    let (stop_tx, stop) = watch::channel(false);
    let setup = Setup {
        spec: spec.clone(),
        meta: Arc::new(meta),
        unit,
        time_scale: 1.0 / unit.as_secs_f64(),
        dir: dir.to_path_buf(),
        stop,
        publisher: None,
    };
    let rate = spec.link_rate.map_or(0, |r| setup.bytes_per_sec(r));
    let links = Links::new(pids, rate, setup.burst_bytes());
    let locality = locality.map(Arc::new);
    let config = |blocks: f64, ip: IpAddr, pid: u32| {
        let mut c = setup.session_config(blocks);
        c.listen = SocketAddr::new(ip, 0);
        c.locality = locality.clone();
        c.peer_classes = links.classes[pid as usize].clone();
        c
    };
    let publisher_ip = IpAddr::V4(networks::PUBLISHER_IP);
    let publisher = Session::start(config(model.publisher_rate, publisher_ip, 0))
        .await
        .map_err(|e| anyhow!("cannot start the publisher: {e}"))?;
    let publisher_torrent = publisher
        .add_torrent(
            (*setup.meta).clone(),
            setup.publisher_options(&dir.join("publisher"), rng.gen()),
        )
        .map_err(|e| anyhow!("cannot add the torrent to the publisher: {e}"))?;
    let publisher_status = publisher_torrent.status();
    wait_ready(&publisher_status).await?;

    let hosts = start_hosts(&setup, population, pids, &config, &mut rng).await?;
    let clock = Clock {
        start: Instant::now(),
        unit,
    };
    let watched = watch_hosts(hosts, &publisher_status, clock, spec, &mut tick).await;
    let _ = stop_tx.send(true);
    let (hosts, samples) = watched?;
    let sent: u64 = publisher_status.borrow().uploaded
        + hosts
            .iter()
            .map(|h| h.status.borrow().uploaded)
            .sum::<u64>();
    let figures = figures(&hosts, pids, links.crossed(), sent);
    let completions: Vec<(f64, f64)> = hosts
        .iter()
        .filter_map(|h| h.done_at.map(|t| (t, t)))
        .collect();
    for h in hosts {
        h.torrent.shutdown().await;
        h.session.shutdown().await;
    }
    publisher.shutdown().await;
    publisher_torrent.join().await;
    tracker.shutdown().await;
    let mut r = result(spec, seed, &samples, &completions);
    r.locality = Some(figures);
    Ok((r, samples))
}

/// Every host of the crowd, joining in random order of networks, all at
/// once; `config(rate, ip, pid)` is a host's session.
async fn start_hosts(
    setup: &Setup,
    population: u32,
    pids: u32,
    config: &impl Fn(f64, IpAddr, u32) -> riffle_client::engine::SessionConfig,
    rng: &mut StdRng,
) -> Result<Vec<Host>> {
    let mut order: Vec<u32> = (0..population).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
    let mut hosts = Vec::with_capacity(order.len());
    for i in order {
        let (pid, h) = (i % pids, i / pids);
        let session = Session::start(config(setup.spec.model.peer_rate, host_ip(pid, h), pid))
            .await
            .map_err(|e| anyhow!("cannot start a lab host: {e}"))?;
        let options = setup.peer_options(&setup.dir.join(format!("host-{i}")), true, rng.gen());
        let torrent = session
            .add_torrent((*setup.meta).clone(), options)
            .map_err(|e| anyhow!("cannot add the torrent to a lab host: {e}"))?;
        hosts.push(Host {
            status: torrent.status(),
            session,
            torrent,
            pid,
            done_at: None,
        });
    }
    Ok(hosts)
}

/// Watch the crowd until every host completed or the run's duration.
async fn watch_hosts(
    mut hosts: Vec<Host>,
    publisher_status: &watch::Receiver<TorrentStatus>,
    clock: Clock,
    spec: &RunSpec,
    tick: &mut impl FnMut(f64),
) -> Result<(Vec<Host>, Vec<Sample>)> {
    let statuses: Vec<_> = hosts.iter().map(|h| h.status.clone()).collect();
    let (done, samples) =
        super::crowd::watch_crowd(&statuses, publisher_status, clock, spec, 0.0, tick).await?;
    for (h, d) in hosts.iter_mut().zip(done) {
        h.done_at = d;
    }
    Ok((hosts, samples))
}

/// The share that crossed and each network's times.
fn figures(hosts: &[Host], pids: u32, crossed: u64, sent: u64) -> LocalityFigures {
    let mut time_by_pid = Vec::new();
    let mut done_by_pid = Vec::new();
    for pid in 0..pids {
        let of: Vec<&Host> = hosts.iter().filter(|h| h.pid == pid).collect();
        let times: Vec<f64> = of.iter().filter_map(|h| h.done_at).collect();
        time_by_pid.push(if times.is_empty() {
            f64::NAN
        } else {
            times.iter().sum::<f64>() / times.len() as f64
        });
        done_by_pid.push((times.len() as u32, of.len() as u32));
    }
    LocalityFigures {
        inter_share: crossed as f64 / sent.max(1) as f64,
        time_by_pid,
        done_by_pid,
    }
}

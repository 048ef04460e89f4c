//! The live demo swarm (`riffle demo` on a terminal): a local swarm that
//! keeps going until it is told to stop.
//!
//! The user is the publisher: a slow seed (most-deprived seeding, rarest-first
//! suggestions) announcing to riffle's own tracker on 127.0.0.1. Leechers
//! arrive over time (Poisson), each a full session with one-club
//! throttling on (the paper's random peer / random useful block, so the
//! one club forms), stay a moment once complete, and leave. Within a
//! minute the screen shows the rarest pieces, peers in the one club, and
//! completions; policies switched from the TUI change the publisher.
//!
//! [`start`] brings up the tracker, the payload and the publisher's
//! session (the caller runs the publisher's torrent, in the TUI's
//! controller); [`arrivals`] then brings leechers until stopped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use riffle_client::engine::{Policies, Session, SessionConfig, TorrentOptions};
use riffle_policies::tracker::TrackerPolicy;
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::BLOCK_SIZE;
use riffle_tracker::{TrackerConfig, TrackerServer};

use crate::lab::payload;

/// Pieces in the demo's file (one 16 KiB block each).
const PIECES: u32 = 24;
/// The publisher's upload: 2 pieces a second.
const PUBLISHER_RATE: u64 = 2 * BLOCK_SIZE as u64;
/// A leecher's upload (mu): 4x the publisher.
const PEER_RATE: u64 = 4 * PUBLISHER_RATE;
/// A leecher's upload while one piece short (mu' = mu/8).
const ONE_CLUB_RATE: u64 = PEER_RATE / 8;
/// Mean time between arrivals.
const ARRIVAL_MEAN: Duration = Duration::from_millis(800);
/// Most leechers at once.
const CAP: usize = 16;
/// How long a complete leecher keeps seeding before it leaves.
const LINGER: Duration = Duration::from_millis(500);

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A session config for a demo peer uploading at `rate`.
fn session_config(rate: u64) -> SessionConfig {
    let mut c = SessionConfig {
        listen: local(),
        listen_fallback: false,
        max_upload_rate: rate,
        burst_bytes: BLOCK_SIZE,
        hash_workers: 1,
        stop_announce_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..SessionConfig::default()
    };
    c.announce.min_interval = Duration::from_secs(1);
    c
}

/// The swarm's fixed parts: its tracker, its torrent, and the publisher's
/// session with the options its torrent runs under.
pub struct LiveSwarm {
    /// riffle's own tracker on 127.0.0.1, which the leechers announce to.
    pub tracker: TrackerServer,
    /// The demo's torrent (its data already under `DIR/publisher`).
    pub meta: Metainfo,
    /// The publisher's session, capped at the publisher's rate.
    pub publisher: Session,
    /// The publisher's torrent options: seeding from `DIR/publisher`,
    /// most-deprived seeding, rarest-first suggestions.
    pub options: TorrentOptions,
}

/// Start the tracker, write the payload under `dir` and start the
/// publisher's session (the caller adds its torrent).
pub async fn start(dir: &Path) -> Result<LiveSwarm> {
    let tracker = TrackerServer::start(TrackerConfig {
        listen: local(),
        time_scale: 1.0,
        seed: rand::random(),
        locality: None,
        multitrack: None,
        policy: TrackerPolicy {
            shield_newcomers: None,
            max_peers: None,
            interval: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            peer_expiry: Duration::from_secs(30),
            default_numwant: 50,
            max_numwant: 200,
        },
    })
    .await
    .context("cannot start the demo's tracker")?;
    let meta = payload::make_named(
        &dir.join("publisher"),
        "riffle-demo.bin",
        PIECES,
        rand::random(),
        &tracker.announce_url(),
    )?;
    let session = Session::start(session_config(PUBLISHER_RATE))
        .await
        .map_err(|e| anyhow!("cannot start the publisher: {e}"))?;
    let mut options = TorrentOptions::new(dir.join("publisher"));
    options.seed = true;
    options.require_complete = true;
    options.durable = false;
    options.policies = Policies {
        seed_choker: "most-deprived".parse().map_err(|e| anyhow!("{e}"))?,
        picker: "rarest-first".parse().map_err(|e| anyhow!("{e}"))?,
        ..Policies::default()
    };
    Ok(LiveSwarm {
        tracker,
        meta,
        publisher: session,
        options,
    })
}

/// Leechers arrive under `dir` until `stop`; `report` hears the swarm's
/// counts after every arrival draw.
pub async fn arrivals(
    dir: PathBuf,
    meta: Arc<Metainfo>,
    stop: Arc<AtomicBool>,
    report: impl Fn(&Counts) + Send + 'static,
) {
    let mut rng = StdRng::from_entropy();
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut next = 0u64;
    let mut tasks = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let wait = ARRIVAL_MEAN.mul_f64(-u.ln()).min(Duration::from_secs(6));
        tokio::time::sleep(wait).await;
        let present = counts.lock().map(|c| c.present).unwrap_or(CAP);
        if present < CAP {
            next += 1;
            if let Ok(mut c) = counts.lock() {
                c.present += 1;
            }
            tasks.push(tokio::spawn(leecher(
                dir.join(format!("leecher-{next}")),
                meta.clone(),
                rng.gen(),
                stop.clone(),
                counts.clone(),
            )));
        }
        tasks.retain(|t| !t.is_finished());
        if let Ok(c) = counts.lock() {
            report(&c);
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
    }
}

/// What the arrivals task tells about the swarm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Leechers in the swarm now.
    pub present: usize,
    /// Of them, how many hold every piece but one.
    pub one_club: usize,
    /// Downloads completed since the start.
    pub completed: u64,
}

/// One leecher from arrival to departure.
async fn leecher(
    dir: PathBuf,
    meta: Arc<Metainfo>,
    seed: u64,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<Counts>>,
) {
    let leave = |counts: &Mutex<Counts>| {
        if let Ok(mut c) = counts.lock() {
            c.present = c.present.saturating_sub(1);
        }
    };
    let Ok(session) = Session::start(session_config(PEER_RATE)).await else {
        leave(&counts);
        return;
    };
    let mut options = TorrentOptions::new(&dir);
    options.seed = true;
    options.durable = false;
    options.policies = Policies {
        picker: "random-useful".parse().unwrap_or_default(),
        choker: "random".parse().unwrap_or_default(),
        one_club_rate: ONE_CLUB_RATE,
        random_seed: Some(seed),
        ..Policies::default()
    };
    let Ok(handle) = session.add_torrent((*meta).clone(), options) else {
        session.shutdown().await;
        leave(&counts);
        return;
    };
    let mut rx = handle.status();
    let mut in_club = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let complete = loop {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            break false;
        }
        let (club, done) = {
            let st = rx.borrow_and_update();
            (st.one_club, st.is_complete())
        };
        if club != in_club {
            in_club = club;
            if let Ok(mut c) = counts.lock() {
                if club {
                    c.one_club += 1;
                } else {
                    c.one_club = c.one_club.saturating_sub(1);
                }
            }
        }
        if done {
            break true;
        }
    };
    if in_club {
        if let Ok(mut c) = counts.lock() {
            c.one_club = c.one_club.saturating_sub(1);
        }
    }
    if complete {
        if let Ok(mut c) = counts.lock() {
            c.completed += 1;
        }
        let mut waited = Duration::ZERO;
        while waited < LINGER && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            waited += Duration::from_millis(200);
        }
    }
    session.shutdown().await;
    handle.join().await;
    let _ = std::fs::remove_dir_all(&dir);
    leave(&counts);
}

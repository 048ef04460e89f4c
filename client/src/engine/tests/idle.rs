//! An idle torrent costs nothing but must wake at once: a seed with no
//! peer parks (no running state, no tick), and a peer that connects
//! meanwhile is served at the seed's full rate within a second.

use std::time::{Duration, Instant};

use super::super::{Session, SessionConfig, TorrentOptions, TorrentState};
use super::controls::wait_for;
use super::{local, payload, same_tree, wait_complete};

/// Wait until `n` torrents of `s` are parked.
pub(super) async fn wait_parked(s: &Session, n: usize, what: &str) {
    let t0 = Instant::now();
    while s.load_counts().parked != n {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{what}: {} of {n} torrents parked",
            s.load_counts().parked
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Options that seed the complete data in `dir`.
fn seeding(dir: impl Into<std::path::PathBuf>) -> TorrentOptions {
    let mut o = TorrentOptions::new(dir);
    o.seed = true;
    o.require_complete = true;
    o
}

/// A session whose idle torrents park after `after`.
pub(super) fn parking(after: Duration) -> SessionConfig {
    SessionConfig {
        park_after: Some(after),
        ..local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_seed_serves_a_new_peer_at_once_and_at_full_rate() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let size = 3_000_000u64;
    let rate = 3_000_000u64;
    let meta = payload(&seed_dir, "idle", &[size], 24);
    let seeder = Session::start(SessionConfig {
        max_upload_rate: rate,
        ..parking(Duration::from_millis(300))
    })
    .await
    .unwrap();
    let sh = seeder
        .add_torrent(meta.clone(), seeding(&seed_dir))
        .unwrap();
    wait_for(&sh, Duration::from_secs(10), "seeding", |s| {
        s.state == TorrentState::Seeding
    })
    .await;
    // Nothing to do: the seed parks and waits for a peer.
    wait_parked(&seeder, 1, "an idle seed").await;
    assert!(sh.status().borrow().peers.is_empty());
    assert_eq!(sh.status().borrow().state, TorrentState::Seeding);

    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![seeder.listen_addr()];
    let t0 = Instant::now();
    let h = l.add_torrent(meta.clone(), o).unwrap();
    wait_for(&h, Duration::from_secs(5), "a first piece", |s| {
        s.have_pieces >= 1
    })
    .await;
    let first = t0.elapsed();
    assert!(
        first < Duration::from_secs(1),
        "the parked seed took {first:?} to serve a first piece"
    );
    assert_eq!(seeder.load_counts().parked, 0, "the seed woke");
    wait_complete(&h, Duration::from_secs(20)).await;
    let took = t0.elapsed().as_secs_f64();
    // The seed's limit would move it in size / rate = 1 s.
    let achieved = size as f64 / took;
    assert!(
        achieved >= 0.5 * rate as f64,
        "{achieved:.0} B/s against a limit of {rate} B/s ({took:.2} s)"
    );
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    l.shutdown().await;
    // Alone again, it parks again; what it uploaded is kept through a
    // park and a wake (a command wakes it).
    wait_parked(&seeder, 1, "the seed after its peer left").await;
    sh.control().reannounce().await;
    wait_parked(&seeder, 0, "a command wakes it").await;
    // Parked again only after a tick of the woken torrent has published
    // its status from its (restored) counters.
    wait_parked(&seeder, 1, "the seed after the command").await;
    let st = sh.status().borrow().clone();
    assert!(st.uploaded >= size, "uploaded {} of {size}", st.uploaded);
    assert_eq!(st.state, TorrentState::Seeding);
    // A parked torrent stops from its record.
    let t0 = Instant::now();
    sh.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(seeder.load_counts().parked, 0);
    seeder.shutdown().await;
}

/// A paused torrent parks too, and resumes from its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_torrent_parks_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "paused", &[400_000], 31);
    let s = Session::start(parking(Duration::from_millis(200)))
        .await
        .unwrap();
    let h = s.add_torrent(meta.clone(), seeding(&seed_dir)).unwrap();
    wait_for(&h, Duration::from_secs(10), "seeding", |st| {
        st.state == TorrentState::Seeding
    })
    .await;
    h.pause().await;
    wait_for(&h, Duration::from_secs(5), "paused", |st| {
        st.state == TorrentState::Paused
    })
    .await;
    wait_parked(&s, 1, "a paused torrent").await;
    assert_eq!(h.status().borrow().state, TorrentState::Paused);
    h.resume().await;
    wait_for(&h, Duration::from_secs(5), "seeding again", |st| {
        st.state == TorrentState::Seeding && st.have_pieces == st.piece_count
    })
    .await;
    // It serves a peer from the rebuilt state.
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![s.listen_addr()];
    let lh = l.add_torrent(meta.clone(), o).unwrap();
    wait_complete(&lh, Duration::from_secs(20)).await;
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    l.shutdown().await;
    s.shutdown().await;
}

/// Many idle seeds on one dead tracker: one control task each and nothing
/// more (no announcer task, no task per tier); their tiers wait in the
/// announce service's one queue, and a status that does not change is not
/// published again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_seeds_keep_one_task_each_and_their_tiers_in_one_queue() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens on port 9 of 127.0.0.1: every announce is refused.
    let dead: &[&[&str]] = &[
        &["http://127.0.0.1:9/announce"],
        &["udp://127.0.0.1:9/announce"],
    ];
    let s = super::super::Session::start(local()).await.unwrap();
    let before = s.load_counts();
    let n = 40;
    let mut handles = Vec::new();
    for i in 0..n {
        let seed_dir = dir.path().join(format!("s{i}"));
        let meta = super::payload_with_trackers(&seed_dir, "idle", &[70_000], 100 + i, dead);
        let mut o = TorrentOptions::new(&seed_dir);
        o.seed = true;
        o.require_complete = true;
        handles.push(s.add_torrent(meta, o).unwrap());
    }
    for h in &handles {
        wait_for(h, Duration::from_secs(10), "seeding", |st| {
            st.state == TorrentState::Seeding && st.tracker_stats.len() == 2
        })
        .await;
    }
    // The refused announces land and back off.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = s.load_counts();
    assert_eq!(c.torrents, n as usize);
    assert!(
        c.tasks <= before.tasks + n as usize + 2,
        "{} tasks for {n} idle torrents (before: {})",
        c.tasks,
        before.tasks
    );
    assert_eq!(c.announces_waiting, 2 * n as usize, "two tiers each");
    assert_eq!(c.announces_in_flight, 0);
    // An idle seed publishes nothing new.
    let mut rx = handles[0].status();
    rx.mark_unchanged();
    let quiet = tokio::time::timeout(Duration::from_secs(2), rx.changed()).await;
    assert!(
        quiet.is_err(),
        "an idle torrent's status changed: {:?}",
        rx.borrow().state
    );
    s.shutdown().await;
}

/// Idle seeds on a dead tracker park: their tasks stay (waiting, no
/// tick), their tiers stay in the announce service's queue, their status
/// stays what it was, and the session shuts them down from their records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_seeds_keep_their_announces_and_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let dead: &[&[&str]] = &[&["udp://127.0.0.1:9/announce"]];
    let s = Session::start(parking(Duration::from_millis(200)))
        .await
        .unwrap();
    let n = 20;
    let metas: Vec<_> = (0..n)
        .map(|i| {
            let seed_dir = dir.path().join(format!("s{i}"));
            super::payload_with_trackers(&seed_dir, "idle", &[50_000], 300 + i, dead)
        })
        .collect();
    let add_all = |s: &Session| {
        metas
            .iter()
            .enumerate()
            .map(|(i, meta)| {
                let o = seeding(dir.path().join(format!("s{i}")));
                s.add_torrent(meta.clone(), o).unwrap()
            })
            .collect::<Vec<_>>()
    };
    let handles = add_all(&s);
    wait_parked(&s, n as usize, "idle seeds").await;
    let c = s.load_counts();
    assert_eq!(c.torrents, n as usize);
    assert_eq!(c.announces_waiting + c.announces_in_flight, n as usize);
    for h in &handles {
        let st = h.status().borrow().clone();
        assert_eq!(st.state, TorrentState::Seeding);
        assert_eq!(st.have_pieces, st.piece_count);
        assert!(!h.is_finished());
    }
    let t0 = Instant::now();
    s.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    for h in &handles {
        assert_eq!(h.status().borrow().state, TorrentState::Stopped);
    }
    // Started again from their resume records, they park at once (long
    // before `park_after`): no running state is ever built. Their status
    // is a seed's, trackers included.
    let s = Session::start(parking(Duration::from_secs(600)))
        .await
        .unwrap();
    let handles = add_all(&s);
    for h in &handles {
        wait_for(h, Duration::from_secs(10), "a seed's status", |st| {
            st.state == TorrentState::Seeding
                && st.trusted_pieces == st.piece_count
                && st.tracker_stats.len() == 1
                && st.tracker_stats[0].last_error.is_some()
                && st.pieces.len() == st.piece_count as usize
        })
        .await;
    }
    wait_parked(&s, n as usize, "seeds started from their records").await;
    s.shutdown().await;
}

//! An idle torrent costs nothing but must wake at once: a seed with no
//! peer sleeps a minute between ticks (`SEED_IDLE_TICK`), and a peer that
//! connects meanwhile is served at the seed's full rate within a second.

use std::time::{Duration, Instant};

use super::super::{TorrentOptions, TorrentState};
use super::controls::wait_for;
use super::{local, payload, same_tree, start_seeder, wait_complete};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_seed_serves_a_new_peer_at_once_and_at_full_rate() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let size = 3_000_000u64;
    let rate = 3_000_000u64;
    let meta = payload(&seed_dir, "idle", &[size], 24);
    let (seeder, sh) = start_seeder(&seed_dir, &meta, rate, |_| {}).await;
    wait_for(&sh, Duration::from_secs(10), "seeding", |s| {
        s.state == TorrentState::Seeding
    })
    .await;
    // Past its last busy tick: the seed now sleeps until a peer comes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sh.status().borrow().peers.is_empty());

    let l = super::super::Session::start(local()).await.unwrap();
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
        "the idle seed took {first:?} to serve a first piece"
    );
    wait_complete(&h, Duration::from_secs(20)).await;
    let took = t0.elapsed().as_secs_f64();
    // The seed's limit would move it in size / rate = 1 s; a seed that
    // woke only at its next tick would take a minute.
    let achieved = size as f64 / took;
    assert!(
        achieved >= 0.5 * rate as f64,
        "{achieved:.0} B/s against a limit of {rate} B/s ({took:.2} s)"
    );
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    l.shutdown().await;
    seeder.shutdown().await;
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

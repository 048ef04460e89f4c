//! The run-time controls the TUI drives: pause/resume, switching policies,
//! rate limits, deleting a removed torrent's data, the piece map.

use std::path::Path;
use std::time::{Duration, Instant};

use riffle_policies::catalog::{ChokerKind, PickerKind, SeedChokerKind};
use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::PieceIndex;

use super::super::{
    delete_torrent_data, resume_path, PolicyUpdate, Session, SessionConfig, TorrentHandle,
    TorrentOptions, TorrentState, TorrentStatus,
};
use super::{local, payload, same_tree, wait_complete, PIECE};

/// Wait until `cond` holds for the torrent's status (or fail after
/// `limit`), and return that status.
pub(super) async fn wait_for(
    h: &TorrentHandle,
    limit: Duration,
    what: &str,
    cond: impl Fn(&TorrentStatus) -> bool,
) -> TorrentStatus {
    let start = Instant::now();
    let mut rx = h.status();
    loop {
        {
            let st = rx.borrow();
            assert!(
                !matches!(st.state, TorrentState::Failed(_)),
                "torrent failed: {:?}",
                st.state
            );
            if cond(&st) {
                return st.clone();
            }
        }
        assert!(start.elapsed() < limit, "not {what} after {limit:?}");
        let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
    }
}

/// A seeding torrent of `meta` whose data is in `dir`.
fn seed_options(dir: &Path) -> TorrentOptions {
    let mut o = TorrentOptions::new(dir);
    o.seed = true;
    o.require_complete = true;
    o
}

/// Overwrite piece `p` of a single-file torrent's data with garbage, so it
/// fails its check.
fn damage_piece(dir: &Path, meta: &Metainfo, p: u32) {
    use std::io::{Seek, SeekFrom, Write};
    let rel: std::path::PathBuf = meta.info.file_path(0).iter().collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(rel))
        .unwrap();
    f.seek(SeekFrom::Start(u64::from(p) * u64::from(PIECE)))
        .unwrap();
    f.write_all(&[0xA5; 100]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_transfer_and_resume_completes() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "t", &[1_500_000], 11);
    let seeder = Session::start(SessionConfig {
        max_upload_rate: 600_000,
        ..local()
    })
    .await
    .unwrap();
    let l = Session::start(local()).await.unwrap();
    // The seeder dials the leecher too: a paused torrent must refuse it.
    let mut so = seed_options(&seed_dir);
    so.peers = vec![l.listen_addr()];
    let sh = seeder.add_torrent(meta.clone(), so).unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![seeder.listen_addr()];
    let h = l.add_torrent(meta.clone(), o).unwrap();
    wait_for(&h, Duration::from_secs(20), "started", |s| {
        s.have_pieces >= 3
    })
    .await;

    h.pause().await;
    let st = wait_for(&h, Duration::from_secs(10), "paused", |s| {
        s.state == TorrentState::Paused && s.peers.is_empty()
    })
    .await;
    assert!(!st.is_complete(), "finished before the pause could show");
    // Blocks already on the wire when the pause came may still land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = h.status().borrow().clone();
    let seeder_before = sh.status().borrow().uploaded;
    // The seeder re-dials the leecher meanwhile (backoff 1 s, 2 s).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after = h.status().borrow().clone();
    assert_eq!(after.state, TorrentState::Paused);
    assert!(
        after.peers.is_empty(),
        "paused with peers: {:?}",
        after.peers
    );
    assert_eq!(
        after.downloaded, before.downloaded,
        "bytes moved while paused"
    );
    assert_eq!(after.have_pieces, before.have_pieces);
    assert_eq!(sh.status().borrow().uploaded, seeder_before);
    // What was verified stays.
    assert!(after.have_pieces >= 3);

    h.resume().await;
    wait_complete(&h, Duration::from_secs(30)).await;
    assert_ne!(h.status().borrow().state, TorrentState::Paused);
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    l.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_switch_in_a_running_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "t", &[1_200_000, 300_000], 12);
    let seeder = Session::start(SessionConfig {
        max_upload_rate: 800_000,
        ..local()
    })
    .await
    .unwrap();
    let sh = seeder
        .add_torrent(meta.clone(), seed_options(&seed_dir))
        .unwrap();
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![seeder.listen_addr()];
    let h = l.add_torrent(meta.clone(), o).unwrap();
    wait_for(&h, Duration::from_secs(20), "started", |s| {
        s.have_pieces >= 2
    })
    .await;

    // Mid-download: the picker is rebuilt with requests in flight and
    // blocks held; the download must still complete intact.
    h.set_policies(PolicyUpdate {
        picker: Some(PickerKind::Sequential),
        choker: Some(ChokerKind::Random),
        ..PolicyUpdate::default()
    })
    .await;
    sh.set_policies(PolicyUpdate {
        seed_choker: Some(SeedChokerKind::MostDeprived),
        ..PolicyUpdate::default()
    })
    .await;
    let st = wait_for(&sh, Duration::from_secs(5), "switched", |s| {
        s.policy_values
            .as_ref()
            .is_some_and(|p| p.seed_choker == SeedChokerKind::MostDeprived)
    })
    .await;
    assert!(st.policies.contains("most-deprived"), "{}", st.policies);
    let st = wait_for(&h, Duration::from_secs(5), "switched", |s| {
        s.policy_values
            .as_ref()
            .is_some_and(|p| p.picker == PickerKind::Sequential && p.choker == ChokerKind::Random)
    })
    .await;
    assert!(
        st.policies.starts_with("sequential / random"),
        "{}",
        st.policies
    );
    wait_complete(&h, Duration::from_secs(30)).await;
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    assert_eq!(h.status().borrow().hash_failures, 0);
    l.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_club_rate_and_rate_limits_change_the_buckets_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let meta = payload(dir.path(), "t", &[6 * u64::from(PIECE) + 1000], 13);
    let n = meta.info.piece_count();
    damage_piece(dir.path(), &meta, n - 1);
    let s = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path());
    o.max_upload_rate = 400_000;
    let h = s.add_torrent(meta.clone(), o).unwrap();
    // In the club (published by the running task after the check).
    let st = wait_for(&h, Duration::from_secs(10), "checked", |s| {
        s.state == TorrentState::Downloading && s.one_club
    })
    .await;
    assert_eq!(st.have_pieces, n - 1);
    assert!(!st.throttled);
    assert_eq!(st.upload_limit, 400_000);

    h.set_policies(PolicyUpdate {
        one_club_rate: Some(50_000),
        ..PolicyUpdate::default()
    })
    .await;
    let st = wait_for(&h, Duration::from_secs(5), "throttled", |s| s.throttled).await;
    assert_eq!(st.upload_limit, 50_000);
    assert!(st.policies.contains("one-club"), "{}", st.policies);

    // New limits: mu changes, but the bucket stays at mu' while throttled.
    h.set_rate_limits(300_000, 700_000).await;
    let st = wait_for(&h, Duration::from_secs(5), "limited", |s| {
        s.download_limit == 700_000
    })
    .await;
    assert_eq!(st.upload_limit, 50_000);
    assert!(st.throttled);

    // Throttling off: back to the new mu.
    h.set_policies(PolicyUpdate {
        one_club_rate: Some(0),
        ..PolicyUpdate::default()
    })
    .await;
    let st = wait_for(&h, Duration::from_secs(5), "unthrottled", |s| !s.throttled).await;
    assert_eq!(st.upload_limit, 300_000);
    h.set_rate_limits(0, 0).await;
    let st = wait_for(&h, Duration::from_secs(5), "unlimited", |s| {
        s.upload_limit == 0 && s.download_limit == 0
    })
    .await;
    assert!(!st.policies.contains("one-club"));

    s.set_rate_limits(123_000, 456_000);
    assert_eq!(s.rate_limits(), (123_000, 456_000));
    assert_eq!(s.upload_bucket().rate(), 123_000);
    assert_eq!(s.download_bucket().rate(), 456_000);
    s.set_rate_limits(0, 0);
    assert_eq!(s.rate_limits(), (0, 0));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_data_removes_exactly_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("save");
    // Files under t/d0 and t/d1.
    let meta = payload(&save, "t", &[100_000, 70_000, 5_000], 14);
    let s = Session::start(local()).await.unwrap();
    let h = s.add_torrent(meta.clone(), seed_options(&save)).unwrap();
    wait_complete(&h, Duration::from_secs(10)).await;
    h.shutdown().await;
    s.shutdown().await;
    let record = resume_path(&save, &meta.info_hash);
    assert!(record.exists(), "no resume record to delete");
    let foreign = save.join("t").join("d0").join("mine.txt");
    std::fs::write(&foreign, b"not the torrent's").unwrap();
    let beside = save.join("other.bin");
    std::fs::write(&beside, b"neither").unwrap();

    let deleted = delete_torrent_data(&meta, &save).unwrap();
    assert!(
        !save.join(".riffle").exists(),
        "the emptied resume directory is left"
    );
    assert_eq!(deleted.files.len(), meta.info.files.len());
    for i in 0..meta.info.files.len() {
        let rel: std::path::PathBuf = meta.info.file_path(i).iter().collect();
        assert!(!save.join(rel).exists(), "file {i} left behind");
    }
    assert!(!record.exists(), "resume record left behind");
    assert_eq!(std::fs::read(&foreign).unwrap(), b"not the torrent's");
    assert_eq!(std::fs::read(&beside).unwrap(), b"neither");
    // d1 held only the torrent's file; d0 holds the foreign one.
    assert!(!save.join("t").join("d1").exists());
    assert!(save.join("t").join("d0").is_dir());
    assert!(save.is_dir());
    // Deleting again is harmless.
    let again = delete_torrent_data(&meta, &save).unwrap();
    assert!(again.files.is_empty());
    assert!(foreign.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_with_data_stops_the_torrent_and_deletes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let meta = payload(dir.path(), "t", &[150_000, 20_000], 16);
    let foreign = dir.path().join("t").join("d1").join("keep.txt");
    std::fs::write(&foreign, b"keep").unwrap();
    let s = Session::start(local()).await.unwrap();
    let h = s
        .add_torrent(meta.clone(), seed_options(dir.path()))
        .unwrap();
    wait_complete(&h, Duration::from_secs(10)).await;
    let rx = h.status();
    let deleted = h.remove(true).await.unwrap().unwrap();
    assert_eq!(rx.borrow().state, TorrentState::Stopped);
    assert_eq!(deleted.files.len(), 2);
    assert!(!dir.path().join("t").join("d0").exists());
    assert_eq!(std::fs::read(&foreign).unwrap(), b"keep");
    // Removed: it can be added again.
    let h = s
        .add_torrent(meta.clone(), TorrentOptions::new(dir.path()))
        .unwrap();
    assert!(h.remove(false).await.unwrap().is_none());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piece_map_shows_availability_of_connected_peers() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let part_dir = dir.path().join("part");
    let len = 8 * u64::from(PIECE);
    let meta = payload(&seed_dir, "t", &[len], 15);
    // The same data, missing pieces 1, 4 and 6.
    payload(&part_dir, "t", &[len], 15);
    for p in [1, 4, 6] {
        damage_piece(&part_dir, &meta, p);
    }
    let seeder = Session::start(local()).await.unwrap();
    let sh = seeder
        .add_torrent(meta.clone(), seed_options(&seed_dir))
        .unwrap();
    let partial = Session::start(local()).await.unwrap();
    let mut po = TorrentOptions::new(&part_dir);
    po.seed = true;
    let ph = partial.add_torrent(meta.clone(), po).unwrap();
    // The observer downloads at a trickle, so it stays incomplete with
    // requests in flight.
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![seeder.listen_addr(), partial.listen_addr()];
    o.max_download_rate = 2_000;
    o.max_upload_rate = 2_000;
    let h = l.add_torrent(meta.clone(), o).unwrap();
    let n = meta.info.piece_count();
    let st = wait_for(&h, Duration::from_secs(20), "matching", |s| {
        let sp = sh.status().borrow().have.clone();
        let pp = ph.status().borrow().have.clone();
        s.peers.len() == 2
            && s.pieces.len() == n as usize
            && (0..n).all(|i| {
                let p = PieceIndex::new(i);
                let want = u32::from(sp.has(p)) + u32::from(pp.has(p));
                s.pieces[i as usize].availability == want
            })
    })
    .await;
    // Both counts occur: the partial peer lacks some pieces.
    assert!(st.pieces.iter().any(|c| c.availability == 1));
    assert!(st.pieces.iter().any(|c| c.availability == 2));
    wait_for(&h, Duration::from_secs(10), "downloading a piece", |s| {
        s.pieces
            .iter()
            .enumerate()
            .any(|(i, c)| c.downloading && !s.have.has(PieceIndex::new(i as u32)))
    })
    .await;
    l.shutdown().await;
    partial.shutdown().await;
    seeder.shutdown().await;
}

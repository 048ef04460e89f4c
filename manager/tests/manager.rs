//! The manager over real sessions on 127.0.0.1: a seeding manager and a
//! downloading one, restarts from the state directory, the queue, seed
//! limits, moving and removing data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riffle_client::engine::{SessionConfig, TorrentOptions};
use riffle_manager::{
    Activity, AddRequest, Added, Detail, LimitMode, Manager, ManagerConfig, QueueMove, Select,
    Settings, SettingsChange, TorrentChange, TorrentInfo, TorrentRef,
};
use riffle_protocol::metainfo::{TorrentBuilder, Version};
use riffle_storage::Source;

/// A folder of two random files under `dir/name` and its .torrent bytes.
fn payload(dir: &Path, name: &str, size: usize) -> Vec<u8> {
    payload_as(dir, name, size, false)
}

/// [`payload`], as a v1 or a hybrid torrent (whose pad files follow each
/// file: a.bin, pad, sub/b.bin, pad).
fn payload_as(dir: &Path, name: &str, size: usize, hybrid: bool) -> Vec<u8> {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let data: Vec<u8> = (0..size)
        .map(|i| (i * 7 + name.len()) as u8 ^ (i >> 9) as u8)
        .collect();
    std::fs::write(root.join("a.bin"), &data[..size / 3]).unwrap();
    std::fs::write(root.join("sub/b.bin"), &data[size / 3..]).unwrap();
    let source = Source::scan(&root, None).unwrap();
    let hashes = source.hash(32 * 1024, true, hybrid, 2, &|_| {}).unwrap();
    let mut b = TorrentBuilder::new(name.into(), 32 * 1024);
    for f in &source.files {
        b.file(f.components.clone(), f.length);
    }
    if hybrid {
        b.v2(Version::Hybrid, hashes.v2);
    }
    b.piece_hashes(hashes.sha1);
    b.build().unwrap().0
}

fn config(state: &Path, download: &Path, peers: Vec<SocketAddr>) -> ManagerConfig {
    let mut torrent_defaults = TorrentOptions::new(download);
    torrent_defaults.peers = peers;
    ManagerConfig {
        seed_priority: Default::default(),
        scrape_every: riffle_manager::DEFAULT_SCRAPE_EVERY,
        state_dir: state.to_owned(),
        session: SessionConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen_fallback: false,
            ..SessionConfig::default()
        },
        defaults: Settings {
            download_dir: download.to_owned(),
            ..Settings::default()
        },
        overrides: SettingsChange::default(),
        torrent_defaults,
    }
}

async fn one(m: &Manager, id: u32) -> TorrentInfo {
    let (list, _) = m
        .torrents(Select::Some(vec![TorrentRef::Id(id)]), Detail::all())
        .await
        .unwrap();
    list.into_iter().next().expect("the torrent is there")
}

async fn until(
    m: &Manager,
    id: u32,
    what: &str,
    pred: impl Fn(&TorrentInfo) -> bool,
) -> TorrentInfo {
    let start = Instant::now();
    loop {
        let t = one(m, id).await;
        if pred(&t) {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {:?} {:?} {}",
            t.activity,
            t.error,
            t.have_valid
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn added_id(a: Added) -> u32 {
    match a {
        Added::New(b) => b.id,
        Added::Duplicate(b) => panic!("unexpected duplicate {}", b.id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_stops_and_comes_back_after_a_restart_without_rehashing() {
    let dir = tempfile::tempdir().unwrap();
    let seed_data = dir.path().join("seed-data");
    let bytes = payload(&seed_data, "album", 600_000);
    let seeder = Manager::start(config(&dir.path().join("seed-state"), &seed_data, vec![]))
        .await
        .unwrap();
    let sid = added_id(
        seeder
            .add(AddRequest {
                metainfo: bytes.clone(),
                ..AddRequest::default()
            })
            .await
            .unwrap(),
    );
    until(&seeder, sid, "the seeder to seed", |t| {
        t.activity == Activity::Seeding
    })
    .await;

    let state = dir.path().join("state");
    let download = dir.path().join("dl");
    let cfg = config(&state, &download, vec![seeder.listen_addr()]);
    let leech = Manager::start(cfg.clone()).await.unwrap();
    let id = added_id(
        leech
            .add(AddRequest {
                metainfo: bytes.clone(),
                labels: vec!["music".into()],
                ..AddRequest::default()
            })
            .await
            .unwrap(),
    );
    assert!(matches!(
        leech
            .add(AddRequest {
                metainfo: bytes.clone(),
                ..AddRequest::default()
            })
            .await
            .unwrap(),
        Added::Duplicate(_)
    ));
    let t = until(&leech, id, "the download", |t| {
        t.activity == Activity::Seeding && t.record.done_date > 0
    })
    .await;
    assert_eq!(t.left_until_done, 0);
    assert!(t.files.iter().all(|f| f.bytes_completed == f.length));
    assert_eq!(t.files.len(), 2);
    assert_eq!(
        std::fs::read(download.join("album/sub/b.bin")).unwrap(),
        std::fs::read(seed_data.join("album/sub/b.bin")).unwrap()
    );
    // Counters arrive within a tick.
    let t = until(&leech, id, "the counters", |t| {
        t.record.downloaded_ever >= 600_000
    })
    .await;
    assert_eq!(t.record.labels, ["music"]);

    leech.stop_torrents(Select::All).await.unwrap();
    until(&leech, id, "the stop", |t| t.activity == Activity::Stopped).await;
    leech.shutdown().await;

    // Back from the state directory: same id, stopped, counters kept.
    let leech = Manager::start(cfg).await.unwrap();
    let t = one(&leech, id).await;
    assert_eq!(t.activity, Activity::Stopped);
    assert!(t.record.downloaded_ever >= 600_000);
    assert_eq!(t.have_valid, 600_000, "a stopped torrent shows its data");
    leech.start_torrents(Select::All, false).await.unwrap();
    let t = until(&leech, id, "seeding again", |t| {
        t.activity == Activity::Seeding
    })
    .await;
    assert_eq!(
        t.hashed_pieces, 0,
        "the resume record vouched for every piece"
    );
    assert_eq!(t.trusted_pieces, t.piece_count);
    leech.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_the_seed_limit_a_move_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("dl");
    let a = payload(&download, "a", 100_000);
    let b = payload(&dir.path().join("elsewhere"), "b", 100_000);
    let c = payload(&dir.path().join("elsewhere"), "c", 100_000);
    let mut cfg = config(&dir.path().join("state"), &download, vec![]);
    cfg.overrides.download_queue_size = Some(1);
    let m = Manager::start(cfg.clone()).await.unwrap();
    // b and c have no data and no peers: downloads that never progress.
    let ib = added_id(
        m.add(AddRequest {
            metainfo: b,
            ..AddRequest::default()
        })
        .await
        .unwrap(),
    );
    let ic = added_id(
        m.add(AddRequest {
            metainfo: c,
            ..AddRequest::default()
        })
        .await
        .unwrap(),
    );
    until(&m, ib, "b downloading", |t| {
        t.activity == Activity::Downloading
    })
    .await;
    assert_eq!(one(&m, ic).await.activity, Activity::DownloadWait);
    // Moving c up does not cut b off; stopping b lets c in.
    m.queue_move(Select::Some(vec![TorrentRef::Id(ic)]), QueueMove::Top)
        .await
        .unwrap();
    assert_eq!(one(&m, ic).await.record.queue_position, 0);
    assert_eq!(one(&m, ic).await.activity, Activity::DownloadWait);
    m.stop_torrents(Select::Some(vec![TorrentRef::Id(ib)]))
        .await
        .unwrap();
    until(&m, ic, "c downloading", |t| {
        t.activity == Activity::Downloading
    })
    .await;
    assert_eq!(one(&m, ib).await.activity, Activity::Stopped);

    // A seed with a ratio limit of 0 stops as soon as it seeds; started by
    // hand it keeps seeding.
    let ia = added_id(
        m.add(AddRequest {
            metainfo: a,
            ..AddRequest::default()
        })
        .await
        .unwrap(),
    );
    m.set(
        Select::Some(vec![TorrentRef::Id(ia)]),
        TorrentChange {
            seed_ratio_mode: Some(LimitMode::Single),
            seed_ratio_limit: Some(0.0),
            upload_limit: Some(1000),
            upload_limited: Some(true),
            ..TorrentChange::default()
        },
    )
    .await
    .unwrap();
    let t = until(&m, ia, "a finished", |t| t.record.finished).await;
    assert_eq!(t.record.upload_limit, 1000);
    until(&m, ia, "a stopped", |t| t.activity == Activity::Stopped).await;
    m.start_torrents(Select::Some(vec![TorrentRef::Id(ia)]), false)
        .await
        .unwrap();
    let t = until(&m, ia, "a seeding", |t| t.activity == Activity::Seeding).await;
    assert_eq!(t.record.seed_ratio_mode, LimitMode::Unlimited);

    // Moving the data: the files go, the torrent seeds from the new place
    // without hashing again.
    let moved: PathBuf = dir.path().join("moved");
    m.set_location(Select::Some(vec![TorrentRef::Id(ia)]), moved.clone(), true)
        .await
        .unwrap();
    let t = until(&m, ia, "a moved", |t| {
        t.record.download_dir == moved && t.activity == Activity::Seeding
    })
    .await;
    assert!(moved.join("a/sub/b.bin").exists());
    assert!(!download.join("a/sub/b.bin").exists());
    assert_eq!(t.hashed_pieces, 0);

    // Removal keeping the data, then deleting it.
    m.remove(Select::Some(vec![TorrentRef::Id(ib)]), false)
        .await
        .unwrap();
    m.remove(Select::Some(vec![TorrentRef::Id(ia)]), true)
        .await
        .unwrap();
    let (left, _) = m.torrents(Select::All, Detail::default()).await.unwrap();
    assert_eq!(left.iter().map(|t| t.id).collect::<Vec<_>>(), [ic]);
    let start = Instant::now();
    while moved.join("a").exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "data deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.shutdown().await;
    // Only c comes back.
    let m = Manager::start(cfg).await.unwrap();
    let (left, _) = m.torrents(Select::All, Detail::default()).await.unwrap();
    assert_eq!(left.iter().map(|t| t.id).collect::<Vec<_>>(), [ic]);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_file_is_not_created_until_it_is_wanted() {
    skipped_file(false).await;
}

/// The same with pad files between: they are not listed, and file indices
/// count only the files users see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pad_files_are_not_listed_and_file_indices_skip_them() {
    skipped_file(true).await;
}

async fn skipped_file(hybrid: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seed_data = dir.path().join("seed-data");
    let bytes = payload_as(&seed_data, "pair", 400_000, hybrid);
    let seeder = Manager::start(config(&dir.path().join("seed-state"), &seed_data, vec![]))
        .await
        .unwrap();
    let sid = added_id(
        seeder
            .add(AddRequest {
                metainfo: bytes.clone(),
                ..AddRequest::default()
            })
            .await
            .unwrap(),
    );
    until(&seeder, sid, "the seeder", |t| {
        t.activity == Activity::Seeding
    })
    .await;
    let download = dir.path().join("dl");
    let leech = Manager::start(config(
        &dir.path().join("state"),
        &download,
        vec![seeder.listen_addr()],
    ))
    .await
    .unwrap();
    // Files in metainfo order: a.bin, sub/b.bin. Skip b.
    let id = added_id(
        leech
            .add(AddRequest {
                metainfo: bytes,
                files_unwanted: vec![1],
                ..AddRequest::default()
            })
            .await
            .unwrap(),
    );
    let t = until(&leech, id, "the wanted file", |t| {
        t.activity == Activity::Seeding
    })
    .await;
    assert!(
        t.size_when_done < t.total_size,
        "{} of {}",
        t.size_when_done,
        t.total_size
    );
    assert_eq!(t.left_until_done, 0);
    assert_eq!(t.file_count, 2);
    let names: Vec<&str> = t.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pair/a.bin", "pair/sub/b.bin"]);
    assert_eq!(t.files_wanted, [true, false]);
    assert!(!t.files[1].wanted);
    assert_eq!(t.files[0].bytes_completed, t.files[0].length);
    assert!(download.join("pair/a.bin").exists());
    assert!(
        !download.join("pair/sub/b.bin").exists(),
        "skipped: not created"
    );
    // Wanted after all: the rest comes.
    leech
        .set(
            Select::Some(vec![TorrentRef::Id(id)]),
            TorrentChange {
                files_wanted: Some(vec![1]),
                ..TorrentChange::default()
            },
        )
        .await
        .unwrap();
    let t = until(&leech, id, "the whole torrent", |t| {
        t.activity == Activity::Seeding
            && t.size_when_done == t.total_size
            && t.left_until_done == 0
    })
    .await;
    assert!(t
        .files
        .iter()
        .all(|f| f.wanted && f.bytes_completed == f.length));
    assert_eq!(
        std::fs::read(download.join("pair/sub/b.bin")).unwrap(),
        std::fs::read(seed_data.join("pair/sub/b.bin")).unwrap()
    );
    leech.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_link_waits_for_its_metadata_then_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let seed_data = dir.path().join("seed-data");
    let bytes = payload(&seed_data, "linked", 300_000);
    let hash = riffle_protocol::metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .info_hash;
    let state = dir.path().join("state");
    let download = dir.path().join("dl");
    // No peer yet: the link waits, and comes back after a restart.
    let cfg = config(&state, &download, vec![]);
    let m = Manager::start(cfg.clone()).await.unwrap();
    let magnet = |peer: &str| {
        riffle_protocol::magnet::Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{}&dn=linked{peer}",
            hash.to_hex()
        ))
        .unwrap()
    };
    let id = added_id(
        m.add(AddRequest {
            magnet: Some(magnet("")),
            ..AddRequest::default()
        })
        .await
        .unwrap(),
    );
    let t = one(&m, id).await;
    assert_eq!(t.name, "linked");
    assert!(t.metadata_percent < 1.0);
    assert_eq!(t.activity, Activity::Downloading);
    m.shutdown().await;
    let m = Manager::start(cfg.clone()).await.unwrap();
    let t = one(&m, id).await;
    assert_eq!((t.name.as_str(), t.hash), ("linked", hash));
    // Removed; added again with a seeder to ask (x.pe): it completes.
    m.remove(Select::All, false).await.unwrap();
    let seeder = Manager::start(config(&dir.path().join("seed-state"), &seed_data, vec![]))
        .await
        .unwrap();
    let sid = added_id(
        seeder
            .add(AddRequest {
                metainfo: bytes,
                ..AddRequest::default()
            })
            .await
            .unwrap(),
    );
    until(&seeder, sid, "the seeder", |t| {
        t.activity == Activity::Seeding
    })
    .await;
    let id = added_id(
        m.add(AddRequest {
            magnet: Some(magnet(&format!("&x.pe={}", seeder.listen_addr()))),
            ..AddRequest::default()
        })
        .await
        .unwrap(),
    );
    let t = until(&m, id, "the magnet download", |t| {
        t.metadata_percent == 1.0 && t.activity == Activity::Seeding
    })
    .await;
    assert_eq!(t.total_size, 300_000);
    assert!(state
        .join("torrents")
        .join(format!("{}.torrent", hash.to_hex()))
        .exists());
    assert!(!state
        .join("torrents")
        .join(format!("{}.magnet", hash.to_hex()))
        .exists());
    m.shutdown().await;
    seeder.shutdown().await;
}

/// `--seed-priority scarcity`: with one seed slot taken, two complete
/// torrents wait; the trackers say the first in the queue has another
/// seed and the second none. When the slot frees, the seedless one starts
/// (queue order would start the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scarce_seeds_take_the_free_slot_first() {
    use riffle_client::tracker::{announce_once, AnnounceConfig};
    use riffle_manager::Activity;
    use riffle_policies::queue::SeedPriority;
    use riffle_protocol::tracker::http::AnnounceRequest;
    use riffle_tracker::{TrackerConfig, TrackerServer};
    let tracker = TrackerServer::start(TrackerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
    ))
    .await
    .unwrap();
    for priority in [SeedPriority::Queue, SeedPriority::Scarcity] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let tracked = |name: &str| {
            let bytes = payload(&data, name, 100_000);
            let meta = riffle_protocol::metainfo::Metainfo::from_bytes(&bytes).unwrap();
            // Same info, a tracker added around it.
            riffle_protocol::metadata::torrent_from_info(
                &meta.info_bytes,
                &[tracker.announce_url()],
            )
        };
        let (z, x, y) = (tracked("z"), tracked("x"), tracked("y"));
        // Another seed of x, known to the tracker.
        let x_hash = riffle_protocol::metainfo::Metainfo::from_bytes(&x)
            .unwrap()
            .info_hash;
        let mut other = AnnounceRequest::new(x_hash, riffle_protocol::PeerId([5; 20]), 7000, 0);
        other.event = riffle_protocol::tracker::Event::Started;
        announce_once(&tracker.announce_url(), &other, &AnnounceConfig::default())
            .await
            .unwrap();
        let mut cfg = config(&dir.path().join("state"), &data, vec![]);
        cfg.seed_priority = priority;
        cfg.scrape_every = Duration::from_millis(100);
        cfg.overrides = SettingsChange {
            seed_queue_enabled: Some(true),
            seed_queue_size: Some(1),
            ..SettingsChange::default()
        };
        let m = Manager::start(cfg).await.unwrap();
        let mut ids = Vec::new();
        for metainfo in [z, x, y] {
            ids.push(added_id(
                m.add(AddRequest {
                    metainfo,
                    ..AddRequest::default()
                })
                .await
                .unwrap(),
            ));
        }
        until(&m, ids[0], "z seeding", |t| t.activity == Activity::Seeding).await;
        for id in &ids[1..] {
            until(&m, *id, "waiting to seed", |t| {
                t.activity == Activity::SeedWait
            })
            .await;
        }
        // Time for a scrape (on the manager's tick).
        tokio::time::sleep(riffle_manager::TICK * 2 + Duration::from_millis(500)).await;
        m.stop_torrents(Select::Some(vec![TorrentRef::Id(ids[0])]))
            .await
            .unwrap();
        let (first, second) = match priority {
            SeedPriority::Queue => (ids[1], ids[2]),
            SeedPriority::Scarcity => (ids[2], ids[1]),
        };
        until(&m, first, "the slot", |t| t.activity == Activity::Seeding).await;
        assert_eq!(
            one(&m, second).await.activity,
            Activity::SeedWait,
            "{priority:?}"
        );
        m.shutdown().await;
    }
}

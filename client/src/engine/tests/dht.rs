//! Sessions finding each other through the DHT alone: a router node all
//! of them bootstrap from, on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::super::{Session, SessionConfig, TorrentOptions};
use super::controls::wait_for;
use super::{local, payload, same_tree, wait_complete};
use crate::dht::{Dht, DhtConfig, Found};

fn with_dht(router: SocketAddr, state_file: Option<&Path>) -> SessionConfig {
    SessionConfig {
        dht: Some(DhtConfig {
            bootstrap: vec![router.to_string()],
            state_file: state_file.map(Path::to_path_buf),
            ..DhtConfig::default()
        }),
        ..local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_finds_the_seeder_through_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "dht", &[300_000, 200_000], 41);
    let (router, router_task) = Dht::start("127.0.0.1:0".parse().unwrap(), DhtConfig::default())
        .await
        .unwrap();
    let state = dir.path().join("seeder.dht");
    let seeder = Session::start(with_dht(router.local_addr(), Some(&state)))
        .await
        .unwrap();
    let mut o = TorrentOptions::new(&seed_dir);
    o.seed = true;
    o.require_complete = true;
    let sh = seeder.add_torrent(meta.clone(), o).unwrap();
    // The seeder's first lookup ends with an announce to the router.
    let st = wait_for(&sh, Duration::from_secs(30), "a DHT lookup", |s| {
        s.dht.as_deref().is_some_and(|d| d.contains("next lookup"))
    })
    .await;
    assert!(st.dht.unwrap().contains("from 1 nodes"));
    let stats = router.stats().await.unwrap();
    assert_eq!(
        stats.stored_peers, 1,
        "the seeder announced itself: {stats:?}"
    );

    // A leecher with no tracker and no peer address.
    let into = dir.path().join("leech");
    let leecher = Session::start(with_dht(router.local_addr(), None))
        .await
        .unwrap();
    let lh = leecher
        .add_torrent(meta.clone(), TorrentOptions::new(&into))
        .unwrap();
    wait_complete(&lh, Duration::from_secs(30)).await;
    same_tree(&seed_dir, &into, &meta);

    // A magnet fetch through the DHT alone.
    let fetcher = Session::start(with_dht(router.local_addr(), None))
        .await
        .unwrap();
    let magnet = riffle_protocol::magnet::Magnet {
        info_hash: meta.info_hash,
        info_hash_v2: None,
        display_name: None,
        trackers: Vec::new(),
        peers: Vec::new(),
    };
    let info = fetcher
        .fetch_metadata(&magnet, &[], Duration::from_secs(30), |_, _| {})
        .await
        .unwrap();
    assert_eq!(info, meta.info_bytes);

    // The seeder's node saved what it knew at shutdown.
    let seeder_id = seeder.dht().unwrap().local_addr();
    seeder.shutdown().await;
    let saved = std::fs::read(&state).expect("DHT state saved");
    let saved = riffle_protocol::dht::SavedState::decode(&saved).unwrap();
    assert!(
        saved
            .nodes
            .iter()
            .any(|n| SocketAddr::V4(n.addr) == router.local_addr()),
        "the router is in the saved table of {seeder_id}"
    );
    for s in [leecher, fetcher] {
        s.shutdown().await;
    }
    router.shutdown().await;
    router_task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_torrent_stays_off_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let mut meta = payload(&seed_dir, "private", &[100_000], 42);
    meta.info.private = true;
    let (router, _task) = Dht::start("127.0.0.1:0".parse().unwrap(), DhtConfig::default())
        .await
        .unwrap();
    let seeder = Session::start(with_dht(router.local_addr(), None))
        .await
        .unwrap();
    let mut o = TorrentOptions::new(&seed_dir);
    o.seed = true;
    let h = seeder.add_torrent(meta.clone(), o).unwrap();
    wait_for(&h, Duration::from_secs(10), "seeding", |s| s.is_complete()).await;
    // Public torrents look up at once; give it the time one would take.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.status().borrow().dht, None);
    let mut found = router.get_peers(meta.info_hash, None);
    let mut peers = Vec::new();
    while let Some(f) = found.recv().await {
        match f {
            Found::Peers(p) => peers.extend(p),
            Found::Done { .. } => break,
        }
    }
    assert!(peers.is_empty());
    assert_eq!(router.stats().await.unwrap().stored_peers, 0);
    seeder.shutdown().await;
}

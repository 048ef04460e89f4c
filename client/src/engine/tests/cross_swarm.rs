//! Cross-swarm exchange between real sessions: credit earned in one
//! torrent changes unchoking in another.

use std::time::{Duration, Instant};

use riffle_policies::exchange::HostId;

use super::{local, payload, start_seeder, wait_complete};
use crate::engine::{Session, SessionConfig, TorrentOptions};

/// Host H leeches torrent A from P1 (P1's host earns credit), then is a
/// leecher of torrent B that eight peers want pieces of, P1 among them,
/// with five upload slots (four by rate, one optimistic). P1 gives H
/// nothing in B, yet with cross-swarm credit H keeps it unchoked at every
/// look, ahead of peers that gave nothing anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_earned_in_one_torrent_unchokes_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let meta_a = payload(&a_dir, "a", &[1_500_000], 31);
    let meta_b = payload(&b_dir, "b", &[6_000_000], 32);
    // B's seeder is slow: H stays a leecher of B throughout.
    let (seed_b, _sb) = start_seeder(&b_dir, &meta_b, 60_000, |_| {}).await;
    // B's leechers take at most 5 kB/s each, so they stay behind H and
    // keep wanting its pieces.
    let slow = || SessionConfig {
        max_download_rate: 5_000,
        ..local()
    };
    let p1 = Session::start(slow()).await.unwrap();
    let mut o = TorrentOptions::new(&a_dir);
    o.seed = true;
    o.require_complete = true;
    let _p1_a = p1.add_torrent(meta_a.clone(), o).unwrap();
    let host = Session::start(
        SessionConfig {
            cross_swarm_credit: true,
            ..local()
        }
        .with_time_scale(10.0),
    )
    .await
    .unwrap();
    let mut o = TorrentOptions::new(dir.path().join("h"));
    o.peers = vec![p1.listen_addr()];
    o.seed = true;
    let h_a = host.add_torrent(meta_a.clone(), o).unwrap();
    wait_complete(&h_a, Duration::from_secs(20)).await;
    // The ledger knows P1's host by its key (flushed on the next tick).
    let p1_host = HostId::Key(p1.exchange().host_key());
    let start = Instant::now();
    while host.exchange().contribution(&p1_host, Instant::now()) < 1_000.0 {
        assert!(start.elapsed() < Duration::from_secs(5), "no credit for P1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = Instant::now();
    // Seven more leechers of B, and P1 as one too.
    let mut others = Vec::new();
    for i in 0..7 {
        let s = Session::start(slow()).await.unwrap();
        let h = s
            .add_torrent(
                meta_b.clone(),
                TorrentOptions::new(dir.path().join(format!("p{i}"))),
            )
            .unwrap();
        others.push((s, h));
    }
    let _p1_b = p1
        .add_torrent(meta_b.clone(), TorrentOptions::new(dir.path().join("p1b")))
        .unwrap();
    let mut o = TorrentOptions::new(dir.path().join("h"));
    o.peers = vec![seed_b.listen_addr(), p1.listen_addr()];
    o.peers.extend(others.iter().map(|(s, _)| s.listen_addr()));
    let h_b = host.add_torrent(meta_b.clone(), o).unwrap();
    for (s, _) in &others {
        let c = host
            .exchange()
            .contribution(&HostId::Key(s.exchange().host_key()), now);
        assert_eq!(c, 0.0);
    }
    // Wait until most of the leechers want what H holds, then look for
    // 3 s (three rechokes at this time scale).
    let start = Instant::now();
    loop {
        let st = h_b.status().borrow().clone();
        if st.peers.iter().filter(|p| p.peer_interested).count() >= 6 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "peers never interested: {:?}",
            st.peers
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut looks, mut p1_unchoked, mut crowded) = (0, 0, 0);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let st = h_b.status().borrow().clone();
        assert!(!st.is_complete(), "H must stay a leecher of B");
        let interested: Vec<_> = st.peers.iter().filter(|p| p.peer_interested).collect();
        let Some(p) = interested.iter().find(|p| p.addr == p1.listen_addr()) else {
            continue;
        };
        looks += 1;
        p1_unchoked += usize::from(!p.am_choking);
        crowded += usize::from(interested.iter().filter(|p| p.am_choking).count() >= 2);
    }
    assert!(looks >= 10, "{looks} looks");
    assert!(
        crowded * 2 >= looks,
        "slots must be scarce: {crowded} of {looks}"
    );
    assert_eq!(
        p1_unchoked,
        looks,
        "P1 choked in {} of {looks} looks",
        looks - p1_unchoked
    );
    for (s, _) in others {
        s.shutdown().await;
    }
    host.shutdown().await;
    p1.shutdown().await;
    seed_b.shutdown().await;
}

/// A session with `config` seeding every torrent of `metas` from `dir`,
/// checked complete.
async fn seeding(
    config: SessionConfig,
    dir: &std::path::Path,
    metas: &[&riffle_protocol::metainfo::Metainfo],
) -> (Session, Vec<crate::engine::TorrentHandle>) {
    let seeder = Session::start(config).await.unwrap();
    let mut handles = Vec::new();
    for meta in metas {
        let mut o = TorrentOptions::new(dir);
        o.seed = true;
        o.require_complete = true;
        handles.push(seeder.add_torrent((*meta).clone(), o).unwrap());
    }
    for h in &handles {
        wait_complete(h, Duration::from_secs(20)).await;
    }
    (seeder, handles)
}

/// A seeding session capped at 400 kB/s with two torrents: three leechers
/// want A, one wants B. Per peer (one shared bucket), A takes about three
/// quarters; `equal` gives each torrent half of the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_allocation_splits_the_upload_limit_between_torrents() {
    use riffle_policies::exchange::SwarmAllocation;
    let dir = tempfile::tempdir().unwrap();
    let meta_a = payload(&dir.path().join("seed"), "a", &[8_000_000], 41);
    let meta_b = payload(&dir.path().join("seed"), "b", &[8_000_000], 42);
    let mut shares = Vec::new();
    for mode in [SwarmAllocation::PerPeer, SwarmAllocation::Equal] {
        let config = SessionConfig {
            max_upload_rate: 400_000,
            swarm_allocation: mode,
            ..local()
        };
        let (seeder, handles) =
            seeding(config, &dir.path().join("seed"), &[&meta_a, &meta_b]).await;
        let mut leechers = Vec::new();
        for (i, meta) in [&meta_a, &meta_a, &meta_a, &meta_b].into_iter().enumerate() {
            let l = Session::start(local()).await.unwrap();
            let mut o = TorrentOptions::new(dir.path().join(format!("{mode}-{i}")));
            o.peers = vec![seeder.listen_addr()];
            let h = l.add_torrent(meta.clone(), o).unwrap();
            leechers.push((l, h));
        }
        // Let the split settle, then measure 3 s.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let up = |i: usize| handles[i].status().borrow().uploaded;
        let (a0, b0) = (up(0), up(1));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (a, b) = (up(0) - a0, up(1) - b0);
        let total = (a + b) as f64;
        assert!(
            total > 0.8 * 3.0 * 400_000.0,
            "{mode}: the cap is used: {total}"
        );
        assert!(
            total < 1.2 * 3.0 * 400_000.0,
            "{mode}: the cap holds: {total}"
        );
        shares.push(a as f64 / total);
        for (l, _) in leechers {
            l.shutdown().await;
        }
        seeder.shutdown().await;
    }
    let (per_peer, equal) = (shares[0], shares[1]);
    eprintln!("A's share of the upload: per-peer {per_peer:.2}, equal {equal:.2}");
    assert!(per_peer > 0.62, "per-peer: A's share {per_peer:.2}");
    assert!((equal - 0.5).abs() < 0.1, "equal: A's share {equal:.2}");
}

/// CPM measured by a real seeding session: torrent A's five leechers pass
/// every piece on to each other, torrent B's single leecher cannot. Under
/// `cpm` the seeder's estimate for A is well above 1, B's is 1, and A is
/// given most of the upload limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpm_allocation_moves_upload_to_the_swarm_that_spreads_it() {
    use riffle_policies::exchange::SwarmAllocation;
    let dir = tempfile::tempdir().unwrap();
    let meta_a = payload(&dir.path().join("seed"), "a", &[12_000_000], 51);
    let meta_b = payload(&dir.path().join("seed"), "b", &[12_000_000], 52);
    let config = SessionConfig {
        max_upload_rate: 300_000,
        swarm_allocation: SwarmAllocation::Cpm,
        ..local()
    }
    .with_time_scale(10.0);
    let (seeder, handles) = seeding(config, &dir.path().join("seed"), &[&meta_a, &meta_b]).await;
    // A's leechers know the seeder and each other.
    let mut leechers = Vec::new();
    for _ in 0..5 {
        leechers.push(Session::start(local()).await.unwrap());
    }
    let addrs: Vec<_> = leechers.iter().map(|l| l.listen_addr()).collect();
    let mut torrents = Vec::new();
    for (i, l) in leechers.iter().enumerate() {
        let mut o = TorrentOptions::new(dir.path().join(format!("a{i}")));
        o.peers = vec![seeder.listen_addr()];
        o.peers
            .extend(addrs.iter().filter(|a| **a != l.listen_addr()));
        torrents.push(l.add_torrent(meta_a.clone(), o).unwrap());
    }
    let lone = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("b0"));
    o.peers = vec![seeder.listen_addr()];
    let _b = lone.add_torrent(meta_b.clone(), o).unwrap();
    // Let the estimates and the split settle (tau is 0.8 s of wall time).
    let start = Instant::now();
    let (a, b) = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (a, b) = (
            handles[0].status().borrow().clone(),
            handles[1].status().borrow().clone(),
        );
        let settled = a.cpm.is_some() && b.cpm.is_some() && a.upload_share.unwrap_or(0.0) > 0.8;
        if settled || start.elapsed() > Duration::from_secs(15) {
            break (a, b);
        }
    };
    eprintln!(
        "A: cpm {:?} share {:?}; B: cpm {:?} share {:?}; tau {:?}",
        a.cpm, a.upload_share, b.cpm, b.upload_share, a.cpm_tau
    );
    assert!(a.cpm.is_some_and(|c| c > 1.5), "A's CPM {:?}", a.cpm);
    assert!(b.cpm.is_some_and(|c| c < 1.2), "B's CPM {:?}", b.cpm);
    assert!(
        a.upload_share.is_some_and(|s| s > 0.8),
        "A's share {:?}",
        a.upload_share
    );
    for l in leechers {
        l.shutdown().await;
    }
    lone.shutdown().await;
    seeder.shutdown().await;
}

//! Sessions against each other on 127.0.0.1, in-process: the engine's own
//! end-to-end checks (the tests crate drives the binary and real clients).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use riffle_protocol::metainfo::{Metainfo, TorrentBuilder};
use sha1::{Digest, Sha1};

use super::{Session, SessionConfig, TorrentHandle, TorrentOptions, TorrentState};

mod controls;
mod cross_swarm;
mod dht;
mod idle;
mod v2;

const PIECE: u32 = 64 * 1024;

/// Files of these lengths under `dir/name`, and their torrent.
fn payload(dir: &Path, name: &str, lengths: &[u64], seed: u64) -> Metainfo {
    payload_with_trackers(dir, name, lengths, seed, &[])
}

/// [`payload`] whose torrent names these tracker tiers.
fn payload_with_trackers(
    dir: &Path,
    name: &str,
    lengths: &[u64],
    seed: u64,
    tiers: &[&[&str]],
) -> Metainfo {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all = Vec::new();
    let mut b = TorrentBuilder::new(name.into(), PIECE);
    for (i, len) in lengths.iter().enumerate() {
        let mut data = vec![0u8; *len as usize];
        rng.fill_bytes(&mut data);
        let path = vec![format!("d{}", i % 2), format!("f{i}.bin")];
        let full = dir.join(name).join(&path[0]).join(&path[1]);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &data).unwrap();
        b.file(path, *len);
        all.extend_from_slice(&data);
    }
    let hashes = all
        .chunks(PIECE as usize)
        .map(|c| Sha1::digest(c).into())
        .collect();
    b.piece_hashes(hashes);
    for tier in tiers {
        b.tracker_tier(tier.iter().map(|u| u.to_string()).collect());
    }
    let (bytes, _) = b.build().unwrap();
    Metainfo::from_bytes(&bytes).unwrap()
}

fn local() -> SessionConfig {
    SessionConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        listen_fallback: false,
        ..SessionConfig::default()
    }
}

/// A session seeding `meta` from `seed_dir` at `rate` bytes/s, with
/// `policies` applied to its torrent options.
async fn start_seeder(
    seed_dir: &Path,
    meta: &Metainfo,
    rate: u64,
    policies: impl FnOnce(&mut super::Policies),
) -> (Session, TorrentHandle) {
    let seeder = Session::start(SessionConfig {
        max_upload_rate: rate,
        ..local()
    })
    .await
    .unwrap();
    let mut o = TorrentOptions::new(seed_dir);
    o.seed = true;
    o.require_complete = true;
    policies(&mut o.policies);
    let h = seeder.add_torrent(meta.clone(), o).unwrap();
    (seeder, h)
}

/// A plain leecher of `meta` into `into` that dials `seeder`, run until it
/// completes (within `limit`) with the seed's files.
async fn leech_from(
    seeder: &Session,
    seed_dir: &Path,
    into: &Path,
    meta: &Metainfo,
    limit: Duration,
) -> (Session, TorrentHandle) {
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(into);
    o.peers = vec![seeder.listen_addr()];
    let h = l.add_torrent(meta.clone(), o).unwrap();
    wait_complete(&h, limit).await;
    same_tree(seed_dir, into, meta);
    (l, h)
}

async fn wait_complete(h: &TorrentHandle, limit: Duration) {
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
            if st.is_complete() && st.state != TorrentState::Checking {
                return;
            }
        }
        assert!(start.elapsed() < limit, "not complete after {limit:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
    }
}

fn same_tree(a: &Path, b: &Path, meta: &Metainfo) {
    for i in 0..meta.info.files.len() {
        if meta.info.files[i].pad {
            assert!(!b.join(meta.info.file_path(i).join("/")).exists());
            continue;
        }
        let rel: std::path::PathBuf = meta.info.file_path(i).iter().collect();
        let x = std::fs::read(a.join(&rel)).unwrap();
        let y = std::fs::read(b.join(&rel)).unwrap();
        assert!(x == y, "{} differs", rel.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leechers_complete_from_a_seeder_and_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    // An empty file and sizes that do not divide the piece length.
    let meta = payload(&seed_dir, "t", &[300_000, 0, 1_000_001, 77, 500_000], 1);
    let (seeder, seed_h) = start_seeder(&seed_dir, &meta, 2_000_000, |_| {}).await;

    let a = Session::start(local()).await.unwrap();
    let b = Session::start(local()).await.unwrap();
    let mut oa = TorrentOptions::new(dir.path().join("a"));
    oa.peers = vec![seeder.listen_addr()];
    oa.seed = true;
    let mut ob = TorrentOptions::new(dir.path().join("b"));
    ob.peers = vec![seeder.listen_addr(), a.listen_addr()];
    ob.seed = true;
    let ha = a.add_torrent(meta.clone(), oa).unwrap();
    let hb = b.add_torrent(meta.clone(), ob).unwrap();
    wait_complete(&ha, Duration::from_secs(30)).await;
    wait_complete(&hb, Duration::from_secs(30)).await;
    same_tree(&seed_dir, &dir.path().join("a"), &meta);
    same_tree(&seed_dir, &dir.path().join("b"), &meta);
    let empty: std::path::PathBuf = meta.info.file_path(1).iter().collect();
    assert!(
        dir.path().join("a").join(empty).exists(),
        "empty file created"
    );
    let (sa, sb) = (ha.status().borrow().clone(), hb.status().borrow().clone());
    assert_eq!(sa.hash_failures + sb.hash_failures, 0);
    let total = meta.info.total_length();
    // The capped seeder cannot have sent everything twice by itself in the
    // time: the leechers traded.
    assert!(sa.uploaded + sb.uploaded > 0, "leechers traded nothing");
    assert!(seed_h.status().borrow().uploaded >= total / 2);
    a.shutdown().await;
    b.shutdown().await;
    seeder.shutdown().await;
    // The resume record now vouches for everything: a restart re-reads
    // nothing.
    let again = Session::start(local()).await.unwrap();
    let mut oa = TorrentOptions::new(dir.path().join("a"));
    oa.seed = true;
    let h = again.add_torrent(meta.clone(), oa).unwrap();
    wait_complete(&h, Duration::from_secs(10)).await;
    let st = h.status().borrow().clone();
    assert_eq!(st.trusted_pieces, meta.info.piece_count());
    assert_eq!(st.hashed_pieces, 0);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_incomplete_data_fails_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let meta = payload(dir.path(), "t", &[200_000, 100_000], 2);
    // Damage one file.
    let victim: std::path::PathBuf = meta.info.file_path(1).iter().collect();
    std::fs::write(dir.path().join(victim), b"short").unwrap();
    let s = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path());
    o.seed = true;
    o.require_complete = true;
    let h = s.add_torrent(meta, o).unwrap();
    let mut rx = h.status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let TorrentState::Failed(e) = &rx.borrow().state {
            assert!(e.contains("incomplete"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "no failure reported");
        let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_rate_limit_holds() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "t", &[1_500_000], 3);
    let seeder = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(&seed_dir);
    o.seed = true;
    o.require_complete = true;
    let _sh = seeder.add_torrent(meta.clone(), o).unwrap();
    let rate = 1_000_000u64;
    let l = Session::start(SessionConfig {
        max_download_rate: rate,
        ..local()
    })
    .await
    .unwrap();
    let mut o = TorrentOptions::new(dir.path().join("l"));
    o.peers = vec![seeder.listen_addr()];
    let started = Instant::now();
    let h = l.add_torrent(meta.clone(), o).unwrap();
    wait_complete(&h, Duration::from_secs(30)).await;
    let took = started.elapsed();
    // 1.5 MB at 1 MB/s, less one burst (125 KB): at least ~1.3 s.
    assert!(
        took >= Duration::from_millis(1200),
        "limit not applied: {took:?}"
    );
    same_tree(&seed_dir, &dir.path().join("l"), &meta);
    l.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_trackers_do_not_hold_up_a_download_with_peers() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    // Nothing listens on these: connection refused (HTTP) and silence (UDP).
    let dead_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = format!("udp://{}/announce", dead_udp.local_addr().unwrap());
    let meta = payload_with_trackers(
        &seed_dir,
        "t",
        &[700_000],
        4,
        &[&["http://127.0.0.1:1/announce"], &[udp.as_str()]],
    );
    let seeder = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(&seed_dir);
    o.seed = true;
    o.require_complete = true;
    let _sh = seeder.add_torrent(meta.clone(), o).unwrap();
    let (l, _h) = leech_from(
        &seeder,
        &seed_dir,
        &dir.path().join("l"),
        &meta,
        Duration::from_secs(20),
    )
    .await;
    // Shutting down with an unanswering tracker is bounded too.
    let started = Instant::now();
    l.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} on dead trackers",
        started.elapsed()
    );
    seeder.shutdown().await;
}

/// A per-piece seed choker's turns are counted in the status: with one
/// leecher and no other source, every piece the leecher holds is one
/// served turn of the seed, and a most-deprived choker never wastes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_piece_turns_are_counted() {
    use riffle_policies::catalog::SeedChokerKind;
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    // 12 pieces; at 4 MB/s a 64 KiB piece takes ~16 ms.
    let meta = payload(&seed_dir, "t", &[12 * u64::from(PIECE)], 5);
    let (seeder, sh) = start_seeder(&seed_dir, &meta, 4_000_000, |p| {
        p.seed_choker = SeedChokerKind::MostDeprived;
        p.poisson_turns = true;
        p.random_seed = Some(7);
    })
    .await;
    let (l, h) = leech_from(
        &seeder,
        &seed_dir,
        &dir.path().join("l"),
        &meta,
        Duration::from_secs(30),
    )
    .await;
    // The seed's status catches up at its next publication.
    let pieces = u64::from(meta.info.piece_count());
    let deadline = Instant::now() + Duration::from_secs(5);
    let turns = loop {
        let t = sh.status().borrow().turns;
        if t.served >= pieces || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(turns.served, pieces, "{turns:?}");
    assert!(turns.drawn >= turns.served, "{turns:?}");
    assert_eq!(turns.wasted, 0, "{turns:?}");
    // The leecher's own choker is tit-for-tat, not per-piece.
    assert_eq!(h.status().borrow().turns, super::TurnCounts::default());
    l.shutdown().await;
    seeder.shutdown().await;
}

/// Past the session's connection limit the listener closes new
/// connections at once, before reading them; a slot freed lets the next
/// one in.
#[tokio::test]
async fn the_connection_limit_closes_extra_connections_unread() {
    use tokio::io::AsyncReadExt;
    let session = Session::start(SessionConfig {
        max_connections: 2,
        ..local()
    })
    .await
    .unwrap();
    let addr = session.listen_addr();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // The listener takes the two before the others arrive.
    let start = Instant::now();
    while session.connections() < 2 {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let closed_at_once = |mut s: tokio::net::TcpStream| async move {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    };
    for _ in 0..3 {
        let extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_at_once(extra).await,
            "a third connection is closed unread"
        );
    }
    assert_eq!(session.connections(), 2);
    // One of the two leaves: its slot is free again.
    drop(held.pop());
    let start = Instant::now();
    while session.connections() > 1 {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let next = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(!closed_at_once(next).await, "a connection is let in again");
    session.set_max_connections(0);
    session.shutdown().await;
}

/// A skipped file is never created: its pieces are not requested, the
/// bytes of it in pieces shared with wanted files go to the part file,
/// and the torrent seeds once every wanted piece is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_files_are_not_downloaded_or_created() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    // Files 0 and 2 wanted, file 1 (several pieces, sharing one piece
    // with each neighbour) skipped.
    let meta = payload(&seed_dir, "sel", &[100_000, 300_000, 70_000], 5);
    let (seeder, _h) = start_seeder(&seed_dir, &meta, 0, |_| {}).await;
    let l = Session::start(local()).await.unwrap();
    let into = dir.path().join("leech");
    let mut o = TorrentOptions::new(&into);
    o.peers = vec![seeder.listen_addr()];
    o.seed = true;
    o.wanted_files = Some(vec![true, false, true]);
    let h = l.add_torrent(meta.clone(), o.clone()).unwrap();
    let mut rx = h.status();
    let start = Instant::now();
    loop {
        let st = rx.borrow_and_update().clone();
        assert!(
            !matches!(st.state, TorrentState::Failed(_)),
            "{:?}",
            st.state
        );
        if st.state == TorrentState::Seeding {
            assert!(st.have_pieces < st.piece_count, "only the wanted pieces");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not done: {:?}",
            st.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = |i: usize| into.join("sel").join(meta.info.file_path(i)[1..].join("/"));
    let original = |i: usize| {
        std::fs::read(
            seed_dir
                .join("sel")
                .join(meta.info.file_path(i)[1..].join("/")),
        )
        .unwrap()
    };
    assert_eq!(std::fs::read(path(0)).unwrap(), original(0));
    assert_eq!(std::fs::read(path(2)).unwrap(), original(2));
    assert!(!path(1).exists(), "the skipped file was never created");
    assert!(
        o.parts_path(&meta.info_hash).exists(),
        "boundary bytes kept aside"
    );
    // Downloaded about what the wanted files need, not the skipped one.
    let st = h.status().borrow().clone();
    assert!(
        st.downloaded < 100_000 + 70_000 + 4 * u64::from(PIECE),
        "{}",
        st.downloaded
    );
    l.shutdown().await;
    seeder.shutdown().await;
}

/// BEP 9 both ways between two sessions: one fetches the info dictionary
/// of a torrent another seeds, knowing only its info-hash and address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_comes_from_a_seeding_session() {
    let dir = tempfile::tempdir().unwrap();
    // Enough piece hashes (16 KiB pieces) for three metadata pieces.
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    let mut data = vec![0u8; 16384 * 2000];
    StdRng::seed_from_u64(9).fill_bytes(&mut data);
    std::fs::write(seed.join("meta.bin"), &data).unwrap();
    let mut b = TorrentBuilder::new("meta.bin".into(), 16384);
    b.single_file(data.len() as u64);
    b.piece_hashes(data.chunks(16384).map(|c| Sha1::digest(c).into()).collect());
    let meta = Metainfo::from_bytes(&b.build().unwrap().0).unwrap();
    assert!(meta.info_bytes.len() > 2 * 16384);
    let (seeder, _h) = start_seeder(&seed, &meta, 0, |_| {}).await;
    let fetcher = Session::start(local()).await.unwrap();
    let magnet = riffle_protocol::magnet::Magnet {
        info_hash: meta.info_hash,
        info_hash_v2: None,
        display_name: None,
        trackers: Vec::new(),
        peers: vec![seeder.listen_addr().to_string()],
    };
    let info = fetcher
        .fetch_metadata(&magnet, &[], Duration::from_secs(20), |_, _| {})
        .await
        .unwrap();
    assert_eq!(info, meta.info_bytes);
    fetcher.shutdown().await;
    seeder.shutdown().await;
}

/// A fake peer that speaks just enough BEP 9 to lie: it announces
/// `size` bytes of metadata and answers every request with `fill` bytes.
async fn lying_metadata_peer(
    info_hash: riffle_protocol::InfoHash,
    size: u64,
    fill: u8,
) -> SocketAddr {
    use bytes::{Bytes, BytesMut};
    use riffle_protocol::wire::{
        ExtendedHandshake, Framer, Message, MetadataMessage, Reserved, UT_METADATA,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reserved = Reserved::empty().with(Reserved::EXTENSION_PROTOCOL, true);
    fake_peer(info_hash, reserved, move |mut s| async move {
        let mut ext = ExtendedHandshake {
            metadata_size: Some(size),
            ..ExtendedHandshake::default()
        };
        ext.m.insert(UT_METADATA.into(), 5);
        let send = |m: Message| {
            let mut out = BytesMut::new();
            m.encode(&mut out);
            out
        };
        let _ = s
            .write_all(&send(Message::Extended {
                id: 0,
                payload: Bytes::from(ext.encode()),
            }))
            .await;
        let framer = Framer::default();
        let mut buf = BytesMut::new();
        let mut their = 0;
        loop {
            match framer.parse(&mut buf) {
                Ok(Some(Message::Extended { id: 0, payload })) => {
                    their = ExtendedHandshake::decode(&payload)
                        .ok()
                        .and_then(|h| h.id_of(UT_METADATA))
                        .unwrap_or(0);
                }
                Ok(Some(Message::Extended { id: 5, payload })) => {
                    if let Ok(MetadataMessage::Request { piece }) =
                        MetadataMessage::decode(&payload)
                    {
                        let start = u64::from(piece) * 16384;
                        let len = size.saturating_sub(start).min(16384) as usize;
                        let data = MetadataMessage::Data {
                            piece,
                            total_size: size,
                            data: Bytes::from(vec![fill; len]),
                        };
                        let _ = s
                            .write_all(&send(Message::Extended {
                                id: their,
                                payload: Bytes::from(data.encode()),
                            }))
                            .await;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
    .await
}

/// A fake peer on 127.0.0.1 for `info_hash`: it answers each connection's
/// handshake with `reserved`, then hands the stream to `serve`.
async fn fake_peer<F, Fut>(
    info_hash: riffle_protocol::InfoHash,
    reserved: riffle_protocol::wire::Reserved,
    serve: F,
) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let serve = std::sync::Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let serve = serve.clone();
            tokio::spawn(async move {
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).await.is_err() {
                    return;
                }
                let ours = riffle_protocol::wire::Handshake {
                    reserved,
                    info_hash,
                    peer_id: riffle_protocol::PeerId([7; 20]),
                };
                if s.write_all(&ours.encode()).await.is_ok() {
                    serve(s).await;
                }
            });
        }
    });
    addr
}

/// Peers that send wrong metadata, or claim an absurd size, cost nothing
/// but their own attempt: the metadata still comes from the honest seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_metadata_peers_do_not_spoil_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let meta = payload(&dir.path().join("seed"), "honest", &[300_000], 11);
    let size = meta.info_bytes.len() as u64;
    let liar = lying_metadata_peer(meta.info_hash, size, 0x55).await;
    let boaster = lying_metadata_peer(meta.info_hash, 1 << 40, 0).await;
    let (seeder, _h) = start_seeder(&dir.path().join("seed"), &meta, 0, |_| {}).await;
    let fetcher = Session::start(local()).await.unwrap();
    let magnet = riffle_protocol::magnet::Magnet {
        info_hash: meta.info_hash,
        info_hash_v2: None,
        display_name: None,
        trackers: Vec::new(),
        // The liars first, so they are surely tried.
        peers: vec![liar.to_string(), boaster.to_string()],
    };
    let info = fetcher
        .fetch_metadata(
            &magnet,
            &[seeder.listen_addr()],
            Duration::from_secs(20),
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(info, meta.info_bytes);
    fetcher.shutdown().await;
    seeder.shutdown().await;
}

/// Peer exchange: a session that knows only a middle peer learns of the
/// seeder from it (BEP 11) and connects to it; a private torrent offers
/// no peer exchange at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_exchange_introduces_the_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let meta = payload(&seed_dir, "pex", &[2_000_000], 13);
    let (seeder, _h) = start_seeder(&seed_dir, &meta, 0, |_| {}).await;
    // The middle peer knows the seeder; it downloads slowly.
    let middle = Session::start(SessionConfig {
        max_download_rate: 50_000,
        ..local()
    })
    .await
    .unwrap();
    let mut o = TorrentOptions::new(dir.path().join("middle"));
    o.peers = vec![seeder.listen_addr()];
    o.seed = true;
    let _m = middle.add_torrent(meta.clone(), o).unwrap();
    // The newcomer knows only the middle peer.
    let newcomer = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("new"));
    o.peers = vec![middle.listen_addr()];
    let h = newcomer.add_torrent(meta.clone(), o).unwrap();
    // 2 MB in 10 s, which the middle peer (it gets 50 kB/s) could not
    // have given: the newcomer found the seeder through peer exchange.
    wait_complete(&h, Duration::from_secs(10)).await;
    newcomer.shutdown().await;
    middle.shutdown().await;
    seeder.shutdown().await;
}

/// The extended handshake a seeding session sends for `meta`.
async fn extended_handshake_of(
    seeder: &Session,
    meta: &Metainfo,
) -> riffle_protocol::wire::ExtendedHandshake {
    use bytes::BytesMut;
    use riffle_protocol::wire::{ExtendedHandshake, Framer, Handshake, Message, Reserved};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(seeder.listen_addr())
        .await
        .unwrap();
    let hs = Handshake {
        reserved: Reserved::empty().with(Reserved::EXTENSION_PROTOCOL, true),
        info_hash: meta.info_hash,
        peer_id: riffle_protocol::PeerId([9; 20]),
    };
    s.write_all(&hs.encode()).await.unwrap();
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).await.unwrap();
    let framer = Framer::default();
    let mut buf = BytesMut::new();
    loop {
        match framer.parse(&mut buf).unwrap() {
            Some(Message::Extended { id: 0, payload }) => {
                return ExtendedHandshake::decode(&payload).unwrap()
            }
            Some(_) => {}
            None => assert!(s.read_buf(&mut buf).await.unwrap() > 0, "closed"),
        }
    }
}

/// BEP 27: a private torrent offers no peer exchange (it still serves its
/// metadata); a public one offers both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_torrent_offers_no_peer_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    std::fs::write(seed.join("p.bin"), vec![3u8; 70_000]).unwrap();
    let build = |private: bool| {
        let mut b = TorrentBuilder::new("p.bin".into(), PIECE);
        b.single_file(70_000);
        b.piece_hashes(vec![
            Sha1::digest(vec![3u8; 65536]).into(),
            Sha1::digest(vec![3u8; 70_000 - 65536]).into(),
        ]);
        b.private(private);
        Metainfo::from_bytes(&b.build().unwrap().0).unwrap()
    };
    for (private, pex) in [(true, false), (false, true)] {
        let meta = build(private);
        let (seeder, _h) = start_seeder(&seed, &meta, 0, |_| {}).await;
        let ext = extended_handshake_of(&seeder, &meta).await;
        assert_eq!(
            ext.id_of("ut_pex").is_some(),
            pex,
            "private {private}: {ext:?}"
        );
        assert!(ext.id_of("ut_metadata").is_some());
        seeder.shutdown().await;
    }
}

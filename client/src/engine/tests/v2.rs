//! BitTorrent v2 (BEP 52) between sessions: a v2 torrent whose piece
//! layers are missing fetches them from a seeder, and peers that lie about
//! hashes or pieces in a v2 swarm are banned.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use riffle_protocol::merkle::{self, Hash32};
use riffle_protocol::metainfo::{Metainfo, TorrentBuilder, Version};
use riffle_protocol::wire::{Framer, Message, Reserved};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fake_peer, local, same_tree, start_seeder, wait_complete, PIECE};
use crate::engine::{Session, TorrentHandle, TorrentOptions};

/// Files of these lengths under `dir/name` and their v2-only torrent, with
/// its piece layers (`layers`) or without (as from a magnet link).
fn v2_payload(dir: &Path, name: &str, lengths: &[u64], seed: u64) -> (Metainfo, Metainfo) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut b = TorrentBuilder::new(name.into(), PIECE);
    let mut hashes = Vec::new();
    for (i, len) in lengths.iter().enumerate() {
        let mut data = vec![0u8; *len as usize];
        rng.fill_bytes(&mut data);
        let path = vec![format!("f{i}.bin")];
        let full = dir.join(name).join(&path[0]);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &data).unwrap();
        b.file(path, *len);
        hashes.push((*len > 0).then(|| {
            let leaves: Vec<Hash32> = data.chunks(16 * 1024).map(merkle::leaf).collect();
            let (layer, root) = merkle::file_tree(&leaves, PIECE);
            (root, (*len > u64::from(PIECE)).then_some(layer))
        }));
    }
    let build = |b: &mut TorrentBuilder, layers: bool| {
        let files = hashes
            .iter()
            .map(|h| h.clone().map(|(r, l)| (r, l.filter(|_| layers))))
            .collect();
        b.v2(Version::V2, files);
        Metainfo::from_bytes(&b.build().unwrap().0).unwrap()
    };
    let whole = build(&mut b, true);
    let bare = build(&mut b, false);
    assert_eq!(
        whole.info_hash, bare.info_hash,
        "layers lie outside the info"
    );
    assert!(!whole.piece_layers.is_empty() && bare.piece_layers.is_empty());
    (whole, bare)
}

/// Run until `h` has banned someone (within `limit`).
async fn wait_banned(h: &TorrentHandle, limit: Duration) {
    let start = Instant::now();
    let mut rx = h.status();
    while rx.borrow().banned == 0 {
        assert!(start.elapsed() < limit, "nobody banned after {limit:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_piece_layers_come_from_the_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    // Files of many pieces, of one, of less than a block, and empty.
    let lengths = [1_500_000, PIECE as u64, 77, 0, 300_001];
    let (whole, bare) = v2_payload(&seed_dir, "v2", &lengths, 21);
    let (seeder, _h) = start_seeder(&seed_dir, &whole, 0, |_| {}).await;
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("out"));
    o.peers = vec![seeder.listen_addr()];
    let h = l.add_torrent(bare.clone(), o).unwrap();
    wait_complete(&h, Duration::from_secs(30)).await;
    same_tree(&seed_dir, &dir.path().join("out"), &whole);
    let st = h.status().borrow().clone();
    assert_eq!((st.hash_failures, st.banned), (0, 0));
    l.shutdown().await;
    seeder.shutdown().await;
}

/// Parked v2 seeds serve piece layers once woken: one whose metainfo
/// holds them (rebuilt from it), and one that fetched them from peers
/// (kept in its parked record: its metainfo has none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_seeds_serve_piece_layers_when_they_wake() {
    use super::idle::{parking, wait_parked};
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let lengths = [1_500_000, PIECE as u64, 77, 0, 300_001];
    let (whole, bare) = v2_payload(&seed_dir, "v2", &lengths, 23);
    let after = Duration::from_millis(300);
    let seeder = Session::start(parking(after)).await.unwrap();
    let mut o = TorrentOptions::new(&seed_dir);
    o.seed = true;
    o.require_complete = true;
    let _sh = seeder.add_torrent(whole.clone(), o).unwrap();
    wait_parked(&seeder, 1, "the seed").await;
    // A leecher with the bare metainfo fetches the layers from the woken
    // seed, then seeds alone until it parks.
    let middle = Session::start(parking(after)).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("mid"));
    o.peers = vec![seeder.listen_addr()];
    o.seed = true;
    let mh = middle.add_torrent(bare.clone(), o).unwrap();
    wait_complete(&mh, Duration::from_secs(30)).await;
    seeder.shutdown().await;
    wait_parked(&middle, 1, "the seed that fetched its layers").await;
    let l = Session::start(local()).await.unwrap();
    let mut o = TorrentOptions::new(dir.path().join("out"));
    o.peers = vec![middle.listen_addr()];
    let h = l.add_torrent(bare.clone(), o).unwrap();
    wait_complete(&h, Duration::from_secs(30)).await;
    same_tree(&seed_dir, &dir.path().join("out"), &whole);
    let st = h.status().borrow().clone();
    assert_eq!((st.hash_failures, st.banned), (0, 0));
    l.shutdown().await;
    middle.shutdown().await;
}

/// How a [`lying_peer`] lies.
#[derive(Clone, Copy)]
enum Lie {
    /// Hash requests answered with hashes that prove nothing.
    Hashes,
    /// Block requests answered with the wrong bytes.
    Blocks,
}

/// A fake v2 peer that has every piece of `meta`, unchokes at once and
/// lies as `lie` says.
async fn lying_peer(meta: &Metainfo, lie: Lie) -> SocketAddr {
    let (info_hash, pieces) = (meta.info_hash, meta.info.piece_count());
    let reserved = Reserved::empty().with(Reserved::V2, true);
    fake_peer(info_hash, reserved, move |mut s| async move {
        let mut field = vec![0u8; (pieces as usize).div_ceil(8)];
        for p in 0..pieces as usize {
            field[p / 8] |= 0x80 >> (p % 8);
        }
        let mut out = BytesMut::new();
        Message::Bitfield(Bytes::from(field)).encode(&mut out);
        Message::Unchoke.encode(&mut out);
        if s.write_all(&out).await.is_err() {
            return;
        }
        let framer = Framer::default();
        let mut buf = BytesMut::new();
        loop {
            let reply = match framer.parse(&mut buf) {
                Ok(Some(Message::HashRequest(range))) if matches!(lie, Lie::Hashes) => {
                    let n = (range.length + range.proof_layers) as usize;
                    Some(Message::Hashes {
                        range,
                        hashes: Bytes::from(vec![0x33; n * 32]),
                    })
                }
                Ok(Some(Message::Request(b))) if matches!(lie, Lie::Blocks) => {
                    Some(Message::Piece {
                        piece: b.piece,
                        offset: b.offset,
                        data: Bytes::from(vec![0x55; b.length as usize]),
                    })
                }
                Ok(Some(_)) => None,
                Ok(None) => match s.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => None,
                },
                Err(_) => return,
            };
            if let Some(m) = reply {
                let mut out = BytesMut::new();
                m.encode(&mut out);
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// A peer whose hashes do not prove out against the file's root, and one
/// whose blocks fail the merkle check, are each banned; the download then
/// completes from the honest seeder, its pieces checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_lying_about_hashes_or_pieces_are_banned() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let (whole, bare) = v2_payload(&seed_dir, "lies", &[1_000_000, 200_000], 22);
    for (lie, meta, name) in [
        (Lie::Hashes, &bare, "hashes"),
        (Lie::Blocks, &whole, "blocks"),
    ] {
        let liar = lying_peer(&whole, lie).await;
        let l = Session::start(local()).await.unwrap();
        let mut o = TorrentOptions::new(dir.path().join(name));
        o.peers = vec![liar];
        let h = l.add_torrent(meta.clone(), o).unwrap();
        wait_banned(&h, Duration::from_secs(20)).await;
        assert_eq!(
            h.status().borrow().have_pieces,
            0,
            "{name}: nothing from the liar"
        );
        // The honest seeder finishes the job.
        let (seeder, _s) = start_seeder(&seed_dir, &whole, 0, |_| {}).await;
        h.add_peers(vec![seeder.listen_addr()]).await;
        wait_complete(&h, Duration::from_secs(30)).await;
        same_tree(&seed_dir, &dir.path().join(name), &whole);
        assert_eq!(h.status().borrow().banned, 1, "{name}");
        l.shutdown().await;
        seeder.shutdown().await;
    }
}

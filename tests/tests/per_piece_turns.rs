//! Issue 4: a per-piece seed choker's turn is one piece, seen on the wire.
//!
//! The paper's most-deprived publisher sends a peer one piece and decides
//! again. A riffle seed with `--seed-choker most-deprived` and no upload
//! limit serves a lone downloader (a scripted peer speaking BEP 3) that
//! asks for every block of four pieces at once: each UNCHOKE must be
//! followed by exactly one piece's bytes and then a CHOKE, however many
//! blocks are still requested, and the next turn (the same peer drawn
//! again) starts with a new UNCHOKE. The control: with the default
//! round-robin seed choker the same requests are all served in one
//! unchoke.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use riffle_protocol::metainfo::Metainfo;
use riffle_protocol::wire::{Message, RawBlock, Reserved};
use riffle_protocol::{PeerId, BLOCK_SIZE};
use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{write_tree, FileSpec};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::scripted::PeerStream;

/// What the downloader saw: bytes received in each unchoked stretch, and
/// whether a CHOKE ended it.
#[derive(Debug, Default)]
struct Turns {
    stretches: Vec<(u64, bool)>,
    total: u64,
}

/// Seed a 1 MiB torrent with `extra` flags and download `pieces` pieces
/// from it over one connection, re-requesting whatever a CHOKE dropped.
fn download(extra: &[&str], pieces: u32) -> (Turns, u32) {
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let files = vec![FileSpec {
        path: "payload.bin".into(),
        len: 1 << 20,
    }];
    let top = write_tree(&data, "turns", &files, 0x7u64);
    let torrent = tmp.path().join("turns.torrent");
    riffle_create(&top, &torrent, None);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let piece_len = meta.info.piece_length;
    assert!(meta.info.piece_count() >= pieces);
    let mut args = vec![
        "seed",
        torrent.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut riffle = RiffleProc::start("riffle seed", &args, &tmp.path().join("riffle.log"));

    // `listening on` comes before the torrent has checked its data; until
    // then the listener drops a handshake for it: try again for a while.
    let never = || false;
    let started = Instant::now();
    let mut s = loop {
        let sock = TcpStream::connect(("127.0.0.1", riffle.port)).unwrap();
        let mut s = PeerStream::new(sock).unwrap();
        // The fast extension (BEP 6): a request the seed drops at a
        // choke comes back rejected, so we know which requests are still
        // pending. Without it a request sent before our CHOKE arrived could
        // be taken up after the seed's next UNCHOKE and asked for again.
        s.send_handshake(
            meta.info_hash,
            PeerId(*b"-SC0001-turnstests00"),
            Reserved::default().with(Reserved::FAST, true),
        )
        .unwrap();
        match s.read_handshake(&never) {
            Ok(_) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("riffle seed never accepted the handshake: {e:?}"),
        }
    };
    s.send(&Message::Interested).unwrap();

    let blocks: Vec<RawBlock> = (0..pieces)
        .flat_map(|p| {
            (0..piece_len / BLOCK_SIZE).map(move |i| RawBlock {
                piece: p,
                offset: i * BLOCK_SIZE,
                length: BLOCK_SIZE,
            })
        })
        .collect();
    let mut got = vec![false; blocks.len()];
    // Requests sent and neither answered nor rejected.
    let mut pending = vec![false; blocks.len()];
    let mut turns = Turns::default();
    let mut unchoked = false;
    let mut stretch = 0u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.iter().any(|g| !g) && Instant::now() < deadline {
        let Some(msg) = s.next(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        match msg {
            Message::Unchoke if !unchoked => {
                unchoked = true;
                stretch = 0;
                // Ask for everything still missing and not pending, every
                // time.
                for (i, b) in blocks.iter().enumerate() {
                    if !got[i] && !pending[i] {
                        s.send(&Message::Request(*b)).unwrap();
                        pending[i] = true;
                    }
                }
            }
            Message::Choke if unchoked => {
                unchoked = false;
                turns.stretches.push((stretch, true));
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let i = blocks
                    .iter()
                    .position(|b| b.piece == piece && b.offset == offset)
                    .expect("a block we asked for");
                assert!(!got[i], "block {piece}/{offset} sent twice");
                got[i] = true;
                pending[i] = false;
                stretch += data.len() as u64;
                turns.total += data.len() as u64;
            }
            Message::RejectRequest(r) => {
                if let Some(i) = blocks.iter().position(|b| *b == r) {
                    pending[i] = false;
                }
            }
            _ => {}
        }
    }
    // The last piece's CHOKE may still be on its way.
    let settle = Instant::now() + Duration::from_secs(2);
    while unchoked && Instant::now() < settle {
        if let Ok(Some(Message::Choke)) = s.next(Duration::from_millis(100)) {
            unchoked = false;
            turns.stretches.push((stretch, true));
        }
    }
    if unchoked {
        turns.stretches.push((stretch, false));
    }
    riffle.terminate(Duration::from_secs(5));
    assert!(
        got.iter().all(|g| *g),
        "only {} of {} blocks arrived in 20 s: {turns:?}; riffle's log:\n{}",
        got.iter().filter(|g| **g).count(),
        got.len(),
        riffle.log_tail(40)
    );
    (turns, piece_len)
}

#[test]
fn a_most_deprived_seed_sends_one_piece_per_unchoke() {
    let (turns, piece_len) = download(&["--seed-choker", "most-deprived"], 4);
    assert_eq!(turns.total, 4 * u64::from(piece_len));
    assert_eq!(
        turns.stretches.len(),
        4,
        "four pieces should take four turns: {turns:?}"
    );
    for (i, (bytes, choked)) in turns.stretches.iter().enumerate() {
        assert_eq!(
            *bytes,
            u64::from(piece_len),
            "turn {i} carried {bytes} bytes, not one piece: {turns:?}"
        );
        assert!(*choked, "turn {i} was not ended by a CHOKE: {turns:?}");
    }
}

#[test]
fn a_round_robin_seed_serves_the_whole_request_in_one_unchoke() {
    let (turns, piece_len) = download(&[], 4);
    assert_eq!(turns.total, 4 * u64::from(piece_len));
    assert_eq!(
        turns.stretches,
        vec![(4 * u64::from(piece_len), false)],
        "the control choked the lone downloader mid-way"
    );
}

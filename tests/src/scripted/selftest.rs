//! The scripted peers checked against a scripted downloader, so the
//! end-to-end tests that use them can trust what they count.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_protocol::wire::{Message, RawBlock, Reserved};
use riffle_protocol::{Bitfield, PeerId, BLOCK_SIZE};
use sha1::{Digest, Sha1};

use super::*;

const LEECHER: PeerId = PeerId(*b"-ST0001-selftest0000");

fn content() -> Arc<Content> {
    Arc::new(Content::single_file("self.bin", 1_000_000, 64 * 1024, 5))
}

/// Dial `peer`, handshake, and return the stream.
fn dial(peer: &ScriptedPeer, c: &Content) -> PeerStream {
    let socket = TcpStream::connect(peer.addr()).expect("dial the scripted peer");
    let mut ps = PeerStream::new(socket).expect("wrap");
    ps.send_handshake(c.info_hash, LEECHER, Reserved::empty())
        .expect("send handshake");
    let theirs = ps.read_handshake(&|| false).expect("their handshake");
    assert_eq!(theirs.info_hash, c.info_hash);
    assert_eq!(&theirs.peer_id.0[..8], b"-SC0001-");
    ps
}

fn next(ps: &mut PeerStream) -> Message {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(m) = ps.next(Duration::from_millis(50)).expect("connection open") {
            return m;
        }
        assert!(Instant::now() < deadline, "no message within 10 s");
    }
}

/// The peer's upload count once it reaches `want` (it is counted just after
/// the write, so the reader can see the bytes a moment before the count), or
/// whatever it is after two seconds.
fn uploaded_settles(stats: &Stats, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(2);
    while stats.uploaded() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stats.uploaded()
}

fn all_blocks(c: &Content) -> Vec<RawBlock> {
    let mut out = Vec::new();
    for piece in 0..c.piece_count() {
        let len = c.piece_len(piece);
        let mut offset = 0;
        while offset < len {
            let length = BLOCK_SIZE.min(len - offset);
            out.push(RawBlock {
                piece,
                offset,
                length,
            });
            offset += length;
        }
    }
    out
}

/// Request every block at once; the blocks received, by `(piece, offset)`.
fn fetch_all(ps: &mut PeerStream, c: &Content) -> HashMap<(u32, u32), Vec<u8>> {
    match next(ps) {
        Message::Bitfield(b) => {
            let bf = Bitfield::from_bytes(&b, c.piece_count()).expect("valid bitfield");
            assert!(bf.is_full(), "a seeder advertises every piece");
        }
        other => panic!("expected BITFIELD first, got {other:?}"),
    }
    assert_eq!(next(ps), Message::Unchoke);
    ps.send(&Message::Interested).unwrap();
    let blocks = all_blocks(c);
    for b in &blocks {
        ps.send(&Message::Request(*b)).unwrap();
    }
    let mut got = HashMap::new();
    while got.len() < blocks.len() {
        match next(ps) {
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                got.insert((piece, offset), data.to_vec());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

#[test]
fn seeder_serves_every_block_at_its_rate() {
    let c = content();
    let seeder = ScriptedPeer::seeder(c.clone(), Some(2_000_000));
    let mut ps = dial(&seeder, &c);
    let start = Instant::now();
    let got = fetch_all(&mut ps, &c);
    let took = start.elapsed();
    for piece in 0..c.piece_count() {
        let mut bytes = Vec::new();
        let mut offset = 0;
        while let Some(b) = got.get(&(piece, offset)) {
            bytes.extend_from_slice(b);
            offset += b.len() as u32;
        }
        assert_eq!(
            bytes,
            c.data[c.piece_range(piece).unwrap()],
            "piece {piece}"
        );
    }
    assert_eq!(
        uploaded_settles(seeder.stats(), c.total_length()),
        c.total_length()
    );
    assert_eq!(
        Stats::get(&seeder.stats().requests),
        all_blocks(&c).len() as u64
    );
    // 1 MB at 2 MB/s, less the initial burst.
    assert!(took >= Duration::from_millis(400), "too fast: {took:?}");
    assert!(took < Duration::from_secs(3), "too slow: {took:?}");
}

#[test]
fn liar_serves_wrong_bytes_of_the_right_length() {
    let c = content();
    let liar = ScriptedPeer::liar(c.clone());
    let mut ps = dial(&liar, &c);
    let got = fetch_all(&mut ps, &c);
    for b in all_blocks(&c) {
        let data = &got[&(b.piece, b.offset)];
        let want = c.block(b.piece, b.offset, b.length).unwrap();
        assert_eq!(data.len(), want.len());
        assert!(data.iter().zip(want).all(|(x, y)| x != y));
    }
    for piece in 0..c.piece_count() {
        let mut h = Sha1::new();
        let mut offset = 0;
        while let Some(b) = got.get(&(piece, offset)) {
            h.update(b);
            offset += b.len() as u32;
        }
        let r = c.piece_range(piece).unwrap();
        assert_ne!(h.finalize().as_slice(), Sha1::digest(&c.data[r]).as_slice());
    }
    assert_eq!(
        uploaded_settles(liar.stats(), c.total_length()),
        c.total_length()
    );
}

#[test]
fn seeder_honours_cancel() {
    let c = content();
    // 64 KiB/s: 32 blocks would take 8 s.
    let seeder = ScriptedPeer::seeder(c.clone(), Some(64 * 1024));
    let mut ps = dial(&seeder, &c);
    let blocks: Vec<RawBlock> = all_blocks(&c).into_iter().take(32).collect();
    for b in &blocks {
        ps.send(&Message::Request(*b)).unwrap();
    }
    for b in &blocks[8..] {
        ps.send(&Message::Cancel(*b)).unwrap();
    }
    // The 8 kept blocks take about 1.5 s; then nothing more may come.
    let start = Instant::now();
    let mut pieces = 0u64;
    let mut quiet_since = None;
    while start.elapsed() < Duration::from_secs(6) {
        match ps.next(Duration::from_millis(50)).unwrap() {
            Some(Message::Piece { piece, offset, .. }) => {
                let i = blocks
                    .iter()
                    .position(|b| b.piece == piece && b.offset == offset)
                    .expect("a requested block");
                assert!(i < 8, "cancelled block {i} was sent");
                pieces += 1;
                if pieces == 8 {
                    quiet_since = Some(Instant::now());
                }
            }
            Some(other) => assert!(
                matches!(other, Message::Bitfield(_) | Message::Unchoke),
                "{other:?}"
            ),
            None => {}
        }
        if quiet_since.is_some_and(|t| t.elapsed() > Duration::from_millis(600)) {
            break;
        }
    }
    assert_eq!(pieces, 8, "the uncancelled blocks arrive");
    assert_eq!(Stats::get(&seeder.stats().cancels), 24);
    let want = pieces * u64::from(BLOCK_SIZE);
    assert_eq!(uploaded_settles(seeder.stats(), want), want);
}

#[test]
fn huge_frame_announces_two_gib_and_trickles() {
    let c = content();
    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::HugeFrame, None);
    let socket = TcpStream::connect(peer.addr()).unwrap();
    let mut ps = PeerStream::new(socket.try_clone().unwrap()).unwrap();
    ps.send_handshake(c.info_hash, LEECHER, Reserved::empty())
        .unwrap();
    ps.read_handshake(&|| false).unwrap();
    // The framer refuses the prefix: exactly the hostile frame.
    match ps.next(Duration::from_secs(2)) {
        Err(End::Local(why)) => assert!(why.contains("2147483647"), "{why}"),
        other => panic!("expected the framer to refuse, got {other:?}"),
    }
    let mut raw = socket;
    raw.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut raw, &mut byte).expect("trickled byte");
    drop(raw);
    drop(ps);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let conns = peer.stats().connections();
        if let Some((conn, _, Some((_, ending)))) = conns.first() {
            assert_eq!(*ending, Ending::Remote);
            assert!(peer.stats().hostile_sent(*conn).is_some());
            break;
        }
        assert!(Instant::now() < deadline, "hang-up not seen: {conns:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn have_out_of_range_and_spare_bits() {
    let c = content();
    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::HaveOutOfRange, None);
    let mut ps = dial(&peer, &c);
    assert_eq!(next(&mut ps), Message::Have(c.piece_count()));
    assert_eq!(next(&mut ps), Message::Have(u32::MAX));
    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::SpareBitfieldBits, None);
    let mut ps = dial(&peer, &c);
    match next(&mut ps) {
        Message::Bitfield(b) => assert!(Bitfield::from_bytes(&b, c.piece_count()).is_err()),
        other => panic!("expected BITFIELD, got {other:?}"),
    }
}

#[test]
fn drop_stops_open_connections_promptly() {
    let c = content();
    let peer = ScriptedPeer::seeder(c.clone(), Some(1));
    let _ps = dial(&peer, &c);
    let start = Instant::now();
    drop(peer);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn wrong_torrent_is_refused() {
    let c = content();
    let other = Content::single_file("other.bin", 1000, 16 * 1024, 1);
    let peer = ScriptedPeer::seeder(c.clone(), None);
    let socket = TcpStream::connect(peer.addr()).unwrap();
    let mut ps = PeerStream::new(socket).unwrap();
    ps.send_handshake(other.info_hash, LEECHER, Reserved::empty())
        .unwrap();
    assert!(matches!(ps.read_handshake(&|| false), Err(End::Remote)));
    assert_eq!(Stats::get(&peer.stats().handshakes), 0);
}

#[test]
fn riffle_runs_report_the_bytes_they_read() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Content::single_file("big.bin", 6 << 20, 256 * 1024, 8);
    c.write_data(tmp.path());
    let src = tmp.path().join("big.bin");
    let out = tmp.path().join("big.torrent");
    let (r, exit) = run_to_end(
        "create",
        &["create", src.to_str().unwrap(), "-o", out.to_str().unwrap()],
        tmp.path(),
        Duration::from_secs(60),
    );
    assert!(exit.status.success(), "{}", r.report(20));
    let rchar = exit.rchar.expect("Linux reports rchar");
    assert!(rchar >= 6 << 20, "hashing 6 MiB read only {rchar} bytes");
    assert!(rchar < 8 << 20, "read {rchar} bytes for a 6 MiB file");
    assert!(exit.peak_rss_kib > 0);
}

#[test]
fn mangler_answers_with_blocks_nobody_asked_for() {
    let c = content();
    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::Mangler, None);
    let mut ps = dial(&peer, &c);
    assert!(matches!(next(&mut ps), Message::Bitfield(_)));
    assert_eq!(next(&mut ps), Message::Unchoke);
    let asked: Vec<RawBlock> = all_blocks(&c).into_iter().take(3).collect();
    for b in &asked {
        ps.send(&Message::Request(*b)).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Message::Piece {
            piece,
            offset,
            data,
        } = next(&mut ps)
        {
            got.push((piece, offset, data.len() as u32));
        }
    }
    let b = |i: usize| asked[i];
    assert_eq!(got[0], (b(0).piece, b(0).offset, b(0).length + 1));
    assert_eq!(got[1], (b(1).piece, b(1).offset, b(1).length - 1));
    assert_eq!(got[2], (b(2).piece, b(2).offset + b(2).length, b(2).length));
    let want = u64::from(3 * BLOCK_SIZE);
    assert_eq!(uploaded_settles(peer.stats(), want), want);
}

#[test]
fn choker_drops_requests_and_black_hole_swallows_them() {
    let c = content();
    let asked: Vec<RawBlock> = all_blocks(&c).into_iter().take(4).collect();
    for behaviour in [Behaviour::Choker, Behaviour::BlackHole] {
        let peer = ScriptedPeer::spawn(c.clone(), behaviour, None);
        let mut ps = dial(&peer, &c);
        assert!(matches!(next(&mut ps), Message::Bitfield(_)));
        assert_eq!(next(&mut ps), Message::Unchoke);
        for b in &asked {
            ps.send(&Message::Request(*b)).unwrap();
        }
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < Duration::from_millis(600) {
            if let Some(m) = ps.next(Duration::from_millis(20)).unwrap() {
                seen.push(m);
            }
        }
        let want = if behaviour == Behaviour::Choker {
            vec![Message::Choke]
        } else {
            vec![]
        };
        assert_eq!(seen, want, "{behaviour:?}");
        assert_eq!(Stats::get(&peer.stats().requests), 4, "{behaviour:?}");
        assert_eq!(peer.stats().uploaded(), 0);
    }
}

#[test]
fn subtle_liar_turns_and_spoils_only_first_blocks() {
    let c = Arc::new(Content::single_file("turncoat.bin", 3 << 20, 64 * 1024, 6));
    let liar = ScriptedPeer::spawn(c.clone(), Behaviour::SubtleLiar, None);
    let mut ps = dial(&liar, &c);
    let got = fetch_all(&mut ps, &c);
    let mut corrupted = 0;
    for (i, b) in all_blocks(&c).into_iter().enumerate() {
        let want = c.block(b.piece, b.offset, b.length).unwrap();
        let data = &got[&(b.piece, b.offset)];
        let differing = data.iter().zip(want).filter(|(x, y)| x != y).count();
        let turned = i as u64 >= TURNCOAT_HONEST_BLOCKS;
        assert_eq!(differing, usize::from(turned && b.offset == 0), "{b:?}");
        corrupted += differing as u64;
    }
    assert!(corrupted > 0);
    assert_eq!(Stats::get(&liar.stats().corrupted_blocks), corrupted);
}

#[test]
fn fast_extension_abusers_say_what_they_should() {
    let c = content();
    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::HaveAllUnnegotiated, None);
    let mut ps = dial(&peer, &c);
    assert_eq!(next(&mut ps), Message::HaveAll);

    let peer = ScriptedPeer::spawn(c.clone(), Behaviour::FastNonsense, None);
    let socket = TcpStream::connect(peer.addr()).unwrap();
    let mut ps = PeerStream::new(socket).unwrap();
    let fast = Reserved::empty().with(Reserved::FAST, true);
    ps.send_handshake(c.info_hash, LEECHER, fast).unwrap();
    let theirs = ps.read_handshake(&|| false).unwrap();
    assert!(theirs.reserved.fast());
    assert_eq!(next(&mut ps), Message::HaveNone);
    assert_eq!(next(&mut ps), Message::SuggestPiece(u32::MAX));
    assert_eq!(next(&mut ps), Message::AllowedFast(c.piece_count()));
    assert!(matches!(next(&mut ps), Message::RejectRequest(_)));
}

#[test]
fn plain_peers_offer_no_extensions() {
    let c = content();
    let peer = ScriptedPeer::seeder(c.clone(), None);
    let socket = TcpStream::connect(peer.addr()).unwrap();
    let mut ps = PeerStream::new(socket).unwrap();
    let all = Reserved::empty()
        .with(Reserved::FAST, true)
        .with(Reserved::EXTENSION_PROTOCOL, true);
    ps.send_handshake(c.info_hash, LEECHER, all).unwrap();
    assert_eq!(ps.read_handshake(&|| false).unwrap().reserved.0, [0; 8]);
}

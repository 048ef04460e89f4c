//! riffle's sans-IO core speaks the peer wire protocol with a real
//! libtorrent (2.0) over a real TCP socket on 127.0.0.1: `PeerConnection`
//! driven by a plain blocking loop, blocks chosen by the `RarestFirst`
//! picker, data written to / served from `riffle-storage` and checked by
//! its `Verifier` against the `Metainfo` hashes.
//!
//! 1. download: libtorrent (stock settings) seeds a multi-file payload
//!    made by `riffle create`; we dial it and fetch every piece, cancelling
//!    the whole pipeline once on the way and re-requesting it.
//! 2. seed: we listen and serve the payload from an `FsStorage`;
//!    libtorrent dials us and downloads it while we choke it once with
//!    requests queued, then re-checks it with its own hash check.
//!
//! Each runs with BEP 6 + BEP 10 offered and without. Besides our own
//! view, `scripts/lt_peer.py` reports libtorrent's from its peer log: the
//! messages it parsed from us, our extended handshake, why it hung up, and
//! its byte counters, which must balance against ours.

#[path = "wire_libtorrent/driver.rs"]
mod driver;
#[path = "wire_libtorrent/lt.rs"]
mod lt;
#[path = "wire_libtorrent/payload.rs"]
mod payload;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use riffle_policies::picker::{AvailabilityChange, PiecePicker, RarestFirst, Received, Remote};
use riffle_policies::PeerKey;
use riffle_protocol::peer::{CommandError, ConnectionError, Event, PeerConnection};
use riffle_protocol::{Bitfield, PeerId};
use riffle_storage::{FsStorage, MemStorage, Storage, Verifier};
use riffle_tests::require_libtorrent;

use driver::{Driver, Stop};
use lt::LtPeer;
use payload::{make_payload, Extensions, OUR_CLIENT};

/// Requests kept in flight while unchoked.
const PIPELINE: usize = 32;
/// A transfer that takes longer than this has failed.
const TRANSFER_LIMIT: Duration = Duration::from_secs(30);
/// The seeder chokes libtorrent once after serving this many blocks...
const CHOKE_AFTER_BLOCKS: u64 = 48;
/// ...for this long.
const CHOKE_FOR: Duration = Duration::from_millis(200);
/// The seeder's keep-alive interval (well under `CHOKE_FOR`).
const KEEP_ALIVE: Duration = Duration::from_millis(50);

/// What the download loop saw.
#[derive(Default)]
struct Downloaded {
    verified: u32,
    failed: u32,
    peer_client: Option<String>,
    peer_id: Option<PeerId>,
    fast: bool,
    extension_protocol: bool,
    /// Requests withdrawn with CANCEL (once, after the first piece).
    cancelled: u64,
    /// The cancel exercise ran.
    cancel_done: bool,
    /// Requests the core reported rejected.
    rejected: u64,
    events: Vec<String>,
}

#[test]
fn download_from_libtorrent() {
    download(Extensions::On);
}

#[test]
fn download_from_libtorrent_without_extensions() {
    download(Extensions::Off);
}

/// Dial a libtorrent seeder and download the whole payload from it.
fn download(ext: Extensions) {
    let python = require_libtorrent();
    let payload = make_payload();
    let mut seeder = LtPeer::start(
        python,
        &[
            "seed",
            payload.torrent.to_str().expect("utf-8 path"),
            payload.save_path().to_str().expect("utf-8 path"),
            // Stock settings: libtorrent paces its uploads, so our requests
            // are still queued there when we cancel them (it answers with
            // REJECTs), and it grants ALLOWED FAST pieces.
            "default",
        ],
    );
    let ready = seeder.json_line(Instant::now() + Duration::from_secs(20));
    let port = ready["port"].as_u64().expect("seeder prints its port") as u16;
    assert_ne!(port, 0, "libtorrent is not listening");

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to libtorrent");
    let started = Instant::now();
    let deadline = started + TRANSFER_LIMIT;
    let conn = PeerConnection::new(
        started,
        payload.setup(Bitfield::new(payload.meta.info.piece_count()), true, ext),
    );
    let mut driver = Driver::new(stream, conn);

    let mut picker = RarestFirst::rarest_first(payload.geometry(), StdRng::seed_from_u64(7));
    let storage = MemStorage::new(payload.layout());
    storage.create_empty_files().expect("create the empty file");
    let mut verifier = Verifier::new();
    let me = PeerKey(1);
    let mut seen = Downloaded::default();
    let mut events = Vec::new();
    let mut picked = Vec::new();
    let mut cancel = Vec::new();

    while !picker.book().is_finished() {
        assert!(
            Instant::now() < deadline,
            "download not finished within {TRANSFER_LIMIT:?}: {} of {} pieces; events {:?}\nlibtorrent:\n{}",
            picker.book().have_count(),
            payload.meta.info.piece_count(),
            seen.events,
            seeder.stderr()
        );
        match driver.step(&mut events) {
            Ok(()) => {}
            Err(Stop::Connection(e)) => panic!(
                "riffle's core rejected libtorrent: {e}\nevents {:?}\nlibtorrent:\n{}",
                seen.events,
                seeder.stderr()
            ),
            Err(stop) => panic!(
                "connection ended early: {stop:?}\nevents {:?}\nlibtorrent:\n{}",
                seen.events,
                seeder.stderr()
            ),
        }
        let now = Instant::now();
        for event in events.drain(..) {
            if !matches!(event, Event::BlockReceived { .. }) {
                seen.events.push(format!("{event:?}"));
            }
            let conn = &mut driver.conn;
            match event {
                Event::HandshakeCompleted { peer_id, .. } => {
                    seen.peer_id = Some(peer_id);
                    seen.fast = conn.fast();
                    seen.extension_protocol = conn.extension_protocol();
                }
                Event::ExtendedHandshake(hs) => seen.peer_client = hs.client,
                Event::Bitfield(bits) => {
                    picker.on_availability(AvailabilityChange::Bitfield(&bits));
                    want_pieces(conn, now);
                }
                Event::HaveAll => {
                    picker.on_availability(AvailabilityChange::HaveAll);
                    want_pieces(conn, now);
                }
                Event::HaveNone => picker.on_availability(AvailabilityChange::HaveNone),
                Event::Have(piece) => {
                    picker.on_availability(AvailabilityChange::Have(piece));
                    want_pieces(conn, now);
                }
                Event::RequestRejected(block) => {
                    seen.rejected += 1;
                    picker
                        .request_returned(me, block)
                        .expect("a block of this torrent");
                }
                Event::BlockReceived { block, data } => {
                    storage
                        .write_block(block.piece, block.offset, &data)
                        .expect("store the block");
                    let got = picker
                        .block_received(me, block, &mut cancel)
                        .expect("a block of this torrent");
                    if got == Received::PieceComplete {
                        let hash = payload.meta.info.piece_hash(block.piece);
                        let ok = verifier
                            .verify(&storage, block.piece, hash)
                            .expect("hash the piece");
                        if ok {
                            seen.verified += 1;
                            picker.piece_passed(block.piece).expect("a piece");
                            conn.announce_have(now, block.piece).expect("send HAVE");
                        } else {
                            seen.failed += 1;
                            picker.piece_failed(block.piece).expect("a piece");
                        }
                    }
                }
                _ => {}
            }
        }
        let conn = &mut driver.conn;
        // Once, after the first piece: withdraw every request in flight
        // (CANCEL) and hand the blocks back to the picker, which picks
        // them again at once. libtorrent may already have sent some, may
        // reject (BEP 6) or drop the cancelled ones; the accounting below
        // must still balance.
        if seen.verified >= 1 && !seen.cancel_done && !conn.outstanding().is_empty() {
            seen.cancel_done = true;
            let in_flight: Vec<_> = conn.outstanding().iter().map(|r| r.block).collect();
            for block in in_flight {
                if conn.cancel_block(now, block) {
                    picker
                        .request_returned(me, block)
                        .expect("a block of this torrent");
                    seen.cancelled += 1;
                }
            }
            seen.events
                .push(format!("cancelled {} requests", seen.cancelled));
        }
        // Keep the pipeline full while the peer serves us: everything it
        // has when it unchokes us, its allowed-fast pieces (BEP 6) while
        // it chokes us.
        let has = if conn.peer_choking() {
            let mut fast = Bitfield::new(conn.peer_pieces().len());
            for &piece in conn.allowed_fast() {
                fast.set(piece, conn.peer_pieces().has(piece));
            }
            fast
        } else {
            conn.peer_pieces().clone()
        };
        if has.count_ones() > 0 && conn.outstanding().len() < PIPELINE {
            let want = PIPELINE - conn.outstanding().len();
            picked.clear();
            picker.pick(
                Remote {
                    peer: me,
                    has: &has,
                    snubbed: false,
                },
                want,
                &mut picked,
            );
            for &block in &picked {
                if let Err(e) = conn.request_block(now, block) {
                    picker
                        .request_returned(me, block)
                        .expect("a block of this torrent");
                    seen.events.push(format!("request {block:?} refused: {e}"));
                }
            }
        }
    }
    let elapsed = started.elapsed();
    // We are a seed now, as libtorrent learns from our HAVEs: it hangs up
    // on a seed-to-seed connection. Drive until it does.
    driver
        .conn
        .set_interested(Instant::now(), false)
        .expect("connected");
    let hangup = Instant::now() + Duration::from_secs(5);
    let ending = loop {
        assert!(
            Instant::now() < hangup,
            "libtorrent kept the connection to a seed open\nlibtorrent:\n{}",
            seeder.stderr()
        );
        match driver.step(&mut events) {
            Ok(()) => events.clear(),
            Err(stop) => break stop,
        }
    };
    assert!(
        matches!(ending, Stop::Eof),
        "the connection ended with {ending:?}, not libtorrent hanging up"
    );
    seeder.close_stdin();
    let lt_view = seeder.json_line(Instant::now() + Duration::from_secs(10));
    eprintln!(
        "events: {:#?}\nlibtorrent's report: {lt_view:#}\nlibtorrent:\n{}",
        seen.events,
        seeder.stderr()
    );

    let pieces = payload.meta.info.piece_count();
    assert_eq!(seen.verified, pieces, "every piece verified");
    assert_eq!(seen.failed, 0, "no piece failed its hash check");
    assert!(driver.conn.our_pieces().is_full());
    assert!(elapsed < TRANSFER_LIMIT);
    let peer_id = seen.peer_id.expect("libtorrent's handshake");
    assert!(
        peer_id.as_bytes().starts_with(b"-LT"),
        "libtorrent's peer id {peer_id:?}"
    );
    let on = ext == Extensions::On;
    assert_eq!(seen.fast, on, "the fast extension is on iff we offered it");
    assert_eq!(
        seen.extension_protocol, on,
        "BEP 10 is on iff we offered it"
    );
    if on {
        let client = seen.peer_client.expect("libtorrent's extended handshake");
        assert!(
            client.to_ascii_lowercase().contains("libtorrent"),
            "libtorrent names itself in `v`: {client:?}"
        );
    } else {
        assert_eq!(
            seen.peer_client, None,
            "no extended handshake without BEP 10"
        );
    }
    let total = payload.meta.info.total_length();
    let stats = *driver.conn.stats();
    eprintln!("our counters: {stats:?}");
    assert!(seen.cancelled > 0, "the cancel exercise ran");
    // libtorrent never chokes us, so its only REJECTs answer our CANCELs
    // and must not be taken for the rejection of the re-requests.
    assert_eq!(
        seen.rejected, 0,
        "a REJECT answering a CANCEL was taken for a live request's"
    );
    assert!(
        stats.payload_down >= total,
        "received {} payload bytes of {total}",
        stats.payload_down
    );
    // Extra bytes only come from the cancelled (and re-requested) blocks.
    let waste = stats.payload_down + stats.unrequested_down - total;
    assert!(
        waste <= 2 * seen.cancelled * u64::from(riffle_protocol::BLOCK_SIZE),
        "{waste} bytes beyond the payload for {} cancelled requests",
        seen.cancelled
    );

    // Byte for byte: every file, and the stream as a whole.
    for (i, (rel, bytes)) in payload.files.iter().enumerate() {
        let got = storage
            .file_contents(i)
            .expect("file index")
            .unwrap_or_else(|| panic!("{} was never written", rel.display()));
        assert!(got == *bytes, "{} differs from the payload", rel.display());
    }
    let mut all = vec![0u8; payload.concatenated().len()];
    let mut offset = 0usize;
    for piece in Bitfield::full(pieces).ones() {
        let len = payload.meta.info.piece_len(piece) as usize;
        let dst = all
            .get_mut(offset..offset + len)
            .expect("inside the torrent");
        storage.read_block(piece, 0, dst).expect("read a piece");
        offset += len;
    }
    assert!(all == payload.concatenated(), "the torrent's bytes differ");

    // libtorrent's side of the story.
    let parsed: &[&str] = match ext {
        // Holding nothing, we send HAVE NONE with the fast extension and
        // nothing at all without it.
        Extensions::On => &[
            "HANDSHAKE",
            "HAVE_NONE",
            "EXTENDED_HANDSHAKE",
            "INTERESTED",
            "REQUEST",
            "HAVE",
        ],
        Extensions::Off => &["HANDSHAKE", "INTERESTED", "REQUEST", "HAVE"],
    };
    assert_lt_parsed(&lt_view, parsed, ext);
    assert_eq!(
        lt_view["total_payload_upload"],
        stats.payload_down + stats.unrequested_down,
        "every byte libtorrent sent arrived, requested or not ({stats:?})"
    );
    let disconnects = lt_view["disconnects"].to_string();
    assert!(
        disconnects.contains("upload to upload"),
        "libtorrent should drop us as a fellow seed once our HAVEs made us one: {disconnects}"
    );
}

/// libtorrent's peer log shows it parsed each of `messages` from us, and
/// our extended handshake with our client name iff we offered BEP 10; it
/// raised no error.
fn assert_lt_parsed(report: &serde_json::Value, messages: &[&str], ext: Extensions) {
    let received: Vec<&str> = report["received"]
        .as_array()
        .expect("a list of message names")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for m in messages {
        assert!(
            received.contains(m),
            "libtorrent never parsed a {m} from us; it parsed {received:?}"
        );
    }
    let handshakes = report["ext_handshakes"].to_string();
    match ext {
        Extensions::On => assert!(
            handshakes.contains(&format!("'v': '{OUR_CLIENT}'")),
            "libtorrent did not read our client name from our extended handshake: {handshakes}"
        ),
        Extensions::Off => assert_eq!(
            report["ext_handshakes"],
            serde_json::json!([]),
            "an extended handshake went out without BEP 10"
        ),
    }
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "libtorrent reported errors"
    );
}

/// Declare interest once the peer has something we lack.
fn want_pieces(conn: &mut PeerConnection, now: Instant) {
    let useful = conn.peer_pieces().has_any_missing_from(conn.our_pieces());
    if useful && !conn.am_interested() {
        conn.set_interested(now, true).expect("connected");
    }
}

/// What the seeding side saw, over every connection libtorrent made.
#[derive(Default)]
struct Served {
    connections: usize,
    blocks: u64,
    bytes: u64,
    /// When we choked libtorrent mid-transfer (once).
    choked_at: Option<Instant>,
    /// We unchoked it again.
    unchoked_again: bool,
    /// Requests our choke withdrew before we answered them.
    withdrawn: u64,
    peer_clients: Vec<String>,
    errors: Vec<ConnectionError>,
    endings: Vec<String>,
    events: Vec<String>,
}

#[test]
fn seed_to_libtorrent() {
    seed(Extensions::On);
}

#[test]
fn seed_to_libtorrent_without_extensions() {
    seed(Extensions::Off);
}

/// Listen, let a libtorrent leecher dial us, and serve it the payload.
fn seed(ext: Extensions) {
    let python = require_libtorrent();
    let payload = make_payload();
    let files: Vec<Vec<String>> = (0..payload.meta.info.files.len())
        .map(|i| payload.meta.info.file_path(i))
        .collect();
    let storage = FsStorage::new(payload.save_path(), payload.layout(), &files).expect("FsStorage");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("non-blocking accept");
    let port = listener.local_addr().expect("local addr").port();

    let download = tempfile::tempdir().expect("download dir");
    let mut leecher = LtPeer::start(
        python,
        &[
            "leech",
            payload.torrent.to_str().expect("utf-8 path"),
            download.path().to_str().expect("utf-8 path"),
            &port.to_string(),
        ],
    );
    let started = Instant::now();
    let deadline = started + TRANSFER_LIMIT + Duration::from_secs(10);
    let mut served = Served::default();
    let mut current: Option<Driver> = None;
    let mut events = Vec::new();
    let full = Bitfield::full(payload.meta.info.piece_count());

    let report = loop {
        assert!(
            Instant::now() < deadline,
            "libtorrent did not finish in time; served {} blocks over {} connections, errors {:?}, endings {:?}\nlibtorrent:\n{}",
            served.blocks,
            served.connections,
            served.errors,
            served.endings,
            leecher.stderr()
        );
        if let Some(report) = leecher.try_json_line() {
            break report;
        }
        let Some(driver) = current.as_mut() else {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking socket");
                    served.connections += 1;
                    let mut setup = payload.setup(full.clone(), false, ext);
                    // Short enough that the choke pause, when we send
                    // nothing, fires our keep-alive timer.
                    setup.config.keep_alive_interval = KEEP_ALIVE;
                    let conn = PeerConnection::new(Instant::now(), setup);
                    current = Some(Driver::new(stream, conn));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept failed: {e}"),
            }
            continue;
        };
        let step = driver.step(&mut events);
        let now = Instant::now();
        for event in events.drain(..) {
            if !matches!(event, Event::BlockRequested(_)) {
                served.events.push(format!("{event:?}"));
            }
            let conn = &mut driver.conn;
            match event {
                Event::ExtendedHandshake(hs) => {
                    served.peer_clients.extend(hs.client);
                }
                Event::Interested => conn.unchoke_peer(now).expect("connected"),
                Event::BlockRequested(block) => {
                    if served.choked_at.is_none() && served.blocks >= CHOKE_AFTER_BLOCKS {
                        // Choke with requests queued, as a choker round
                        // would: they are dropped (and rejected, BEP 6).
                        conn.choke_peer(now).expect("connected");
                        served.choked_at = Some(now);
                        served.events.push("we choked".into());
                    }
                    let mut data = vec![0u8; block.length as usize];
                    storage
                        .read_block(block.piece, block.offset, &mut data)
                        .expect("read the payload");
                    match conn.send_block(now, block, Bytes::from(data)) {
                        Ok(()) => {
                            served.blocks += 1;
                            served.bytes += u64::from(block.length);
                        }
                        Err(CommandError::NotRequested) => served.withdrawn += 1,
                        Err(e) => panic!("answering {block:?}: {e}"),
                    }
                }
                _ => {}
            }
        }
        if let Some(at) = served.choked_at {
            if !served.unchoked_again && now >= at + CHOKE_FOR {
                driver.conn.unchoke_peer(now).expect("connected");
                served.unchoked_again = true;
                served.events.push("we unchoked".into());
            }
        }
        match step {
            Ok(()) => {}
            Err(stop) => {
                if let Stop::Connection(e) = &stop {
                    served.errors.push(e.clone());
                }
                served.endings.push(format!("{stop:?}"));
                current = None;
            }
        }
    };
    drop(current);
    eprintln!(
        "report {report}\nendings {:?}\nevents: {:#?}\nlibtorrent:\n{}",
        served.endings,
        served.events,
        leecher.stderr()
    );

    assert_eq!(
        report["finished"], true,
        "libtorrent did not finish: {report}\nserved {} blocks, errors {:?}, endings {:?}, events {:?}\nlibtorrent:\n{}",
        served.blocks,
        served.errors,
        served.endings,
        served.events,
        leecher.stderr()
    );
    assert_eq!(
        report["pieces_verified"], report["num_pieces"],
        "libtorrent's own check of what it downloaded: {report}"
    );
    assert_eq!(
        report["num_pieces"],
        u64::from(payload.meta.info.piece_count())
    );
    assert!(
        served.errors.is_empty(),
        "riffle's core rejected libtorrent: {:?}\nlibtorrent:\n{}",
        served.errors,
        leecher.stderr()
    );
    assert!(
        served.bytes >= payload.meta.info.total_length(),
        "served {} bytes of {}",
        served.bytes,
        payload.meta.info.total_length()
    );
    let parsed: &[&str] = match ext {
        Extensions::On => {
            assert!(
                served
                    .peer_clients
                    .iter()
                    .any(|c| c.to_ascii_lowercase().contains("libtorrent")),
                "libtorrent's extended handshake names it: {:?}",
                served.peer_clients
            );
            &[
                "HANDSHAKE",
                "HAVE_ALL",
                "EXTENDED_HANDSHAKE",
                "UNCHOKE",
                "PIECE",
                "CHOKE",
                "REJECT_PIECE",
                "KEEPALIVE",
            ]
        }
        Extensions::Off => {
            assert!(served.peer_clients.is_empty());
            &[
                "HANDSHAKE",
                "BITFIELD",
                "UNCHOKE",
                "PIECE",
                "CHOKE",
                "KEEPALIVE",
            ]
        }
    };
    assert_lt_parsed(&report, parsed, ext);
    assert!(
        served.unchoked_again && served.withdrawn > 0,
        "the choke exercise ran: {} requests withdrawn",
        served.withdrawn
    );
    assert_eq!(
        report["total_payload_download"], served.bytes,
        "libtorrent counted every payload byte we sent"
    );
    for (rel, bytes) in &payload.files {
        let got = std::fs::read(download.path().join(rel))
            .unwrap_or_else(|e| panic!("libtorrent did not write {}: {e}", rel.display()));
        assert!(got == *bytes, "{} differs from the payload", rel.display());
    }
    assert!(started.elapsed() < TRANSFER_LIMIT + Duration::from_secs(10));
}

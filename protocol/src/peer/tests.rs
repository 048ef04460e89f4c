//! Two connections driven against each other in memory through simulated
//! time (the quinn-proto way), plus hostile byte streams fed to one.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::types::BLOCK_SIZE;

pub(super) const PIECE_LEN: u32 = 2 * BLOCK_SIZE;
/// Four pieces, the last one short (20,000 bytes).
pub(super) fn geometry() -> PieceGeometry {
    PieceGeometry::from_total(3 * PIECE_LEN as u64 + 20_000, PIECE_LEN).unwrap()
}
pub(super) const HASH: InfoHash = InfoHash([0xAB; 20]);
pub(super) const ID_A: PeerId = PeerId(*b"-RF0100-aaaaaaaaaaaa");
pub(super) const ID_B: PeerId = PeerId(*b"-RF0100-bbbbbbbbbbbb");

pub(super) fn setup(id: PeerId, pieces: &str, offer: Offer, initiator: bool) -> PeerSetup {
    PeerSetup {
        info_hash: HASH,
        alt_info_hash: None,
        our_id: id,
        geometry: geometry(),
        bitfield: Bitfield::from_pattern(pieces),
        offer,
        initiator,
        config: PeerConfig::default(),
    }
}

pub(super) fn offer(fast: bool, ext: bool) -> Offer {
    Offer {
        fast,
        extended: ext.then(|| {
            let mut h = ExtendedHandshake {
                client: Some("riffle test".into()),
                reqq: Some(250),
                ..Default::default()
            };
            h.m.insert("ut_metadata".into(), 3);
            h
        }),
        dht_port: None,
        v2: false,
    }
}

pub(super) fn block(piece: u32, offset: u32, length: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex::new(piece),
        offset,
        length,
    }
}

/// `a` dials `b`; `now` is the shared simulated clock.
struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new(a_pieces: &str, b_pieces: &str, a_offer: Offer, b_offer: Offer) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            a: PeerConnection::new(now, setup(ID_A, a_pieces, a_offer, true)),
            b: PeerConnection::new(now, setup(ID_B, b_pieces, b_offer, false)),
            now,
            a_events: Vec::new(),
            b_events: Vec::new(),
        };
        p.deliver().expect("clean handshake");
        p
    }

    /// Move bytes both ways until neither side has anything to send.
    fn deliver(&mut self) -> Result<(), ConnectionError> {
        self.deliver_in(usize::MAX)
    }

    /// [`Pair::deliver`] over a link that hands bytes over at most `mtu` at
    /// a time, so frames arrive cut at arbitrary points.
    fn deliver_in(&mut self, mtu: usize) -> Result<(), ConnectionError> {
        loop {
            let mut moved = false;
            while let Some(chunk) = self.a.poll_transmit() {
                moved = true;
                for part in chunk.chunks(mtu.max(1)) {
                    self.b.handle_bytes(self.now, part)?;
                }
            }
            while let Some(chunk) = self.b.poll_transmit() {
                moved = true;
                for part in chunk.chunks(mtu.max(1)) {
                    self.a.handle_bytes(self.now, part)?;
                }
            }
            self.collect();
            if !moved {
                return Ok(());
            }
        }
    }

    fn collect(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// Advance the clock by `d`, firing every timer on the way.
    fn advance(&mut self, d: Duration) -> Result<(), ConnectionError> {
        let end = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now)?;
                    self.b.handle_timeout(self.now)?;
                    self.deliver()?;
                }
                _ => break,
            }
        }
        self.now = end;
        Ok(())
    }
}

#[test]
fn handshake_and_have_all_with_fast() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    assert_eq!(p.a.phase(), Phase::Connected);
    assert!(p.a.fast() && p.b.fast());
    assert!(matches!(
        p.b_events[0],
        Event::HandshakeCompleted { peer_id: ID_A, reserved } if reserved.fast()
    ));
    assert!(p.b_events.contains(&Event::HaveAll));
    assert!(p.a_events.contains(&Event::HaveNone));
    assert!(p.b.peer_pieces().is_full());
    assert_eq!(p.a.peer_pieces().count_ones(), 0);
    p.collect();
}

#[test]
fn a_seed_suggests_a_piece_it_has_and_only_with_fast() {
    let mut p = Pair::new("1101", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.suggest_piece(now, PieceIndex::new(1)).unwrap();
    p.deliver().unwrap();
    assert!(p.b_events.contains(&Event::Suggest(PieceIndex::new(1))));
    assert_eq!(
        p.a.suggest_piece(now, PieceIndex::new(2)),
        Err(CommandError::WeLackPiece)
    );
    assert_eq!(
        p.a.suggest_piece(now, PieceIndex::new(9)),
        Err(CommandError::InvalidBlock)
    );
    let mut q = Pair::new("1111", "0000", offer(false, false), offer(true, false));
    let now = q.now;
    assert_eq!(
        q.a.suggest_piece(now, PieceIndex::new(0)),
        Err(CommandError::FastNotNegotiated)
    );
}

#[test]
fn bitfield_exchange_without_fast() {
    let p = Pair::new("1100", "0000", offer(false, false), offer(true, false));
    assert!(!p.a.fast(), "fast needs both sides");
    assert_eq!(
        p.b_events[1],
        Event::Bitfield(Bitfield::from_pattern("1100"))
    );
    // B holds nothing and cannot say HAVE NONE: it sends no bitfield.
    assert_eq!(p.a_events.len(), 1);
    assert_eq!(p.a.peer_pieces(), &Bitfield::new(4));
}

#[test]
fn acceptor_answers_only_after_the_handshake() {
    let now = Instant::now();
    let mut b = PeerConnection::new(now, setup(ID_B, "0000", offer(false, false), false));
    assert_eq!(b.poll_transmit(), None);
    let hs = Handshake {
        reserved: Reserved::empty(),
        info_hash: HASH,
        peer_id: ID_A,
    }
    .encode();
    b.handle_bytes(now, &hs[..30]).unwrap();
    assert_eq!(b.poll_transmit(), None);
    b.handle_bytes(now, &hs[30..]).unwrap();
    let out = b.poll_transmit().unwrap();
    assert_eq!(Handshake::decode(&out).unwrap().unwrap().peer_id, ID_B);
}

#[test]
fn interest_unchoke_request_piece() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.b.set_interested(now, true).unwrap();
    p.deliver().unwrap();
    assert!(p.a_events.contains(&Event::Interested) && p.a.peer_interested());
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    assert!(p.b_events.contains(&Event::Unchoked) && !p.b.peer_choking());

    // The last piece is short: 20,000 bytes, its second block 3,616.
    let wanted = block(3, BLOCK_SIZE, 20_000 - BLOCK_SIZE);
    p.b.request_block(now, wanted).unwrap();
    assert_eq!(p.b.outstanding().len(), 1);
    p.deliver().unwrap();
    assert_eq!(p.a_events.last(), Some(&Event::BlockRequested(wanted)));

    let data = Bytes::from(vec![7u8; wanted.length as usize]);
    p.a.send_block(now, wanted, data.clone()).unwrap();
    // The payload is written as its own chunk, the very same buffer.
    let header = p.a.poll_transmit().unwrap();
    assert_eq!(header.len(), crate::wire::PIECE_HEADER_LEN);
    let payload = p.a.poll_transmit().unwrap();
    assert_eq!(payload.as_ptr(), data.as_ptr());
    p.b.handle_bytes(now, &header).unwrap();
    p.b.handle_bytes(now, &payload).unwrap();
    p.collect();
    assert_eq!(
        p.b_events.last(),
        Some(&Event::BlockReceived {
            block: wanted,
            data: data.clone()
        })
    );
    assert!(p.b.outstanding().is_empty());
    assert_eq!(p.b.stats().payload_down, u64::from(wanted.length));
    assert_eq!(p.a.stats().payload_up, u64::from(wanted.length));
}

#[test]
fn requests_are_refused_when_useless() {
    let mut p = Pair::new("1010", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    assert_eq!(
        p.b.request_block(now, block(0, 0, BLOCK_SIZE)),
        Err(CommandError::Choked)
    );
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    assert_eq!(
        p.b.request_block(now, block(1, 0, BLOCK_SIZE)),
        Err(CommandError::PeerLacksPiece)
    );
    assert_eq!(
        p.b.request_block(now, block(0, PIECE_LEN - 1, BLOCK_SIZE)),
        Err(CommandError::InvalidBlock)
    );
    p.b.request_block(now, block(0, 0, BLOCK_SIZE)).unwrap();
    assert_eq!(
        p.b.request_block(now, block(0, 0, BLOCK_SIZE)),
        Err(CommandError::AlreadyRequested)
    );
}

#[test]
fn choke_with_fast_rejects_pending_requests() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let (x, y) = (block(0, 0, BLOCK_SIZE), block(0, BLOCK_SIZE, BLOCK_SIZE));
    p.b.request_block(now, x).unwrap();
    p.b.request_block(now, y).unwrap();
    p.deliver().unwrap();
    assert_eq!(p.a.peer_requests().count(), 2);
    p.a.choke_peer(now).unwrap();
    p.deliver().unwrap();
    assert_eq!(p.a.peer_requests().count(), 0);
    let tail = &p.b_events[p.b_events.len() - 3..];
    assert_eq!(
        tail,
        &[
            Event::Choked,
            Event::RequestRejected(x),
            Event::RequestRejected(y)
        ]
    );
    assert!(p.b.outstanding().is_empty());
    // The data the torrent had already read is no longer wanted.
    assert_eq!(
        p.a.send_block(now, x, Bytes::from(vec![0; BLOCK_SIZE as usize])),
        Err(CommandError::NotRequested)
    );
}

#[test]
fn choke_without_fast_drops_requests_implicitly() {
    let mut p = Pair::new("1111", "0000", offer(false, false), offer(false, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(2, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    p.a.choke_peer(now).unwrap();
    p.deliver().unwrap();
    assert!(p
        .b_events
        .ends_with(&[Event::RequestRejected(x), Event::Choked]));
    assert!(p.b.outstanding().is_empty() && p.a.peer_requests().count() == 0);
}

#[test]
fn allowed_fast_permits_requests_while_choked() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    let mut msg = BytesMut::new();
    Message::AllowedFast(2).encode(&mut msg);
    p.b.handle_bytes(now, &msg).unwrap();
    p.collect();
    assert_eq!(
        p.b_events.last(),
        Some(&Event::AllowedFast(PieceIndex::new(2)))
    );
    p.b.request_block(now, block(2, 0, BLOCK_SIZE)).unwrap();
    assert_eq!(
        p.b.request_block(now, block(1, 0, BLOCK_SIZE)),
        Err(CommandError::Choked)
    );
}

#[test]
fn cancel_withdraws_and_late_data_is_counted_not_fatal() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(1, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    assert!(p.b.cancel_block(now, x));
    p.deliver().unwrap();
    assert_eq!(p.a_events.last(), Some(&Event::RequestCancelled(x)));
    // A's reject answering the cancel is ignored by B: the request is gone.
    assert_eq!(p.b.stats().ignored_messages, 1);
    // Data B never asked for (any more) is dropped and counted.
    let mut frame = BytesMut::new();
    Message::Piece {
        piece: 1,
        offset: 0,
        data: Bytes::from(vec![1; 100]),
    }
    .encode(&mut frame);
    p.b.handle_bytes(now, &frame).unwrap();
    assert_eq!(p.b.stats().unrequested_down, 100);
    assert_eq!(p.b.stats().payload_down, 0);
}

/// Found against libtorrent (tests/tests/wire_libtorrent.rs): under BEP 6
/// it answers a CANCEL for a request still in its queue with a REJECT. When
/// the block was requested again right after the cancel, that REJECT
/// answers the cancelled request and must not kill the new one (whose
/// data would then be dropped as unrequested).
#[test]
fn reject_answering_a_cancel_spares_the_re_request() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(1, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    assert!(p.b.cancel_block(now, x));
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    // A rejected the cancelled request and queued the new one.
    assert_eq!(
        &p.a_events[p.a_events.len() - 2..],
        &[Event::RequestCancelled(x), Event::BlockRequested(x)]
    );
    assert!(!p.b_events.contains(&Event::RequestRejected(x)));
    assert_eq!(p.b.outstanding().len(), 1);
    assert_eq!(p.b.stats().ignored_messages, 1);
    p.a.send_block(now, x, Bytes::from(vec![7; BLOCK_SIZE as usize]))
        .unwrap();
    p.deliver().unwrap();
    assert!(matches!(
        p.b_events.last(),
        Some(Event::BlockReceived { block, .. }) if *block == x
    ));
    assert_eq!(p.b.stats().payload_down, u64::from(BLOCK_SIZE));
    assert_eq!(p.b.stats().unrequested_down, 0);
    assert!(p.b.outstanding().is_empty());
}

/// The other order: the PIECE was already on its way when the CANCEL went
/// out. It answers the cancelled request and still serves the re-request;
/// the peer's answer to the re-request is then surplus, and a REJECT of it
/// is ignored.
#[test]
fn piece_answering_a_cancel_serves_the_re_request() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(2, BLOCK_SIZE, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    p.a.send_block(now, x, Bytes::from(vec![9; BLOCK_SIZE as usize]))
        .unwrap();
    // B cancels and re-requests before A's PIECE reaches it.
    assert!(p.b.cancel_block(now, x));
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    assert!(p
        .b_events
        .iter()
        .any(|e| matches!(e, Event::BlockReceived { block, .. } if *block == x)));
    assert!(p.b.outstanding().is_empty());
    assert!(p.b.cancelled.is_empty(), "the PIECE settled the cancel");
    // A got the re-request after sending; it now rejects it (BEP 6).
    assert_eq!(p.a.peer_requests().count(), 1);
    assert!(p.a.reject_request(now, x));
    p.deliver().unwrap();
    assert!(!p.b_events.contains(&Event::RequestRejected(x)));
    assert_eq!(p.b.stats().payload_down, u64::from(BLOCK_SIZE));
}

/// Without BEP 6 a CANCEL gets no answer: nothing is remembered.
#[test]
fn cancel_without_fast_expects_no_answer() {
    let mut p = Pair::new("1111", "0000", offer(false, false), offer(false, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(0, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    assert!(p.b.cancel_block(now, x));
    assert!(p.b.cancelled.is_empty());
}

/// A peer that never answers cancels cannot grow the list without bound.
#[test]
fn cancelled_requests_awaiting_answers_are_bounded() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(3, 0, BLOCK_SIZE);
    for _ in 0..MAX_CANCELLED_AWAITING + 10 {
        p.b.request_block(now, x).unwrap();
        assert!(p.b.cancel_block(now, x));
    }
    assert_eq!(p.b.cancelled.len(), MAX_CANCELLED_AWAITING);
}

#[test]
fn extended_handshake_and_messages() {
    let mut p = Pair::new("0000", "0000", offer(false, true), offer(false, true));
    let now = p.now;
    assert!(p.a.extension_protocol());
    let theirs = p.a.peer_extended().unwrap();
    assert_eq!(theirs.id_of("ut_metadata"), Some(3));
    assert_eq!(theirs.reqq, Some(250));
    assert!(
        matches!(p.b_events.last(), Some(Event::ExtendedHandshake(h)) if h.client.as_deref() == Some("riffle test"))
    );
    p.a.send_extended(now, 3, Bytes::from_static(b"d8:msg_typei0e5:piecei0ee"))
        .unwrap();
    p.deliver().unwrap();
    assert_eq!(
        p.b_events.last(),
        Some(&Event::ExtendedMessage {
            id: 3,
            payload: Bytes::from_static(b"d8:msg_typei0e5:piecei0ee")
        })
    );
    let mut q = Pair::new("0000", "0000", offer(false, true), offer(false, false));
    assert_eq!(
        q.a.send_extended(q.now, 1, Bytes::new()),
        Err(CommandError::ExtensionNotNegotiated)
    );
}

#[test]
fn keep_alive_sent_after_send_silence() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let cfg = PeerConfig::default();
    let start = p.now;
    let down = p.b.stats().protocol_down;
    // Ten idle minutes: keep-alives flow both ways and nobody times out.
    p.advance(Duration::from_secs(600)).unwrap();
    assert_eq!(p.a.phase(), Phase::Connected);
    assert_eq!(p.b.phase(), Phase::Connected);
    let keep_alives = (p.b.stats().protocol_down - down) / 4;
    let expected = 600 / cfg.keep_alive_interval.as_secs();
    assert_eq!(keep_alives, expected, "one 4-byte keep-alive per interval");
    assert!(p.now >= start + Duration::from_secs(600));
}

#[test]
fn silent_peer_times_out() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let idle = PeerConfig::default().idle_timeout;
    // B's bytes never reach A (a dead link): A gives up after the idle timeout.
    let mut now = p.now;
    loop {
        let t = p.a.poll_timeout().unwrap();
        assert!(t <= p.now + idle, "a deadline within the idle timeout");
        now = now.max(t);
        if let Err(e) = p.a.handle_timeout(now) {
            assert_eq!(e, ConnectionError::Idle(idle));
            break;
        }
        while p.a.poll_transmit().is_some() {}
    }
    assert_eq!(now, p.now + idle);
    assert_eq!(p.a.phase(), Phase::Closed);
    assert_eq!(p.a.poll_timeout(), None);
    assert!(p.a.handle_bytes(now, &[0, 0, 0, 0]).is_err());
}

#[test]
fn handshake_must_arrive_in_time() {
    let now = Instant::now();
    let mut a = PeerConnection::new(now, setup(ID_A, "0000", Offer::default(), true));
    let deadline = a.poll_timeout().unwrap();
    assert_eq!(deadline, now + PeerConfig::default().handshake_timeout);
    assert!(a
        .handle_timeout(deadline - Duration::from_millis(1))
        .is_ok());
    assert!(matches!(
        a.handle_timeout(deadline),
        Err(ConnectionError::HandshakeTimeout(_))
    ));
}

#[test]
fn unanswered_request_times_out_once() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(0, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    p.advance(Duration::from_secs(150)).unwrap();
    let timeouts: Vec<_> = p
        .b_events
        .iter()
        .filter(|e| matches!(e, Event::RequestTimedOut(_)))
        .collect();
    assert_eq!(timeouts, [&Event::RequestTimedOut(x)]);
    assert!(p.b.outstanding()[0].timed_out, "still outstanding");
}

#[test]
fn dht_port_sent_to_dht_peers_only() {
    let with_dht = |port| Offer {
        dht_port: Some(port),
        ..Offer::default()
    };
    let p = Pair::new("0000", "0000", with_dht(6881), with_dht(6882));
    assert!(p.b_events.contains(&Event::DhtPort(6881)));
    assert!(p.a_events.contains(&Event::DhtPort(6882)));
    let q = Pair::new("0000", "0000", with_dht(6881), Offer::default());
    assert!(!q.b_events.iter().any(|e| matches!(e, Event::DhtPort(_))));
}

#[test]
fn huge_durations_never_overflow_the_clock() {
    let now = Instant::now();
    let mut s = setup(ID_A, "0000", Offer::default(), true);
    s.config.handshake_timeout = Duration::MAX;
    s.config.idle_timeout = Duration::MAX;
    let mut a = PeerConnection::new(now, s);
    assert_eq!(a.poll_timeout(), None, "no deadline is representable");
    assert!(a.handle_timeout(now + Duration::from_secs(1 << 30)).is_ok());
}

#[test]
fn batched_transmit_concatenates_to_the_same_stream() {
    let mut p = Pair::new("1111", "0000", offer(true, false), offer(true, false));
    let now = p.now;
    p.a.unchoke_peer(now).unwrap();
    p.deliver().unwrap();
    let x = block(0, 0, BLOCK_SIZE);
    p.b.request_block(now, x).unwrap();
    p.deliver().unwrap();
    p.a.send_block(now, x, Bytes::from(vec![3; BLOCK_SIZE as usize]))
        .unwrap();
    p.a.announce_have(now, PieceIndex::new(0)).unwrap();
    let mut chunks = Vec::new();
    p.a.poll_transmit_all(&mut chunks);
    assert_eq!(chunks.len(), 3, "header, payload, then the HAVE");
    let stream: Vec<u8> = chunks.concat();
    let mut buf = BytesMut::from(&stream[..]);
    let framer = crate::wire::Framer::default();
    assert!(matches!(
        framer.parse(&mut buf),
        Ok(Some(Message::Piece { piece: 0, offset: 0, ref data })) if data.len() == BLOCK_SIZE as usize
    ));
    assert_eq!(framer.parse(&mut buf), Ok(Some(Message::Have(0))));
}

#[test]
fn handle_bytes_and_handle_read_can_be_mixed() {
    let now = Instant::now();
    let mut b = PeerConnection::new(now, setup(ID_B, "0000", offer(false, false), false));
    let mut stream = BytesMut::new();
    stream.extend_from_slice(
        &Handshake {
            reserved: Reserved::empty(),
            info_hash: HASH,
            peer_id: ID_A,
        }
        .encode(),
    );
    Message::Bitfield(Bytes::from_static(&[0xA0])).encode(&mut stream);
    Message::Have(1).encode(&mut stream);
    Message::Unchoke.encode(&mut stream);
    // Handshake and half the bitfield through the copying entry point...
    b.handle_bytes(now, &stream[..70]).unwrap();
    // ...the rest (ending mid-frame) through the zero-copy one.
    let mut buf = BytesMut::from(&stream[70..stream.len() - 2]);
    b.handle_read(now, &mut buf).unwrap();
    assert_eq!(
        buf.len(),
        3,
        "the partial UNCHOKE frame stays in the caller's buffer"
    );
    buf.extend_from_slice(&stream[stream.len() - 2..]);
    b.handle_read(now, &mut buf).unwrap();
    assert!(buf.is_empty());
    let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).skip(1).collect();
    assert_eq!(
        events,
        [
            Event::Bitfield(Bitfield::from_pattern("1010")),
            Event::Have(PieceIndex::new(1)),
            Event::Unchoked
        ]
    );
}

/// The byte at `pos` of the test torrent: a pattern that differs per block.
fn content(pos: u64) -> u8 {
    (pos.wrapping_mul(31) >> 3) as u8
}

proptest::proptest! {
    /// A whole download over a link that cuts frames anywhere: every block
    /// arrives once, intact, and the counters add up.
    #[test]
    fn full_download_over_a_choppy_link(mtu in 1usize..2000, pipeline in 1usize..12) {
        let mut p = Pair::new("1111", "0000", offer(true, true), offer(true, true));
        let now = p.now;
        p.b.set_interested(now, true).unwrap();
        p.deliver_in(mtu).unwrap();
        p.a.unchoke_peer(now).unwrap();
        p.deliver_in(mtu).unwrap();
        let mut wanted: Vec<BlockRef> = (0..geometry().piece_count())
            .flat_map(|piece| {
                let size = geometry().length_of(PieceIndex::new(piece));
                (0..size.div_ceil(BLOCK_SIZE)).map(move |i| {
                    let offset = i * BLOCK_SIZE;
                    block(piece, offset, BLOCK_SIZE.min(size - offset))
                })
            })
            .rev()
            .collect();
        let total: u64 = wanted.iter().map(|b| u64::from(b.length)).sum();
        let mut received = 0u64;
        let mut seen = 0;
        while !wanted.is_empty() || !p.b.outstanding().is_empty() {
            while p.b.outstanding().len() < pipeline {
                let Some(next) = wanted.pop() else { break };
                p.b.request_block(now, next).unwrap();
            }
            p.deliver_in(mtu).unwrap();
            for e in p.a_events.drain(..).collect::<Vec<_>>() {
                if let Event::BlockRequested(b) = e {
                    let start = u64::from(b.piece.get()) * u64::from(PIECE_LEN) + u64::from(b.offset);
                    let data: Vec<u8> = (start..start + u64::from(b.length)).map(content).collect();
                    p.a.send_block(now, b, Bytes::from(data)).unwrap();
                }
            }
            p.deliver_in(mtu).unwrap();
            for e in &p.b_events[seen..] {
                if let Event::BlockReceived { block: b, data } = e {
                    let start = u64::from(b.piece.get()) * u64::from(PIECE_LEN) + u64::from(b.offset);
                    proptest::prop_assert_eq!(data.len() as u32, b.length);
                    proptest::prop_assert!(data.iter().zip(start..).all(|(&d, pos)| d == content(pos)));
                    received += u64::from(b.length);
                }
            }
            seen = p.b_events.len();
        }
        proptest::prop_assert_eq!(received, total);
        proptest::prop_assert_eq!(p.b.stats().payload_down, total);
        proptest::prop_assert_eq!(p.a.stats().payload_up, total);
        proptest::prop_assert_eq!(p.b.stats().protocol_down, p.a.stats().protocol_up);
        proptest::prop_assert_eq!(p.a.stats().protocol_down, p.b.stats().protocol_up);
    }
}

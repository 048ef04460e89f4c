//! Two connections driven against each other in memory through simulated
//! time (the quinn-proto way), plus hostile byte streams fed to one.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::types::BLOCK_SIZE;
use crate::wire::message::tests::arb_message;

const PIECE_LEN: u32 = 2 * BLOCK_SIZE;
/// Four pieces, the last one short (20,000 bytes).
const GEOMETRY: Geometry = Geometry {
    piece_count: 4,
    piece_length: PIECE_LEN,
    total_length: 3 * PIECE_LEN as u64 + 20_000,
};
const HASH: InfoHash = InfoHash([0xAB; 20]);
const ID_A: PeerId = PeerId(*b"-RF0100-aaaaaaaaaaaa");
const ID_B: PeerId = PeerId(*b"-RF0100-bbbbbbbbbbbb");

fn setup(id: PeerId, pieces: &str, offer: Offer, initiator: bool) -> PeerSetup {
    PeerSetup {
        info_hash: HASH,
        our_id: id,
        geometry: GEOMETRY,
        bitfield: Bitfield::from_pattern(pieces),
        offer,
        initiator,
        config: PeerConfig::default(),
    }
}

fn offer(fast: bool, ext: bool) -> Offer {
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
    }
}

fn block(piece: u32, offset: u32, length: u32) -> BlockRef {
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
        loop {
            let mut moved = false;
            while let Some(chunk) = self.a.poll_transmit() {
                moved = true;
                self.b.handle_bytes(self.now, &chunk)?;
            }
            while let Some(chunk) = self.b.poll_transmit() {
                moved = true;
                self.a.handle_bytes(self.now, &chunk)?;
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

/// A fresh acceptor that has just received a valid handshake from `peer`
/// with the given reserved bits, opening messages discarded.
fn connected(reserved: Reserved) -> (Instant, PeerConnection) {
    let now = Instant::now();
    let mut c = PeerConnection::new(now, setup(ID_B, "1111", offer(true, true), false));
    let hs = Handshake {
        reserved,
        info_hash: HASH,
        peer_id: ID_A,
    };
    c.handle_bytes(now, &hs.encode()).unwrap();
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    (now, c)
}

fn frames(msgs: &[Message]) -> BytesMut {
    let mut out = BytesMut::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

fn violation(reserved: Reserved, msgs: &[Message]) -> ConnectionError {
    let (now, mut c) = connected(reserved);
    let err = c.handle_bytes(now, &frames(msgs)).unwrap_err();
    assert_eq!(c.phase(), Phase::Closed);
    err
}

#[test]
fn handshake_violations() {
    let now = Instant::now();
    let mut c = PeerConnection::new(now, setup(ID_B, "0000", Offer::default(), false));
    let mut hs = Handshake {
        reserved: Reserved::empty(),
        info_hash: InfoHash([1; 20]),
        peer_id: ID_A,
    };
    assert!(matches!(
        c.handle_bytes(now, &hs.encode()),
        Err(ConnectionError::WrongInfoHash { .. })
    ));
    let mut c = PeerConnection::new(now, setup(ID_B, "0000", Offer::default(), false));
    hs.info_hash = HASH;
    hs.peer_id = ID_B;
    assert_eq!(
        c.handle_bytes(now, &hs.encode()),
        Err(ConnectionError::ConnectedToSelf)
    );
    let mut c = PeerConnection::new(now, setup(ID_B, "0000", Offer::default(), false));
    assert!(matches!(
        c.handle_bytes(now, b"GET / HTTP/1.1\r\n"),
        Err(ConnectionError::Handshake(_))
    ));
}

#[test]
fn message_violations() {
    let plain = Reserved::empty();
    let fast = Reserved::empty().with(Reserved::FAST, true);
    let bf = |b: &[u8]| Message::Bitfield(Bytes::copy_from_slice(b));
    let req = |piece, offset, length| {
        Message::Request(RawBlock {
            piece,
            offset,
            length,
        })
    };
    assert!(matches!(
        violation(plain, &[bf(&[0xF0, 0])]),
        ConnectionError::Bitfield(_)
    ));
    assert!(matches!(
        violation(plain, &[bf(&[0xF8])]),
        ConnectionError::Bitfield(_)
    ));
    assert_eq!(
        violation(plain, &[bf(&[0x80]), bf(&[0x80])]),
        ConnectionError::DuplicateBitfield
    );
    assert_eq!(
        violation(fast, &[Message::Unchoke, Message::HaveAll]),
        ConnectionError::LateBitfield
    );
    assert_eq!(
        violation(plain, &[Message::HaveAll]),
        ConnectionError::FastNotNegotiated("HAVE ALL")
    );
    assert_eq!(
        violation(plain, &[Message::Have(4)]),
        ConnectionError::PieceOutOfRange { index: 4, count: 4 }
    );
    assert!(matches!(
        violation(plain, &[req(0, 0, BLOCK_SIZE + 1)]),
        ConnectionError::BadBlockLength(_)
    ));
    assert!(matches!(
        violation(plain, &[req(3, BLOCK_SIZE, BLOCK_SIZE)]),
        ConnectionError::BlockOutsidePiece(_)
    ));
    assert!(matches!(
        violation(plain, &[req(0, u32::MAX, 1)]),
        ConnectionError::BlockOutsidePiece(_)
    ));
    assert!(matches!(
        violation(
            plain,
            &[Message::Piece {
                piece: 3,
                offset: 19_999,
                data: Bytes::from_static(b"xy")
            }]
        ),
        ConnectionError::PieceDataOutsidePiece { .. }
    ));
    assert_eq!(
        violation(
            plain,
            &[Message::Extended {
                id: 0,
                payload: Bytes::new()
            }]
        ),
        ConnectionError::ExtensionNotNegotiated
    );
    let (now, mut c) = connected(plain);
    assert!(matches!(
        c.handle_bytes(now, &[0x7f, 0xff, 0xff, 0xff]),
        Err(ConnectionError::Frame(
            crate::wire::FrameError::TooLong { .. }
        ))
    ));
}

#[test]
fn tolerated_oddities() {
    let (now, mut c) = connected(Reserved::empty().with(Reserved::EXTENSION_PROTOCOL, true));
    // Extended handshake before the bitfield, unknown ids, duplicate HAVEs.
    let ext = ExtendedHandshake::default().encode();
    c.handle_bytes(
        now,
        &frames(&[
            Message::Extended {
                id: 0,
                payload: ext.into(),
            },
            Message::Bitfield(Bytes::from_static(&[0x80])),
            Message::Unknown {
                id: 21,
                payload: Bytes::from_static(b"v2"),
            },
            Message::Have(1),
            Message::Have(1),
        ]),
    )
    .unwrap();
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2], Event::Have(PieceIndex::new(1)));
    assert_eq!(c.peer_pieces(), &Bitfield::from_pattern("1100"));
    assert_eq!(c.stats().ignored_messages, 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_after_handshake_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cut in any::<usize>(),
        fast in any::<bool>(),
    ) {
        let (now, mut c) = connected(Reserved::empty().with(Reserved::FAST, fast));
        let cut = cut % (bytes.len() + 1);
        let r = c.handle_bytes(now, &bytes[..cut]).and_then(|_| c.handle_bytes(now, &bytes[cut..]));
        if r.is_err() {
            prop_assert_eq!(c.phase(), Phase::Closed);
        }
        let _ = c.handle_timeout(now + Duration::from_secs(1000));
    }

    #[test]
    fn arbitrary_messages_never_panic(
        msgs in proptest::collection::vec(arb_message(), 0..30),
        reserved in any::<[u8; 8]>(),
    ) {
        let (now, mut c) = connected(Reserved(reserved));
        let mut buf = frames(&msgs);
        if c.handle_read(now, &mut buf).is_ok() {
            prop_assert!(buf.is_empty(), "every whole frame consumed");
            prop_assert_eq!(c.peer_pieces().len(), GEOMETRY.piece_count);
        }
        while c.poll_event().is_some() {}
        while c.poll_transmit().is_some() {}
    }
}

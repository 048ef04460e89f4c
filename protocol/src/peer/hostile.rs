//! Hostile input: protocol violations must end the connection with an
//! error that says why, oddities real clients produce must not, and no
//! byte stream may panic.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::tests::{geometry, offer, setup, HASH, ID_A, ID_B};
use super::*;
use crate::types::BLOCK_SIZE;
use crate::wire::message::tests::arb_message;

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
                id: 42,
                payload: Bytes::from_static(b"??"),
            },
            // BEP 52 hashes nobody asked for: ignored.
            Message::Hashes {
                range: crate::wire::HashRange {
                    root: [7; 32],
                    base_layer: 0,
                    index: 0,
                    length: 2,
                    proof_layers: 0,
                },
                hashes: Bytes::from(vec![0; 64]),
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
    assert_eq!(c.stats().ignored_messages, 2);
}

proptest! {
    #[test]
    fn arbitrary_bytes_after_handshake_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cut in any::<usize>(),
        fast in any::<bool>(),
    ) {
        let reserved = Reserved::empty().with(Reserved::FAST, fast);
        // Fed in one piece...
        let (now, mut whole) = connected(reserved);
        let r_whole = whole.handle_bytes(now, &bytes);
        // ...and split at an arbitrary point: same outcome, same events.
        let (_, mut split) = connected(reserved);
        let cut = cut % (bytes.len() + 1);
        let r_split = split
            .handle_bytes(now, &bytes[..cut])
            .and_then(|_| split.handle_bytes(now, &bytes[cut..]));
        prop_assert_eq!(&r_whole, &r_split);
        if r_whole.is_err() {
            prop_assert_eq!(whole.phase(), Phase::Closed);
        }
        let ev_whole: Vec<Event> = std::iter::from_fn(|| whole.poll_event()).collect();
        let ev_split: Vec<Event> = std::iter::from_fn(|| split.poll_event()).collect();
        prop_assert_eq!(ev_whole, ev_split);
        prop_assert_eq!(whole.stats(), split.stats());
        let _ = whole.handle_timeout(now + Duration::from_secs(1000));
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
            prop_assert_eq!(c.peer_pieces().len(), geometry().piece_count());
        }
        while c.poll_event().is_some() {}
        while c.poll_transmit().is_some() {}
    }

    #[test]
    fn well_framed_garbage_never_panics(
        frames in proptest::collection::vec((0u8..=22, proptest::collection::vec(any::<u8>(), 0..20)), 0..40),
        fast in any::<bool>(),
    ) {
        let (now, mut c) = connected(Reserved::empty().with(Reserved::FAST, fast));
        let mut stream = Vec::new();
        for (id, body) in &frames {
            stream.extend_from_slice(&(body.len() as u32 + 1).to_be_bytes());
            stream.push(*id);
            stream.extend_from_slice(body);
        }
        let r = c.handle_bytes(now, &stream);
        prop_assert_eq!(r.is_err(), c.phase() == Phase::Closed);
        while c.poll_event().is_some() {}
        while c.poll_transmit().is_some() {}
    }
}

#[test]
fn a_later_availability_message_replaces_the_earlier_one() {
    // aria2 sends HAVE NONE, then HAVEs, then a BITFIELD mid-connection;
    // libtorrent takes the latest: so do we.
    let fast = Reserved::empty().with(Reserved::FAST, true);
    let (now, mut c) = connected(fast);
    let msgs = [
        Message::HaveNone,
        Message::Unchoke,
        Message::Have(3),
        Message::Bitfield(Bytes::from_static(&[0b1010_0000])),
    ];
    c.handle_bytes(now, &frames(&msgs)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::HaveNone));
    assert_eq!(c.poll_event(), Some(Event::Unchoked));
    assert_eq!(c.poll_event(), Some(Event::Have(PieceIndex::new(3))));
    assert!(matches!(c.poll_event(), Some(Event::Bitfield(_))));
    assert_eq!(c.peer_pieces(), &Bitfield::from_pattern("1010"));
    c.handle_bytes(now, &frames(&[Message::HaveAll])).unwrap();
    assert_eq!(c.poll_event(), Some(Event::HaveAll));
    assert!(c.peer_pieces().is_full());
}

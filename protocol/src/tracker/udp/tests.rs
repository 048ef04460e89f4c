//! Byte-exact checks against BEP 15's layouts, round trips, and
//! never-panic properties for every UDP packet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::tracker::Event;
use crate::types::{InfoHash, PeerId};

fn announce() -> AnnounceRequest {
    AnnounceRequest {
        connection_id: 0x0102_0304_0506_0708,
        transaction_id: 0xdead_beef,
        info_hash: InfoHash([0x11; 20]),
        peer_id: PeerId(*b"-RF0100-abcdefghijkl"),
        downloaded: 1,
        left: 2,
        uploaded: 3,
        event: Event::Started,
        ip: 0,
        key: 0xcafe_f00d,
        num_want: -1,
        port: 6881,
        url_data: Vec::new(),
    }
}

#[test]
fn connect_request_layout() {
    let bytes = Request::Connect {
        transaction_id: 0x1234_5678,
    }
    .encode();
    assert_eq!(
        bytes,
        [
            0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, // protocol id
            0, 0, 0, 0, // action 0
            0x12, 0x34, 0x56, 0x78, // transaction id
        ]
    );
    let mut wrong = bytes.clone();
    wrong[0] = 1;
    assert_eq!(Request::decode(&wrong), Err(UdpError::BadProtocolId));
}

#[test]
fn connect_response_layout() {
    let r = Response::Connect {
        transaction_id: 7,
        connection_id: 0x0a0b_0c0d_0e0f_1011,
    };
    let bytes = r.encode(AddressFamily::V4);
    assert_eq!(
        bytes,
        [0, 0, 0, 0, 0, 0, 0, 7, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]
    );
    assert_eq!(Response::decode(&bytes, AddressFamily::V4), Ok(r));
    assert!(matches!(
        Response::decode(&bytes[..15], AddressFamily::V4),
        Err(UdpError::TooShort { need: 16, .. })
    ));
}

#[test]
fn announce_request_layout() {
    let bytes = Request::Announce(announce()).encode();
    assert_eq!(bytes.len(), 98);
    assert_eq!(bytes[0..8], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(bytes[8..12], [0, 0, 0, 1]);
    assert_eq!(bytes[12..16], [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(bytes[16..36], [0x11; 20]);
    assert_eq!(&bytes[36..56], b"-RF0100-abcdefghijkl");
    assert_eq!(bytes[56..64], 1u64.to_be_bytes());
    assert_eq!(bytes[64..72], 2u64.to_be_bytes());
    assert_eq!(bytes[72..80], 3u64.to_be_bytes());
    assert_eq!(bytes[80..84], [0, 0, 0, 2]); // started
    assert_eq!(bytes[84..88], [0, 0, 0, 0]); // ip: the source address
    assert_eq!(bytes[88..92], [0xca, 0xfe, 0xf0, 0x0d]);
    assert_eq!(bytes[92..96], [0xff; 4]); // num_want -1
    assert_eq!(bytes[96..98], [0x1a, 0xe1]);
    assert_eq!(Request::decode(&bytes), Ok(Request::Announce(announce())));
    assert!(matches!(
        Request::decode(&bytes[..97]),
        Err(UdpError::TooShort { need: 98, .. })
    ));
    let mut bad_event = bytes.clone();
    bad_event[83] = 9;
    assert_eq!(Request::decode(&bad_event), Err(UdpError::UnknownEvent(9)));
}

#[test]
fn announce_url_data_bep41() {
    let mut a = announce();
    a.url_data = b"/announce?abc=123".to_vec();
    let bytes = Request::Announce(a.clone()).encode();
    let mut opts = vec![0x02, 17];
    opts.extend_from_slice(b"/announce?abc=123");
    opts.push(0x00);
    assert_eq!(bytes[98..], opts[..]);
    assert_eq!(Request::decode(&bytes), Ok(Request::Announce(a.clone())));

    // Over 255 bytes: split into several options, concatenated back.
    a.url_data = vec![b'x'; 600];
    let bytes = Request::Announce(a.clone()).encode();
    assert_eq!(bytes.len(), 98 + 600 + 3 * 2 + 1);
    assert_eq!(Request::decode(&bytes), Ok(Request::Announce(a.clone())));

    // NOPs and unknown options are skipped; a truncated option is an error.
    let mut base = Request::Announce(announce()).encode();
    base.extend_from_slice(&[0x01, 0x07, 2, b'a', b'b', 0x02, 1, b'/', 0x00, 0xff]);
    let Ok(Request::Announce(d)) = Request::decode(&base) else {
        panic!("should decode");
    };
    assert_eq!(d.url_data, b"/");
    let mut cut = Request::Announce(announce()).encode();
    cut.extend_from_slice(&[0x02, 5, b'a']);
    assert_eq!(Request::decode(&cut), Err(UdpError::BadOption));
}

#[test]
fn announce_response_both_families() {
    let v4: SocketAddr = "10.0.0.1:6881".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:51413".parse().unwrap();
    let r = Response::Announce {
        transaction_id: 9,
        interval: 1800,
        leechers: 4,
        seeders: 5,
        peers: vec![v4, v6],
    };
    let b4 = r.encode(AddressFamily::V4);
    assert_eq!(
        b4,
        [
            0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0x07, 0x08, 0, 0, 0, 4, 0, 0, 0, 5, 10, 0, 0, 1, 0x1a,
            0xe1
        ]
    );
    let b6 = r.encode(AddressFamily::V6);
    assert_eq!(b6.len(), 20 + 18);
    assert_eq!(b6[20..22], [0x20, 0x01]);
    assert_eq!(b6[36..38], [0xc8, 0xd5]);
    let Ok(Response::Announce { peers, .. }) = Response::decode(&b6, AddressFamily::V6) else {
        panic!("should decode");
    };
    assert_eq!(peers, vec![v6]);
    // The same bytes read as IPv4: 18 is a multiple of 6, three peers.
    assert!(Response::decode(&b6, AddressFamily::V4).is_ok());
    assert!(matches!(
        Response::decode(&b4[..25], AddressFamily::V4),
        Err(UdpError::Trailing {
            len: 5,
            entry: 6,
            ..
        })
    ));
    assert!(Response::decode(&b4[..19], AddressFamily::V4).is_err());
}

#[test]
fn scrape_layouts() {
    let req = Request::Scrape {
        connection_id: 5,
        transaction_id: 6,
        info_hashes: vec![InfoHash([1; 20]), InfoHash([2; 20])],
    };
    let bytes = req.encode();
    assert_eq!(bytes.len(), 16 + 40);
    assert_eq!(bytes[8..12], [0, 0, 0, 2]);
    assert_eq!(bytes[36..56], [2; 20]);
    assert_eq!(Request::decode(&bytes), Ok(req));
    assert!(Request::decode(&bytes[..16]).is_err(), "no hashes");
    assert!(Request::decode(&bytes[..30]).is_err(), "partial hash");

    let resp = Response::Scrape {
        transaction_id: 6,
        entries: vec![ScrapeEntry {
            seeders: 1,
            completed: 2,
            leechers: 3,
        }],
    };
    let bytes = resp.encode(AddressFamily::V4);
    assert_eq!(
        bytes,
        [0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
    );
    assert_eq!(Response::decode(&bytes, AddressFamily::V4), Ok(resp));
}

#[test]
fn error_reply_and_check() {
    let err = Response::Error {
        transaction_id: 42,
        message: "unknown torrent".into(),
    };
    let bytes = err.encode(AddressFamily::V4);
    assert_eq!(bytes[..8], [0, 0, 0, 3, 0, 0, 0, 42]);
    assert_eq!(&bytes[8..], b"unknown torrent");
    let decoded = Response::decode(&bytes, AddressFamily::V4).unwrap();
    assert_eq!(decoded, err);
    assert_eq!(
        decoded.clone().check(Action::Announce, 42),
        Err(UdpError::Tracker("unknown torrent".into()))
    );
    assert_eq!(
        decoded.check(Action::Announce, 43),
        Err(UdpError::TransactionMismatch {
            expected: 43,
            got: 42
        })
    );
    let connect = Response::Connect {
        transaction_id: 1,
        connection_id: 2,
    };
    assert_eq!(
        connect.clone().check(Action::Connect, 1),
        Ok(connect.clone())
    );
    assert_eq!(
        connect.check(Action::Announce, 1),
        Err(UdpError::UnexpectedAction {
            expected: Action::Announce,
            got: Action::Connect
        })
    );
    assert_eq!(
        Response::decode(&[0, 0, 0, 4, 0, 0, 0, 0], AddressFamily::V4),
        Err(UdpError::UnknownAction(4))
    );
}

#[test]
fn retry_schedule_and_connection_lifetime() {
    let secs: Vec<u64> = (0..=9)
        .map_while(retry_timeout)
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(secs, [15, 30, 60, 120, 240, 480, 960, 1920, 3840]);
    assert_eq!(retry_timeout(9), None);
    assert_eq!(retry_timeout(u32::MAX), None);

    let t0 = Instant::now();
    let id = ConnectionId::new(77, t0);
    assert!(id.is_valid(t0));
    assert!(id.is_valid(t0 + Duration::from_secs(59)));
    assert!(!id.is_valid(t0 + Duration::from_secs(60)));
}

#[test]
fn family_helpers() {
    let mapped: SocketAddr = "[::ffff:1.2.3.4]:80".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
    let v4: SocketAddr = "5.6.7.8:80".parse().unwrap();
    assert_eq!(family_of(&mapped), AddressFamily::V4);
    assert_eq!(family_of(&v6), AddressFamily::V6);
    assert_eq!(
        peers_for_family([mapped, v6, v4], AddressFamily::V4),
        vec!["1.2.3.4:80".parse().unwrap(), v4]
    );
    assert_eq!(
        peers_for_family([mapped, v6, v4], AddressFamily::V6),
        vec![mapped, v6]
    );
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        any::<u32>().prop_map(|transaction_id| Request::Connect { transaction_id }),
        (
            (
                any::<u64>(),
                any::<u32>(),
                any::<[u8; 20]>(),
                any::<[u8; 20]>()
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), 0u32..4),
            (any::<u32>(), any::<u32>(), any::<i32>(), any::<u16>()),
            proptest::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(
                |((c, t, h, p), (d, l, u, e), (ip, key, nw, port), url_data)| {
                    Request::Announce(AnnounceRequest {
                        connection_id: c,
                        transaction_id: t,
                        info_hash: InfoHash(h),
                        peer_id: PeerId(p),
                        downloaded: d,
                        left: l,
                        uploaded: u,
                        event: Event::from_udp_code(e).unwrap_or_default(),
                        ip,
                        key,
                        num_want: nw,
                        port,
                        url_data,
                    })
                }
            ),
        (
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(any::<[u8; 20]>().prop_map(InfoHash), 1..MAX_SCRAPE_HASHES)
        )
            .prop_map(
                |(connection_id, transaction_id, info_hashes)| Request::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                }
            ),
    ]
}

fn arb_response(family: AddressFamily) -> impl Strategy<Value = Response> {
    let peer = (any::<[u8; 16]>(), 1u16..).prop_map(move |(ip, port)| match family {
        AddressFamily::V4 => SocketAddr::from(([ip[0], ip[1], ip[2], ip[3]], port)),
        AddressFamily::V6 => SocketAddr::from((ip, port)),
    });
    prop_oneof![
        (any::<u32>(), any::<u64>()).prop_map(|(transaction_id, connection_id)| {
            Response::Connect {
                transaction_id,
                connection_id,
            }
        }),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(peer, 0..50)
        )
            .prop_map(|(transaction_id, interval, leechers, seeders, peers)| {
                Response::Announce {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                }
            }),
        (
            any::<u32>(),
            proptest::collection::vec(any::<(u32, u32, u32)>(), 0..20)
        )
            .prop_map(|(transaction_id, e)| Response::Scrape {
                transaction_id,
                entries: e
                    .into_iter()
                    .map(|(seeders, completed, leechers)| ScrapeEntry {
                        seeders,
                        completed,
                        leechers
                    })
                    .collect(),
            }),
        (any::<u32>(), "\\PC{0,40}").prop_map(|(transaction_id, message)| Response::Error {
            transaction_id,
            message
        }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(req in arb_request()) {
        prop_assert_eq!(Request::decode(&req.encode()), Ok(req));
    }

    #[test]
    fn v4_responses_round_trip(resp in arb_response(AddressFamily::V4)) {
        let bytes = resp.encode(AddressFamily::V4);
        prop_assert_eq!(Response::decode(&bytes, AddressFamily::V4), Ok(resp.clone()));
        prop_assert_eq!(
            Response::decode(&bytes, AddressFamily::V4).and_then(|r| r.check(resp.action(), resp.transaction_id())).is_ok(),
            resp.action() != Action::Error
        );
    }

    #[test]
    fn v6_responses_round_trip(resp in arb_response(AddressFamily::V6)) {
        let bytes = resp.encode(AddressFamily::V6);
        prop_assert_eq!(Response::decode(&bytes, AddressFamily::V6), Ok(resp));
    }

    #[test]
    fn arbitrary_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes, AddressFamily::V4);
        let _ = Response::decode(&bytes, AddressFamily::V6);
    }

    #[test]
    fn truncated_packets_are_errors(req in arb_request(), cut in any::<usize>()) {
        let bytes = req.encode();
        let min = match req {
            Request::Connect { .. } => 16,
            Request::Announce(_) => 98,
            Request::Scrape { .. } => 36,
        };
        let len = cut % min;
        prop_assert!(Request::decode(&bytes[..len]).is_err());
    }

    #[test]
    fn retry_schedule_is_15_times_2_to_the_n(n in 0u32..64) {
        match retry_timeout(n) {
            Some(d) => {
                prop_assert!(n <= 8);
                prop_assert_eq!(d, Duration::from_secs(15 * 2u64.pow(n)));
            }
            None => prop_assert!(n > 8),
        }
    }

    #[test]
    fn connection_id_valid_for_under_a_minute(age_ms in 0u64..200_000) {
        let t0 = Instant::now();
        let id = ConnectionId::new(1, t0);
        prop_assert_eq!(id.is_valid(t0 + Duration::from_millis(age_ms)), age_ms < 60_000);
    }
}

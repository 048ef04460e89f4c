//! Tests of the built-in tracker: the HTTP and UDP reply logic without
//! sockets, then the running server driven by riffle's own tracker client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use riffle_policies::tracker::TrackerPolicy;
use riffle_protocol::bencode::decode;
use riffle_protocol::tracker::http::{parse_announce_response, AnnounceRequest, ResponseError};
use riffle_protocol::tracker::scrape::{parse_scrape_response, scrape_request_url};
use riffle_protocol::tracker::udp::{
    self as wire, AddressFamily, Request, Response, ScrapeEntry, PROTOCOL_ID,
};
use riffle_protocol::tracker::{Event, PeerEndpoint};
use riffle_protocol::types::{InfoHash, PeerId};

use super::http::respond;
use super::udp::{handle_packet, ID_EPOCH};
use super::*;
use riffle_client::tracker::{announce_once, AnnounceConfig, TrackerError};

const HASH: InfoHash = InfoHash([7; 20]);

fn peer_id(n: u8) -> PeerId {
    PeerId([n; 20])
}

fn from(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 40_000))
}

fn shared(policy: TrackerPolicy) -> Shared {
    Shared::new(&TrackerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        policy,
        time_scale: 1.0,
        seed: 3,
        locality: None,
        multitrack: None,
    })
    .expect("no MultiTrack settings to check")
}

/// The query of an announce by peer `n` listening on port 6000 + n.
fn query(n: u8, left: u64, downloaded: u64, compact: bool) -> String {
    let mut req = AnnounceRequest::new(HASH, peer_id(n), 6000 + u16::from(n), left);
    req.downloaded = downloaded;
    req.compact = compact;
    req.no_peer_id = false;
    req.query_string()
}

fn http(s: &Shared, t: Instant, q: &str, n: u8) -> Vec<u8> {
    let (status, body) = respond(s, t, "/announce", q.as_bytes(), from(n));
    assert_eq!(status, hyper::StatusCode::OK);
    body
}

#[test]
fn http_announce_lists_other_peers_compact_and_not() {
    let s = shared(TrackerPolicy::default());
    let t = Instant::now();
    let first = parse_announce_response(&http(&s, t, &query(1, 0, 0, true), 1)).unwrap();
    assert!(first.peers.is_empty());
    assert_eq!(first.interval, 1800);
    assert_eq!(first.min_interval, Some(900));
    assert_eq!((first.complete, first.incomplete), (Some(1), Some(0)));
    assert_eq!(first.external_ip, Some(from(1).ip()));

    let compact = parse_announce_response(&http(&s, t, &query(2, 10, 0, true), 2)).unwrap();
    assert_eq!(compact.peers.len(), 1);
    assert_eq!(
        compact.peers[0].endpoint,
        PeerEndpoint::Addr("127.0.0.1:6001".parse().unwrap()),
        "the source IP and the announced port"
    );
    assert_eq!(compact.peers[0].peer_id, None);

    let dict = parse_announce_response(&http(&s, t, &query(3, 10, 5, false), 3)).unwrap();
    assert_eq!(dict.peers.len(), 2);
    assert!(dict.peers.iter().all(|p| p.peer_id.is_some()));
    assert_eq!((dict.complete, dict.incomplete), (Some(1), Some(2)));

    let numwant = format!("{}&numwant=1", query(3, 10, 5, false));
    let one = parse_announce_response(&http(&s, t, &numwant, 3)).unwrap();
    assert_eq!(one.peers.len(), 1);
}

#[test]
fn http_shielded_newcomer_is_asked_back_at_the_lapse_with_no_min_interval() {
    let s = shared(TrackerPolicy {
        shield_newcomers: Some(Duration::from_secs(20)),
        ..TrackerPolicy::default()
    });
    let t = Instant::now();
    http(&s, t, &query(1, 0, 0, true), 1);
    let newcomer = parse_announce_response(&http(&s, t, &query(2, 10, 0, true), 2)).unwrap();
    assert_eq!(newcomer.peers.len(), 1, "the seed only");
    assert_eq!(newcomer.interval, 20, "back when the shield lapses");
    assert_eq!(
        newcomer.min_interval, None,
        "its first piece is welcome at once"
    );
    // With progress it is an ordinary leecher again.
    let later = parse_announce_response(&http(&s, t, &query(2, 5, 5, true), 2)).unwrap();
    assert_eq!((later.interval, later.min_interval), (1800, Some(900)));
}

#[test]
fn http_refusal_has_reason_and_retry_in() {
    let s = shared(TrackerPolicy {
        max_peers: Some(1),
        min_interval: Duration::from_secs(90),
        ..TrackerPolicy::default()
    });
    let t = Instant::now();
    http(&s, t, &query(1, 0, 0, true), 1);
    http(&s, t, &query(2, 10, 0, true), 2);
    let body = http(&s, t, &query(3, 10, 0, true), 3);
    match parse_announce_response(&body) {
        Err(ResponseError::Failure(reason)) => assert!(reason.contains("swarm full"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let v = decode(&body).unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(
        d.get_int(b"retry in"),
        Some(2),
        "90 s is 2 minutes, rounded up"
    );
}

#[test]
fn http_bad_requests_get_clear_failures() {
    let s = shared(TrackerPolicy::default());
    let t = Instant::now();
    let failure = |body: Vec<u8>| match parse_announce_response(&body) {
        Err(ResponseError::Failure(reason)) => reason,
        other => panic!("expected a failure, got {other:?}"),
    };
    let reason = failure(http(&s, t, "info_hash=short", 1));
    assert!(reason.starts_with("bad announce"), "{reason}");
    let port0 = query(1, 0, 0, true).replace("port=6001", "port=0");
    assert!(failure(http(&s, t, &port0, 1)).contains("port 0"));
    let (status, _) = respond(&s, t, "/elsewhere", b"", from(1));
    assert_eq!(status, hyper::StatusCode::NOT_FOUND);
    let (_, body) = respond(&s, t, "/scrape", b"", from(1));
    assert!(failure(body).contains("full scrape"));
}

#[test]
fn http_scrape_counts_seeds_leechers_and_completions() {
    let s = shared(TrackerPolicy::default());
    let t = Instant::now();
    http(&s, t, &query(1, 0, 0, true), 1);
    http(&s, t, &query(2, 10, 0, true), 2);
    let done = format!("{}&event=completed", query(2, 0, 10, true));
    http(&s, t, &done, 2);
    http(&s, t, &query(3, 10, 0, true), 3);
    let other = InfoHash([9; 20]);
    let url = scrape_request_url(&url::Url::parse("http://t/scrape").unwrap(), &[HASH, other]);
    let q = url.query().unwrap_or_default();
    let (status, body) = respond(&s, t, "/scrape", q.as_bytes(), from(1));
    assert_eq!(status, hyper::StatusCode::OK);
    let r = parse_scrape_response(&body).unwrap();
    let stats = r.files[&HASH];
    assert_eq!(
        (stats.complete, stats.incomplete, stats.downloaded),
        (2, 1, 1)
    );
    assert_eq!(r.files[&other].complete, 0);
}

#[test]
fn wire_intervals_are_scaled_whole_seconds() {
    assert_eq!(wire_secs(Duration::from_millis(100), 10.0), 1);
    assert_eq!(wire_secs(Duration::from_millis(150), 10.0), 2);
    assert_eq!(wire_secs(Duration::from_secs(30), 1.0), 30);
    assert_eq!(wire_secs(Duration::ZERO, 1.0), 1);
    assert_eq!(wire_secs(Duration::from_secs(5), f64::NAN), 5);
    assert_eq!(wire_secs(Duration::MAX, 1e9), u32::MAX);
}

fn udp(s: &Shared, t: Instant, req: &Request, src: SocketAddr) -> Response {
    let reply = handle_packet(s, t, &req.encode(), src).expect("a reply");
    Response::decode(&reply, AddressFamily::V4).unwrap()
}

fn connect(s: &Shared, t: Instant, src: SocketAddr) -> u64 {
    match udp(s, t, &Request::Connect { transaction_id: 5 }, src) {
        Response::Connect {
            transaction_id: 5,
            connection_id,
        } => connection_id,
        other => panic!("{other:?}"),
    }
}

fn udp_announce(connection_id: u64, n: u8, left: u64) -> Request {
    Request::Announce(wire::AnnounceRequest {
        connection_id,
        transaction_id: 77,
        info_hash: HASH,
        peer_id: peer_id(n),
        downloaded: 0,
        left,
        uploaded: 0,
        event: Event::Started,
        ip: 0,
        key: 1,
        num_want: -1,
        port: 6000 + u16::from(n),
        url_data: Vec::new(),
    })
}

#[test]
fn udp_connect_announce_scrape() {
    let s = shared(TrackerPolicy::default());
    let t = Instant::now();
    let id1 = connect(&s, t, from(1));
    let id2 = connect(&s, t, from(2));
    assert_ne!(id1, id2, "ids depend on the client");
    udp(&s, t, &udp_announce(id1, 1, 0), from(1));
    match udp(&s, t, &udp_announce(id2, 2, 10), from(2)) {
        Response::Announce {
            transaction_id,
            interval,
            leechers,
            seeders,
            peers,
        } => {
            assert_eq!(transaction_id, 77);
            assert_eq!(interval, 1800);
            assert_eq!((seeders, leechers), (1, 1));
            assert_eq!(peers, vec!["127.0.0.1:6001".parse::<SocketAddr>().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    let scrape = Request::Scrape {
        connection_id: id2,
        transaction_id: 9,
        info_hashes: vec![HASH, InfoHash([1; 20])],
    };
    assert_eq!(
        udp(&s, t, &scrape, from(2)),
        Response::Scrape {
            transaction_id: 9,
            entries: vec![
                ScrapeEntry {
                    seeders: 1,
                    completed: 0,
                    leechers: 1
                },
                ScrapeEntry::default()
            ]
        }
    );
}

#[test]
fn udp_connection_ids_expire_and_do_not_transfer() {
    let s = shared(TrackerPolicy::default());
    let t = Instant::now();
    let id = connect(&s, t, from(1));
    let is_error = |r: Response| {
        matches!(
            r,
            Response::Error {
                transaction_id: 77,
                ..
            }
        )
    };
    assert!(
        is_error(udp(&s, t, &udp_announce(id, 2, 10), from(2))),
        "another address"
    );
    assert!(is_error(udp(&s, t, &udp_announce(id ^ 1, 1, 10), from(1))));
    let later = t + ID_EPOCH;
    assert!(
        !is_error(udp(&s, later, &udp_announce(id, 1, 10), from(1))),
        "still valid"
    );
    let expired = t + ID_EPOCH * 2;
    assert!(is_error(udp(
        &s,
        expired,
        &udp_announce(id, 1, 10),
        from(1)
    )));
}

#[test]
fn udp_refusal_and_bad_packets() {
    let s = shared(TrackerPolicy {
        max_peers: Some(1),
        min_interval: Duration::from_secs(30),
        ..TrackerPolicy::default()
    });
    let t = Instant::now();
    let id = connect(&s, t, from(1));
    udp(&s, t, &udp_announce(id, 1, 10), from(1));
    let id3 = connect(&s, t, from(3));
    match udp(&s, t, &udp_announce(id3, 3, 10), from(3)) {
        Response::Error { message, .. } => {
            assert!(
                message.contains("swarm full") && message.contains("retry in 30 s"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        handle_packet(&s, t, &[0; 10], from(1)),
        None,
        "no transaction id"
    );
    let mut bad_magic = Request::Connect { transaction_id: 4 }.encode();
    bad_magic[0] ^= 1;
    assert!(matches!(
        Response::decode(
            &handle_packet(&s, t, &bad_magic, from(1)).unwrap(),
            AddressFamily::V4
        ),
        Ok(Response::Error {
            transaction_id: 4,
            ..
        })
    ));
    assert_eq!(PROTOCOL_ID.to_be_bytes()[0], 0, "sanity of the magic");
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = shared(TrackerPolicy { max_peers: Some(2), ..TrackerPolicy::default() });
        let _ = handle_packet(&s, Instant::now(), &packet, from(1));
    }

    #[test]
    fn arbitrary_queries_never_panic(q in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = shared(TrackerPolicy::default());
        for path in ["/announce", "/scrape"] {
            let (status, _) = respond(&s, Instant::now(), path, &q, from(1));
            prop_assert_eq!(status, hyper::StatusCode::OK);
        }
    }
}

fn client_config() -> AnnounceConfig {
    AnnounceConfig {
        http_timeout: Duration::from_secs(5),
        udp_base_timeout: Duration::from_secs(2),
        ..AnnounceConfig::default()
    }
}

fn client_request(n: u8, left: u64) -> AnnounceRequest {
    let mut req = AnnounceRequest::new(HASH, peer_id(n), 6000 + u16::from(n), left);
    req.event = Event::Started;
    req
}

#[tokio::test]
async fn riffle_clients_find_each_other_over_http_and_udp() {
    let config = TrackerConfig::new("127.0.0.1:0".parse().unwrap(), TrackerPolicy::default());
    let tracker = TrackerServer::start(config).await.unwrap();
    assert_eq!(tracker.http_addr().port(), tracker.udp_addr().port());
    assert_eq!(
        tracker.announce_url(),
        format!("http://{}/announce", tracker.http_addr())
    );
    let cfg = client_config();
    let seed = announce_once(&tracker.announce_url(), &client_request(1, 0), &cfg)
        .await
        .unwrap();
    assert!(seed.peers.is_empty());
    let leecher = announce_once(&tracker.udp_url(), &client_request(2, 100), &cfg)
        .await
        .unwrap();
    assert_eq!(
        leecher.peers,
        vec!["127.0.0.1:6001".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!((leecher.seeders, leecher.leechers), (Some(1), Some(1)));
    let seed = announce_once(&tracker.announce_url(), &client_request(1, 0), &cfg)
        .await
        .unwrap();
    assert_eq!(
        seed.peers,
        vec!["127.0.0.1:6002".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(tracker.counts(&HASH).leechers, 1);

    // The client's scrape, over HTTP and UDP, with a hash nobody has.
    let other = riffle_protocol::InfoHash([9; 20]);
    for url in [tracker.announce_url(), tracker.udp_url()] {
        let got = riffle_client::tracker::scrape_once(&url, &[HASH, other], &cfg)
            .await
            .unwrap();
        let of = |h| {
            got.iter()
                .find(|(x, _)| *x == h)
                .map(|(_, s)| (s.complete, s.incomplete))
        };
        assert_eq!(of(HASH), Some((1, 1)), "{url}");
        assert!(matches!(of(other), None | Some((0, 0))), "{url}");
    }
    let no_scrape = format!("http://{}/tracker", tracker.http_addr());
    assert!(matches!(
        riffle_client::tracker::scrape_once(&no_scrape, &[HASH], &cfg).await,
        Err(TrackerError::NoScrape)
    ));
    // Scrape over plain HTTP.
    let url = scrape_request_url(&url::Url::parse(&tracker.scrape_url()).unwrap(), &[HASH]);
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let stats = parse_scrape_response(&body).unwrap().files[&HASH];
    assert_eq!((stats.complete, stats.incomplete), (1, 1));

    let port = tracker.http_addr();
    tracker.shutdown().await;
    std::net::TcpListener::bind(port).expect("the HTTP port is free after shutdown");
    std::net::UdpSocket::bind(port).expect("the UDP port is free after shutdown");
}

#[tokio::test]
async fn refused_clients_see_the_reason_over_http_and_udp() {
    let policy = TrackerPolicy {
        max_peers: Some(1),
        ..TrackerPolicy::default()
    };
    let tracker = TrackerServer::start(TrackerConfig::new("127.0.0.1:0".parse().unwrap(), policy))
        .await
        .unwrap();
    let cfg = client_config();
    announce_once(&tracker.announce_url(), &client_request(1, 100), &cfg)
        .await
        .unwrap();
    for url in [tracker.announce_url(), tracker.udp_url()] {
        let err = announce_once(&url, &client_request(2, 100), &cfg)
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("swarm full"), "{url}: {shown}");
        if url.starts_with("http") {
            assert!(matches!(err, TrackerError::Failure(_)) || err.failure_reason().is_some());
        }
    }
    tracker.shutdown().await;
}

#[tokio::test]
async fn oversized_request_heads_are_rejected_not_buffered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tracker = TrackerServer::start(TrackerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        TrackerPolicy::default(),
    ))
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(tracker.http_addr())
        .await
        .unwrap();
    let mut head = b"GET /announce?".to_vec();
    head.extend(std::iter::repeat_n(b'a', 64 * 1024));
    // The server may close while we still write: that is the point.
    let _ = stream.write_all(&head).await;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let text = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || text.starts_with("HTTP/1.1 4"),
        "got {text:?}"
    );
    tracker.shutdown().await;
}

/// The ports in the answer `t` gives peer `n`'s first announce (nothing
/// downloaded of `size`) at `at`.
fn first_announce_ports(t: &TrackerServer, n: u8, size: u64, at: Instant) -> Vec<u16> {
    let (_, body) = respond(
        &t.shared,
        at,
        "/announce",
        query(n, size, 0, true).as_bytes(),
        from(n),
    );
    parse_announce_response(&body)
        .unwrap()
        .peers
        .iter()
        .filter_map(|p| match p.endpoint {
            PeerEndpoint::Addr(a) => Some(a.port()),
            _ => None,
        })
        .collect()
}

/// MultiTrack between two running trackers: T1's leechers download 50
/// times faster than T2's. Every 100 ms T2 measures both swarms (its own
/// from its leechers' progress, T1's from T1's `/multitrack`) and moves
/// its forwarding share toward T1 (payoff: delay + price 1 s +
/// congestion). New downloaders at T2 are then sent to T1's swarm in
/// about that share: they get T1's peers and stay out of T2's swarm.
#[tokio::test]
async fn multitrack_forwards_arrivals_toward_the_faster_swarm() {
    use super::multitrack::{MultiTrackConfig, PeerTracker};
    use riffle_policies::locality::multitrack::Forwarding;
    let every = Duration::from_millis(100);
    let start = |own: &str, peers: Vec<PeerTracker>, forwarding| {
        let mut m = MultiTrackConfig::new(own.into(), peers, every);
        m.forwarding = forwarding;
        let config = TrackerConfig {
            multitrack: Some(m),
            ..TrackerConfig::new("127.0.0.1:0".parse().unwrap(), TrackerPolicy::default())
        };
        TrackerServer::start(config)
    };
    let t1 = start("one", Vec::new(), Forwarding::Multitrack)
        .await
        .unwrap();
    let one = PeerTracker {
        name: "one".into(),
        addr: None,
        price: 1.0,
    };
    let t2 = start("two", vec![one.clone()], Forwarding::Multitrack)
        .await
        .unwrap();
    assert!(t2.set_peer_tracker("one", Some(t1.http_addr())));
    assert!(!t2.set_peer_tracker("three", Some(t1.http_addr())));
    // A tracker that measures the same but never forwards.
    let t3 = start("three", vec![one], Forwarding::Never).await.unwrap();
    assert!(t3.set_peer_tracker("one", Some(t1.http_addr())));
    let t0 = Instant::now();
    let size = 10_000_000u64;
    // Leecher n of a tracker at virtual second `i`, having downloaded
    // `rate * i` bytes.
    let announce = |t: &TrackerServer, n: u8, i: u32, rate: u64| {
        let got = (rate * u64::from(i)).min(size - 1);
        let at = t0 + Duration::from_secs(u64::from(i));
        respond(
            &t.shared,
            at,
            "/announce",
            query(n, size - got, got, true).as_bytes(),
            from(n),
        )
    };
    for i in 0..30 {
        for n in 1..=10 {
            announce(&t1, n, i, 250_000);
            announce(&t2, 100 + n, i, 5_000);
            announce(&t3, 100 + n, i, 5_000);
        }
        tokio::time::sleep(every + Duration::from_millis(20)).await;
    }
    let stats = |t: &TrackerServer| -> serde_json::Value {
        let (_, body) = respond(&t.shared, Instant::now(), "/stats", b"", from(1));
        serde_json::from_slice(&body).unwrap()
    };
    let s = stats(&t2);
    let swarm = &s["multitrack"]["swarms"][0];
    let share = swarm["shares"][1].as_f64().unwrap();
    assert_eq!(
        s["multitrack"]["options"],
        serde_json::json!(["two", "one"])
    );
    assert!(swarm["updates"].as_u64().unwrap() >= 5, "{s}");
    let payoffs = &swarm["payoffs"];
    assert!(
        payoffs[0].as_f64().unwrap() > payoffs[1].as_f64().unwrap(),
        "T2's own swarm costs more than T1's: {s}"
    );
    assert!(share > 0.5, "T2 forwards {share} toward T1: {s}");
    // The history holds every update, the last as /stats shows it.
    let history = t2.multitrack_updates(&HASH);
    let last = history.last().expect("updates");
    assert!(history.len() as u64 >= swarm["updates"].as_u64().unwrap());
    assert!(history.iter().filter(|u| u.moved).count() >= 5);
    assert!((last.shares[1] - share).abs() < 1e-9, "{last:?} vs {s}");
    // The tracker that never forwards saw the same payoffs and kept its
    // split where it was.
    let never = t3.multitrack_updates(&HASH);
    let last3 = never.last().expect("updates");
    assert!(never.iter().all(|u| !u.moved), "{never:?}");
    assert!(last3.payoffs.iter().all(|p| p.is_finite()), "{last3:?}");
    assert!(last3.payoffs[0] > last3.payoffs[1], "{last3:?}");
    assert_eq!(last3.shares, vec![1.0, 0.0]);
    assert!(t1.multitrack_updates(&InfoHash([9; 20])).is_empty());
    // New downloaders at T2 (virtual second 30): about `share` of them go
    // to T1's swarm.
    let t1_ports: Vec<u16> = (1..=10).map(|n| 6000 + n).collect();
    let mut forwarded = 0;
    let at = t0 + Duration::from_secs(30);
    for n in 150..200u8 {
        let ports = first_announce_ports(&t2, n, size, at);
        assert!(
            first_announce_ports(&t3, n, size, at)
                .iter()
                .all(|p| !t1_ports.contains(p)),
            "a tracker that never forwards gave T1's peers"
        );
        if !ports.is_empty() && ports.iter().all(|p| t1_ports.contains(p)) {
            forwarded += 1;
        } else {
            assert!(
                ports.iter().all(|p| !t1_ports.contains(p)),
                "mixed {ports:?}"
            );
        }
    }
    let expect = 50.0 * share;
    assert!(
        (f64::from(forwarded) - expect).abs() <= 12.0,
        "{forwarded} of 50 forwarded at share {share:.2}"
    );
    // The forwarded ones are not in T2's swarm.
    let leechers = t2.counts(&HASH).leechers;
    assert_eq!(leechers, 10 + 50 - u64::from(forwarded as u32));
    assert_eq!(t3.counts(&HASH).leechers, 10 + 50);
    t3.shutdown().await;
    t2.shutdown().await;
    t1.shutdown().await;
}

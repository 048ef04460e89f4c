//! `announce_once` against each kind of tracker and each kind of answer.

use std::net::SocketAddr;
use std::time::Duration;

use riffle_protocol::tracker::http::{AnnounceRequest, AnnounceResponse};
use riffle_protocol::tracker::http_server::{encode_announce_response, encode_failure, PeerFormat};
use riffle_protocol::tracker::udp::Response;
use riffle_protocol::tracker::{Event, PeerEndpoint, TrackerPeer};
use tokio::time::Instant;

use super::servers::{
    dead_addr, failure, peers_reply, silent_udp, udp_peers, HttpTracker, Reply, UdpTracker,
};
use super::{fast_config, info_hash, peer_id};
use crate::tracker::{announce_once, TrackerError};

fn request(event: Event) -> AnnounceRequest {
    let mut req = AnnounceRequest::new(info_hash(), peer_id(), 6881, 1000);
    req.uploaded = 5;
    req.downloaded = 7;
    req.event = event;
    req.numwant = Some(30);
    req.key = Some(b"1A2B3C4D".to_vec());
    req
}

fn addrs(s: &[&str]) -> Vec<SocketAddr> {
    s.iter().map(|a| a.parse().unwrap()).collect()
}

#[tokio::test]
async fn http_compact_ipv4_and_ipv6_peers() {
    let peers = addrs(&["10.0.0.1:6881", "[2001:db8::1]:51413"]);
    let served = peers.clone();
    let mut t = HttpTracker::start(move |r| peers_reply(r, 900, Some(60), &served)).await;
    let out = announce_once(&t.url, &request(Event::Started), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers, peers);
    assert_eq!(out.interval, Duration::from_secs(900));
    assert_eq!(out.min_interval, Some(Duration::from_secs(60)));
    assert_eq!((out.seeders, out.leechers), (Some(3), Some(4)));
    let (_, seen) = t.next(Duration::from_secs(1)).await;
    assert_eq!(seen.event, Event::Started);
    assert_eq!((seen.uploaded, seen.downloaded, seen.left), (5, 7, 1000));
    assert_eq!(seen.info_hash, info_hash());
    assert_eq!(seen.peer_id, peer_id());
    assert_eq!(seen.numwant, Some(30));
    assert_eq!(seen.key.as_deref(), Some(&b"1A2B3C4D"[..]));
    assert!(seen.compact);
}

#[tokio::test]
async fn http_dictionary_peers_with_host_names() {
    let t = HttpTracker::start(|_| {
        let mut resp = AnnounceResponse::new(
            60,
            vec![
                TrackerPeer::from_addr("192.0.2.7:7000".parse().unwrap()),
                TrackerPeer {
                    endpoint: PeerEndpoint::Host {
                        name: "localhost".into(),
                        port: 7001,
                    },
                    peer_id: None,
                },
            ],
        );
        resp.warning_message = Some("be nice".into());
        resp.tracker_id = Some(b"tid".to_vec());
        Reply::Body(encode_announce_response(
            &resp,
            PeerFormat::Dictionaries { with_peer_id: true },
        ))
    })
    .await;
    let out = announce_once(&t.url, &request(Event::None), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers.len(), 2, "{:?}", out.peers);
    assert_eq!(out.peers[0], "192.0.2.7:7000".parse().unwrap());
    assert!(out.peers[1].ip().is_loopback() && out.peers[1].port() == 7001);
    assert_eq!(out.warning.as_deref(), Some("be nice"));
    assert_eq!(out.tracker_id.as_deref(), Some(&b"tid"[..]));
}

#[tokio::test]
async fn http_failure_reason_and_statuses() {
    let t = HttpTracker::start(|_| failure("torrent not registered")).await;
    let e = announce_once(&t.url, &request(Event::Started), &fast_config())
        .await
        .unwrap_err();
    assert_eq!(e.failure_reason(), Some("torrent not registered"));

    // A failure sent with an error status is still the tracker's failure.
    let t = HttpTracker::start(|_| Reply::Status(403, encode_failure("passkey"))).await;
    let e = announce_once(&t.url, &request(Event::None), &fast_config())
        .await
        .unwrap_err();
    assert_eq!(e.failure_reason(), Some("passkey"));

    let t = HttpTracker::start(|_| Reply::Status(502, b"<html>bad gateway".to_vec())).await;
    let e = announce_once(&t.url, &request(Event::None), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::HttpStatus(502)), "{e}");

    let t = HttpTracker::start(|_| Reply::Body(b"<html>hello</html>".to_vec())).await;
    let e = announce_once(&t.url, &request(Event::None), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::Response(_)), "{e}");
}

#[tokio::test]
async fn http_refused_and_hanging_trackers_fail_in_bounded_time() {
    let url = format!("http://{}/announce", dead_addr().await);
    let start = Instant::now();
    let e = announce_once(&url, &request(Event::None), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::Http(_)), "{e}");
    assert!(start.elapsed() < Duration::from_millis(400));

    let t = HttpTracker::start(|_| Reply::Hang).await;
    let start = Instant::now();
    let e = announce_once(&t.url, &request(Event::None), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::Timeout(_)), "{e}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn unsupported_and_malformed_urls() {
    let cfg = fast_config();
    let req = request(Event::None);
    assert!(matches!(
        announce_once("wss://tracker.example/announce", &req, &cfg).await,
        Err(TrackerError::UnsupportedScheme(s)) if s == "wss"
    ));
    assert!(matches!(
        announce_once("no scheme here", &req, &cfg).await,
        Err(TrackerError::BadUrl { .. })
    ));
    assert!(matches!(
        announce_once("udp://127.0.0.1/announce", &req, &cfg).await,
        Err(TrackerError::BadUrl { .. })
    ));
    assert!(matches!(
        announce_once("http://[::1/announce", &req, &cfg).await,
        Err(TrackerError::BadUrl { .. })
    ));
}

#[tokio::test]
async fn udp_announce_reuses_the_connection_id() {
    let peers = addrs(&["10.0.0.2:6881", "10.0.0.3:6882"]);
    let served = peers.clone();
    let mut t = UdpTracker::start(move |r| Some(udp_peers(r, 120, &served))).await;
    let cfg = fast_config();
    let out = announce_once(&t.url, &request(Event::Started), &cfg)
        .await
        .unwrap();
    assert_eq!(out.peers, peers);
    assert_eq!(out.interval, Duration::from_secs(120));
    assert_eq!((out.seeders, out.leechers), (Some(2), Some(1)));
    let (_, seen) = t.next(Duration::from_secs(1)).await;
    assert_eq!(seen.event, Event::Started);
    assert_eq!((seen.uploaded, seen.downloaded, seen.left), (5, 7, 1000));
    assert_eq!(seen.key, 0x1a2b_3c4d);
    assert_eq!(seen.num_want, 30);
    assert_eq!(seen.port, 6881);
    assert!(seen.url_data.is_empty());

    announce_once(&t.url, &request(Event::None), &cfg)
        .await
        .unwrap();
    assert_eq!(t.next(Duration::from_secs(1)).await.1.event, Event::None);
    assert_eq!(t.connects(), 1, "the second announce reuses the cached id");
}

#[tokio::test]
async fn udp_over_ipv6_with_url_data() {
    let peers = addrs(&["[2001:db8::5]:6881", "[2001:db8::6]:6882"]);
    let served = peers.clone();
    let mut t = UdpTracker::start_at("[::1]:0", move |r| Some(udp_peers(r, 60, &served))).await;
    let url = format!("{}?passkey=abc", t.url);
    let out = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers, peers);
    assert_eq!(
        t.next(Duration::from_secs(1)).await.1.url_data,
        b"/announce?passkey=abc".to_vec()
    );
}

#[tokio::test]
async fn udp_error_reply_is_a_failure_reason() {
    let t = UdpTracker::start(|r| {
        Some(Response::Error {
            transaction_id: r.transaction_id,
            message: "unregistered torrent".into(),
        })
    })
    .await;
    let e = announce_once(&t.url, &request(Event::Started), &fast_config())
        .await
        .unwrap_err();
    assert_eq!(e.failure_reason(), Some("unregistered torrent"));
}

#[tokio::test]
async fn udp_silent_and_refused_trackers_fail_in_bounded_time() {
    let (_hole, url) = silent_udp().await;
    let start = Instant::now();
    let e = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, TrackerError::Timeout(_)), "{e}");
    // Two attempts: 100 ms then 200 ms.
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(900),
        "{took:?}"
    );

    let url = format!("udp://{}/announce", dead_addr().await);
    let start = Instant::now();
    let e = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::Io(_)), "{e}");
    assert!(start.elapsed() < Duration::from_millis(90));
}

#[tokio::test]
async fn http_tracker_over_ipv6() {
    let peers = addrs(&["[2001:db8::7]:7777"]);
    let served = peers.clone();
    let t = HttpTracker::start_at("[::1]:0", move |r| peers_reply(r, 60, None, &served)).await;
    assert!(t.url.starts_with("http://[::1]:"));
    let out = announce_once(&t.url, &request(Event::Started), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers, peers);
}

#[tokio::test]
async fn https_to_a_server_that_does_not_speak_tls_is_an_error() {
    // Exercises the TLS set-up (ring provider, platform verifier): the
    // handshake fails against a server that answers in plain text.
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/announce", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let e = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap_err();
    assert!(matches!(e, TrackerError::Http(_)), "{e}");
    server.abort();
}

#[tokio::test]
async fn udp_packets_that_are_not_the_answer_are_ignored() {
    use riffle_protocol::tracker::udp::{family_of, Request};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", socket.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let fam = family_of(&from);
            let (tid, answer) = match Request::decode(&buf[..n]).unwrap() {
                Request::Connect { transaction_id } => (
                    transaction_id,
                    Response::Connect {
                        transaction_id,
                        connection_id: 77,
                    },
                ),
                Request::Announce(a) => {
                    (a.transaction_id, udp_peers(&a, 30, &addrs(&["10.0.0.4:4"])))
                }
                Request::Scrape { .. } => unreachable!(),
            };
            // Noise first: a runt, another transaction's reply, another
            // transaction's error, a reply of the wrong action.
            let noise = [
                vec![0, 0, 0],
                Response::Connect {
                    transaction_id: tid ^ 1,
                    connection_id: 5,
                }
                .encode(fam),
                Response::Error {
                    transaction_id: tid ^ 2,
                    message: "not you".into(),
                }
                .encode(fam),
                Response::Scrape {
                    transaction_id: tid,
                    entries: vec![],
                }
                .encode(fam),
            ];
            for p in noise {
                socket.send_to(&p, from).await.unwrap();
            }
            socket.send_to(&answer.encode(fam), from).await.unwrap();
        }
    });
    let out = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers, addrs(&["10.0.0.4:4"]));
    assert_eq!(out.interval, Duration::from_secs(30));
    server.abort();
}

#[tokio::test]
async fn udp_lost_packets_are_retransmitted() {
    use riffle_protocol::tracker::udp::{family_of, Request};
    // Drops the first connect and the first announce it gets.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", socket.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let (mut connects, mut announces) = (0, 0);
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let answer = match Request::decode(&buf[..n]).unwrap() {
                Request::Connect { transaction_id } => {
                    connects += 1;
                    (connects > 1).then_some(Response::Connect {
                        transaction_id,
                        connection_id: 9,
                    })
                }
                Request::Announce(a) => {
                    announces += 1;
                    (announces > 1).then(|| udp_peers(&a, 30, &addrs(&["10.0.0.8:8"])))
                }
                Request::Scrape { .. } => None,
            };
            if let Some(r) = answer {
                socket
                    .send_to(&r.encode(family_of(&from)), from)
                    .await
                    .unwrap();
            }
        }
    });
    let start = Instant::now();
    let out = announce_once(&url, &request(Event::Started), &fast_config())
        .await
        .unwrap();
    assert_eq!(out.peers, addrs(&["10.0.0.8:8"]));
    // One 100 ms wait for each lost request.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(600),
        "{took:?}"
    );
    server.abort();
}

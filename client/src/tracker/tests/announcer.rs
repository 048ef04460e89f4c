//! The announcer task against live trackers: event order and counters,
//! peers, BEP 12 tier fallback, failure reasons, backoff, minimum
//! intervals, and bounded shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use crate::watch;
use riffle_protocol::tracker::Event;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::servers::{
    dead_addr, failure, peers_reply, silent_udp, udp_peers, HttpTracker, Reply, UdpTracker,
};
use super::{fast_config, info_hash, peer_id};
use crate::tracker::{
    spawn_announcer, AnnounceConfig, AnnounceSetup, AnnouncerHandle, Board, TrackerState, Transfer,
};

const SEC: Duration = Duration::from_secs(1);

fn addrs(s: &[&str]) -> Vec<SocketAddr> {
    s.iter().map(|a| a.parse().unwrap()).collect()
}

/// An announcer for `tiers`, starting with 1000 bytes left.
fn start(
    tiers: &[&[&str]],
    config: AnnounceConfig,
) -> (
    AnnouncerHandle,
    watch::Sender<Transfer>,
    mpsc::Receiver<Vec<SocketAddr>>,
) {
    let (transfer, rx) = watch::channel(Transfer {
        uploaded: 0,
        downloaded: 0,
        left: 1000,
    });
    let (peers_tx, peers) = mpsc::channel(16);
    let setup = AnnounceSetup {
        tiers: tiers
            .iter()
            .map(|t| t.iter().map(|u| u.to_string()).collect())
            .collect(),
        info_hash: info_hash(),
        peer_id: peer_id(),
        port: 6881,
        config: config.into(),
    };
    (spawn_announcer(setup, rx, peers_tx), transfer, peers)
}

/// Wait until the status board satisfies `ok`.
async fn status_until(h: &AnnouncerHandle, ok: impl FnMut(&Board) -> bool) -> Board {
    let mut rx = h.status();
    let board = tokio::time::timeout(2 * SEC, rx.wait_for(ok))
        .await
        .expect("status never got there")
        .expect("status channel closed")
        .clone();
    board
}

#[tokio::test]
async fn events_arrive_in_order_with_the_latest_counters() {
    let peers = addrs(&["10.1.1.1:1000", "[2001:db8::9]:2000"]);
    let served = peers.clone();
    let mut t = HttpTracker::start(move |r| peers_reply(r, 1, None, &served)).await;
    let cfg = AnnounceConfig {
        time_scale: 4.0,
        ..fast_config()
    };
    let (h, transfer, mut peer_rx) = start(&[&[&t.url]], cfg);

    let (t0, started) = t.next(SEC).await;
    assert_eq!(started.event, Event::Started);
    assert_eq!(
        (started.uploaded, started.downloaded, started.left),
        (0, 0, 1000)
    );
    assert_eq!(started.port, 6881);
    assert_eq!(started.numwant, Some(30));
    let got = tokio::time::timeout(SEC, peer_rx.recv()).await.unwrap();
    assert_eq!(got, Some(peers));

    transfer.send_replace(Transfer {
        uploaded: 10,
        downloaded: 500,
        left: 500,
    });
    // The tracker's 1 s interval, divided by the time scale of 4.
    let (t1, regular) = t.next(SEC).await;
    assert_eq!(regular.event, Event::None);
    assert_eq!(
        (regular.uploaded, regular.downloaded, regular.left),
        (10, 500, 500)
    );
    let gap = t1 - t0;
    assert!(
        gap >= Duration::from_millis(240) && gap < Duration::from_millis(600),
        "{gap:?}"
    );

    transfer.send_replace(Transfer {
        uploaded: 20,
        downloaded: 1000,
        left: 0,
    });
    h.completed();
    h.completed();
    let (t2, done) = t.next(SEC).await;
    assert_eq!(done.event, Event::Completed, "completed goes out at once");
    assert_eq!((done.uploaded, done.downloaded, done.left), (20, 1000, 0));
    assert!(t2 - t1 < Duration::from_millis(200));

    let board = status_until(&h, |s| s[0].completed_sent).await;
    assert_eq!(board[0].state, TrackerState::Working);
    assert!(board[0].started);
    assert!(board[0].peers_seen >= 4);
    assert_eq!((board[0].seeders, board[0].leechers), (Some(3), Some(4)));
    assert_eq!(board[0].interval, Some(Duration::from_millis(250)));
    assert!(board[0].next_announce.is_some());

    // Let one more regular announce happen, then stop.
    let (_, after) = t.next(SEC).await;
    assert_eq!(after.event, Event::None, "completed is sent once");
    let status = h.status();
    h.stop(SEC).await;
    let rest = t.drain();
    let stopped: Vec<_> = rest
        .iter()
        .filter(|(_, r)| r.event != Event::None)
        .collect();
    assert_eq!(stopped.len(), 1, "{rest:?}");
    let (_, stop) = stopped[0];
    assert_eq!(stop.event, Event::Stopped);
    assert_eq!((stop.uploaded, stop.downloaded, stop.left), (20, 1000, 0));
    assert_eq!(stop.numwant, Some(0));
    assert_eq!(status.borrow()[0].state, TrackerState::Stopped);

    // The task is over: no more announces.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(t.drain().is_empty());
}

#[tokio::test]
async fn a_refused_tracker_falls_back_within_its_tier_and_every_tier_is_announced() {
    let dead = format!("http://{}/announce", dead_addr().await);
    let mut live = HttpTracker::start(|r| peers_reply(r, 1, None, &[])).await;
    let mut other_tier = HttpTracker::start(|r| peers_reply(r, 60, None, &[])).await;
    let cfg = AnnounceConfig {
        time_scale: 4.0,
        ..fast_config()
    };
    let (h, _transfer, _peers) = start(&[&[&dead, &live.url], &[&other_tier.url]], cfg);
    assert_eq!(live.next(SEC).await.1.event, Event::Started);
    assert_eq!(other_tier.next(SEC).await.1.event, Event::Started);
    // The working tracker moved to the front: the next announce goes
    // straight to it, without trying the dead one again.
    assert_eq!(live.next(SEC).await.1.event, Event::None);
    let board = status_until(&h, |s| {
        s[1].state == TrackerState::Working && s[2].state == TrackerState::Working
    })
    .await;
    assert_eq!(
        board
            .iter()
            .map(|s| (s.url.as_str(), s.tier))
            .collect::<Vec<_>>(),
        [
            (dead.as_str(), 0),
            (live.url.as_str(), 0),
            (other_tier.url.as_str(), 1)
        ]
    );
    assert_eq!(board[0].state, TrackerState::Failed);
    assert_eq!(board[0].consecutive_failures, 1);
    assert!(board[0].last_error.is_some());
    assert!(!board[0].started);
    assert!(board[1].started && board[2].started);
}

#[tokio::test]
async fn a_silent_udp_tracker_falls_back_after_the_bounded_retries() {
    let (_hole, silent) = silent_udp().await;
    let mut live = UdpTracker::start(|r| Some(udp_peers(r, 60, &addrs(&["10.9.9.9:9"])))).await;
    let spawned = Instant::now();
    let (h, _transfer, mut peers) = start(&[&[&silent, &live.url]], fast_config());
    let (when, first) = live.next(2 * SEC).await;
    assert_eq!(first.event, Event::Started);
    // Two unanswered sends to the silent one: 100 ms + 200 ms.
    let waited = when - spawned;
    assert!(
        waited >= Duration::from_millis(290) && waited < SEC,
        "{waited:?}"
    );
    let got = tokio::time::timeout(SEC, peers.recv()).await.unwrap();
    assert_eq!(got, Some(addrs(&["10.9.9.9:9"])));
    let board = status_until(&h, |s| s[1].state == TrackerState::Working).await;
    assert!(board[0]
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("did not answer")));

    // Only the tracker that got `started` gets `stopped`.
    let begin = Instant::now();
    h.stop(SEC).await;
    assert!(begin.elapsed() < Duration::from_millis(500));
    assert_eq!(live.next(SEC).await.1.event, Event::Stopped);
}

#[tokio::test]
async fn failure_reason_shows_in_status_and_retries_back_off() {
    let mut t = HttpTracker::start(|_| failure("torrent not registered")).await;
    let (h, _transfer, _peers) = start(&[&[&t.url]], fast_config());
    let board = status_until(&h, |s| s[0].failure_reason.is_some()).await;
    assert_eq!(
        board[0].failure_reason.as_deref(),
        Some("torrent not registered")
    );
    assert_eq!(board[0].state, TrackerState::Failed);
    assert!(!board[0].started);
    // Retries after 200 ms, then 400 ms, then 800 ms.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let tries = t.drain();
    assert_eq!(tries.len(), 3, "{tries:?}");
    assert!(tries.iter().all(|(_, r)| r.event == Event::Started));
    let gap1 = tries[1].0 - tries[0].0;
    let gap2 = tries[2].0 - tries[1].0;
    assert!(gap1 >= Duration::from_millis(190), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(380), "{gap2:?}");
    let board = h.status().borrow().clone();
    assert_eq!(board[0].consecutive_failures, 3);
    assert!(board[0].next_announce.is_some());
}

#[tokio::test]
async fn stop_is_bounded_even_when_trackers_hang() {
    let mut http = HttpTracker::start(|r| match r.event {
        Event::Stopped => Reply::Hang,
        _ => peers_reply(r, 60, None, &[]),
    })
    .await;
    let mut udp = UdpTracker::start(|r| match r.event {
        Event::Stopped => None,
        _ => Some(udp_peers(r, 60, &[])),
    })
    .await;
    let cfg = AnnounceConfig {
        http_timeout: Duration::from_secs(30),
        udp_base_timeout: Duration::from_secs(5),
        ..fast_config()
    };
    let (h, _transfer, _peers) = start(&[&[&http.url], &[&udp.url]], cfg);
    assert_eq!(http.next(SEC).await.1.event, Event::Started);
    assert_eq!(udp.next(SEC).await.1.event, Event::Started);
    let begin = Instant::now();
    h.stop(Duration::from_millis(300)).await;
    let took = begin.elapsed();
    assert!(took < Duration::from_millis(500), "{took:?}");
    // Both got their `stopped`, in parallel, within the window.
    assert_eq!(
        http.next(Duration::ZERO + SEC).await.1.event,
        Event::Stopped
    );
    assert_eq!(udp.next(SEC).await.1.event, Event::Stopped);
}

#[tokio::test]
async fn early_announces_respect_the_trackers_min_interval() {
    // Interval 60 s and min interval 2 s, scaled by 4: 15 s and 500 ms.
    let mut t = HttpTracker::start(|r| peers_reply(r, 60, Some(2), &[])).await;
    let cfg = AnnounceConfig {
        time_scale: 4.0,
        ..fast_config()
    };
    let (h, _transfer, _peers) = start(&[&[&t.url]], cfg);
    let (t0, _) = t.next(SEC).await;
    status_until(&h, |s| s[0].state == TrackerState::Working).await;
    for _ in 0..3 {
        h.want_more_peers();
    }
    let (t1, early) = t.next(2 * SEC).await;
    assert_eq!(early.event, Event::None);
    let gap = t1 - t0;
    assert!(gap >= Duration::from_millis(480) && gap < SEC, "{gap:?}");
    // Nothing more unless asked: the regular interval is 15 s.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(t.drain().is_empty());
}

#[tokio::test]
async fn our_floor_overrides_a_too_short_tracker_interval() {
    let mut t = HttpTracker::start(|r| peers_reply(r, 1, None, &[])).await;
    let cfg = AnnounceConfig {
        min_interval: Duration::from_secs(2),
        time_scale: 4.0,
        ..fast_config()
    };
    let (_h, _transfer, _peers) = start(&[&[&t.url]], cfg);
    let (t0, _) = t.next(SEC).await;
    let (t1, _) = t.next(2 * SEC).await;
    let gap = t1 - t0;
    // 1 s asked for, floored to 2 s, scaled: 500 ms rather than 250 ms.
    assert!(gap >= Duration::from_millis(480) && gap < SEC, "{gap:?}");
}

#[tokio::test]
async fn dropping_the_handle_ends_the_task_silently() {
    let mut t = HttpTracker::start(|r| peers_reply(r, 1, None, &[])).await;
    let cfg = AnnounceConfig {
        time_scale: 4.0,
        ..fast_config()
    };
    let (h, _transfer, _peers) = start(&[&[&t.url]], cfg);
    t.next(SEC).await;
    drop(h);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(t.drain().is_empty(), "no announce, not even stopped");
}

#[tokio::test]
async fn our_own_entry_is_not_handed_out() {
    let listed = addrs(&[
        "127.0.0.1:6881",
        "10.0.0.1:1",
        "[::1]:6881",
        "127.0.0.1:6882",
    ]);
    let t = HttpTracker::start(move |r| peers_reply(r, 60, None, &listed)).await;
    let (_h, _transfer, mut peers) = start(&[&[&t.url]], fast_config());
    let got = tokio::time::timeout(SEC, peers.recv()).await.unwrap();
    assert_eq!(got, Some(addrs(&["10.0.0.1:1", "127.0.0.1:6882"])));
}

#[tokio::test]
async fn duplicate_and_empty_urls_are_dropped_and_no_trackers_is_fine() {
    let mut t = HttpTracker::start(|r| peers_reply(r, 60, None, &[])).await;
    let (h, _transfer, _peers) = start(&[&["", &t.url], &[&t.url], &[]], fast_config());
    assert_eq!(t.next(SEC).await.1.event, Event::Started);
    let board = h.status().borrow().clone();
    assert_eq!(board.len(), 1);
    assert_eq!(board[0].url, t.url);
    h.stop(SEC).await;
    assert_eq!(t.next(SEC).await.1.event, Event::Stopped);
    assert!(t.drain().is_empty(), "one tracker, one stopped");

    let (h, _transfer, _peers) = start(&[], fast_config());
    assert!(h.status().borrow().is_empty());
    let begin = Instant::now();
    h.stop(SEC).await;
    assert!(begin.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn stopping_right_after_completing_still_sends_completed_first() {
    let served = addrs(&["10.1.1.1:1000"]);
    let mut t = HttpTracker::start(move |r| peers_reply(r, 60, None, &served)).await;
    let (h, transfer, _peers) = start(&[&[&t.url]], fast_config());
    let (_, started) = t.next(SEC).await;
    assert_eq!(started.event, Event::Started);
    // Wait for the reply to be taken in, then complete and stop at once
    // (what `riffle download` does on its last piece).
    status_until(&h, |s| s[0].state == TrackerState::Working).await;
    transfer.send_replace(Transfer {
        uploaded: 0,
        downloaded: 1000,
        left: 0,
    });
    h.completed();
    h.stop(SEC).await;
    let events: Vec<Event> = t.drain().into_iter().map(|(_, r)| r.event).collect();
    assert_eq!(
        events,
        vec![Event::Completed, Event::Stopped],
        "the tracker must count the download"
    );
}

/// `n` announcers of distinct torrents (info-hash `[i; 20]`) on one
/// announce service, as a session runs them.
fn start_many(
    service: &crate::tracker::Announcers,
    n: u8,
    url: &str,
    config: &AnnounceConfig,
) -> Vec<(AnnouncerHandle, watch::Sender<Transfer>)> {
    (0..n)
        .map(|i| {
            let (transfer, rx) = watch::channel(Transfer {
                left: 1000,
                ..Transfer::default()
            });
            let (peers_tx, _) = mpsc::channel(1);
            let setup = AnnounceSetup {
                tiers: vec![vec![url.to_owned()]],
                info_hash: riffle_protocol::InfoHash([i; 20]),
                peer_id: peer_id(),
                port: 6881,
                config: std::sync::Arc::new(config.clone()),
            };
            let h = crate::tracker::announce(service, setup, rx, peers_tx);
            (h, transfer)
        })
        .collect()
}

#[tokio::test]
async fn one_service_keeps_at_most_its_cap_of_announces_in_flight() {
    let mut t = HttpTracker::start(|_| Reply::Hang).await;
    let config = AnnounceConfig {
        http_timeout: Duration::from_millis(800),
        ..fast_config()
    };
    let service = crate::tracker::Announcers::start();
    let n = 200u8;
    let handles = start_many(&service, n, &t.url, &config);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = t.drain();
    assert_eq!(
        first.len(),
        crate::tracker::MAX_IN_FLIGHT,
        "the cap holds the rest back"
    );
    // The first flights time out at 800 ms; the rest (and the first ones'
    // retries) go out then, and hang past the end of the test: every one
    // of them is in flight at once.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let rest = t.drain();
    assert!(
        rest.len() <= crate::tracker::MAX_IN_FLIGHT,
        "{}",
        rest.len()
    );
    let torrents: std::collections::HashSet<u8> = first
        .iter()
        .chain(&rest)
        .map(|(_, r)| r.info_hash.0[0])
        .collect();
    assert_eq!(torrents.len(), usize::from(n), "every torrent announced");
    for (h, _) in handles {
        h.stop(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn announces_that_fail_together_drift_apart() {
    let mut t = HttpTracker::start(|_| failure("overloaded")).await;
    let service = crate::tracker::Announcers::start();
    let handles = start_many(&service, 40, &t.url, &fast_config());
    // `started` at once, then the retries 200 ms later, each moved by up
    // to a tenth of that.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut tries: std::collections::HashMap<u8, Vec<Instant>> = Default::default();
    for (at, req) in t.drain() {
        tries.entry(req.info_hash.0[0]).or_default().push(at);
    }
    assert_eq!(tries.len(), 40);
    let gaps: Vec<Duration> = tries
        .values()
        .filter(|v| v.len() >= 2)
        .map(|v| v[1] - v[0])
        .collect();
    assert!(gaps.len() >= 30, "retries came: {}", gaps.len());
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(195)),
        "{gaps:?}"
    );
    let spread = *gaps.iter().max().unwrap() - *gaps.iter().min().unwrap();
    assert!(
        spread >= Duration::from_millis(5),
        "retries stayed in step: {gaps:?}"
    );
    drop(handles);
}

//! Issue 23, locality: `riffle tracker --locality FILE` answers each
//! announce near-first, P4P's shape: 70% of the list from the asker's own
//! network (PID), 30% at random. Real clients announce from
//! different loopback /24s (Linux routes all of 127/8 to lo): libtorrent
//! from 127.0.2.200 (its listen and outgoing interface), riffle from
//! 127.0.3.200 (its `--listen` address, which its announces leave from).
//! The tracker's /stats counts what it handed out by network. With 80
//! peers in each network, 70% near plus a third of the random 30% makes
//! 80% of each list near.

use std::time::{Duration, Instant};

use riffle_protocol::types::PeerId;
use riffle_tests::make_torrent::{make, Maker};
use riffle_tests::payload::{small_tree, write_tree};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::riffle_tracker::{parse_hash, LtProbe, RiffleTracker, UdpAsk};
use serde_json::Value;

const MAP: &str = r#"
[pids]
one = ["127.0.1.0/24"]
two = ["127.0.2.0/24"]
three = ["127.0.3.0/24"]
"#;

/// Peers of one network handed to askers of another, from /stats.
fn given(tracker: &RiffleTracker, asker: &str, peer: &str) -> u64 {
    let (status, body) = tracker.http_get("/stats").expect("GET /stats");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("JSON stats");
    v["locality"]["given"]
        .as_array()
        .expect("locality counts")
        .iter()
        .filter(|g| g["asker"] == asker && g["peer"] == peer)
        .map(|g| g["count"].as_u64().unwrap_or(0))
        .sum()
}

/// The asker's own share of what `asker` was given, and the total.
fn share(tracker: &RiffleTracker, asker: &str) -> (f64, u64, [u64; 3]) {
    let counts = ["one", "two", "three"].map(|p| given(tracker, asker, p));
    let total: u64 = counts.iter().sum();
    let own = given(tracker, asker, asker);
    (own as f64 / total.max(1) as f64, total, counts)
}

#[test]
fn the_tracker_gives_libtorrent_and_riffle_eighty_percent_of_their_own_network() {
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let map = tmp.path().join("locality.toml");
    std::fs::write(&map, MAP).unwrap();
    let tracker = RiffleTracker::start(
        &["--locality", map.to_str().unwrap()],
        &tmp.path().join("tracker.log"),
    );
    let top = write_tree(&tmp.path().join("seed"), "near", &small_tree(1), 0x23);
    let torrent = tmp.path().join("near.torrent");
    let hash = make(
        Maker::Libtorrent(64 * 1024),
        &top,
        &torrent,
        Some(&tracker.announce_url(false)),
    );
    // 80 downloaders in each network, asking for nobody (so the counts
    // below are the two clients' alone).
    for net in 1..=3u8 {
        for host in 10..90u8 {
            let mut id = [b'x'; 20];
            id[..2].copy_from_slice(&[net, host]);
            let from = format!("127.0.{net}.{host}");
            tracker.udp_announce(&UdpAsk {
                from: &from,
                info_hash: parse_hash(&hash),
                peer_id: PeerId(id),
                port: 6881,
                left: 1000,
                num_want: 0,
            });
        }
    }
    let probe = LtProbe::start_with(
        &tmp.path().join("lt"),
        &torrent,
        false,
        &["--listen", "127.0.2.200", "--num-want", "50"],
    );
    assert!(
        probe.answer.reply,
        "libtorrent got no reply: {:?}\n{}",
        probe.answer,
        probe.log_tail(20)
    );
    let (own, total, counts) = share(&tracker, "two");
    assert!(
        total >= 50 && total % 50 == 0,
        "libtorrent was given {counts:?}"
    );
    assert!(
        (0.76..=0.84).contains(&own),
        "libtorrent (network two) got {own:.2} of its list from its own network: {counts:?}"
    );
    assert!(
        counts[0] > 0 && counts[2] > 0,
        "the far share spans both other networks: {counts:?}"
    );

    let torrent_arg = torrent.to_str().unwrap().to_owned();
    let out = tmp.path().join("riffle");
    let out_arg = out.to_str().unwrap().to_owned();
    let riffle = RiffleProc::start(
        "riffle download",
        &[
            "download",
            &torrent_arg,
            "-o",
            &out_arg,
            "--listen",
            "127.0.3.200:0",
        ],
        &tmp.path().join("riffle.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while share(&tracker, "three").1 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (own, total, counts) = share(&tracker, "three");
    assert!(
        total >= 50,
        "riffle was given {counts:?}\n{}",
        riffle.log_tail(30)
    );
    assert!(
        (0.76..=0.84).contains(&own),
        "riffle (network three) got {own:.2} of its list from its own network: {counts:?}"
    );
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "the far share spans both other networks: {counts:?}"
    );
}

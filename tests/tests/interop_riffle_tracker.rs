//! Issue 4, built-in tracker: real clients use `riffle tracker` (HTTP, and
//! UDP BEP 15) as their only way to find each other.
//!
//! - libtorrent seeds, libtorrent downloads, byte for byte; the scrape
//!   counts the completion and the seed;
//! - aria2c downloads from `riffle seed` through it;
//! - `--max-peers 1`: a second downloader is refused and libtorrent shows
//!   the tracker's reason; a seed still gets in; a completion makes room;
//! - `--shield-newcomers`: a newcomer's reply holds only seeds (raw HTTP
//!   announces and libtorrent's own announce), no leecher is given it, and
//!   a shielded libtorrent newcomer still downloads from the seed.

use std::path::Path;
use std::time::Duration;

use riffle_protocol::tracker::http::AnnounceRequest;
use riffle_protocol::tracker::{Event, PeerEndpoint};
use riffle_protocol::types::PeerId;
use riffle_tests::aria2::aria2_download;
use riffle_tests::child::tail;
use riffle_tests::lt_swarm::{lt_leech, LtSeedOptions, LtSeeder};
use riffle_tests::make_torrent::{make, Maker};
use riffle_tests::payload::{assert_same_tree, small_tree, total_len, write_tree};
use riffle_tests::riffle_bin;
use riffle_tests::riffle_proc::RiffleProc;
use riffle_tests::riffle_tracker::{parse_hash, LtProbe, RiffleTracker};
use riffle_tests::tools::Phases;

/// libtorrent torrents here: 64 KiB pieces.
const LT: Maker = Maker::Libtorrent(64 * 1024);

/// A payload `name` of about `mib` MiB under `parent`, and its torrent
/// announcing to `tracker_url`; returns (payload top, torrent, info-hash).
fn payload_and_torrent(
    tmp: &Path,
    name: &str,
    mib: u64,
    maker: Maker,
    tracker_url: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let top = write_tree(&tmp.join("seed"), name, &small_tree(mib), 0x7a);
    let torrent = tmp.join(format!("{name}.torrent"));
    let hash = make(maker, &top, &torrent, Some(tracker_url));
    (top, torrent, hash)
}

fn libtorrent_swarm_through_riffle_tracker(udp: bool) {
    let phases = Phases::start();
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let tracker = RiffleTracker::start(&[], &tmp.path().join("tracker.log"));
    let name = if udp { "rt-lt-udp" } else { "rt-lt-http" };
    let (top, torrent, hash) =
        payload_and_torrent(tmp.path(), name, 8, LT, &tracker.announce_url(udp));
    phases.mark("tracker, payload and torrent ready");
    // LtSeeder::start returns once its tracker answered an announce.
    let seeder = LtSeeder::start(
        &tmp.path().join("seed"),
        &[&torrent],
        LtSeedOptions::default(),
    );
    let seen = tracker.wait_scrape(&hash, Duration::from_secs(10), |s| s.complete == 1);
    assert!(
        seen.as_ref().is_ok_and(|s| s.complete == 1),
        "the tracker does not count libtorrent's seed: {seen:?}; tracker log:\n{}",
        tracker.log_tail(30)
    );
    phases.mark("libtorrent seeding, announced");
    // No --dial: the tracker is the leecher's only way to the seeder.
    let out = tmp.path().join("out");
    let report = lt_leech(&out, &torrent, &[]);
    phases.mark("libtorrent leecher done");
    assert_eq!(
        report["finished"],
        true,
        "libtorrent did not finish through {}: {report}\ntracker log:\n{}\nseeder:\n{}",
        tracker.announce_url(udp),
        tracker.log_tail(40),
        seeder.log_tail(20)
    );
    assert_eq!(report["pieces_verified"], report["num_pieces"], "{report}");
    assert_same_tree(&top, &out.join(name));
    // The leecher said `completed` (counted once), then `stopped` on exit.
    // Over UDP libtorrent's last `stopped` (after its re-check restarted
    // the torrent) may not leave before the process ends: the finished
    // leecher can still count as a seed.
    let settled = |s: &riffle_protocol::tracker::scrape::ScrapeStats| {
        let seeds_ok = s.complete == 1 || (udp && s.complete == 2);
        seeds_ok && s.downloaded == 1 && s.incomplete == 0
    };
    let stats = tracker.wait_scrape(&hash, Duration::from_secs(10), settled);
    let stats = stats.unwrap_or_else(|e| panic!("scrape failed: {e}"));
    assert!(
        settled(&stats),
        "scrape after the download: {stats:?}; tracker log:\n{}",
        tracker.log_tail(40)
    );
    let up = seeder.finish()["torrents"][0]["uploaded"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        up >= total_len(&small_tree(8)),
        "the seeder uploaded only {up} bytes"
    );
}

#[test]
fn libtorrent_leecher_finds_libtorrent_seeder_through_riffle_tracker_http() {
    libtorrent_swarm_through_riffle_tracker(false);
}

#[test]
fn libtorrent_leecher_finds_libtorrent_seeder_through_riffle_tracker_udp() {
    libtorrent_swarm_through_riffle_tracker(true);
}

fn aria2_from_riffle_seed_through_riffle_tracker(udp: bool) {
    let phases = Phases::start();
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let mut tracker = RiffleTracker::start(&[], &tmp.path().join("tracker.log"));
    let name = if udp { "rt-aria2-udp" } else { "rt-aria2-http" };
    let (top, torrent, hash) = payload_and_torrent(
        tmp.path(),
        name,
        8,
        Maker::Riffle,
        &tracker.announce_url(udp),
    );
    let mut riffle = RiffleProc::start(
        "riffle seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--data",
            tmp.path().join("seed").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp.path().join("riffle.log"),
    );
    // aria2 announces once: riffle must be known to the tracker first.
    let seen = tracker.wait_scrape(&hash, Duration::from_secs(20), |s| s.complete == 1);
    assert!(
        seen.as_ref().is_ok_and(|s| s.complete == 1),
        "riffle seed never announced itself to riffle tracker: {seen:?}; seed log:\n{}\ntracker log:\n{}",
        riffle.log_tail(40),
        tracker.log_tail(40)
    );
    phases.mark("riffle seeding, announced");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let res = aria2_download(&torrent, &out, udp, Duration::from_secs(60));
    assert_eq!(
        res.code,
        Some(0),
        "aria2c did not complete (None: killed after 60 s):\n{}\n--- tracker log:\n{}\n--- riffle seed:\n{}",
        tail(&res.log, 40),
        tracker.log_tail(40),
        riffle.log_tail(40)
    );
    phases.mark("aria2 done");
    assert_same_tree(&top, &out.join(name));
    // aria2 with --seed-time=0 goes straight to `stopped` (it sends no
    // `completed`): the tracker forgets it, the seed stays.
    let stats = tracker.wait_scrape(&hash, Duration::from_secs(10), |s| {
        s.complete == 1 && s.incomplete == 0
    });
    assert!(
        stats
            .as_ref()
            .is_ok_and(|s| s.complete == 1 && s.incomplete == 0),
        "after aria2 left: {stats:?}; tracker log:\n{}",
        tracker.log_tail(30)
    );
    assert!(riffle
        .terminate(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    let status = tracker.terminate(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "riffle tracker after SIGTERM: {status:?}; log:\n{}",
        tracker.log_tail(20)
    );
    assert!(tracker
        .stdout_lines(Duration::from_millis(200))
        .iter()
        .any(|l| l == "tracker stopped"));
}

#[test]
fn aria2_downloads_from_riffle_seed_through_riffle_tracker_http() {
    aria2_from_riffle_seed_through_riffle_tracker(false);
}

#[test]
fn aria2_downloads_from_riffle_seed_through_riffle_tracker_udp() {
    aria2_from_riffle_seed_through_riffle_tracker(true);
}

fn admission_control_with_libtorrent(udp: bool) {
    let phases = Phases::start();
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let tracker = RiffleTracker::start(&["--max-peers", "1"], &tmp.path().join("tracker.log"));
    let name = if udp { "rt-cap-udp" } else { "rt-cap-http" };
    let (_top, torrent, hash) =
        payload_and_torrent(tmp.path(), name, 2, LT, &tracker.announce_url(udp));
    // The first downloader gets in and stays (no seed yet: it stays a
    // downloader).
    let first = LtProbe::start(&tmp.path().join("a"), &torrent, true);
    assert!(
        first.answer.reply && first.answer.error.is_none(),
        "the first downloader was not admitted: {:?}\n{}",
        first.answer,
        first.log_tail(20)
    );
    phases.mark("first downloader admitted");
    // The second is refused: libtorrent gets a tracker failure, no peers.
    let second = LtProbe::start(&tmp.path().join("b"), &torrent, false);
    let shown = second.answer.error.clone().unwrap_or_default();
    let why = format!(
        "{:?}\nprobe log:\n{}\ntracker log:\n{}",
        second.answer,
        second.log_tail(20),
        tracker.log_tail(20)
    );
    assert!(
        !second.answer.reply && shown.contains("failure message"),
        "the second downloader was not refused: {why}"
    );
    phases.mark("second downloader refused");
    let peer = PeerId(*b"-XX0000-refusedpeer1");
    if udp {
        // libtorrent 2.0.8 reads a UDP error's message from the start of
        // the packet (the action code's zero bytes), so it always shows an
        // empty reason: check the reason with a raw BEP 15 announce.
        let message = tracker.udp_announce_error(&parse_hash(&hash), peer, 40_001, 100);
        assert!(
            message.contains("swarm full") && message.contains("retry in"),
            "UDP refusal message {message:?}"
        );
    } else {
        // libtorrent shows the failure reason to its user.
        assert!(shown.contains("swarm full"), "{why}");
        // The refusal also carries BEP 31's `retry in`.
        let mut raw = AnnounceRequest::new(parse_hash(&hash), peer, 40_001, 100);
        raw.event = Event::Started;
        let (_, body) = tracker
            .http_get(&format!("/announce?{}", raw.query_string()))
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("14:failure reason") && body.contains("8:retry ini"),
            "{body}"
        );
    }
    let stats = tracker.scrape(&hash).unwrap();
    assert_eq!((stats.complete, stats.incomplete), (0, 1));
    drop(second);
    // A seed is always admitted (LtSeeder::start waits for a tracker reply);
    // the first downloader completes from it, which makes room.
    let seeder = LtSeeder::start(
        &tmp.path().join("seed"),
        &[&torrent],
        LtSeedOptions::default(),
    );
    phases.mark("seed admitted");
    let room = tracker.wait_scrape(&hash, Duration::from_secs(30), |s| {
        s.incomplete == 0 && s.downloaded == 1
    });
    assert!(
        room.as_ref().is_ok_and(|s| s.incomplete == 0),
        "the first downloader never completed: {room:?}\nprobe:\n{}\nseeder:\n{}",
        first.log_tail(20),
        seeder.log_tail(20)
    );
    phases.mark("first downloader completed");
    let third = LtProbe::start(&tmp.path().join("c"), &torrent, false);
    assert!(
        third.answer.reply && third.answer.num_peers.unwrap_or(0) >= 1,
        "after a completion a new downloader is admitted and gets the seeds: {:?}",
        third.answer
    );
    phases.mark("third downloader admitted");
}

#[test]
fn max_peers_refuses_a_second_libtorrent_downloader_http() {
    admission_control_with_libtorrent(false);
}

#[test]
fn max_peers_refuses_a_second_libtorrent_downloader_udp() {
    admission_control_with_libtorrent(true);
}

/// An announce by a raw peer `id` on port `port` that has `downloaded`
/// bytes, asking for a dictionary reply with peer ids.
fn raw(hash: &str, id: &[u8; 20], port: u16, total: u64, downloaded: u64) -> AnnounceRequest {
    let mut req = AnnounceRequest::new(parse_hash(hash), PeerId(*id), port, total - downloaded);
    req.downloaded = downloaded;
    req.event = Event::Started;
    req.compact = false;
    req.no_peer_id = false;
    req
}

fn sorted(mut v: Vec<u16>) -> Vec<u16> {
    v.sort_unstable();
    v
}

fn ports(reply: &riffle_protocol::tracker::http::AnnounceResponse) -> Vec<u16> {
    let mut p: Vec<u16> = reply
        .peers
        .iter()
        .map(|p| match &p.endpoint {
            PeerEndpoint::Addr(a) => a.port(),
            PeerEndpoint::Host { port, .. } => *port,
        })
        .collect();
    p.sort_unstable();
    p
}

#[test]
fn shield_newcomers_gives_a_newcomer_seeds_only_and_hides_it_from_leechers() {
    let phases = Phases::start();
    riffle_bin();
    let tmp = tempfile::tempdir().unwrap();
    let tracker = RiffleTracker::start(
        &["--shield-newcomers", "60"],
        &tmp.path().join("tracker.log"),
    );
    let (top, torrent, hash) =
        payload_and_torrent(tmp.path(), "rt-shield", 4, LT, &tracker.http_url);
    let total = total_len(&small_tree(4));
    let seeder = LtSeeder::start(
        &tmp.path().join("seed"),
        &[&torrent],
        LtSeedOptions::default(),
    );
    tracker
        .wait_scrape(&hash, Duration::from_secs(10), |s| s.complete == 1)
        .unwrap();
    phases.mark("libtorrent seeding, announced");

    // A leecher with progress, then a newcomer (nothing downloaded).
    let (x_port, n_port) = (40_011, 40_012);
    let x = raw(&hash, b"-XX0000-leecher-with", x_port, total, 65_536);
    let n = raw(&hash, b"-XX0000-newcomer-nnn", n_port, total, 0);
    let x_reply = tracker.announce(&x).unwrap();
    assert_eq!(ports(&x_reply), vec![seeder.port]);
    let n_reply = tracker.announce(&n).unwrap();
    assert_eq!(
        ports(&n_reply),
        vec![seeder.port],
        "a shielded newcomer is given the seed only, not the leecher on {x_port}"
    );
    assert_eq!((n_reply.complete, n_reply.incomplete), (Some(1), Some(2)));
    let x_reply = tracker.announce(&x).unwrap();
    assert_eq!(
        ports(&x_reply),
        vec![seeder.port],
        "a leecher is not given the shielded newcomer on {n_port}"
    );

    // Progress lifts the shield at once.
    let mut n_progress = raw(&hash, b"-XX0000-newcomer-nnn", n_port, total, 16_384);
    n_progress.event = Event::None;
    let n_reply = tracker.announce(&n_progress).unwrap();
    assert_eq!(ports(&n_reply), sorted(vec![x_port, seeder.port]));
    let mut x_again = x.clone();
    x_again.event = Event::None;
    assert_eq!(
        ports(&tracker.announce(&x_again).unwrap()),
        sorted(vec![n_port, seeder.port]),
        "once it progressed, the newcomer is handed to leechers"
    );

    // libtorrent's own first announce is a newcomer's: seeds only, though
    // two unshielded leechers are known. (Its reply is checked before it
    // can finish and announce as a seed.)
    let probe = LtProbe::start(&tmp.path().join("probe"), &torrent, false);
    assert_eq!(
        (probe.answer.reply, probe.answer.num_peers),
        (true, Some(1)),
        "libtorrent's newcomer announce: {:?}",
        probe.answer
    );
    drop(probe);

    // A shielded libtorrent newcomer still downloads: the seed serves it.
    let out = tmp.path().join("out");
    let report = lt_leech(&out, &torrent, &[]);
    assert_eq!(
        report["finished"],
        true,
        "a shielded libtorrent newcomer did not finish: {report}\ntracker log:\n{}",
        tracker.log_tail(40)
    );
    assert_same_tree(&top, &out.join("rt-shield"));
    phases.mark("shielded newcomer downloaded");
    drop(seeder);
}

#[test]
fn riffle_tracker_bad_input_exits_2_with_one_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--max-peers", "0"], "--max-peers"),
        (&["--shield-newcomers", "0"], "--shield-newcomers"),
        (&["--interval", "0.5"], "at least 1 second"),
        (&["--listen", "nowhere"], "not a listening address"),
        (&["--listen", &busy], "cannot listen for HTTP"),
    ];
    for (args, want) in cases {
        let mut all = vec!["tracker"];
        all.extend_from_slice(args);
        let out = riffle_tests::riffle(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "riffle {all:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(want), "riffle {all:?}: first line {first:?}");
        assert!(
            out.stdout.is_empty(),
            "riffle {all:?} printed {:?}",
            out.stdout
        );
    }
}

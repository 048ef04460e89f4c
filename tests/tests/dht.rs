//! The DHT against libtorrent's, all on 127.0.0.1: riffle joins a
//! libtorrent swarm from a bare magnet link through a DHT of libtorrent
//! nodes (with a node that answers garbage among its routers); libtorrent,
//! whose only route is the DHT, finds a riffle seed that announced itself,
//! after a flood of junk and queries at riffle's node left it up, answering
//! and bounded in memory; the seedbox keeps a private torrent off the DHT
//! and, restarted with no router at all, rejoins from its saved table.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_tests::lt_dht::LtDht;
use riffle_tests::lt_swarm::{info_hash, lt_create};
use riffle_tests::make_torrent::riffle_create;
use riffle_tests::payload::{assert_same_tree, small_tree, write_tree};
use riffle_tests::riffle_daemon::{base64, DaemonOptions, RiffleDaemon};
use riffle_tests::riffle_proc::RiffleProc;

const MINUTE: Duration = Duration::from_secs(60);

/// A DHT "node" that answers every datagram with junk: random bytes,
/// broken bencode, and answers under the query's transaction id that name
/// sixteen nodes and a peer where nothing listens. Stops on drop.
struct GarbageNode {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl GarbageNode {
    fn start() -> GarbageNode {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut n = 0u32;
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                n += 1;
                let tid = transaction(&buf[..len]);
                let mut nodes = Vec::new();
                for i in 0..16u8 {
                    nodes.extend_from_slice(&[i; 20]);
                    nodes.extend_from_slice(&[127, 0, 0, 1, 0, i + 1]);
                }
                let answer: Vec<u8> = match n % 3 {
                    0 => (0..200).map(|i| (i * 37 + n) as u8).collect(),
                    1 => b"d1:rd2:id5:short5:nodes3:abce1:t".to_vec(),
                    _ => [
                        &b"d1:rd2:id20:"[..],
                        &[0x42; 20],
                        b"5:nodes416:",
                        &nodes,
                        b"6:valuesl6:\x7f\x00\x00\x01\x00\x01ee1:t",
                        format!("{}:", tid.len()).as_bytes(),
                        &tid,
                        b"1:y1:re",
                    ]
                    .concat(),
                };
                let _ = socket.send_to(&answer, from);
            }
        });
        GarbageNode { addr, stop }
    }
}

impl Drop for GarbageNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The transaction id of a KRPC query (after `1:t`), or a made-up one.
fn transaction(q: &[u8]) -> Vec<u8> {
    let Some(at) = q.windows(3).position(|w| w == b"1:t") else {
        return b"zz".to_vec();
    };
    let rest = &q[at + 3..];
    let colon = rest.iter().position(|b| *b == b':').unwrap_or(0);
    let len: usize = std::str::from_utf8(&rest[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    rest.get(colon + 1..colon + 1 + len)
        .map_or(b"zz".to_vec(), <[u8]>::to_vec)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Junk and queries at `target` from one socket, as fast as it goes;
/// returns how many answers came back.
fn flood(target: SocketAddr, datagrams: u32) -> usize {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    let mut answers = 0;
    let mut buf = [0u8; 2048];
    for i in 0..datagrams {
        let hash: Vec<u8> = (0..20).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect();
        let id = [0x33u8; 20];
        let q: Vec<u8> = match i % 5 {
            0 => (0..(i % 1400) as usize)
                .map(|j| (j as u32 ^ i) as u8)
                .collect(),
            1 => [
                &b"d1:ad2:id20:"[..],
                &id,
                b"9:info_hash20:",
                &hash,
                b"e1:q9:get_peers1:t2:gp1:y1:qe",
            ]
            .concat(),
            2 => [
                &b"d1:ad2:id20:"[..],
                &id,
                b"9:info_hash20:",
                &hash,
                b"4:porti6881e5:token8:badtokene1:q13:announce_peer1:t2:ap1:y1:qe",
            ]
            .concat(),
            3 => [
                &b"d1:ad2:id20:"[..],
                &id,
                b"6:target20:",
                &hash,
                b"e1:q9:find_node1:t2:fn1:y1:qe",
            ]
            .concat(),
            _ => [&b"d1:ad2:id20:"[..], &hash, b"e1:q4:ping1:t2:pp1:y1:qe"].concat(),
        };
        let _ = s.send_to(&q, target);
        while s.recv_from(&mut buf).is_ok() {
            answers += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    while s.recv_from(&mut buf).is_ok() {
        answers += 1;
    }
    answers
}

/// Does the node at `target` answer a ping?
fn pings_back(target: SocketAddr) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let q = [
        &b"d1:ad2:id20:"[..],
        &[0x77; 20],
        b"e1:q4:ping1:t2:zz1:y1:qe",
    ]
    .concat();
    s.send_to(&q, target).unwrap();
    let mut buf = [0u8; 512];
    matches!(s.recv_from(&mut buf), Ok((n, _)) if buf[..n].windows(5).any(|w| w == b"1:y1:r"[..5].as_ref()))
}

#[test]
fn riffle_joins_a_libtorrent_swarm_from_a_bare_magnet_through_the_dht() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "through-dht", &small_tree(3), 0x51);
    let torrent = tmp.path().join("t.torrent");
    let hash = lt_create(&top, &torrent, 65536, None);
    let mut dht = LtDht::start(4, &[], &tmp.path().join("lt_dht.log"));
    dht.seed(0, &torrent, &seed_dir);
    dht.wait_announce(&hash, dht.ports[0], MINUTE);
    let garbage = GarbageNode::start();
    let out = tmp.path().join("out");
    let magnet = format!("magnet:?xt=urn:btih:{hash}");
    let (g, n1) = (garbage.addr.to_string(), dht.addr(1).to_string());
    let extra = ["--dht-bootstrap", &g, "--dht-bootstrap", &n1];
    RiffleProc::download(&magnet, &out, &extra, &tmp.path().join("riffle.log"))
        .wait_success(Duration::from_secs(90));
    assert_same_tree(&top, &out.join("through-dht"));
}

#[test]
fn libtorrent_finds_a_riffle_seed_through_the_dht_after_a_flood() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "riffle-announced", &small_tree(3), 0x52);
    let torrent = tmp.path().join("t.torrent");
    let hash = riffle_create(&top, &torrent, None);
    let mut dht = LtDht::start(4, &[], &tmp.path().join("lt_dht.log"));
    let n0 = dht.addr(0).to_string();
    let riffle = RiffleProc::seed(
        &torrent,
        &seed_dir,
        &["--dht-bootstrap", &n0],
        &tmp.path().join("riffle.log"),
    );
    let t0 = Instant::now();
    dht.wait_announce(&hash, riffle.port, MINUTE);
    eprintln!("announced after {:?}", t0.elapsed());

    // Junk and a flood of queries at riffle's node, from one address.
    let node = SocketAddr::from(([127, 0, 0, 1], riffle.port));
    let before = rss_kib(riffle.id());
    let answers = flood(node, 20_000);
    let after = rss_kib(riffle.id());
    assert!(answers > 0, "the node answered nothing");
    assert!(
        answers <= 400,
        "{answers} answers to one address: the rate limit did not hold"
    );
    assert!(
        after < before + 16 * 1024,
        "memory grew from {before} KiB to {after} KiB under the flood"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        pings_back(node),
        "riffle's node stopped answering:\n{}",
        riffle.log_tail(30)
    );

    // A libtorrent node that knows only the DHT finds riffle there.
    let out = tmp.path().join("lt-out");
    std::fs::create_dir_all(&out).unwrap();
    dht.magnet(3, &format!("magnet:?xt=urn:btih:{hash}"), &out);
    eprintln!("flood done after {:?}", t0.elapsed());
    let done = dht.wait_event("finished", Duration::from_secs(90));
    eprintln!("libtorrent finished after {:?}: {done}", t0.elapsed());
    assert_eq!(done["pieces_verified"], done["num_pieces"], "{done}");
    assert_same_tree(&top, &out.join("riffle-announced"));
}

fn add_torrent(d: &RiffleDaemon, torrent: &Path) -> u64 {
    let meta = base64(&std::fs::read(torrent).unwrap());
    let r = d.rpc("torrent-add", serde_json::json!({"metainfo": meta}));
    assert_eq!(r["result"], "success", "{r}");
    r["arguments"]["torrent-added"]["id"].as_u64().expect("id")
}

#[test]
fn the_seedbox_keeps_private_torrents_off_the_dht_and_rejoins_from_its_saved_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dl = root.join("dl");
    let public = write_tree(&dl, "public", &small_tree(1), 0x53);
    let private = write_tree(&dl, "private", &small_tree(1), 0x54);
    let (pub_t, priv_t) = (root.join("public.torrent"), root.join("private.torrent"));
    let pub_hash = riffle_create(&public, &pub_t, None);
    let out = riffle_tests::riffle(&[
        "create",
        private.to_str().unwrap(),
        "-o",
        priv_t.to_str().unwrap(),
        "--private",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let priv_hash = info_hash(&priv_t);

    let mut dht = LtDht::start(3, &[], &root.join("lt_dht.log"));
    let opts = DaemonOptions {
        flags: vec!["--dht-bootstrap".into(), dht.addr(0).to_string()],
        ..DaemonOptions::default()
    };
    let mut d = RiffleDaemon::start(root, &opts);
    let s = d.rpc(
        "session-get",
        serde_json::json!({"fields": ["dht-enabled", "pex-enabled"]}),
    );
    assert_eq!(s["arguments"]["dht-enabled"], true, "{s}");
    let ids = [add_torrent(&d, &priv_t), add_torrent(&d, &pub_t)];
    for id in ids {
        d.wait_torrent(id, &["status"], "seeding", MINUTE, |t| t["status"] == 6);
    }
    dht.wait_announce(&pub_hash, d.peer_port, MINUTE);
    // Time for a lookup of the private one, had it started with the other.
    std::thread::sleep(Duration::from_secs(3));
    let (asked, announced) = dht.seen();
    assert!(
        !asked.contains(&priv_hash),
        "the private torrent was looked up"
    );
    assert!(
        !announced.iter().any(|(h, _)| *h == priv_hash),
        "the private torrent was announced"
    );
    let detail = d.torrent(ids[1], &["riffle-dht"]);
    assert!(
        detail["riffle-dht"]
            .as_str()
            .is_some_and(|s| s.contains("nodes")),
        "{detail}"
    );
    assert!(d.torrent(ids[0], &["riffle-dht"])["riffle-dht"].is_null());

    // Stopped, the node saves its table; restarted with no router at all,
    // it rejoins from it and finds a swarm it never heard of.
    let rpc_port = d.rpc.port();
    d.terminate(MINUTE).expect("the daemon stops");
    assert!(
        root.join("state").join("dht.state").exists(),
        "no saved DHT state"
    );
    let later_seed = root.join("later");
    let later = write_tree(&later_seed, "later", &small_tree(1), 0x55);
    let later_t = root.join("later.torrent");
    let later_hash = lt_create(&later, &later_t, 65536, None);
    dht.seed(1, &later_t, &later_seed);
    dht.wait_announce(&later_hash, dht.ports[1], MINUTE);
    let d = RiffleDaemon::start(
        root,
        &DaemonOptions {
            rpc_port: Some(rpc_port),
            ..DaemonOptions::default()
        },
    );
    let r = d.rpc(
        "torrent-add",
        serde_json::json!({"filename": format!("magnet:?xt=urn:btih:{later_hash}")}),
    );
    assert_eq!(r["result"], "success", "{r}");
    let id = r["arguments"]["torrent-added"]["id"].as_u64().expect("id");
    let start = Instant::now();
    d.wait_torrent(
        id,
        &["percentDone"],
        "the magnet complete",
        Duration::from_secs(90),
        |t| t["percentDone"].as_f64() == Some(1.0),
    );
    assert_same_tree(&later, &root.join("dl").join("later"));
    eprintln!("rejoined and downloaded in {:?}", start.elapsed());
}

//! BitTorrent v2 and hybrid torrents (BEP 52) and pad files (BEP 47)
//! against libtorrent 2.0, which makes hybrids by default (as qBittorrent
//! does): pad files never reach the disk, and the folder as libtorrent
//! leaves it seeds; v2-only torrents go both ways, from `.torrent` files
//! and from `btmh` magnet links (piece layers fetched by hash requests,
//! both ways); a hybrid serves aria2 (v1) and libtorrent (v2) at once.

use std::path::Path;
use std::time::Duration;

use riffle_tests::lt_swarm::{lt_create_format, lt_leech, lt_magnet, LtSeedOptions, LtSeeder};
use riffle_tests::payload::{assert_same_tree, write_tree, FileSpec};
use riffle_tests::riffle_proc::RiffleProc;

/// Five files whose sizes are no multiple of the piece: a hybrid pads
/// four of them.
fn padded_tree() -> Vec<FileSpec> {
    (1..=5u64)
        .map(|i| FileSpec {
            path: format!("f{i}.bin"),
            len: 100_000 * i + 777,
        })
        .collect()
}

fn no_pad_dir(root: &Path) {
    let found: Vec<_> = walkdir(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".pad"))
        .collect();
    assert!(found.is_empty(), "pad files on disk: {found:?}");
}

fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// The full v2 hash (hex) of `torrent`, as `riffle info` reads it.
fn v2_hash(torrent: &Path) -> String {
    info_json(torrent)["info_hash_v2"]
        .as_str()
        .expect("a v2 hash")
        .to_owned()
}

/// `riffle info TORRENT --json`.
fn info_json(torrent: &Path) -> serde_json::Value {
    let out = riffle_tests::riffle_ok(&["info", torrent.to_str().unwrap(), "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `riffle download TORRENT` (a file or a magnet link) from the peer on
/// `port` into `out`, to its successful end; returns its log.
fn riffle_fetch(torrent: &str, out: &Path, port: u16, log: &Path) -> String {
    let peer = format!("127.0.0.1:{port}");
    let mut dl = RiffleProc::download(torrent, out, &["--peer", &peer], log);
    dl.wait_success(Duration::from_secs(60));
    dl.log()
}

/// libtorrent downloads `torrent` from the riffle `seed` into `out` and
/// verifies every piece.
fn lt_fetch(out: &Path, torrent: &Path, seed: &RiffleProc) {
    let report = lt_leech(out, torrent, &[seed.port]);
    assert_eq!(report["finished"], true, "{report}\n{}", seed.log_tail(30));
    assert_eq!(report["pieces_verified"], report["num_pieces"]);
}

#[test]
fn a_hybrid_from_libtorrent_leaves_no_pad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "hybrid", &padded_tree(), 0x71);
    let torrent = tmp.path().join("h.torrent");
    let (_, v2) = lt_create_format(&top, &torrent, 262_144, None, "hybrid");
    assert!(v2.is_some(), "libtorrent made a hybrid");
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    let out = tmp.path().join("out");
    let log = tmp.path().join("riffle.log");
    riffle_fetch(torrent.to_str().unwrap(), &out, seeder.port, &log);
    assert_same_tree(&top, &out.join("hybrid"));
    no_pad_dir(&out);
    // What riffle asked libtorrent for: the payload, not the padding.
    let report = seeder.finish();
    let uploaded = report["torrents"][0]["uploaded"].as_u64().unwrap();
    let real: u64 = padded_tree().iter().map(|f| f.len).sum();
    assert!(
        uploaded <= real + 16 * 1024 * 4,
        "libtorrent sent {uploaded} bytes for {real} of payload"
    );
}

#[test]
fn riffle_seeds_a_hybrid_folder_as_libtorrent_left_it() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "made-by-lt", &padded_tree(), 0x72);
    let torrent = tmp.path().join("h.torrent");
    lt_create_format(&top, &torrent, 262_144, None, "hybrid");
    no_pad_dir(&seed_dir);
    let seed = RiffleProc::seed(&torrent, &seed_dir, &[], &tmp.path().join("seed.log"));
    let out = tmp.path().join("lt");
    lt_fetch(&out, &torrent, &seed);
    assert_same_tree(&top, &out.join("made-by-lt"));
    no_pad_dir(&seed_dir);
}

#[test]
fn a_v2_only_torrent_goes_both_ways_with_libtorrent() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "v2only", &padded_tree(), 0x73);
    let torrent = tmp.path().join("v2.torrent");
    let (_, v2) = lt_create_format(&top, &torrent, 65_536, None, "v2");
    assert_eq!(v2.as_deref(), Some(v2_hash(&torrent).as_str()));
    // libtorrent seeds, riffle downloads (merkle-checked pieces).
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    let out = tmp.path().join("riffle-out");
    let log = tmp.path().join("dl.log");
    riffle_fetch(torrent.to_str().unwrap(), &out, seeder.port, &log);
    assert_same_tree(&top, &out.join("v2only"));
    no_pad_dir(&out);
    drop(seeder);
    // riffle seeds, libtorrent downloads.
    let seed = RiffleProc::seed(&torrent, &seed_dir, &[], &tmp.path().join("seed.log"));
    let lt_out = tmp.path().join("lt-out");
    lt_fetch(&lt_out, &torrent, &seed);
    assert_same_tree(&top, &lt_out.join("v2only"));
}

#[test]
fn v2_magnet_links_fetch_piece_layers_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "layers", &padded_tree(), 0x74);
    let torrent = tmp.path().join("v2.torrent");
    lt_create_format(&top, &torrent, 65_536, None, "v2");
    let magnet = format!("magnet:?xt=urn:btmh:1220{}", v2_hash(&torrent));
    // libtorrent knows only the magnet: the metadata and then every piece
    // layer come from riffle's answers to its hash requests.
    let seed = RiffleProc::seed(&torrent, &seed_dir, &[], &tmp.path().join("seed.log"));
    let lt_out = tmp.path().join("lt-out");
    let report = lt_magnet(&lt_out, &magnet, &[seed.port]);
    assert_eq!(report["finished"], true, "{report}\n{}", seed.log_tail(30));
    assert_eq!(report["pieces_verified"], report["num_pieces"]);
    assert_same_tree(&top, &lt_out.join("layers"));
    drop(seed);
    // riffle knows only the magnet: it asks libtorrent for the layers.
    let seeder = LtSeeder::start(&seed_dir, &[&torrent], LtSeedOptions::default());
    let out = tmp.path().join("riffle-out");
    let log = riffle_fetch(&magnet, &out, seeder.port, &tmp.path().join("dl.log"));
    assert!(log.contains("a piece layer is complete"), "{log}");
    assert_same_tree(&top, &out.join("layers"));
}

/// A hybrid swarm joined under both of its names at once: one libtorrent
/// knows only the v1 info-hash (its handshakes name the SHA-1 one: the v1
/// connection of BEP 52's upgrade), the other only the v2 one. (The v1-only
/// clients at hand cannot open a hybrid at all: aria2 1.36 hashes its own
/// re-encoding of the info and gets the v1 info-hash wrong, aria2#1903;
/// Transmission 3.00 refuses any torrent with a file tree. Their users get
/// `riffle create --format v1`.)
#[test]
fn a_hybrid_seeds_peers_under_both_info_hashes_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let top = write_tree(&seed_dir, "both", &padded_tree(), 0x75);
    let torrent = tmp.path().join("hybrid.torrent");
    // riffle's default format.
    let (dir, out) = (top.to_str().unwrap(), torrent.to_str().unwrap());
    riffle_tests::riffle_ok(&["create", dir, "-o", out, "--piece-length", "64KiB"]);
    let info = info_json(&torrent);
    assert_eq!(info["format"], "hybrid");
    let seed = RiffleProc::seed(&torrent, &seed_dir, &[], &tmp.path().join("seed.log"));
    let port = seed.port;
    let join = |name: &str, uri: String| {
        let d = tmp.path().join(name);
        std::thread::spawn(move || (lt_magnet(&d, &uri, &[port]), d))
    };
    let by_v1 = join(
        "v1",
        format!(
            "magnet:?xt=urn:btih:{}",
            info["info_hash"].as_str().unwrap()
        ),
    );
    let by_v2 = join(
        "v2",
        format!("magnet:?xt=urn:btmh:1220{}", v2_hash(&torrent)),
    );
    // lt_swarm.py resumes a libtorrent 2.0.8 torrent paused by its own
    // hash-race error 217 once (see `resume_after_hash_race` there); the
    // recheck below then verifies every piece by SHA-1 and by merkle tree.
    for (report, dir) in [by_v1.join().unwrap(), by_v2.join().unwrap()] {
        assert_eq!(report["finished"], true, "{report}\n{}", seed.log_tail(30));
        assert_eq!(report["pieces_verified"], report["num_pieces"], "{report}");
        assert_same_tree(&top, &dir.join("both"));
    }
}

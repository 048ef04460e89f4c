//! `riffle create` makes torrents libtorrent accepts: same info-hash as
//! riffle reports, same files, and libtorrent's own hash check passes every
//! piece of the data riffle hashed.

use std::path::Path;
use std::process::Command;

use riffle_tests::{require_libtorrent, riffle, script};
use serde_json::Value;

/// Deterministic bytes (xorshift), so failures are reproducible.
fn fill(path: &Path, len: usize, seed: u64) {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn lt_check(python: &str, torrent: &Path, save_path: &Path) -> Value {
    let out = Command::new(python)
        .arg(script("lt_check.py"))
        .arg(torrent)
        .arg(save_path)
        .output()
        .expect("run lt_check.py");
    assert!(
        out.status.success(),
        "libtorrent rejected the torrent: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("lt_check.py prints JSON")
}

fn riffle_info(torrent: &Path) -> Value {
    let out = riffle(&["info", torrent.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "riffle info failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("riffle info --json prints JSON")
}

#[test]
fn multi_file_torrent_is_accepted_and_verified_by_libtorrent() {
    let python = require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("payload");
    // Sizes chosen so the 32 KiB piece length divides none of them, with an
    // empty file and nested folders.
    let files: &[(&str, usize)] = &[
        ("a.bin", 100_003),
        ("docs/readme.txt", 1_234),
        ("docs/empty", 0),
        ("docs/deep/er/x.dat", 70_001),
        ("z/last.bin", 32_769),
    ];
    for (i, (p, len)) in files.iter().enumerate() {
        fill(&root.join(p), *len, i as u64 + 7);
    }
    let torrent = tmp.path().join("payload.torrent");
    let out = riffle(&[
        "create",
        root.to_str().unwrap(),
        "-o",
        torrent.to_str().unwrap(),
        "--piece-length",
        "32KiB",
        "--tracker",
        "http://127.0.0.1:6969/announce,udp://127.0.0.1:6969",
        "--tracker",
        "http://127.0.0.1:7070/announce",
        "--private",
        "--comment",
        "made by a test",
    ]);
    assert!(
        out.status.success(),
        "riffle create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let printed_hash = printed
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();

    let ours = riffle_info(&torrent);
    let lt = lt_check(python, &torrent, tmp.path());

    assert_eq!(ours["info_hash"], lt["info_hash"]);
    assert_eq!(printed_hash, lt["info_hash"].as_str().unwrap());
    assert_eq!(lt["num_pieces"], ours["piece_count"]);
    assert_eq!(
        lt["pieces_verified"], lt["num_pieces"],
        "libtorrent's hash check failed some pieces"
    );
    assert_eq!(lt["piece_length"], 32 * 1024);
    assert_eq!(lt["total_size"], ours["total_length"]);
    assert_eq!(lt["files"], ours["files"]);
    assert_eq!(lt["private"], true);
    assert_eq!(ours["private"], true);
    // A hybrid (the default) counts its pad files in the total; the files
    // listed are the data.
    let total: usize = files.iter().map(|f| f.1).sum();
    let listed: u64 = ours["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["length"].as_u64().unwrap())
        .sum();
    assert_eq!(listed, total as u64);
    assert_eq!(ours["format"], "hybrid");
    assert_eq!(ours["info_hash_v2"], lt["info_hash_v2"], "the same v2 hash");
    // libtorrent shuffles the URLs inside a tier (BEP 12): compare sorted.
    let mut lt_trackers: Vec<(String, u64)> = lt["trackers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].as_str().unwrap().to_owned(), t[1].as_u64().unwrap()))
        .collect();
    lt_trackers.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    assert_eq!(
        lt_trackers,
        vec![
            ("http://127.0.0.1:6969/announce".to_owned(), 0),
            ("udp://127.0.0.1:6969".to_owned(), 0),
            ("http://127.0.0.1:7070/announce".to_owned(), 1),
        ]
    );
    assert_eq!(
        ours["trackers"],
        serde_json::json!([
            ["http://127.0.0.1:6969/announce", "udp://127.0.0.1:6969"],
            ["http://127.0.0.1:7070/announce"]
        ])
    );

    // Damage one byte: libtorrent must now fail exactly one piece, which
    // shows the check above really compared riffle's hashes with the data.
    let victim = root.join("docs/deep/er/x.dat");
    let mut data = std::fs::read(&victim).unwrap();
    data[500] ^= 0xff;
    std::fs::write(&victim, data).unwrap();
    let lt2 = lt_check(python, &torrent, tmp.path());
    assert_eq!(
        lt2["pieces_verified"].as_u64().unwrap() + 1,
        lt2["num_pieces"].as_u64().unwrap()
    );
}

#[test]
fn single_file_torrent_with_default_piece_length() {
    let python = require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("one file.iso");
    fill(&file, 3_000_017, 99);
    let torrent = tmp.path().join("one.torrent");
    let out = riffle(&[
        "create",
        file.to_str().unwrap(),
        "-o",
        torrent.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "riffle create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = riffle_info(&torrent);
    let lt = lt_check(python, &torrent, tmp.path());
    assert_eq!(ours["info_hash"], lt["info_hash"]);
    assert_eq!(ours["name"], "one file.iso");
    assert_eq!(lt["name"], "one file.iso");
    assert_eq!(lt["pieces_verified"], lt["num_pieces"]);
    assert_eq!(
        ours["files"],
        serde_json::json!([{"path": "one file.iso", "length": 3_000_017}])
    );
    assert_eq!(ours["trackers"], serde_json::json!([]));
    let pl = ours["piece_length"].as_u64().unwrap();
    assert!(pl.is_power_of_two() && pl >= 16 * 1024, "piece length {pl}");
}

/// libtorrent's own `create_torrent` of the same folder (v1, hybrid or v2):
/// its (v1, v2) info-hashes.
fn lt_created(dir: &Path, torrent: &Path, format: &str) -> (String, Option<String>) {
    riffle_tests::lt_swarm::lt_create_format(dir, torrent, 65_536, None, format)
}

#[test]
fn hybrid_and_v2_torrents_match_libtorrents_own() {
    let python = require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("both");
    // Sizes that need padding, a file of exactly one piece, an empty one.
    for (i, (p, len)) in [
        ("a.bin", 200_001usize),
        ("b/c.bin", 65_536),
        ("b/empty", 0),
        ("d.bin", 70_000),
    ]
    .iter()
    .enumerate()
    {
        fill(&root.join(p), *len, i as u64 + 40);
    }
    for format in ["hybrid", "v2"] {
        let ours_t = tmp.path().join(format!("ours-{format}.torrent"));
        let out = riffle(&[
            "create",
            root.to_str().unwrap(),
            "-o",
            ours_t.to_str().unwrap(),
            "--piece-length",
            "64KiB",
            "--format",
            format,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs_t = tmp.path().join(format!("lt-{format}.torrent"));
        let (lt_v1, lt_v2) = lt_created(&root, &theirs_t, format);
        let ours = riffle_info(&ours_t);
        let lt = lt_check(python, &ours_t, tmp.path());
        assert_eq!(ours["format"], format);
        assert_eq!(
            ours["info_hash"].as_str(),
            Some(lt_v1.as_str()),
            "{format}: the same swarm identity"
        );
        assert_eq!(
            ours["info_hash_v2"].as_str(),
            lt_v2.as_deref(),
            "{format}: the same v2 hash"
        );
        assert_eq!(lt["info_hash_v2"], ours["info_hash_v2"]);
        assert_eq!(
            lt["pieces_verified"], lt["num_pieces"],
            "{format}: libtorrent's check failed pieces of riffle's torrent"
        );
        // riffle reads libtorrent's the same way.
        let theirs = riffle_info(&theirs_t);
        assert_eq!(theirs["info_hash_v2"], ours["info_hash_v2"]);
        assert_eq!(theirs["files"], ours["files"]);
    }
}

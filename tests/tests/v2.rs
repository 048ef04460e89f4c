//! BitTorrent v2 and hybrid torrents (BEP 52) and pad files (BEP 47)
//! against libtorrent 2.0, which makes hybrids by default (as qBittorrent
//! does): pad files never reach the disk, and the folder as libtorrent
//! leaves it seeds.

use std::path::Path;
use std::time::Duration;

use riffle_tests::lt_swarm::{lt_create_format, lt_leech, LtSeedOptions, LtSeeder};
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
    let peer = format!("127.0.0.1:{}", seeder.port);
    RiffleProc::download(
        torrent.to_str().unwrap(),
        &out,
        &["--peer", &peer],
        &tmp.path().join("riffle.log"),
    )
    .wait_success(Duration::from_secs(60));
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
    let report = lt_leech(&out, &torrent, &[seed.port]);
    assert_eq!(report["finished"], true, "{report}\n{}", seed.log_tail(30));
    assert_eq!(report["pieces_verified"], report["num_pieces"]);
    assert_same_tree(&top, &out.join("made-by-lt"));
    no_pad_dir(&seed_dir);
}

//! Unit and property tests of metainfo parsing and building. The
//! differential test against libtorrent lives in
//! `tests/tests/metainfo_differential.rs`.

use proptest::prelude::*;
use sha1::{Digest, Sha1};

use super::*;
use crate::bencode::{encode, Owned};

fn hashes(n: usize) -> Owned {
    Owned::Bytes((0..n * 20).map(|i| i as u8).collect())
}

/// A valid single-file info dictionary: 20,000 bytes in 16 KiB pieces.
fn single() -> Owned {
    Owned::dict([
        ("length", Owned::Int(20_000)),
        ("name", Owned::bytes("file.bin")),
        ("piece length", Owned::Int(16384)),
        ("pieces", hashes(2)),
    ])
}

fn file(path: &[&str], len: i64) -> Owned {
    Owned::dict([
        ("length", Owned::Int(len)),
        ("path", Owned::List(path.iter().map(Owned::bytes).collect())),
    ])
}

fn multi(files: Vec<Owned>, total: u64) -> Owned {
    Owned::dict([
        ("files", Owned::List(files)),
        ("name", Owned::bytes("dir")),
        ("piece length", Owned::Int(16384)),
        ("pieces", hashes(total.div_ceil(16384) as usize)),
    ])
}

fn torrent(info: Owned) -> Vec<u8> {
    encode(&Owned::dict([
        ("announce", Owned::bytes("http://t/ann")),
        ("info", info),
    ]))
}

fn parse_info(info: Owned) -> Result<Metainfo, MetainfoError> {
    Metainfo::from_bytes(&torrent(info))
}

fn with(mut info: Owned, key: &str, v: Owned) -> Owned {
    info.insert(key, v);
    info
}

fn without(info: Owned, key: &str) -> Owned {
    match info {
        Owned::Dict(d) => Owned::Dict(d.into_iter().filter(|(k, _)| k != key.as_bytes()).collect()),
        other => other,
    }
}

#[test]
fn single_file_torrent() {
    let data = torrent(single());
    let m = Metainfo::from_bytes(&data).unwrap();
    let info_bytes = encode(&single());
    assert_eq!(m.info_bytes, info_bytes);
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&info_bytes)));
    assert_eq!(m.info.name, "file.bin");
    assert!(!m.info.multi_file);
    assert_eq!(m.info.files.len(), 1);
    assert_eq!(m.info.file_path(0), vec!["file.bin"]);
    assert_eq!(m.info.total_length(), 20_000);
    assert_eq!(m.info.piece_count(), 2);
    assert_eq!(m.info.piece_len(PieceIndex::new(0)), 16384);
    assert_eq!(m.info.piece_len(PieceIndex::new(1)), 20_000 - 16384);
    assert_eq!(m.info.piece_len(PieceIndex::new(2)), 0);
    assert_eq!(m.info.piece_hash(PieceIndex::new(1))[0], 20);
    assert_eq!(m.trackers, vec![vec!["http://t/ann".to_owned()]]);
}

#[test]
fn multi_file_paths() {
    let info = multi(
        vec![file(&["a", "b.txt"], 10), file(&["c"], 0), file(&["d"], 5)],
        15,
    );
    let m = parse_info(info).unwrap();
    assert!(m.info.multi_file);
    assert_eq!(m.info.file_path(0), vec!["dir", "a", "b.txt"]);
    assert_eq!(m.info.files[1].path, vec!["c"]);
    assert_eq!(m.info.total_length(), 15);
    assert!(m.info.file_path(9).is_empty());
}

#[test]
fn unsorted_info_hashes_original_bytes() {
    let info_raw = b"d6:lengthi5e12:piece lengthi16384e4:name1:a6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let mut data = b"d4:info".to_vec();
    data.extend_from_slice(info_raw);
    data.extend_from_slice(b"e");
    let m = Metainfo::from_bytes(&data).unwrap();
    assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(info_raw)));
    // Trailing bytes after the dictionary are ignored, as libtorrent does.
    data.extend_from_slice(b"junk");
    assert_eq!(Metainfo::from_bytes(&data).unwrap().info_hash, m.info_hash);
}

#[test]
fn each_rule_refuses() {
    use MetainfoError as E;
    type Check = fn(&MetainfoError) -> bool;
    let cases: Vec<(Owned, Check)> = vec![
        (without(single(), "piece length"), |e| *e == E::PieceLength),
        (with(single(), "piece length", Owned::Int(0)), |e| {
            *e == E::PieceLength
        }),
        (with(single(), "piece length", Owned::Int(-5)), |e| {
            *e == E::PieceLength
        }),
        (with(single(), "piece length", Owned::bytes("16384")), |e| {
            *e == E::PieceLength
        }),
        (with(single(), "piece length", Owned::Int(1 << 30)), |e| {
            *e == E::PieceLength
        }),
        (without(single(), "name"), |e| *e == E::MissingName),
        (with(single(), "name", Owned::Int(1)), |e| {
            *e == E::MissingName
        }),
        (with(single(), "name", Owned::bytes("")), |e| {
            *e == E::MissingName
        }),
        (with(single(), "name", Owned::bytes("..")), |e| {
            *e == E::EmptyName
        }),
        (without(single(), "length"), |e| {
            matches!(e, E::FileLength(_))
        }),
        (with(single(), "length", Owned::Int(-1)), |e| {
            matches!(e, E::FileLength(_))
        }),
        (with(single(), "length", Owned::Int(MAX_FILE_SIZE)), |e| {
            matches!(e, E::FileLength(_))
        }),
        (without(single(), "pieces"), |e| *e == E::MissingPieces),
        (with(single(), "pieces", hashes(1)), |e| {
            matches!(
                e,
                E::PiecesLength {
                    got: 20,
                    expected: 40
                }
            )
        }),
        (with(single(), "pieces", Owned::Bytes(vec![0; 41])), |e| {
            matches!(e, E::PiecesLength { .. })
        }),
        (
            with(with(single(), "length", Owned::Int(0)), "pieces", hashes(0)),
            |e| *e == E::EmptyTorrent,
        ),
        (
            with(
                with(single(), "piece length", Owned::Int(1)),
                "length",
                Owned::Int(3_000_000),
            ),
            |e| matches!(e, E::TooManyPieces(3_000_000)),
        ),
        (with(single(), "file tree", Owned::dict::<&str>([])), |e| {
            *e == E::FileTreeWithoutVersion
        }),
        (with(single(), "meta version", Owned::Int(3)), |e| {
            *e == E::UnknownVersion(3)
        }),
        (with(single(), "meta version", Owned::Int(2)), |e| {
            *e == E::MissingFileTree
        }),
        (multi(vec![], 0), |e| *e == E::NoFiles),
        (multi(vec![Owned::Int(1)], 0), |e| {
            *e == E::FileNotDictionary(0)
        }),
        (
            multi(vec![Owned::dict([("length", Owned::Int(1))])], 1),
            |e| *e == E::MissingPath(0),
        ),
        (multi(vec![file(&[], 1)], 1), |e| *e == E::MissingPath(0)),
        (
            multi(
                vec![Owned::dict([
                    ("length", Owned::Int(1)),
                    ("path", Owned::List(vec![Owned::Int(3)])),
                ])],
                1,
            ),
            |e| *e == E::PathNotString(0),
        ),
        (multi(vec![file(&["a"], -1)], 0), |e| {
            matches!(e, E::FileLength(_))
        }),
        (
            with(
                multi((0..33).map(|_| file(&["a"], 1 << 43)).collect(), 0),
                "piece length",
                Owned::Int(1 << 29),
            ),
            |e| *e == E::TotalTooLarge,
        ),
    ];
    for (i, (info, check)) in cases.into_iter().enumerate() {
        match parse_info(info) {
            Ok(_) => panic!("case {i} accepted"),
            Err(e) => assert!(check(&e), "case {i}: unexpected error {e}"),
        }
    }
}

#[test]
fn whole_file_rules() {
    assert!(matches!(
        Metainfo::from_bytes(b""),
        Err(MetainfoError::Bencode(_))
    ));
    assert_eq!(
        Metainfo::from_bytes(b"le"),
        Err(MetainfoError::NotADictionary)
    );
    assert_eq!(Metainfo::from_bytes(b"de"), Err(MetainfoError::MissingInfo));
    assert_eq!(
        Metainfo::from_bytes(b"d4:infoi1ee"),
        Err(MetainfoError::MissingInfo)
    );
    let big = vec![b' '; MAX_TORRENT_FILE_SIZE + 1];
    assert!(matches!(
        Metainfo::from_bytes(&big),
        Err(MetainfoError::FileTooLarge(_))
    ));
    // Nesting: libtorrent lets 99 containers nest, not 100.
    let deep = |n: usize| {
        let mut data = b"d4:deep".to_vec();
        data.extend(std::iter::repeat_n(b'l', n));
        data.extend(std::iter::repeat_n(b'e', n));
        data.extend_from_slice(b"4:info");
        data.extend(encode(&single()));
        data.push(b'e');
        data
    };
    assert!(Metainfo::from_bytes(&deep(98)).is_ok());
    assert!(Metainfo::from_bytes(&deep(99)).is_err());
}

#[test]
fn meta_version_requires_canonical_info() {
    // Canonical (sorted) with meta version 1: fine.
    assert!(parse_info(with(single(), "meta version", Owned::Int(1))).is_ok());
    // Leading zero in an integer: refused only when a version is declared.
    let raw = |version: bool| {
        let v = if version { "12:meta versioni1e" } else { "" };
        format!("d4:infod6:lengthi05e{v}4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee")
    };
    assert!(Metainfo::from_bytes(raw(false).as_bytes()).is_ok());
    assert_eq!(
        Metainfo::from_bytes(raw(true).as_bytes()),
        Err(MetainfoError::NonCanonicalInfo)
    );
}

#[test]
fn sanitized_names_and_paths() {
    let info = with(
        multi(
            vec![
                file(&["..", "..", "etc", "passwd"], 1),
                file(&[".", ""], 1),
                file(&["a/b", "c\\d"], 1),
            ],
            3,
        ),
        "name",
        Owned::bytes("/"),
    );
    let m = parse_info(info).unwrap();
    // A multi-file name that sanitizes to nothing becomes the info-hash.
    assert_eq!(m.info.name, m.info_hash.to_hex());
    assert_eq!(m.info.files[0].path, vec!["etc", "passwd"]);
    assert_eq!(m.info.files[1].path, vec!["_"]);
    assert_eq!(m.info.files[2].path, vec!["ab", "cd"]);
}

#[test]
fn utf8_keys_preferred() {
    let f = Owned::dict([
        ("length", Owned::Int(3)),
        ("path", Owned::List(vec![Owned::bytes("old")])),
        ("path.utf-8", Owned::List(vec![Owned::bytes("new")])),
    ]);
    let info = with(multi(vec![f], 3), "name.utf-8", Owned::bytes("utf"));
    let m = parse_info(info).unwrap();
    assert_eq!(m.info.file_path(0), vec!["utf", "new"]);
}

#[test]
fn duplicates_renamed_like_libtorrent() {
    let info = multi(
        vec![
            file(&["a.txt"], 1),
            file(&["A.TXT"], 1),
            file(&["a.1.txt"], 1),
            file(&["d"], 1),
            file(&["d", "x"], 1),
            file(&[".cfg"], 1),
            file(&[".cfg"], 1),
        ],
        7,
    );
    let m = parse_info(info).unwrap();
    let paths: Vec<String> = (0..m.info.files.len())
        .map(|i| m.info.file_path(i).join("/"))
        .collect();
    assert_eq!(
        paths,
        vec![
            "dir/a.txt",
            "dir/A.1.TXT",
            "dir/a.1.1.txt",
            "dir/d.1",
            "dir/d/x",
            "dir/.cfg",
            "dir/.1.cfg"
        ]
    );
}

#[test]
fn pad_files() {
    let pad = |path: Option<&[&str]>, len: i64| {
        let mut d = Owned::dict([("attr", Owned::bytes("p")), ("length", Owned::Int(len))]);
        if let Some(p) = path {
            d.insert("path", Owned::List(p.iter().map(Owned::bytes).collect()));
        }
        d
    };
    let info = multi(
        vec![
            file(&["a"], 10),
            pad(None, 6),
            pad(None, 6),
            pad(Some(&[".pad", "6"]), 6),
            file(&["_____padding_file_1"], 2),
        ],
        30,
    );
    let m = parse_info(info).unwrap();
    let pads: Vec<bool> = m.info.files.iter().map(|f| f.pad).collect();
    assert_eq!(pads, vec![false, true, true, true, true]);
    assert_eq!(m.info.file_path(1), vec![".pad", "6"]);
    assert_eq!(m.info.file_path(3), vec!["dir", ".pad", "6"]);
    assert_eq!(m.info.total_length(), 30);
}

#[test]
fn trackers_and_optional_fields() {
    let root = Owned::dict([
        ("announce", Owned::bytes("http://fallback")),
        (
            "announce-list",
            Owned::List(vec![
                Owned::List(vec![
                    Owned::bytes(" http://a"),
                    Owned::bytes(""),
                    Owned::Int(1),
                ]),
                Owned::List(vec![]),
                Owned::bytes("not a tier"),
                Owned::List(vec![Owned::bytes("udp://b:1"), Owned::bytes("udp://c:2")]),
            ]),
        ),
        ("comment", Owned::bytes("hello")),
        ("created by", Owned::bytes("me")),
        ("creation date", Owned::Int(1234)),
        (
            "url-list",
            Owned::List(vec![Owned::bytes("http://s/"), Owned::bytes("http://s/")]),
        ),
        ("info", single()),
    ]);
    let m = Metainfo::from_bytes(&encode(&root)).unwrap();
    assert_eq!(
        m.trackers,
        vec![vec!["http://a"], vec!["udp://b:1", "udp://c:2"]]
    );
    assert_eq!(m.comment.as_deref(), Some("hello"));
    assert_eq!(m.created_by.as_deref(), Some("me"));
    assert_eq!(m.creation_date, Some(1234));
    assert_eq!(m.url_list, vec!["http://s/"]);
    // An announce-list with no usable URL falls back to announce.
    let mut root2 = root.clone();
    root2.insert("announce-list", Owned::List(vec![Owned::List(vec![])]));
    let m = Metainfo::from_bytes(&encode(&root2)).unwrap();
    assert_eq!(m.trackers, vec![vec!["http://fallback"]]);
    // No trackers at all.
    let m = Metainfo::from_bytes(&encode(&Owned::dict([("info", single())]))).unwrap();
    assert!(m.trackers.is_empty());
    assert_eq!(m.creation_date, None);
}

#[test]
fn builder_refuses_bad_input() {
    let h = |n: usize| vec![[7u8; 20]; n];
    let mut b = TorrentBuilder::new("x".into(), 16384);
    assert!(b.build().is_err(), "no files");
    b.single_file(20_000).piece_hashes(h(1));
    assert!(
        matches!(b.build(), Err(MetainfoError::Build(_))),
        "hash count"
    );
    b.piece_hashes(h(2));
    assert!(b.build().is_ok());
    b.file(vec!["a".into()], 1);
    assert!(b.build().is_err(), "single and multi");
    assert!(TorrentBuilder::new("x".into(), 1000)
        .single_file(1)
        .piece_hashes(h(1))
        .build()
        .is_err());
    assert!(TorrentBuilder::new("..".into(), 16384)
        .single_file(1)
        .piece_hashes(h(1))
        .build()
        .is_err());
    let mut b = TorrentBuilder::new("x".into(), 16384);
    b.file(vec!["a".into()], 1)
        .file(vec!["A".into()], 1)
        .piece_hashes(h(1));
    assert!(b.build().is_err(), "case-insensitive duplicate");
    let mut b = TorrentBuilder::new("x".into(), 16384);
    b.file(vec!["a/b".into()], 1).piece_hashes(h(1));
    assert!(b.build().is_err(), "separator in component");
    let mut b = TorrentBuilder::new("x".into(), 16384);
    b.single_file(0).piece_hashes(h(0));
    assert_eq!(b.build(), Err(MetainfoError::EmptyTorrent));
}

#[test]
fn default_piece_lengths() {
    assert_eq!(default_piece_length(0), 16 * 1024);
    assert_eq!(default_piece_length(1 << 20), 16 * 1024);
    let pl = default_piece_length(4 << 30);
    assert!(pl.is_power_of_two());
    let pieces = (4u64 << 30).div_ceil(u64::from(pl));
    assert!((1000..=2000).contains(&pieces), "{pieces}");
    assert_eq!(default_piece_length(u64::MAX / 2), 16 * 1024 * 1024);
}

fn arb_component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,8}(\\.[a-z]{1,3})?"
}

proptest! {
    #[test]
    fn built_torrents_parse_back(
        multi_file in any::<bool>(),
        lens in proptest::collection::vec(0u64..100_000, 1..6),
        paths in proptest::collection::vec(proptest::collection::vec(arb_component(), 1..3), 6),
        pl_shift in 0u32..4,
        private in any::<bool>(),
        tiers in proptest::collection::vec(proptest::collection::vec("http://[a-z]{1,6}/a", 1..3), 0..3),
    ) {
        let pl = 16384u32 << pl_shift;
        let mut b = TorrentBuilder::new("name".into(), pl);
        let mut expect = Vec::new();
        if multi_file {
            // Unique, non-clashing paths: prefix each with its index.
            for (i, len) in lens.iter().enumerate() {
                let mut p = paths[i].clone();
                p[0] = format!("{i}-{}", p[0]);
                b.file(p.clone(), *len);
                expect.push((p, *len));
            }
        } else {
            b.single_file(lens[0]);
            expect.push((vec!["name".to_owned()], lens[0]));
        }
        let total: u64 = expect.iter().map(|e| e.1).sum();
        let n = total.div_ceil(u64::from(pl)) as usize;
        b.piece_hashes((0..n).map(|i| [i as u8; 20]).collect());
        b.private(private).comment("c".into()).created_by("riffle".into()).creation_date(42);
        for t in &tiers {
            b.tracker_tier(t.clone());
        }
        match b.build() {
            Err(e) => prop_assert!(total == 0 && e == MetainfoError::EmptyTorrent, "{e}"),
            Ok((bytes, hash)) => {
                let m = Metainfo::from_bytes(&bytes).unwrap();
                prop_assert_eq!(m.info_hash, hash);
                prop_assert_eq!(m.info.multi_file, multi_file);
                prop_assert_eq!(m.info.private, private);
                prop_assert_eq!(m.info.piece_length, pl);
                prop_assert_eq!(m.info.total_length(), total);
                prop_assert_eq!(m.info.piece_count() as usize, n);
                let got: Vec<(Vec<String>, u64)> = m.info.files.iter().map(|f| (f.path.clone(), f.length)).collect();
                prop_assert_eq!(got, expect);
                prop_assert_eq!(m.trackers, tiers.clone());
                prop_assert_eq!(m.comment.as_deref(), Some("c"));
                prop_assert_eq!(m.creation_date, Some(42));
                let sum: u64 = (0..m.info.piece_count()).map(|p| u64::from(m.info.piece_len(PieceIndex::new(p)))).sum();
                prop_assert_eq!(sum, total);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&data);
    }

    #[test]
    fn mutated_torrents_never_panic(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let info = multi(vec![file(&["a", "b"], 100), file(&["c"], 20_000)], 20_100);
        let mut data = torrent(info);
        let i = pos % data.len();
        data[i] = byte;
        let _ = Metainfo::from_bytes(&data);
        data.truncate(cut % (data.len() + 1));
        if let Ok(m) = Metainfo::from_bytes(&data) {
            prop_assert!(m.info.total_length() > 0);
        }
    }

    #[test]
    fn accepted_torrents_are_consistent(data in proptest::collection::vec(any::<u8>(), 0..64), pl in 1i64..50_000, len in 1i64..200_000) {
        // Random extra bytes as a path component and name.
        let info = with(multi(vec![
            Owned::dict([("length", Owned::Int(len)), ("path", Owned::List(vec![Owned::Bytes(data.clone())]))]),
        ], 0), "piece length", Owned::Int(pl));
        let info = with(info, "pieces", hashes((len as u64).div_ceil(pl as u64) as usize));
        let info = with(info, "name", Owned::Bytes(data));
        let m = parse_info(info).unwrap();
        prop_assert_eq!(m.info.piece_count() as u64, (len as u64).div_ceil(pl as u64));
        for c in m.info.file_path(0) {
            prop_assert!(!c.is_empty() && c != "." && c != ".." && !c.contains('/'));
        }
    }
}

#[test]
fn bep_47_attributes() {
    let mut exec = file(&["bin", "run"], 100);
    exec.insert("attr", Owned::bytes("xh"));
    let mut link = file(&["docs", "link"], 0);
    link.insert("attr", Owned::bytes("l"));
    link.insert(
        "symlink path",
        Owned::List(vec![
            Owned::bytes(".."),
            Owned::bytes("bin"),
            Owned::bytes("run"),
        ]),
    );
    let mut nowhere = file(&["nowhere"], 0);
    nowhere.insert("attr", Owned::bytes("l"));
    nowhere.insert("symlink path", Owned::List(vec![Owned::bytes("..")]));
    let m = parse_info(multi(vec![exec, link, nowhere], 100)).unwrap();
    let f = &m.info.files;
    assert!(f[0].executable && f[0].hidden && f[0].symlink.is_none());
    assert_eq!(
        f[1].symlink,
        Some(vec!["bin".to_owned(), "run".to_owned()]),
        "`..` dropped"
    );
    assert_eq!(f[1].length, 0);
    assert_eq!(
        f[2].symlink, None,
        "a link to nothing is a plain empty file"
    );
}

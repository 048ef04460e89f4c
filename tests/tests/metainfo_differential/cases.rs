//! The torrents of the metainfo differential test: valid ones, hostile
//! paths, one per validation rule broken, hybrids, and seeded mutations.

use super::build::*;

/// The valid torrents every other case is derived from.
pub fn valid_cases(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, t: B| out.push((name.to_owned(), t.bytes()));
    for (i, (len, pl)) in [
        (1, 16384),
        (16384, 16384),
        (16385, 16384),
        (100_000, 32768),
        (5, 1),
        (70_000, 20000),
        (3, 3),
    ]
    .into_iter()
    .enumerate()
    {
        add(
            &format!("single-{i}"),
            torrent(single_info(b"file.bin", len, pl)),
        );
    }
    add(
        "multi-nested",
        torrent(multi_info(
            b"album",
            &[
                (&[b"cd1", b"01.flac"], 40_000),
                (&[b"cd1", b"02.flac"], 0),
                (&[b"cd2", b"x", b"y.txt"], 9),
                (&[b"cover.jpg"], 17_000),
            ],
            16384,
        )),
    );
    add(
        "multi-all-empty-but-one",
        torrent(multi_info(
            b"e",
            &[(&[b"a"], 0), (&[b"b"], 0), (&[b"c"], 1)],
            16384,
        )),
    );
    add(
        "multi-one-file",
        torrent(multi_info(b"one", &[(&[b"only"], 123)], 65536)),
    );
    // Unsorted keys inside info and outside, and extra keys.
    let mut info = single_info(b"unsorted", 1000, 16384);
    if let B::D(d) = &mut info {
        d.reverse();
        d.push((b"zzz-extra".to_vec(), B::L(vec![B::I(1), B::s("x")])));
        d.push((b"md5sum".to_vec(), B::s("0123")));
    }
    add(
        "unsorted-extra",
        B::d(vec![
            ("info", info),
            ("comment", B::s("hi")),
            ("announce", B::s("udp://t:1")),
        ]),
    );
    // announce-list, private flag, url-list, creation date.
    let mut t = torrent(multi_info(b"tiers", &[(&[b"a"], 10), (&[b"b"], 20)], 16384)).sorted();
    t.set(
        "announce-list",
        B::L(vec![
            B::L(vec![B::s("http://a/ann"), B::s("  http://b/ann")]),
            B::L(vec![]),
            B::L(vec![B::s("udp://c:80")]),
        ]),
    );
    t.set("url-list", B::s("http://seed/"));
    t.set("creation date", B::I(1_700_000_000));
    add("announce-list", t);
    for (i, p) in [B::I(1), B::I(0), B::s("yes"), B::I(-3)]
        .into_iter()
        .enumerate()
    {
        let mut info = single_info(b"priv", 10, 16384);
        info.set("private", p);
        add(&format!("private-{i}"), torrent(info.sorted()));
    }
    // name.utf-8 and path.utf-8 are preferred.
    let mut info = multi_with(
        b"legacy",
        vec![B::d(vec![
            ("length", B::I(5)),
            ("path", B::path(&[b"old"])),
            ("path.utf-8", B::path(&[b"new\xc3\xa9"])),
        ])],
        5,
        16384,
    );
    info.set("name.utf-8", B::s("utf8-name"));
    add("utf8-keys", torrent(info.sorted()));
    let mut info = single_info(b"plain", 5, 16384);
    info.set("name.utf-8", B::I(5)); // not a string: ignored
    add("utf8-name-not-string", torrent(info.sorted()));
    // Random valid multi-file torrents.
    for n in 0..25 {
        let count = 1 + rng.below(6) as usize;
        let names: Vec<Vec<Vec<u8>>> = (0..count)
            .map(|_| {
                (0..1 + rng.below(3))
                    .map(|_| format!("d{}", rng.below(4)).into_bytes())
                    .collect()
            })
            .collect();
        let lens: Vec<i64> = (0..count)
            .map(|_| [0, 1, 1000, 16384, 40_000][rng.below(5) as usize])
            .collect();
        let files: Vec<(Vec<&[u8]>, i64)> = names
            .iter()
            .zip(&lens)
            .map(|(p, l)| (p.iter().map(|c| c.as_slice()).collect(), *l))
            .collect();
        let refs: Vec<(&[&[u8]], i64)> = files.iter().map(|(p, l)| (p.as_slice(), *l)).collect();
        let pl = [16384, 32768, 1000][rng.below(3) as usize];
        add(
            &format!("random-multi-{n}"),
            torrent(multi_info(format!("rnd{n}").as_bytes(), &refs, pl)),
        );
    }
    out
}

/// Paths libtorrent sanitizes or renames.
pub fn hostile_cases() -> Vec<(String, Vec<u8>)> {
    let long = [b"x".repeat(300), b".mkv".to_vec()].concat();
    let long_noext = b"y".repeat(500);
    let paths: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "dotdot",
            vec![
                b"..".to_vec(),
                b"..".to_vec(),
                b"etc".to_vec(),
                b"passwd".to_vec(),
            ],
        ),
        ("dot", vec![b".".to_vec(), b"a".to_vec()]),
        ("absolute", vec![b"/etc/passwd".to_vec()]),
        (
            "empty-component",
            vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()],
        ),
        ("all-dropped", vec![b"..".to_vec(), b".".to_vec()]),
        ("separator-inside", vec![b"a/b\\c".to_vec()]),
        ("control-chars", vec![b"a\x01b\x00c".to_vec()]),
        (
            "invalid-utf8",
            vec![
                b"bad\xff\xfe".to_vec(),
                b"\xc0\xaf".to_vec(),
                b"\xed\xa0\x80x".to_vec(),
                b"trunc\xe2\x82".to_vec(),
            ],
        ),
        ("bidi", vec!["evil\u{202e}gpj.exe".as_bytes().to_vec()]),
        ("only-slashes", vec![b"//".to_vec(), b"f".to_vec()]),
        ("three-dots", vec![b"...".to_vec()]),
        ("long-ext", vec![long.clone()]),
        ("long-noext", vec![long_noext.clone()]),
        (
            "unicode",
            vec![
                "données".as_bytes().to_vec(),
                "日本語.txt".as_bytes().to_vec(),
            ],
        ),
        ("five-byte", vec![b"\xf8\x88\x80\x80\x80z".to_vec()]),
    ];
    let mut out = Vec::new();
    for (name, p) in &paths {
        let refs: Vec<&[u8]> = p.iter().map(|c| c.as_slice()).collect();
        let t = torrent(multi_info(b"hostile", &[(&refs, 10), (&[b"ok"], 5)], 16384));
        out.push((format!("path-{name}"), t.bytes()));
        // The same string as a single-file name, and as a multi-file name.
        if let Some(first) = p.first() {
            out.push((
                format!("name-single-{name}"),
                torrent(single_info(first, 7, 16384)).bytes(),
            ));
            out.push((
                format!("name-multi-{name}"),
                torrent(multi_info(first, &[(&[b"f"], 7)], 16384)).bytes(),
            ));
        }
    }
    // Duplicates: exact, case-insensitive, file-vs-directory, with and
    // without extensions, and renamed names colliding again.
    type Files<'a> = Vec<(&'a [&'a [u8]], i64)>;
    let dups: Vec<(&str, Files)> = vec![
        (
            "exact",
            vec![(&[b"a.txt"], 1), (&[b"a.txt"], 2), (&[b"a.txt"], 3)],
        ),
        ("case", vec![(&[b"Readme.md"], 1), (&[b"README.MD"], 2)]),
        ("file-vs-dir", vec![(&[b"d"], 1), (&[b"d", b"x"], 2)]),
        ("dir-then-file", vec![(&[b"d", b"x"], 1), (&[b"D"], 2)]),
        (
            "renamed-collides",
            vec![(&[b"a.txt"], 1), (&[b"a.1.txt"], 2), (&[b"a.txt"], 3)],
        ),
        ("hidden", vec![(&[b".cfg"], 1), (&[b".cfg"], 2)]),
        (
            "sanitized-equal",
            vec![(&[b"a/b"], 1), (&[b"ab"], 2), (&[b"..", b"ab"], 3)],
        ),
    ];
    for (name, files) in &dups {
        out.push((
            format!("dup-{name}"),
            torrent(multi_info(b"dups", files, 16384)).bytes(),
        ));
    }
    // Pad files (BEP 47) and BitComet padding names.
    let pad = |path: Option<&[&[u8]]>, len: i64| {
        let mut d = vec![("attr", B::s("p")), ("length", B::I(len))];
        if let Some(p) = path {
            d.push(("path", B::path(p)));
        }
        B::d(d)
    };
    let files = vec![
        file(&[b"a"], 10),
        pad(Some(&[b".pad", b"16374"]), 16374),
        file(&[b"b"], 10),
        pad(None, 16374),
        pad(None, 16374),
        file(&[b"c"], 3),
    ];
    out.push((
        "pad-files".into(),
        torrent(multi_with(
            b"padded",
            files,
            10 + 16374 + 10 + 16374 * 2 + 3,
            16384,
        ))
        .bytes(),
    ));
    let files = vec![
        file(&[b"x"], 10),
        file(&[b"_____padding_file_0_"], 16374),
        file(&[b"y"], 4),
    ];
    out.push((
        "pad-bitcomet".into(),
        torrent(multi_with(b"bc", files, 16388, 16384)).bytes(),
    ));
    let files = vec![file(&[b"x"], 10), file(&[b"y"], 4)];
    out.push((
        "pad-bitcomet-name".into(),
        torrent(multi_with(b"a_____padding_file_b", files, 14, 16384)).bytes(),
    ));
    let files = vec![file(&[b"a"], 10), pad(None, 0)];
    out.push((
        "pad-no-path-zero".into(),
        torrent(multi_with(b"pz", files, 10, 16384)).bytes(),
    ));
    // Symlinks take no space.
    let sym = B::d(vec![
        ("attr", B::s("l")),
        ("length", B::I(99)),
        ("path", B::path(&[b"link"])),
        ("symlink path", B::path(&[b"a"])),
    ]);
    out.push((
        "symlink".into(),
        torrent(multi_with(b"sym", vec![file(&[b"a"], 10), sym], 10, 16384)).bytes(),
    ));
    let sym = B::d(vec![
        ("attr", B::s("l")),
        ("path", B::path(&[b"link"])),
        ("symlink path", B::L(vec![B::I(1)])),
    ]);
    out.push((
        "symlink-bad-target".into(),
        torrent(multi_with(b"sym", vec![file(&[b"a"], 10), sym], 10, 16384)).bytes(),
    ));
    out
}

/// One torrent per validation rule, each broken.
pub fn malformed_cases() -> Vec<(String, Vec<u8>)> {
    let base = || single_info(b"f", 20_000, 16384);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut info_case = |name: &str, f: &dyn Fn(&mut B)| {
        let mut info = base();
        f(&mut info);
        out.push((format!("bad-{name}"), torrent(info).bytes()));
    };
    info_case("no-piece-length", &|i| i.remove("piece length"));
    info_case("piece-length-0", &|i| i.set("piece length", B::I(0)));
    info_case("piece-length-neg", &|i| i.set("piece length", B::I(-16384)));
    info_case("piece-length-str", &|i| {
        i.set("piece length", B::s("16384"))
    });
    info_case("piece-length-huge", &|i| {
        i.set("piece length", B::I(1 << 31))
    });
    info_case("piece-length-max", &|i| {
        i.set("piece length", B::I(i64::from(i32::MAX / 2)))
    });
    info_case("no-name", &|i| i.remove("name"));
    info_case("name-int", &|i| i.set("name", B::I(3)));
    info_case("name-empty", &|i| i.set("name", B::s("")));
    info_case("no-length", &|i| i.remove("length"));
    info_case("length-neg", &|i| i.set("length", B::I(-1)));
    info_case("length-str", &|i| i.set("length", B::s("20000")));
    info_case("length-zero", &|i| {
        i.set("length", B::I(0));
        i.set("pieces", B::s(""));
    });
    info_case("no-pieces", &|i| i.remove("pieces"));
    info_case("pieces-short", &|i| i.set("pieces", B::S(vec![1; 20])));
    info_case("pieces-long", &|i| i.set("pieces", B::S(vec![1; 60])));
    info_case("pieces-not-20", &|i| i.set("pieces", B::S(vec![1; 41])));
    info_case("pieces-int", &|i| i.set("pieces", B::I(40)));
    info_case("too-many-pieces", &|i| {
        i.set("piece length", B::I(1));
        i.set("length", B::I(3_000_000));
    });
    info_case("file-too-large", &|i| {
        i.set("piece length", B::I(1 << 30));
        i.set("length", B::I(i64::from(i32::MAX / 2) * 16384));
        i.set("pieces", pieces((i32::MAX / 2) as u64 * 16384, 1 << 30));
    });
    info_case("file-tree-v1", &|i| {
        i.set("file tree", B::d::<&str>(vec![]))
    });
    info_case("meta-version-3", &|i| i.set("meta version", B::I(3)));
    info_case("meta-version-1-unsorted", &|i| {
        i.set("meta version", B::I(1));
    });
    info_case("meta-version-1-sorted", &|i| {
        i.set("meta version", B::I(1));
        *i = i.clone().sorted();
    });
    info_case("meta-version-2-no-tree", &|i| {
        i.set("meta version", B::I(2));
        *i = i.clone().sorted();
    });
    info_case("leading-zero-int", &|i| {
        i.set("length", B::Raw(b"i020000e".to_vec()))
    });
    info_case("leading-zero-str", &|i| {
        i.set("name", B::Raw(b"03:abc".to_vec()))
    });
    info_case("minus-zero", &|i| {
        i.set("private", B::Raw(b"i-0e".to_vec()))
    });
    info_case("files-not-list", &|i| i.set("files", B::s("x")));
    // Multi-file rules.
    let multi = |files: Vec<B>| torrent(multi_with(b"m", files, 10, 16384)).bytes();
    out.push((
        "bad-files-empty".into(),
        torrent(multi_with(b"m", vec![], 0, 16384)).bytes(),
    ));
    out.push(("bad-file-not-dict".into(), multi(vec![B::I(1)])));
    out.push((
        "bad-file-no-path".into(),
        multi(vec![B::d(vec![("length", B::I(10))])]),
    ));
    out.push((
        "bad-file-path-empty".into(),
        multi(vec![B::d(vec![
            ("length", B::I(10)),
            ("path", B::L(vec![])),
        ])]),
    ));
    out.push((
        "bad-file-path-int".into(),
        multi(vec![B::d(vec![
            ("length", B::I(10)),
            ("path", B::L(vec![B::s("a"), B::I(1)])),
        ])]),
    ));
    out.push((
        "bad-file-path-str".into(),
        multi(vec![B::d(vec![("length", B::I(10)), ("path", B::s("a"))])]),
    ));
    out.push((
        "bad-file-no-length".into(),
        multi(vec![B::d(vec![("path", B::path(&[b"a"]))])]),
    ));
    out.push((
        "bad-file-neg-length".into(),
        multi(vec![file(&[b"a"], -10)]),
    ));
    out.push((
        "bad-file-utf8-empty".into(),
        multi(vec![B::d(vec![
            ("length", B::I(10)),
            ("path", B::path(&[b"a"])),
            ("path.utf-8", B::L(vec![])),
        ])]),
    ));
    out.push((
        "bad-total-overflow".into(),
        torrent(multi_with(
            b"m",
            (0..33)
                .map(|i| file(&[format!("f{i}").as_bytes()], 1 << 43))
                .collect(),
            0,
            1 << 29,
        ))
        .bytes(),
    ));
    out.push((
        "bad-file-over-max".into(),
        torrent(multi_with(b"m", vec![file(&[b"a"], 1 << 47)], 0, 1 << 29)).bytes(),
    ));
    // Whole-file rules.
    out.push(("bad-not-dict".into(), b"li1ee".to_vec()));
    out.push((
        "bad-no-info".into(),
        B::d(vec![("announce", B::s("x"))]).bytes(),
    ));
    out.push((
        "bad-info-list".into(),
        B::d(vec![("info", B::L(vec![]))]).bytes(),
    ));
    out.push(("bad-empty".into(), Vec::new()));
    let mut trailing = torrent(base()).bytes();
    trailing.extend_from_slice(b"trailing garbage");
    out.push(("ok-trailing-data".into(), trailing));
    let deep = |n: usize| {
        let mut info = base();
        info.set("deep", B::Raw([b"l".repeat(n), b"e".repeat(n)].concat()));
        torrent(info).bytes()
    };
    // libtorrent's limits: 3,000,000 bencode tokens (this torrent has 18
    // besides the bulk list: exactly at the limit, and one over), and
    // 10,000,000 bytes.
    let tokens = |n: usize| {
        let mut info = base();
        info.set(
            "bulk",
            B::Raw([b"l".to_vec(), b"i1e".repeat(n), b"e".to_vec()].concat()),
        );
        torrent(info).bytes()
    };
    out.push(("tokens-under-limit".into(), tokens(2_999_982)));
    out.push(("tokens-over-limit".into(), tokens(2_999_983)));
    let mut big = torrent(base()).bytes();
    big.resize(10_000_001, b'x');
    out.push(("file-over-10MB".into(), big));
    out.push(("deep-96".into(), deep(96)));
    out.push(("deep-97".into(), deep(97)));
    out.push(("deep-98".into(), deep(98)));
    out
}

/// Random byte changes, insertions, deletions and truncations of `valid`.
pub fn mutations(
    valid: &[(String, Vec<u8>)],
    rng: &mut Rng,
    count: usize,
) -> Vec<(String, Vec<u8>)> {
    const INTERESTING: &[u8] = b"0123456789ield:-/.e";
    (0..count)
        .map(|n| {
            let (name, data) = &valid[rng.below(valid.len() as u64) as usize];
            let mut d = data.clone();
            let kind = rng.below(4);
            match kind {
                0 => d.truncate(rng.below(d.len() as u64) as usize),
                _ => {
                    for _ in 0..1 + rng.below(3) {
                        if d.is_empty() {
                            break;
                        }
                        let at = rng.below(d.len() as u64) as usize;
                        let byte = if rng.below(2) == 0 {
                            INTERESTING[rng.below(INTERESTING.len() as u64) as usize]
                        } else {
                            rng.below(256) as u8
                        };
                        match kind {
                            1 => d[at] = byte,
                            2 => d.insert(at, byte),
                            _ => {
                                d.remove(at);
                            }
                        }
                    }
                }
            }
            (format!("mut-{n:03}-{name}"), d)
        })
        .collect()
}

/// A v2 file tree node.
enum Node {
    File(u64),
    Dir(std::collections::BTreeMap<Vec<u8>, Node>),
}

impl Node {
    fn insert(&mut self, path: &[Vec<u8>], len: u64) {
        if let (Node::Dir(map), Some((first, rest))) = (self, path.split_first()) {
            if rest.is_empty() {
                map.insert(first.clone(), Node::File(len));
            } else {
                map.entry(first.clone())
                    .or_insert_with(|| Node::Dir(Default::default()))
                    .insert(rest, len);
            }
        }
    }
    fn to_b(&self) -> B {
        match self {
            Node::File(len) => {
                let mut leaf = vec![("length", B::I(*len as i64))];
                if *len > 0 {
                    leaf.push(("pieces root", B::S(vec![0xab; 32])));
                }
                B::d(vec![("", B::d(leaf))])
            }
            Node::Dir(map) => B::D(map.iter().map(|(k, v)| (k.clone(), v.to_b())).collect()),
        }
    }
}

/// A hybrid (v1 + v2) info dictionary laid out as libtorrent writes one:
/// files in path order, v1 pad files after each file that does not end on
/// a piece boundary (after the last one too if `tail_pad`), and a v2 file
/// tree with (fake) pieces roots.
fn hybrid_info(name: &[u8], files: &[(&[&[u8]], u64)], pl: u64, tail_pad: bool) -> B {
    let mut tree = Node::Dir(Default::default());
    let mut total = 0u64;
    if let [(_, len)] = files {
        if files[0].0.is_empty() {
            tree.insert(&[name.to_vec()], *len);
            total = *len;
            let info = B::d(vec![
                ("file tree", tree.to_b()),
                ("length", B::I(*len as i64)),
                ("meta version", B::I(2)),
                ("name", B::s(name)),
                ("piece length", B::I(pl as i64)),
                ("pieces", pieces(total, pl)),
            ]);
            return info.sorted();
        }
    }
    let mut list = Vec::new();
    for (i, (path, len)) in files.iter().enumerate() {
        let owned: Vec<Vec<u8>> = path.iter().map(|c| c.to_vec()).collect();
        tree.insert(&owned, *len);
        list.push(file(path, *len as i64));
        total += len;
        let rem = total % pl;
        if rem != 0 && (i + 1 < files.len() || tail_pad) {
            let pad = pl - rem;
            list.push(B::d(vec![
                ("attr", B::s("p")),
                ("length", B::I(pad as i64)),
                ("path", B::path(&[b".pad", pad.to_string().as_bytes()])),
            ]));
            total += pad;
        }
    }
    let mut root = B::d::<&[u8]>(vec![]);
    root.set("file tree", tree.to_b());
    root.set("files", B::L(list));
    root.set("meta version", B::I(2));
    root.set("name", B::s(name));
    root.set("piece length", B::I(pl as i64));
    root.set("pieces", pieces(total, pl));
    root.sorted()
}

/// Hybrid and v2-only torrents, well-formed and broken.
pub fn hybrid_cases() -> Vec<(String, Vec<u8>)> {
    let multi: &[(&[&[u8]], u64)] = &[
        (&[b"a", b"x.bin"], 40_000),
        (&[b"a", b"y"], 0),
        (&[b"b.txt"], 100),
        (&[b"c"], 16384),
    ];
    let mut out = vec![
        (
            "hybrid-single".to_owned(),
            torrent(hybrid_info(b"one.iso", &[(&[], 40_000)], 16384, false)).bytes(),
        ),
        (
            "hybrid-multi".to_owned(),
            torrent(hybrid_info(b"hy", multi, 16384, false)).bytes(),
        ),
        (
            "hybrid-multi-tailpad".to_owned(),
            torrent(hybrid_info(b"hy", multi, 32768, true)).bytes(),
        ),
    ];
    let mut broken = |name: &str, f: &dyn Fn(&mut B)| {
        let mut info = hybrid_info(b"hy", multi, 16384, false);
        f(&mut info);
        out.push((format!("hybrid-bad-{name}"), torrent(info).bytes()));
    };
    broken("unsorted", &|i| {
        if let B::D(d) = i {
            d.reverse();
        }
    });
    broken("no-tree", &|i| i.remove("file tree"));
    broken("tree-not-dict", &|i| i.set("file tree", B::L(vec![])));
    broken("no-pieces-root", &|i| {
        let mut t = Node::Dir(Default::default());
        for (p, l) in multi {
            t.insert(&p.iter().map(|c| c.to_vec()).collect::<Vec<_>>(), *l);
        }
        let mut tb = t.to_b();
        if let B::D(d) = &mut tb {
            d.retain(|(k, _)| k != b"c");
            d.push((
                b"c".to_vec(),
                B::d(vec![("", B::d(vec![("length", B::I(16384))]))]),
            ));
        }
        i.set("file tree", tb.sorted());
    });
    broken("length-mismatch", &|i| {
        if let B::D(d) = i {
            if let Some((_, B::L(files))) = d.iter_mut().find(|(k, _)| k == b"files") {
                files[0].set("length", B::I(39_999));
            }
        }
    });
    broken("renamed", &|i| {
        if let B::D(d) = i {
            if let Some((_, B::L(files))) = d.iter_mut().find(|(k, _)| k == b"files") {
                files[0].set("path", B::path(&[b"a", b"other.bin"]));
            }
        }
    });
    broken("piece-length-not-pow2", &|i| {
        i.set("piece length", B::I(20_000))
    });
    broken("version-3", &|i| i.set("meta version", B::I(3)));
    // v2-only: the hybrid without its v1 half, whole and broken.
    let v2only = |piece_length| {
        let mut info = hybrid_info(b"hy", multi, piece_length, false);
        info.remove("files");
        info.remove("pieces");
        info
    };
    out.push(("v2only".to_owned(), torrent(v2only(16384)).bytes()));
    out.push((
        "v2only-big-pieces".to_owned(),
        torrent(v2only(65536)).bytes(),
    ));
    let single = {
        let mut info = hybrid_info(b"one.iso", &[(&[], 40_000)], 16384, false);
        info.remove("files");
        info.remove("pieces");
        info.remove("length");
        info
    };
    out.push(("v2only-single".to_owned(), torrent(single).bytes()));
    let mut v2_broken = |name: &str, f: &dyn Fn(&mut B)| {
        let mut info = v2only(16384);
        f(&mut info);
        out.push((format!("v2only-bad-{name}"), torrent(info).bytes()));
    };
    v2_broken("no-tree", &|i| i.remove("file tree"));
    v2_broken("version-1", &|i| i.set("meta version", B::I(1)));
    v2_broken("no-version", &|i| i.remove("meta version"));
    v2_broken("piece-length-small", &|i| i.set("piece length", B::I(8192)));
    out
}

/// Path components and names drawn from the characters sanitization cares
/// about (dots, separators, control bytes, invalid and multi-byte UTF-8,
/// direction overrides), some near the 240-byte cut, with clashing names.
pub fn random_path_cases(rng: &mut Rng, count: usize) -> Vec<(String, Vec<u8>)> {
    const PALETTE: &[&[u8]] = &[
        b"a",
        b"B",
        b".",
        b".",
        b"/",
        b"\\",
        b"\x00",
        b"\x1f",
        b" ",
        b"\xc3\xa9",
        b"\xff",
        b"\xe2\x80\xae",
        b"\xe2\x82",
        b"\xf0\x9f\x98\x80",
        b"\xf8",
        b"_____padding_file_",
    ];
    let component = |rng: &mut Rng| -> Vec<u8> {
        let long = rng.below(6) == 0;
        let len = if long {
            230 + rng.below(30)
        } else {
            rng.below(5)
        };
        let mut c = Vec::new();
        while (c.len() as u64) < len {
            let piece = if long && rng.below(3) != 0 {
                b"x".as_slice()
            } else {
                PALETTE[rng.below(PALETTE.len() as u64) as usize]
            };
            c.extend_from_slice(piece);
        }
        if long && rng.below(2) == 0 {
            c.extend_from_slice(b".ext");
        }
        c
    };
    (0..count)
        .map(|n| {
            let files: Vec<Vec<Vec<u8>>> = (0..1 + rng.below(4))
                .map(|_| (0..1 + rng.below(3)).map(|_| component(rng)).collect())
                .collect();
            let lens: Vec<i64> = files.iter().map(|_| rng.below(3) as i64 * 7).collect();
            let name = component(rng);
            let t = if rng.below(4) == 0 {
                torrent(single_info(&name, 1 + lens[0], 16384))
            } else {
                let refs: Vec<Vec<&[u8]>> = files
                    .iter()
                    .map(|p| p.iter().map(|c| c.as_slice()).collect())
                    .collect();
                let pairs: Vec<(&[&[u8]], i64)> = refs
                    .iter()
                    .zip(&lens)
                    .map(|(p, l)| (p.as_slice(), *l))
                    .collect();
                torrent(multi_info(&name, &pairs, 16384))
            };
            (format!("rndpath-{n:03}"), t.bytes())
        })
        .collect()
}

/// Torrents written by riffle's own `TorrentBuilder`: libtorrent must read
/// them as riffle does.
pub fn builder_cases(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    use riffle_protocol::metainfo::{default_piece_length, TorrentBuilder};
    let mut out = Vec::new();
    for n in 0..10 {
        let multi = n % 2 == 1;
        let pl = 16384u64 << rng.below(3);
        let mut b = TorrentBuilder::new(format!("built-{n}"), pl as u32);
        let mut total = 0u64;
        if multi {
            for i in 0..1 + rng.below(5) {
                let len = [0, 1, 16384, 50_000][rng.below(4) as usize];
                b.file(vec![format!("d{}", rng.below(2)), format!("f{i}.bin")], len);
                total += len;
            }
        } else {
            total = 1 + rng.below(200_000);
            b.single_file(total);
        }
        if total == 0 {
            b.file(vec!["nonempty".into()], 1);
            total = 1;
        }
        b.piece_hashes(vec![[n as u8; 20]; total.div_ceil(pl) as usize]);
        b.tracker_tier(vec!["http://t1/announce".into(), "udp://t2:80".into()]);
        b.private(rng.below(2) == 0)
            .comment("made by riffle".into())
            .creation_date(1_700_000_000);
        let (bytes, _) = b.build().expect("builder output");
        out.push((format!("builder-{n}"), bytes));
    }
    let total = 3_000_000u64;
    let pl = u64::from(default_piece_length(total));
    let mut b = TorrentBuilder::new("default-pl".into(), pl as u32);
    b.single_file(total)
        .piece_hashes(vec![[9; 20]; total.div_ceil(pl) as usize]);
    out.push((
        "builder-default-pl".into(),
        b.build().expect("builder output").0,
    ));
    out
}

//! Differential test of `.torrent` parsing: riffle against libtorrent 2.0.
//!
//! A few hundred torrents — valid ones of every shape, one for each
//! validation rule broken, hostile paths, and seeded random mutations and
//! truncations of valid ones — are written to a temporary directory. One
//! python process loads them all with `lt.torrent_info`
//! (`tests/scripts/lt_info.py`); `riffle info --json` reads each. Both must
//! accept and refuse the same files, and for accepted ones agree on the
//! info-hash, name, total length, piece length and count, and the list of
//! files (paths after sanitization and duplicate renaming, and lengths).
//! Pad files are left out of the file lists on both sides (`riffle info`
//! does not list them; they still count in the total length).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use riffle_tests::{require_libtorrent, riffle_bin, script};
use serde_json::Value as Json;

/// Fixed seed: the run is reproducible.
const SEED: u64 = 0x5eed_0f_7a11_u64;

/// A bencode value that encodes dictionaries in the order given (so tests
/// can write unsorted keys) and can splice raw bytes.
#[derive(Clone)]
enum B {
    I(i64),
    S(Vec<u8>),
    L(Vec<B>),
    D(Vec<(Vec<u8>, B)>),
    Raw(Vec<u8>),
}

impl B {
    fn s(v: impl AsRef<[u8]>) -> B {
        B::S(v.as_ref().to_vec())
    }
    fn d<K: AsRef<[u8]>>(pairs: Vec<(K, B)>) -> B {
        B::D(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v))
                .collect(),
        )
    }
    fn path(parts: &[&[u8]]) -> B {
        B::L(parts.iter().map(B::s).collect())
    }
    fn enc(&self, out: &mut Vec<u8>) {
        match self {
            B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::S(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            B::L(l) => {
                out.push(b'l');
                l.iter().for_each(|v| v.enc(out));
                out.push(b'e');
            }
            B::D(d) => {
                out.push(b'd');
                for (k, v) in d {
                    B::S(k.clone()).enc(out);
                    v.enc(out);
                }
                out.push(b'e');
            }
            B::Raw(r) => out.extend_from_slice(r),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc(&mut out);
        out
    }
    /// Sort dictionary keys recursively (canonical order).
    fn sorted(mut self) -> B {
        match &mut self {
            B::D(d) => {
                let mut d2: Vec<(Vec<u8>, B)> = d.drain(..).map(|(k, v)| (k, v.sorted())).collect();
                d2.sort_by(|a, b| a.0.cmp(&b.0));
                B::D(d2)
            }
            B::L(l) => B::L(l.drain(..).map(B::sorted).collect()),
            _ => self,
        }
    }
    fn set(&mut self, key: &str, v: B) {
        if let B::D(d) = self {
            match d.iter_mut().find(|(k, _)| k == key.as_bytes()) {
                Some(slot) => slot.1 = v,
                None => d.push((key.as_bytes().to_vec(), v)),
            }
        }
    }
    fn remove(&mut self, key: &str) {
        if let B::D(d) = self {
            d.retain(|(k, _)| k != key.as_bytes());
        }
    }
}

/// splitmix64: a tiny seeded generator, enough for reproducible mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn pieces(total: u64, pl: u64) -> B {
    let n = total.div_ceil(pl) as usize;
    B::S((0..n * 20).map(|i| (i * 7 % 251) as u8).collect())
}

/// A single-file info dictionary.
fn single_info(name: &[u8], len: i64, pl: i64) -> B {
    B::d(vec![
        ("length", B::I(len)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(len.max(0) as u64, pl.max(1) as u64)),
    ])
}

/// A multi-file info dictionary from (path, length) pairs.
fn multi_info(name: &[u8], files: &[(&[&[u8]], i64)], pl: i64) -> B {
    let total: i64 = files.iter().map(|f| f.1.max(0)).sum();
    let list = files
        .iter()
        .map(|(p, l)| B::d(vec![("length", B::I(*l)), ("path", B::path(p))]))
        .collect();
    B::d(vec![
        ("files", B::L(list)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(total as u64, pl.max(1) as u64)),
    ])
}

fn torrent(info: B) -> B {
    B::d(vec![
        ("announce", B::s("http://tracker.example/announce")),
        ("info", info),
    ])
}

/// Multi-file info with custom file dictionaries.
fn multi_with(name: &[u8], files: Vec<B>, total: u64, pl: i64) -> B {
    B::d(vec![
        ("files", B::L(files)),
        ("name", B::s(name)),
        ("piece length", B::I(pl)),
        ("pieces", pieces(total, pl as u64)),
    ])
}

fn file(path: &[&[u8]], len: i64) -> B {
    B::d(vec![("length", B::I(len)), ("path", B::path(path))])
}

/// The valid torrents every other case is derived from.
fn valid_cases(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
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
fn hostile_cases() -> Vec<(String, Vec<u8>)> {
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
    let dups: Vec<(&str, Vec<(&[&[u8]], i64)>)> = vec![
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
fn malformed_cases() -> Vec<(String, Vec<u8>)> {
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
            vec![file(&[b"a"], 1 << 47), file(&[b"b"], 1 << 47)],
            0,
            1 << 30,
        ))
        .bytes(),
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
    out.push(("deep-96".into(), deep(96)));
    out.push(("deep-97".into(), deep(97)));
    out.push(("deep-98".into(), deep(98)));
    out
}

/// Random byte changes, insertions, deletions and truncations of `valid`.
fn mutations(valid: &[(String, Vec<u8>)], rng: &mut Rng, count: usize) -> Vec<(String, Vec<u8>)> {
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

/// What libtorrent made of one file.
fn lt_results(python: &str, dir: &Path) -> HashMap<String, Json> {
    let out = Command::new(python)
        .arg(script("lt_info.py"))
        .arg(dir)
        .output()
        .expect("could not run the libtorrent helper");
    assert!(
        out.status.success(),
        "lt_info.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).expect("lt_info.py printed bad JSON"))
        .map(|v| (v["file"].as_str().unwrap_or_default().to_owned(), v))
        .collect()
}

/// Compare one torrent; `Err` describes the disagreement.
fn compare(name: &str, path: &Path, lt: &Json) -> Result<bool, String> {
    let out = Command::new(riffle_bin())
        .arg("info")
        .arg(path)
        .arg("--json")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lt_ok = lt["ok"].as_bool().unwrap_or(false);
    if !out.status.success() {
        if out.status.code() != Some(2) || stderr.contains("panicked") {
            return Err(format!(
                "{name}: riffle failed badly ({:?}): {stderr}",
                out.status
            ));
        }
        return if lt_ok {
            Err(format!(
                "{name}: libtorrent accepts, riffle refuses: {}",
                stderr.trim()
            ))
        } else {
            Ok(false)
        };
    }
    if !lt_ok {
        return Err(format!(
            "{name}: riffle accepts, libtorrent refuses: {}",
            lt["error"]
        ));
    }
    let r: Json =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{name}: riffle JSON: {e}"))?;
    let checks = [
        ("info_hash", r["info_hash"].clone(), lt["info_hash"].clone()),
        ("name", r["name"].clone(), lt["name"].clone()),
        (
            "total_length",
            r["total_length"].clone(),
            lt["total_size"].clone(),
        ),
        (
            "piece_length",
            r["piece_length"].clone(),
            lt["piece_length"].clone(),
        ),
        (
            "piece_count",
            r["piece_count"].clone(),
            lt["num_pieces"].clone(),
        ),
    ];
    for (what, ours, theirs) in checks {
        if ours != theirs {
            return Err(format!(
                "{name}: {what} differs: riffle {ours} libtorrent {theirs}"
            ));
        }
    }
    let ours: Vec<(String, u64)> = r["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["length"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let theirs: Vec<(String, u64)> = lt["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| !f["pad"].as_bool().unwrap_or(false))
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["size"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    if ours != theirs {
        return Err(format!(
            "{name}: files differ:\n  riffle     {ours:?}\n  libtorrent {theirs:?}"
        ));
    }
    Ok(true)
}

#[test]
fn metainfo_matches_libtorrent() {
    let python = require_libtorrent();
    let mut rng = Rng(SEED);
    let valid = valid_cases(&mut rng);
    let mut cases = valid.clone();
    cases.extend(hostile_cases());
    let hostile_and_valid = cases.clone();
    cases.extend(malformed_cases());
    cases.extend(mutations(&hostile_and_valid, &mut rng, 300));

    let dir = tempfile::tempdir().expect("tempdir");
    for (i, (name, data)) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i:04}-{name}.torrent")), data)
            .expect("write torrent");
    }
    let lt = lt_results(python, dir.path());
    assert_eq!(lt.len(), cases.len(), "libtorrent helper skipped files");

    let (mut accepted, mut refused, mut compared) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut names: Vec<&String> = lt.keys().collect();
    names.sort();
    for name in names {
        match compare(name, &dir.path().join(name), &lt[name]) {
            Ok(true) => {
                accepted += 1;
                compared += 1;
            }
            Ok(false) => {
                refused += 1;
                compared += 1;
            }
            Err(e) => failures.push(e),
        }
    }
    println!(
        "metainfo differential (seed {SEED:#x}): {} torrents, {accepted} accepted by both, {refused} refused by both, {compared} agree, {} disagree",
        cases.len(),
        failures.len()
    );
    assert!(
        accepted > 50 && refused > 50,
        "the generated mix should exercise both sides"
    );
    assert!(
        failures.is_empty(),
        "riffle and libtorrent disagree on {} torrents:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
